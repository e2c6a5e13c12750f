"""ChainedLangevin on paper-gmm (docs/convention.md): mode frequencies, cost, patch-size guidance.

Usage::

    python benchmarks/bench_chained.py modes   # ula + ula4 + mh + baselines below
    python benchmarks/bench_chained.py ula     # prefix sweep, Chained-ALD without MH, 1e5
    python benchmarks/bench_chained.py ula4    # the same on the 4-level schedule of `mh`
    python benchmarks/bench_chained.py mh      # prefix sweep with MH, adapted, 1e4
    python benchmarks/bench_chained.py baselines  # vanilla Langevin and the full sweep
    python benchmarks/bench_chained.py cost    # step time at d=1000 vs d=100, one run

Each part prints its figures and writes ``benchmarks/results/chained_<part>.json``. The patch-
size sweep is ``examples/patch_size_sweep.py``. Budgets count every Langevin step of a chain,
warmup included: ``sweeps x patches x levels x steps_per_patch``. A sample's mode is the
component of largest responsibility (``GaussianMixtureTarget.assign``); frequencies are over the
final draw of each chain (the paper's protocol); ``TV = 1/2 sum_k |f_k - w_k|``."""

import json
import os
import sys
import time

import jax
import numpy as np
from numpyro.infer import MCMC

from numpyro_cld import ChainedLangevin, Langevin
from numpyro_cld.schedules import ncsn_sigmas
from numpyro_cld.targets import paper_gmm

OUT = os.path.join(os.path.dirname(__file__), "results")
WEIGHTS = np.array([0.2, 0.4, 0.4])
SIGMAS = ncsn_sigmas(1.0, 0.01, 10)  # the paper's schedule
EPS = 2e-5  # NCSN's base step: eta_1 = 0.2 at sigma = 1


def frequencies(target, x_last):
    a = np.asarray(target.assign(x_last))
    return np.bincount(a, minlength=target.num_modes) / a.size


def run(kernel, target, num_chains, start, num_samples, num_warmup=0, seed=0):
    init = target.init_params(jax.random.key(100 + seed), num_chains, start)
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    t0 = time.time()
    mcmc.run(jax.random.key(seed), init_params=init)
    x = mcmc.get_samples(group_by_chain=True)[target.site]
    f = frequencies(target, x[:, -1])
    return dict(
        freq=f.round(4).tolist(),
        tv=float(0.5 * np.abs(f - WEIGHTS).sum()),
        max_dev=float(np.abs(f - WEIGHTS).max()),
        seconds=round(time.time() - t0, 1),
    )


def prefix_ula(num_chains=1000):
    """Prefix sweep without MH (Chained-ALD, the paper's setting): 1 sweep x 10 patches x
    10 levels x 1000 steps = 1e5 steps a chain."""
    t, res = paper_gmm(100), {}
    for seed, start in enumerate(("mode0", "mode1", "mode2")):
        k = ChainedLangevin(
            t.model, patch_size=10, sigmas=SIGMAS, step_size=EPS, steps_per_patch=1000, adjust=False
        )
        # a fresh seed per start: with common noise the runs coalesce and give equal draws
        res[f"prefix_ula_1e5_{start}"] = r = run(k, t, num_chains, start, 1, seed=seed)
        print("prefix ULA 1e5", start, r, flush=True)
    return res


def prefix_ula4(num_chains=1000):
    """Prefix sweep without MH on the 4-level schedule of the MH run (levels below 0.1 barely
    move with the NCSN step rule): 1 sweep x 10 patches x 4 levels x 2500 steps = 1e5."""
    t, res = paper_gmm(100), {}
    for seed, start in enumerate(("mode0", "mode1", "mode2")):
        k = ChainedLangevin(
            t.model,
            patch_size=10,
            sigmas=[1.0, 0.5, 0.25, 0.1],
            step_size=0.01,
            steps_per_patch=2500,
            adjust=False,
        )
        res[f"prefix_ula4_1e5_{start}"] = r = run(k, t, num_chains, start, 1, seed=seed)
        print("prefix ULA (4 levels) 1e5", start, r, flush=True)
    return res


