"""The race: what a user would run instead, per gradient evaluation and per second.

On multimodal targets with known mode masses, every chain started in one mode, each method's
mode frequencies are compared with the exact weights (total variation
``TV = 1/2 sum_k |f_k - w_k|``, modes by largest responsibility or the target's ``assign``) at a
geometric sequence of budgets, and the gradient evaluations and seconds needed to reach
``TV <= 0.05`` are reported (3 seeds: mean and min-max), or the TV at the largest budget when a
method never gets there. Methods, each with ``NUM_CHAINS`` chains / particles:

- ``chained``: ``ChainedLangevin(model, patch_size=p)`` with its defaults (prefix sweep, MH,
  annealed ``sigmas="auto"``; on a model with data the tempered route), ``p = min(10, d // 10)``
  for mixtures (the documented rule), ``min(2, d)`` for the posterior;
- ``chained-ula``: the same with ``adjust=False``;
- ``mala``: ``Langevin(model, adjust=True)``; ``annealed``: ``AnnealedLangevin(model)``;
- ``nuts``: NumPyro ``NUTS(model)`` (its step-size and mass-matrix adaptation);
- ``smc``: BlackJAX ``adaptive_tempered_smc`` (target ESS 0.5, systematic resampling) wrapped in
  ``inner_kernel_tuning``: HMC mutations (10 per tempering step, 5 leapfrog steps), diagonal
  inverse mass matrix = particle variances and step size scaled by the last acceptance rate
  (target 0.65) after each tempering step. Path ``(1 - beta) log ref + beta log target`` from a
  broad reference ``ref = N(0, s^2 I)`` (mixtures, ``s = 1.5 max_{k,j} sqrt(loc^2 + scale^2)``)
  or from the prior (posterior: tempering the likelihood); particles start as reference draws.
  Budgets: ``r`` independent runs of ``NUM_CHAINS`` particles pooled (their weighted mode
  frequencies averaged), ``r = 1, 2, 4, ...``;
- ``pt``: TensorFlow Probability (JAX substrate) ``ReplicaExchangeMC`` over the same reference
  path (``untempered_log_prob_fn = log ref``, ``tempered_log_prob_fn = log target - log ref``),
  a geometric ladder of inverse temperatures from 1 to 1e-3, HMC inner kernels (5 leapfrog
  steps) with ``DualAveragingStepSizeAdaptation`` per replica during warmup; chains start in
  mode 0 (every replica).

MCMC methods (ours, NUTS, PT) run ``num_warmup`` then ``num_samples`` transitions in jitted
``lax.scan`` chunks; the budgets are prefixes of the sampling phase (``1, 2, 4, ... num_samples``
draws of every chain, pooled), warmup always included. Gradients: ``mala`` ``num_steps`` a
transition; ``annealed`` ``levels x (steps_per_level + 1)``; the chained prefix sweep
``patches x levels x steps_per_patch`` *patch* gradients + 1 (raw), each worth ``patch_size / d``
of a full gradient (``full``, what the figure plots: the prefix score of a patch costs
``O(patch_size x K)``); the tempered route as in ``bench_defaults.grad_evals`` (full gradients);
NUTS ``num_steps`` of every transition, warmup included; SMC ``particles x mutations x leapfrog x
tempering steps``; PT ``replicas x leapfrog`` a transition. Seconds: compiled run time
(compilation excluded, reported apart), spread over a chunk's transitions in proportion to
their gradients. Writes ``benchmarks/results/alternatives.json`` and
``docs/figures/alternatives.png``; prints a markdown table. Its parts: ``_race_targets.py``
(targets, references, budgets), ``_race_methods.py`` (the drivers of each method) and
``_race_report.py`` (TV curves, table, figure)::

    python benchmarks/bench_alternatives.py                     # full run, ~24 min CPU (2 cores)
    python benchmarks/bench_alternatives.py --quick             # smoke run (< 1 min), temp folder
    python benchmarks/bench_alternatives.py --targets paper-gmm,song-ermon-toy --seeds 0,1
    python benchmarks/bench_alternatives.py --methods chained,nuts,smc
    python benchmarks/bench_alternatives.py --targets song-ermon-toy --methods chained --merge
"""

import argparse
import json
import os
import platform
import tempfile
import time

