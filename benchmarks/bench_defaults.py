"""The kernels' defaults measured on the generated family of targets
(numpyro_cld.examples.families).

Usage::

    python benchmarks/bench_defaults.py                 # every member and kernel (15 min, 2 cpu)
    python benchmarks/bench_defaults.py --quick         # smoke run: 2 members, tiny sizes
    python benchmarks/bench_defaults.py --members funnel-d10,logistic-d11 --kernels chained

For each member and kernel -- ``Langevin(model)`` and ``ChainedLangevin(model,
patch_size=...)`` with the package's defaults (nothing else passed), and ``NUTS(model)`` as the
reference column -- one ``MCMC(kernel, num_warmup, num_samples, num_chains,
chain_method="vectorized")`` run with fixed seeds: mixtures start every chain in the widest
component (``FamilyMember.init_params``), posteriors use the kernel's default init. The run is
``mcmc.warmup(collect_warmup=True)`` then ``mcmc.run`` (the same chain as one ``run``) for NUTS
and Langevin, so that the gradients of their warmup are counted; the wall time covers both,
compilation included.

patch_size rule: ``min(10, max(1, d // 10))`` for mixtures (10 patches, at most 10 coordinates
each: docs/figures/patch_size_sweep finds 5 to 20 best at d = 100 and 100 failing), 2 for
posteriors.

Gradient evaluations: NUTS and Langevin, the sum of the ``num_steps`` field over warmup and
samples; ChainedLangevin, ``(warmup + samples) x chains x
plan.gradients_per_transition`` (:func:`numpyro_cld.kernels.chained_plan.gradients_per_transition`:
a sweep's patch steps, each a whole gradient on a generic model and ``patch_size / d`` of one
with closed-form prefix conditionals; on the tempered route every replica's local steps, its
re-evaluation after the swaps and the swaps' log-likelihood evaluations).

Diagnostics (ArviZ, on the post-warmup draws of the model's latent sites, **constrained**):
minimum bulk ESS over coordinates, maximum rank r_hat, divergences (the ``diverging`` field),
whether every draw is finite. Error against the reference: mixtures, the total variation
``1/2 sum_k |f_k - w_k|`` between the mode frequencies of all draws (largest responsibility,
``FamilyMember.assign``) and the exact weights; posteriors, ``max |mean - ref_mean| / MCSE``
over latent coordinates (MCSE: ``az.mcse`` of the kernel's run), with reference means from a
long NUTS run (4 x 10000 draws, on the non-centred model where the member's hint says so)
cached in ``<out>/defaults_reference.json`` with its seed and sizes.

Criteria (docs/defaults.md): mixtures, chained: TV <= 0.05; posteriors, Langevin and chained:
every draw finite, r_hat <= 1.05, bulk ESS >= 100, every mean within 4 MCSE of the reference.

Writes ``<out>/defaults.json`` (default ``benchmarks/results``) and the table between the
markers of ``docs/defaults.md`` (with ``--out``: ``<out>/defaults.md``). ``--quick`` without
``--out`` writes to a temporary folder.
"""

import argparse
import inspect
import json
import os
import platform
import tempfile
import time
import warnings

import jax
import numpy as np
from _defaults_report import merged_rows, previous_run, write_doc
from numpyro.handlers import seed, trace
from numpyro.infer import MCMC, NUTS

import numpyro_cld
from numpyro_cld import ChainedLangevin, Langevin
from numpyro_cld.diagnostics.arviz_compat import arviz
from numpyro_cld.examples.families import NAMES, family

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KERNELS = ("langevin", "chained", "nuts")
FULL = dict(num_warmup=1000, num_samples=1000, num_chains=4)
QUICK = dict(num_warmup=100, num_samples=100, num_chains=2)
REF_FULL = dict(num_warmup=2000, num_samples=10000, num_chains=4)
REF_QUICK = dict(num_warmup=200, num_samples=500, num_chains=2)
QUICK_MEMBERS = ("mix-d10-k2-diag-sep", "robust-regression-factor")
SEED, REF_SEED = 0, 12345
TV_MAX, RHAT_MAX, ESS_MIN, Z_MAX = 0.05, 1.05, 100.0, 4.0


