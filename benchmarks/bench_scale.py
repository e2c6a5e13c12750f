"""Issue-sized scale check: paper-gmm at d = 10,000 with ``ChainedLangevin(model,
patch_size=10)`` and otherwise its defaults (MALA, Chained-ALD over ``sigmas="auto"``,
adapted step sizes), all chains started in the wide mode 0; goal TV <= 0.05 in <= 10 minutes
on 2 CPU cores.

Usage::

    python benchmarks/bench_scale.py                 # d = 10000, 100 chains x (10 + 10)
    python benchmarks/bench_scale.py --dim 1000      # a smaller rehearsal

The run is timed end to end (compilation included). Mode frequencies are over every draw of
every chain (the component of largest responsibility), ``TV = 1/2 sum_k |f_k - w_k|``; the
sampling noise of the TV for this many draws is printed beside it (the mean TV of the same
number of exact independent draws). Writes
``benchmarks/results/scale_d<dim>_c<chains>_w<warmup>_n<draws>.json``."""

import argparse
import json
import os
import time
import warnings

import jax
import numpy as np
from numpyro.infer import MCMC

from numpyro_cld import ChainedLangevin
from numpyro_cld.targets import paper_gmm

OUT = os.path.join(os.path.dirname(__file__), "results")
WEIGHTS = np.array([0.2, 0.4, 0.4])


def noise_tv(n, reps=2000, seed=0):
    """Mean TV of ``n`` exact independent draws of the mode label."""
    counts = np.random.default_rng(seed).multinomial(n, WEIGHTS, size=reps) / n
    return float(np.mean(0.5 * np.abs(counts - WEIGHTS).sum(1)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dim", type=int, default=10_000)
    ap.add_argument("--patch-size", type=int, default=10)
    ap.add_argument("--chains", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--draws", type=int, default=10)
    args = ap.parse_args()
    t = paper_gmm(args.dim)
    kernel = ChainedLangevin(t.model, patch_size=args.patch_size)
    mcmc = MCMC(
        kernel,
        num_warmup=args.warmup,
        num_samples=args.draws,
        num_chains=args.chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # divergences are counted below
        mcmc.run(
            jax.random.key(0),
            init_params=t.init_params(jax.random.key(1), args.chains, "mode0"),
            extra_fields=("diverging",),
        )
    x = jax.block_until_ready(mcmc.get_samples()["x"])
    seconds = time.perf_counter() - t0
    labels = np.asarray(t.assign(x))
    freq = np.bincount(labels, minlength=3) / labels.size
    tv = float(0.5 * np.abs(freq - WEIGHTS).sum())
    res = dict(
        dim=args.dim,
        patch_size=args.patch_size,
        chains=args.chains,
        warmup=args.warmup,
        draws=args.draws,
        levels=int(len(kernel.plan.sigmas)),
        steps_per_patch=kernel.plan.steps_per_patch,
        seconds=round(seconds, 1),
        frequencies=freq.round(4).tolist(),
        tv=round(tv, 4),
        noise_tv=round(noise_tv(labels.size), 4),
        divergences=int(np.sum(mcmc.get_extra_fields()["diverging"])),
        finite=bool(np.isfinite(np.asarray(x)).all()),
        machine=f"{os.cpu_count()} cpu, jax {jax.__version__}",
    )
    print(json.dumps(res))
    os.makedirs(OUT, exist_ok=True)
    name = f"scale_d{args.dim}_c{args.chains}_w{args.warmup}_n{args.draws}.json"
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
