"""Langevin's defaults on hard geometry, per gradient against NUTS
(numpyro_cld.examples.geometry).

Usage::

    python benchmarks/bench_geometry.py                       # every member, default columns
    python benchmarks/bench_geometry.py --members banana-d2 --methods langevin,nuts
    python benchmarks/bench_geometry.py --methods langevin,langevin-diag,langevin-dense,nuts

Columns (``--methods``): ``langevin`` is ``Langevin(model)`` with the package's defaults,
``langevin-diag`` / ``langevin-dense`` force a diagonal / dense mass matrix, ``langevin-s{n}``
runs ``num_steps=n``, ``chained`` is ``ChainedLangevin(model)`` with its defaults,
``chained-full`` its full-conditional sweep alone (``conditional="full"``) and ``nuts`` is
``NUTS(model)``. One ``MCMC(kernel, num_warmup=1000, num_samples=1000,
num_chains=4, chain_method="vectorized")`` run each, seed 0, the kernels' default init
(uniform(-2, 2) in the unconstrained space).

Gradient evaluations: NUTS and Langevin, the sum of the ``num_steps`` field over warmup and
samples (warmup run apart to read them); chained, transitions x
``plan.gradients_per_transition`` plus its pilot.

Truth: closed forms (Gaussians, bananas, the AR(1) posterior), else one long NUTS run
(4 x (2000 + 10000), seed 1) cached in ``<out>/geometry_reference.json``.

Pass (issue criteria): every draw finite, max rank r-hat <= 1.01, min bulk ESS >= 400, every
mean within 4 MCSE of the truth (MCSE of the run), every sd within 10% of the truth.
"""

import argparse
import json
import os
import sys
import time
import warnings

import jax
import numpy as np
from numpyro.infer import MCMC, NUTS

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_defaults import _num, _values, fingerprint  # noqa: E402

from numpyro_cld import ChainedLangevin, Langevin  # noqa: E402
from numpyro_cld.diagnostics.arviz_compat import arviz  # noqa: E402
from numpyro_cld.examples.geometry import NAMES, member  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = dict(num_warmup=1000, num_samples=1000, num_chains=4)
REF_SIZES = dict(num_warmup=2000, num_samples=10000, num_chains=4)
REF_SEED = 1
METHODS = ("langevin", "nuts")


def make_kernel(method, m):
    if method == "nuts":
        return NUTS(m.model)
    if method == "chained":
        return ChainedLangevin(m.model)
    if method == "chained-full":  # the full-conditional sweep alone (issue 30's third column)
        return ChainedLangevin(m.model, conditional="full")
    kw = {}
    for part in method.split("-")[1:]:
        if part in ("diag", "dense"):
            kw["dense_mass"] = part == "dense"
        elif part.startswith("s"):
            kw["num_steps"] = int(part[1:])
    return Langevin(m.model, **kw)


def flat(samples, sites):
    """``(chains, draws, k)`` draws of ``sites`` raveled in order."""
    arrs = [np.asarray(samples[s]) for s in sites]
    return np.concatenate([a.reshape(a.shape[:2] + (-1,)) for a in arrs], -1)


def truth(m, path):
    if m.truth is not None:
        return m.truth
    key = m.reference_key or m.name
    cache = json.load(open(path)) if os.path.exists(path) else {}
    model = m.reference_model or m.model
    fp = fingerprint(model)
    if key not in cache or cache[key]["fingerprint"] != fp:
        t0 = time.perf_counter()
        mcmc = MCMC(NUTS(model), **REF_SIZES, chain_method="vectorized", progress_bar=False)
        mcmc.run(jax.random.key(REF_SEED))
        draws = mcmc.get_samples(group_by_chain=True)
        az = arviz()
        post = az.from_numpyro(mcmc, log_likelihood=False).posterior
        entry = dict(fingerprint=fp, seed=REF_SEED, sizes=REF_SIZES,
                     seconds=round(time.perf_counter() - t0, 1),
                     max_rhat=float(np.max(_values(az.rhat(post)))), sites={})  # fmt: skip
        for s, v in draws.items():
            v = np.asarray(v).reshape(v.shape[:2] + (-1,))
            entry["sites"][s] = dict(mean=v.mean((0, 1)).tolist(), sd=v.std((0, 1)).tolist())
        cache[key] = entry
        json.dump(cache, open(path, "w"))
        print(f"  reference {key}: {entry['seconds']} s, r_hat {entry['max_rhat']:.4f}")
    sites = cache[key]["sites"]
    return tuple(np.concatenate([sites[s][f] for s in m.sites]) for f in ("mean", "sd"))