import jax
from _race_methods import ours_or_nuts, pt, smc
from _race_report import curve_mcmc, curve_smc, figure, fmt_g, summarise, table
from _race_targets import METHODS, NUM_CHAINS, ROOT, TARGETS, TV_GOAL, make_target, sizes

import numpyro_cld


# -- main -----------------------------------------------------------------------------------
def run_method(target, method, seeds, quick):
    sz = sizes(target, method, quick)
    cache, curves, per_seed = {}, [], []
    for seed in seeds:
        if method == "smc":
            r = smc(target, seed, sz, cache)
            c = curve_smc(target, r)
        else:
            r = (
                pt(target, seed, sz, cache)
                if method == "pt"
                else ours_or_nuts(target, method, seed, sz, cache)
            )
            c = curve_mcmc(target, r, sz["num_warmup"])
        curves.append(c)
        per_seed.append(dict(seed=seed, compile_s=round(r["compile_s"], 2), settings=r["settings"]))
        print(
            f"  {target.name:20s} {method:12s} seed {seed}: TV {c[-1]['tv']:.3f} at "
            f"{fmt_g(c[-1]['grads'])} grads, {c[-1]['seconds']:.1f} s "
            f"(+{r['compile_s']:.1f} s compile)",
            flush=True,
        )
    return dict(sizes=sz, curves=curves, runs=per_seed, summary=summarise(curves))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run (< 1 min), temp folder")
    ap.add_argument("--targets", default=None, help=f"comma list of {TARGETS}")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    ap.add_argument("--figure", default=None, help="default docs/figures/alternatives.png")
    ap.add_argument(
        "--merge", action="store_true", help="keep the other (target, method) rows of the JSON"
    )
    args = ap.parse_args()
    targets = args.targets.split(",") if args.targets else list(TARGETS)
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = args.methods.split(",")
    if args.quick:  # one code path each: our kernels' driver, SMC, PT
        targets = args.targets.split(",") if args.targets else ["song-ermon-toy"]
        methods = ["chained", "smc", "pt"] if args.methods == ",".join(METHODS) else methods
        seeds = seeds[:1]
    default_out = os.path.join(ROOT, "benchmarks", "results")
    out = args.out or (tempfile.mkdtemp() if args.quick else default_out)
    fig = args.figure or (
        os.path.join(out, "alternatives.png")
        if args.quick
        else os.path.join(ROOT, "docs", "figures", "alternatives.png")
    )
    results, t_start = {}, time.perf_counter()
    for tname in targets:
        target = make_target(tname)
        results[tname] = {}
        for m in methods:
            try:
                results[tname][m] = run_method(target, m, seeds, args.quick)
            except Exception as e:  # record a method's failure on a target honestly
                msg = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                print(f"  {tname:20s} {m:12s} FAILED {msg}", flush=True)
                results[tname][m] = dict(error=msg)
    total = time.perf_counter() - t_start
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "alternatives.json")
    invocations = [dict(targets=targets, methods=methods, seeds=seeds, total_s=round(total, 1))]
    if args.merge and os.path.exists(path):  # keep the rows of (target, method) not rerun
        old = json.load(open(path))
        invocations = old.get("invocations", []) + invocations
        merged = {}
        for tname in TARGETS:
            rows = {**old["results"].get(tname, {}), **results.get(tname, {})}
            if rows:
                merged[tname] = {m: rows[m] for m in METHODS if m in rows}
        results = merged
    text = table(results)
    runs = "; ".join(
        f"{', '.join(i['targets'])} x {', '.join(i['methods'])}: {i['total_s']:.0f} s"
        for i in invocations
    )
    header = (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cpu, "
        f"jax {jax.__version__}; numpyro_cld {numpyro_cld.__version__}; {NUM_CHAINS} chains / "
        f"particles, seeds {seeds}; wall time {runs}."
    )
    with open(path, "w") as fh:
        json.dump(
            dict(
                header=header,
                num_chains=NUM_CHAINS,
                tv_goal=TV_GOAL,
                invocations=invocations,
                results=results,
            ),
            fh,
            indent=1,
        )
    figure(results, fig)
    print(header)
    print(text)
    print(f"wrote {path} and {fig}")


if __name__ == "__main__":
    main()
