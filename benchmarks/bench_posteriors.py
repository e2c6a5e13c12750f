"""Mode coverage on multimodal posteriors with known mode masses
(:func:`numpyro_cld.examples.posteriors.posterior_family`), all chains started in one mode.

For every member and kernel (each with its defaults; ``ChainedLangevin`` with
``patch_size=2``), ``MCMC(kernel, num_warmup, num_samples, num_chains, "vectorized")`` from
a start in mode 0: the total variation between the modes' frequencies over all draws and
the exact masses, the fraction of chains that visited every mode (every mode with mass at
least 1%), the smallest bulk ESS per 1000 gradient evaluations and the wall time. Writes
``benchmarks/results/posteriors.json`` and the table in ``docs/posteriors.md``::

    python benchmarks/bench_posteriors.py                 # about 15 minutes on 2 cores
    python benchmarks/bench_posteriors.py --quick         # smoke run to a temporary folder
    python benchmarks/bench_posteriors.py --members factor-sign-d50 --kernels chained,nuts
"""

import argparse
import json
import os
import platform
import tempfile
import time
import warnings

import jax
import numpy as np
from bench_defaults import grad_evals
from numpyro.infer import MCMC, NUTS

import numpyro_cld
from numpyro_cld import ChainedLangevin, Langevin
from numpyro_cld.diagnostics.arviz_compat import arviz
from numpyro_cld.examples.posteriors import posterior_family

SEED = 0
KERNELS = ("langevin", "full", "chained", "nuts")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_kernel(name, m):
    # a member given as a potential_fn runs every kernel on it, as a user would
    target = dict(model=m.model) if m.potential_fn is None else dict(potential_fn=m.potential_fn)
    if name == "langevin":
        return Langevin(**target)
    if name == "full":
        return ChainedLangevin(**target, patch_size=min(2, m.dim), conditional="full")
    if name == "chained":  # the defaults: the tempered route on a model with data
        return ChainedLangevin(**target, patch_size=min(2, m.dim))
    return NUTS(**target)


def run_one(m, name, sizes):
    kernel = make_kernel(name, m)
    mcmc = MCMC(kernel, **sizes, chain_method="vectorized", progress_bar=False)
    init = m.init_params(jax.random.key(SEED + 1), sizes["num_chains"], mode=0)
    fields = ("diverging", "num_steps") if name == "nuts" else ("diverging",)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # chained's full-sweep fallback
        if name == "nuts":  # warmup apart, to count its gradients
            mcmc.warmup(
                jax.random.key(SEED), init_params=init, extra_fields=fields, collect_warmup=True
            )
            steps = [mcmc.get_extra_fields()["num_steps"]]
            mcmc.run(mcmc.post_warmup_state.rng_key, extra_fields=fields)
            steps.append(mcmc.get_extra_fields()["num_steps"])
        else:
            steps = None
            mcmc.run(jax.random.key(SEED), init_params=init, extra_fields=fields)
    x = np.asarray(jax.block_until_ready(mcmc.get_samples(group_by_chain=True)[m.site]))
    wall = time.perf_counter() - t0
    labels = np.asarray(m.assign(x))  # (chains, draws)
    f = np.bincount(labels.ravel(), minlength=m.num_modes) / labels.size
    present = np.flatnonzero(m.weights >= 0.01)
    visited_all = [np.isin(present, lab).all() for lab in labels]
    az = arviz()
    ess = float(np.min(np.asarray(az.ess(az.convert_to_dataset(x), method="bulk")["x"])))
    grads = grad_evals("chained" if name == "full" else name, kernel, steps, sizes)
    return dict(
        member=m.name,
        dim=m.dim,
        modes=m.num_modes,
        kernel=name,
        conditional=getattr(kernel, "conditional", None),
        seconds=round(wall, 2),
        grads=int(grads),
        tv=float(0.5 * np.abs(f - m.weights).sum()),
        freq=f.round(4).tolist(),
        weights=np.round(m.weights, 4).tolist(),
        all_modes=float(np.mean(visited_all)),
        ess_per_1000_grads=round(1000 * ess / grads, 4),
        divergences=int(np.sum(mcmc.get_extra_fields()["diverging"])),
        finite=bool(np.isfinite(x).all()),
    )


def table(rows, header):
    out = [
        header,
        "",
        "| member | d | modes | kernel | TV | chains visiting all modes | ESS / 1k grads "
        "| grads | s | div. |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        k = r["kernel"] if r["conditional"] is None else f"{r['kernel']} ({r['conditional']})"
        out.append(
            f"| {r['member']} | {r['dim']} | {r['modes']} | {k} | {r['tv']:.3f} | "
            f"{r['all_modes']:.2f} | {r['ess_per_1000_grads']:.3g} | {r['grads']:,} | "
            f"{r['seconds']:.1f} | {r['divergences']} |"
        )
    return "\n".join(out) + "\n"


def write_doc(path, text):
    doc = open(path).read()
    start, end = "<!-- table:start -->\n", "<!-- table:end -->"
    i, j = doc.index(start) + len(start), doc.index(end)
    with open(path, "w") as fh:
        fh.write(doc[:i] + text + doc[j:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 members, tiny sizes")
    ap.add_argument("--kernels", default=",".join(KERNELS))
    ap.add_argument("--members", default=None, help="comma-separated member names (default all)")
    ap.add_argument("--out", default=None, help="output folder (default benchmarks/results)")
    args = ap.parse_args()
    family = posterior_family()
    names = None if args.members is None else args.members.split(",")
    members = [m for m in family if names is None or m.name in names]
    sizes = dict(num_warmup=500, num_samples=500, num_chains=16)
    out = args.out or os.path.join(ROOT, "benchmarks", "results")
    if args.quick:
        members, sizes = members[:2], dict(num_warmup=20, num_samples=20, num_chains=2)
        out = args.out or tempfile.mkdtemp()
    rows, t0 = [], time.perf_counter()
    for m in members:
        for name in args.kernels.split(","):
            r = run_one(m, name, sizes)
            rows.append(r)
            print(
                f"{m.name:26s} {name:9s} TV {r['tv']:.3f}  all modes {r['all_modes']:.2f}  "
                f"ESS/1k {r['ess_per_1000_grads']:.3g}  {r['seconds']:.1f} s",
                flush=True,
            )
    header = (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cpu, "
        f"jax {jax.__version__}; numpyro_cld {numpyro_cld.__version__}; {sizes['num_chains']} "
        f"chains x ({sizes['num_warmup']} warmup + {sizes['num_samples']} draws), every chain "
        f"started in mode 0; total {time.perf_counter() - t0:.0f} s."
    )
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "posteriors.json")
    if not args.quick and os.path.exists(path):  # keep the rows of kernels not rerun
        ran = {(m.name, k) for m in members for k in args.kernels.split(",")}
        kept = [r for r in json.load(open(path))["rows"] if (r["member"], r["kernel"]) not in ran]
        order = {m.name: i for i, m in enumerate(family)}
        rank = {k: i for i, k in enumerate(KERNELS)}
        rows = sorted(kept + rows, key=lambda r: (order[r["member"]], rank[r["kernel"]]))
        if kept:
            header += f" Rows of {', '.join(sorted({r['member'] for r in kept}))}: previous run."
    with open(path, "w") as fh:
        json.dump(dict(sizes=sizes, rows=rows), fh, indent=1)
    if not args.quick:
        write_doc(os.path.join(ROOT, "docs", "posteriors.md"), table(rows, header))
    print(table(rows, header))


if __name__ == "__main__":
    main()