def run_one(m, method, mean, sd):
    kernel = make_kernel(method, m)
    mcmc = MCMC(kernel, **SIZES, chain_method="vectorized", progress_bar=False)
    counted = method == "nuts" or method.startswith("langevin")  # the `num_steps` field
    fields = ("diverging", "num_steps") if counted else ("diverging",)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if counted:
            mcmc.warmup(jax.random.key(0), extra_fields=fields, collect_warmup=True)
            grads = int(np.sum(mcmc.get_extra_fields()["num_steps"]))
            mcmc.run(mcmc.post_warmup_state.rng_key, extra_fields=fields)
            grads += int(np.sum(mcmc.get_extra_fields()["num_steps"]))
        else:
            mcmc.run(jax.random.key(0), extra_fields=fields)
    samples = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
    wall = time.perf_counter() - t0
    transitions = (SIZES["num_warmup"] + SIZES["num_samples"]) * SIZES["num_chains"]
    if method.startswith("chained"):
        grads = int(transitions * kernel.plan.gradients_per_transition)
        grads += int(kernel.plan.pilot_gradients or 0)
    x = flat(samples, m.sites)
    az = arviz()
    ds = az.convert_to_dataset({"x": x})
    ess = float(np.min(_values(az.ess(ds, method="bulk"))))
    mcse = np.asarray(az.mcse(ds, method="mean")["x"])
    finite = bool(np.isfinite(x).all())
    row = dict(member=m.name, kind=m.kind, dim=m.dim, method=method, seconds=round(wall, 1),
               grads=grads, ess_bulk_min=_num(ess), ess_per_1000_grads=_num(1e3 * ess / grads),
               max_rhat=_num(np.max(_values(az.rhat(ds, method="rank")))),
               divergences=int(np.sum(mcmc.get_extra_fields()["diverging"])), finite=finite,
               max_z=_num(np.max(np.abs(x.mean((0, 1)) - mean) / mcse)),
               max_sd_err=_num(np.max(np.abs(x.std((0, 1)) / sd - 1))))  # fmt: skip
    row["pass"] = bool(
        finite
        and (row["max_rhat"] or 9) <= 1.01
        and (row["ess_bulk_min"] or 0) >= 400
        and (row["max_z"] or 99) <= 4
        and (row["max_sd_err"] or 9) <= 0.1
    )
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", default=",".join(NAMES))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    results_path = os.path.join(args.out, "geometry.json")
    rows = json.load(open(results_path)) if os.path.exists(results_path) else []
    for name in args.members.split(","):
        m = member(name)
        mean, sd = truth(m, os.path.join(args.out, "geometry_reference.json"))
        for method in args.methods.split(","):
            row = run_one(m, method, mean, sd)
            rows = [r for r in rows if (r["member"], r["method"]) != (name, method)] + [row]
            json.dump(rows, open(results_path, "w"), indent=1)
            print(f"{name:22s} {method:16s} ESS/1k grads {row['ess_per_1000_grads'] or 0:8.3f}"
                  f"  ESS {row['ess_bulk_min'] or 0:7.0f}  rhat {row['max_rhat'] or 9:.3f}"
                  f"  z {row['max_z'] or 99:5.1f}  sd {row['max_sd_err'] or 9:.3f}"
                  f"  div {row['divergences']:4d}  {row['seconds']:6.1f}s"
                  f"  {'PASS' if row['pass'] else 'fail'}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