def patch_size(m):
    """The documented rule: ~10 patches of at most 10 coordinates (mixtures), 2 (posteriors)."""
    return min(10, max(1, m.dim // 10)) if m.kind == "mixture" else 2


def make_kernel(name, m):
    if name == "langevin":
        return Langevin(m.model)
    if name == "chained":
        return ChainedLangevin(m.model, patch_size=patch_size(m))
    return NUTS(m.model)


def signature_defaults(cls):
    out = {}
    for p in inspect.signature(cls).parameters.values():
        if p.default is inspect.Parameter.empty or p.name in ("model", "eps"):
            continue
        d = p.default
        plain = isinstance(d, (int, float, str, bool, type(None)))
        out[p.name] = d if plain else getattr(d, "__name__", repr(d))
    return out


def grad_evals(name, kernel, steps, sizes):
    transitions = (sizes["num_warmup"] + sizes["num_samples"]) * sizes["num_chains"]
    if name in ("nuts", "langevin"):  # the `num_steps` field: steps (gradients) a transition
        return int(sum(np.sum(s) for s in steps))
    # the plan's own count (numpyro_cld.kernels.chained_plan.gradients_per_transition)
    return int(round(transitions * kernel.plan.gradients_per_transition))


def latent_sites(model):
    tr = trace(seed(model, 0)).get_trace()
    return [k for k, s in tr.items() if s["type"] == "sample" and not s["is_observed"]]


def _num(x):
    x = float(x)
    return x if np.isfinite(x) else None


def _values(ds):
    """Every value of an xarray Dataset as one flat array (NaN kept, unlike ``Dataset.max``)."""
    return np.concatenate([np.ravel(ds[v].values) for v in ds.data_vars])


def fingerprint(model):
    """``log p`` of a seeded trace (latent draws and the observed data): changes with the data."""
    tr = trace(seed(model, 0)).get_trace()
    return float(
        sum(np.sum(s["fn"].log_prob(s["value"])) for s in tr.values() if s["type"] == "sample")
    )


def reference(m, path, sizes):
    """Reference means of every site of the member's reference run (cached by key)."""
    ref = m.reference_params
    model, key = ref.model or m.model, ref.key or m.name
    want = dict(seed=REF_SEED, noncentred=ref.noncentred, **sizes)
    cache = {}
    if os.path.exists(path):
        with open(path) as f:
            cache = json.load(f)
    entry, fp = cache.get(key), fingerprint(model)
    if (
        entry
        and all(entry.get(k) == v for k, v in want.items())
        and np.isclose(entry.get("fingerprint", np.nan), fp, rtol=1e-5)
    ):
        return entry
    t0 = time.perf_counter()
    mcmc = MCMC(NUTS(model), **sizes, chain_method="vectorized", progress_bar=False)
    mcmc.run(jax.random.key(REF_SEED), extra_fields=("diverging",))
    post = arviz().from_numpyro(mcmc, log_likelihood=False).posterior
    mcse = arviz().mcse(post, method="mean")
    entry = dict(
        **want,
        fingerprint=fp,
        means={k: np.asarray(post[k].mean(("chain", "draw"))).tolist() for k in post.data_vars},
        mcse={k: np.asarray(mcse[k]).tolist() for k in post.data_vars},
        max_rhat=_num(np.max(_values(arviz().rhat(post, method="rank")))),
        divergences=int(np.sum(mcmc.get_extra_fields()["diverging"])),
        seconds=round(time.perf_counter() - t0, 1),
    )
    cache[key] = entry
    with open(path, "w") as f:
        json.dump(cache, f, indent=1, sort_keys=True)
    print(f"  reference {key}: {entry['seconds']} s, r_hat {entry['max_rhat']}", flush=True)
    return entry


def run_one(m, name, sizes, ref):
    kernel = make_kernel(name, m)
    mcmc = MCMC(kernel, **sizes, chain_method="vectorized", progress_bar=False)
    init = m.init_params(jax.random.key(SEED + 1), sizes["num_chains"]) if ref is None else None
    counted = name in ("nuts", "langevin")  # gradients read from the `num_steps` field
    fields = ("diverging", "num_steps") if counted else ("diverging",)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # chained's full-sweep fallback
        if counted:  # warmup apart, to count its gradients (one more compilation)
            mcmc.warmup(
                jax.random.key(SEED), init_params=init, extra_fields=fields, collect_warmup=True
            )
            steps = [mcmc.get_extra_fields()["num_steps"]]
            mcmc.run(mcmc.post_warmup_state.rng_key, extra_fields=fields)
        else:
            mcmc.run(jax.random.key(SEED), init_params=init, extra_fields=fields)
    samples = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
    wall = time.perf_counter() - t0
    extra = mcmc.get_extra_fields()
    steps = steps + [extra["num_steps"]] if counted else None
    sites = latent_sites(m.model)
    az = arviz()
    post = az.from_numpyro(mcmc, log_likelihood=False).posterior[sites]
    ess = float(np.min(_values(az.ess(post, method="bulk"))))
    grads = grad_evals(name, kernel, steps, sizes)
    row = dict(
        member=m.name,
        kind=m.kind,
        dim=m.dim,
        K=m.num_components,
        kernel=name,
        patch_size=patch_size(m) if name == "chained" else None,
        conditional=getattr(kernel, "conditional", None),
        seconds=round(wall, 2),
        grads=grads,
        ess_bulk_min=_num(ess),
        ess_per_1000_grads=_num(1000 * ess / grads),
        max_rhat=_num(np.max(_values(az.rhat(post, method="rank")))),
        divergences=int(np.sum(extra["diverging"])),
        finite=bool(all(np.isfinite(np.asarray(samples[s])).all() for s in sites)),
    )
    if m.kind == "mixture":
        labels = np.asarray(m.assign(samples[m.site])).ravel()
        f = np.bincount(labels, minlength=m.num_components) / labels.size
        row["freq"] = f.round(4).tolist()
        row["tv"] = float(0.5 * np.abs(f - m.weights).sum())
        row["applies"] = name == "chained"
        row["pass"] = bool(row["finite"] and row["tv"] <= TV_MAX)
    else:
        mcse = az.mcse(post, method="mean")
        z = [
            np.abs(np.asarray(post[s].mean(("chain", "draw"))) - np.asarray(ref["means"][s]))
            / np.asarray(mcse[s])
            for s in m.reference_params.sites
        ]
        row["max_z"] = _num(np.max(np.concatenate([np.ravel(v) for v in z])))
        row["applies"] = name in ("langevin", "chained")
        row["pass"] = bool(
            row["finite"]
            and row["max_rhat"] is not None
            and row["max_rhat"] <= RHAT_MAX
            and (row["ess_bulk_min"] or 0.0) >= ESS_MIN
            and row["max_z"] is not None
            and row["max_z"] <= Z_MAX
        )
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 members, tiny sizes")
    ap.add_argument("--members", help=f"comma-separated, from: {', '.join(NAMES)}")
    ap.add_argument("--kernels", default=",".join(KERNELS), help="langevin,chained,nuts")
    ap.add_argument("--out", help="output folder (default benchmarks/results)")
    ap.add_argument(
        "--merge",
        action="store_true",
        help="replace only the rows measured now in the existing defaults.json (the table "
        "says which rows were re-measured and when)",
    )
    args = ap.parse_args()
    sizes, ref_sizes = (QUICK, REF_QUICK) if args.quick else (FULL, REF_FULL)
    names = args.members.split(",") if args.members else (QUICK_MEMBERS if args.quick else NAMES)
    kernels = args.kernels.split(",")
    if any(k not in KERNELS for k in kernels):
        ap.error(f"--kernels must be among {KERNELS}")
    out = args.out or (
        tempfile.mkdtemp(prefix="bench_defaults_") if args.quick else os.path.join(HERE, "results")
    )
    os.makedirs(out, exist_ok=True)
    doc = os.path.join(out, "defaults.md") if args.out or args.quick else None
    doc = doc or os.path.join(ROOT, "docs", "defaults.md")
    config = dict(
        quick=args.quick,
        sizes=sizes,
        reference_sizes=ref_sizes,
        seed=SEED,
        reference_seed=REF_SEED,
        patch_size_rule="min(10, max(1, d // 10)) for mixtures, 2 for posteriors",
        defaults={c.__name__: signature_defaults(c) for c in (Langevin, ChainedLangevin)},
        version=numpyro_cld.__version__,
        machine=f"{platform.machine()}, {os.cpu_count()} cpu, jax {jax.__version__}",
        date=time.strftime("%Y-%m-%d"),
    )
    rows, t0 = [], time.perf_counter()
    old = previous_run(out) if args.merge else None
    for m in family(names):
        ref = None
        if m.kind == "posterior":
            ref = reference(m, os.path.join(out, "defaults_reference.json"), ref_sizes)
        for k in kernels:
            rows.append(r := run_one(m, k, sizes, ref))
            err = f"TV {r['tv']:.3f}" if "tv" in r else f"max z {r['max_z']}"
            print(
                f"{m.name:26s} {k:8s} {r['seconds']:7.1f} s  ESS {r['ess_bulk_min']}  "
                f"r_hat {r['max_rhat']}  {err}  {'pass' if r['pass'] else 'fail'}",
                flush=True,
            )
            config["seconds"] = time.perf_counter() - t0
            if old is None:
                with open(os.path.join(out, "defaults.json"), "w") as f:
                    json.dump(dict(config=config, rows=rows), f, indent=1)
    if old is not None:
        config, rows = merged_rows(old, config, rows)
        with open(os.path.join(out, "defaults.json"), "w") as f:
            json.dump(dict(config=config, rows=rows), f, indent=1)
    write_doc(doc, config, rows)
    print(f"wrote {os.path.join(out, 'defaults.json')} and {doc} in {config['seconds']:.0f} s")


if __name__ == "__main__":
    main()