def prefix_mh(num_chains=1000):
    """Prefix sweep with MH and per-patch step sizes adapted in warmup, 1e4 steps a chain,
    warmup included: (4 warmup + 6 sampling sweeps) x 10 patches x 4 levels x 25 steps."""
    t, res = paper_gmm(100), {}
    k = ChainedLangevin(
        t.model,
        patch_size=10,
        sigmas=[1.0, 0.5, 0.25, 0.1],
        step_size=0.01,
        steps_per_patch=25,
        adjust=True,
    )
    for seed, start in enumerate(("mode0", "mode1", "mode2")):
        res[f"prefix_mh_1e4_{start}"] = r = run(k, t, num_chains, start, 6, num_warmup=4, seed=seed)
        print("prefix MH 1e4", start, r, flush=True)
    return res


def baselines(num_chains=1000):
    """Vanilla Langevin and the full-conditional sweep with the same budgets, from mode 0."""
    t, res = paper_gmm(100), {}
    k = Langevin(t.model, step_size=0.1, num_steps=1000, adjust=False)
    res["vanilla_1e5_mode0"] = r = run(k, t, num_chains, "mode0", 100)
    print("vanilla 1e5", r, flush=True)
    k = Langevin(t.model, step_size=0.1, num_steps=100, adjust=True)
    res["vanilla_mh_1e4_mode0"] = r = run(k, t, num_chains, "mode0", 50, num_warmup=50)
    print("vanilla MH 1e4", r, flush=True)
    k = ChainedLangevin(
        t.model, patch_size=10, conditional="full", step_size=0.1, steps_per_patch=100, adjust=False
    )
    res["full_1e5_mode0"] = r = run(k, t, num_chains, "mode0", 100)
    print("full sweep 1e5", r, flush=True)
    k = ChainedLangevin(t.model, patch_size=10, conditional="full", steps_per_patch=10, adjust=True)
    res["full_mh_1e4_mode0"] = r = run(k, t, num_chains, "mode0", 50, num_warmup=50)
    print("full sweep MH 1e4", r, flush=True)
    return res


def modes(num_chains=1000):
    return {
        **prefix_ula(num_chains),
        **prefix_ula4(num_chains),
        **prefix_mh(num_chains),
        **baselines(num_chains),
    }


def cost(num_chains=1000, steps=30000, repeats=3):
    """Seconds per Langevin step (all chains) of the jitted sweep at d = 100 and d = 1000:
    the same number of steps for both, measurements interleaved, best of ``repeats``."""
    samplers = {}
    for d in (100, 1000):
        t = paper_gmm(d)
        k = ChainedLangevin(
            t.model, patch_size=10, steps_per_patch=100, step_size=0.1, adjust=False
        )
        init = t.init_params(jax.random.key(1), num_chains, "mode0")
        state = k.init(jax.random.split(jax.random.key(0), num_chains), 0, init_params=init)
        sample = jax.jit(lambda s, k=k: k.sample(s, (), {}))
        state = jax.block_until_ready(sample(state))  # compile
        samplers[d] = [sample, state, k.num_patches * 100]
    best = {100: np.inf, 1000: np.inf}
    for _ in range(repeats):
        for d, (sample, state, per_sweep) in samplers.items():
            sweeps = max(1, steps // per_sweep)
            t0 = time.time()
            for _ in range(sweeps):
                state = sample(state)
            jax.block_until_ready(state)
            best[d] = min(best[d], (time.time() - t0) / (sweeps * per_sweep))
            samplers[d][1] = state
    for d in best:
        print(f"d={d}: {best[d] * 1e6:.1f} us per step ({num_chains} chains)", flush=True)
    ratio = best[1000] / best[100]
    print(f"ratio d=1000 / d=100: {ratio:.2f}", flush=True)
    return {"100": best[100], "1000": best[1000], "ratio": ratio}


if __name__ == "__main__":
    part = sys.argv[1] if len(sys.argv) > 1 else "modes"
    os.makedirs(OUT, exist_ok=True)
    out = {
        "modes": modes,
        "ula": prefix_ula,
        "ula4": prefix_ula4,
        "mh": prefix_mh,
        "baselines": baselines,
        "cost": cost,
    }[part]()
    with open(os.path.join(OUT, f"chained_{part}.json"), "w") as fh:
        json.dump(out, fh, indent=1)
