"""TV and cost against ``patch_size`` for ``ChainedLangevin`` with its defaults, on the mixtures
of the generated family (numpyro_cld.examples.families).

Usage::

    python benchmarks/bench_patch_size.py            # 7 members, up to 6 sizes (~20 min)
    python benchmarks/bench_patch_size.py --quick    # smoke run

For each member and patch size: ``ChainedLangevin(model, patch_size=p)`` and nothing else (the
defaults of the day: annealed levels, MH, per-patch adaptation), ``MCMC(kernel, num_warmup,
num_samples, num_chains, chain_method="vectorized")`` with every chain started in the widest
component. TV is ``1/2 sum_k |f_k - w_k|`` between the mode frequencies of all draws and the
exact weights; ``tv_noise`` is the TV exact independent draws of the same count would show on
average (``sum_k sqrt(w_k (1 - w_k) / n) / sqrt(2 pi)``, i.e. ``E|f_k - w_k|/2`` summed), the
floor a row can reach at this size. Gradient evaluations: ``(warmup + draws) x chains x
(patches x steps_per_patch x levels + 1)``. Wall time includes compilation.

Writes ``benchmarks/results/patch_size.json`` and the table between the markers of
``docs/chained.md``'s "Patch size with the defaults" section.
"""

import argparse
import json
import os
import time
import warnings

import jax
import numpy as np
from numpyro.infer import MCMC

from numpyro_cld import ChainedLangevin
from numpyro_cld.examples.families import member

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MEMBERS = (
    "mix-d10-k4-dense-sep",
    "mix-d24-k3-diag-overlap",
    "mix-d24-k5-dense-sep",
    "mix-d60-k3-dense-overlap",
    "mix-d60-k5-diag-sep",
    "mix-d200-k2-diag-overlap",
    "mix-d200-k4-dense-sep",
)
PATCH_SIZES = (1, 2, 5, 10, 20, 50)
FULL = dict(num_warmup=50, num_samples=100, num_chains=16)
QUICK = dict(num_warmup=10, num_samples=20, num_chains=4)
START, END = "<!-- patch-size:start -->", "<!-- patch-size:end -->"


def tv_noise(w, n):
    w = np.asarray(w)
    return float(np.sum(np.sqrt(w * (1 - w) / n)) / np.sqrt(2 * np.pi))


def run_one(m, p, sizes, seed=0):
    kernel = ChainedLangevin(m.model, patch_size=p)
    mcmc = MCMC(kernel, **sizes, chain_method="vectorized", progress_bar=False)
    init = m.init_params(jax.random.key(seed + 1), sizes["num_chains"])
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mcmc.run(jax.random.key(seed), init_params=init)
    x = jax.block_until_ready(mcmc.get_samples()[m.site])
    wall = time.perf_counter() - t0
    labels = np.asarray(m.assign(x)).ravel()
    f = np.bincount(labels, minlength=m.num_components) / labels.size
    plan = kernel.plan
    levels = 1 if plan.sigmas is None else len(plan.sigmas)
    sweep = kernel.num_patches * plan.steps_per_patch * levels + 1
    transitions = (sizes["num_warmup"] + sizes["num_samples"]) * sizes["num_chains"]
    return dict(
        member=m.name,
        dim=m.dim,
        K=m.num_components,
        patch_size=p,
        patches=kernel.num_patches,
        tv=float(0.5 * np.abs(f - m.weights).sum()),
        tv_noise=tv_noise(m.weights, labels.size),
        freq=f.round(3).tolist(),
        weights=np.round(m.weights, 3).tolist(),
        grads=int(transitions * sweep),
        seconds=round(wall, 1),
        finite=bool(np.isfinite(np.asarray(x)).all()),
    )


def table(rows):
    head = "| member | patch_size | patches | TV | noise floor | gradients | seconds |\n"
    head += "|---|---|---|---|---|---|---|\n"
    body = "".join(
        f"| {r['member']} | {r['patch_size']} | {r['patches']} | {r['tv']:.3f} | "
        f"{r['tv_noise']:.3f} | {r['grads']:,} | {r['seconds']} |\n"
        for r in rows
    )
    return head + body


def write_doc(path, config, rows):
    with open(path) as f:
        text = f.read()
    if START not in text or END not in text:
        raise SystemExit(f"{path} has no {START} ... {END} markers")
    block = f"{START}\n{config}\n\n{table(rows)}{END}"
    head, rest = text.split(START, 1)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(head + block + rest.split(END, 1)[1])
    os.replace(tmp, path)  # never a half-written page


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 2 members, no doc")
    ap.add_argument("--members", default=",".join(MEMBERS))
    ap.add_argument("--patch-sizes", default=",".join(map(str, PATCH_SIZES)))
    args = ap.parse_args()
    sizes = QUICK if args.quick else FULL
    names = MEMBERS[:2] if args.quick else tuple(args.members.split(","))
    rows = []
    for name in names:
        m = member(name)
        for p in map(int, args.patch_sizes.split(",")):
            if p > m.dim // 2 and p != 1:  # a single patch is vanilla Langevin
                continue
            rows.append(run_one(m, p, sizes))
            r = rows[-1]
            print(f"{name} p={p}: TV {r['tv']:.3f} (floor {r['tv_noise']:.3f}) {r['seconds']} s")
    config = (
        f"`MCMC(ChainedLangevin(model, patch_size=p), num_warmup={sizes['num_warmup']}, "
        f"num_samples={sizes['num_samples']}, num_chains={sizes['num_chains']}, "
        f'chain_method="vectorized")`, every chain started in the widest component, '
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cpu, jax {jax.__version__}."
    )
    print(table(rows))
    if args.quick:
        return
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", "patch_size.json")
    if os.path.exists(path):  # keep the rows of members not rerun, in the default order
        with open(path) as f:
            old = [r for r in json.load(f)["rows"] if r["member"] not in names]
        order = {n: i for i, n in enumerate(MEMBERS)}
        rank = lambda r: (order.get(r["member"], len(order)), r["patch_size"])  # noqa: E731
        rows = sorted(old + rows, key=rank)
    with open(path, "w") as f:
        json.dump(dict(config=config, rows=rows), f, indent=1)
    write_doc(os.path.join(ROOT, "docs", "chained.md"), config, rows)


if __name__ == "__main__":
    main()
