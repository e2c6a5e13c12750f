"""Experiment: replica exchange over likelihood powers, anchored at exact prior draws
(:func:`numpyro_cld.samplers.tempering.replica_exchange`), on the posterior family, all chains
started in mode 0. Prints TV, the fraction of chains that visit every mode, the swap
acceptances and gradients per draw::

    python benchmarks/explore_tempering.py [--levels 8] [--steps 10] [--members a,b]
"""

import argparse
import time

import jax
import numpy as np
from jax import random

from numpyro_cld.examples.posteriors import posterior_family
from numpyro_cld.samplers import langevin
from numpyro_cld.samplers.tempering import replica_exchange
from numpyro_cld.sources.tempered import tempered_model

NUM_CHAINS, NUM_WARMUP, NUM_SAMPLES = 16, 400, 500


def run(m, levels, steps, seed=0):
    tm = tempered_model(m.model)

    def make_local(f):
        return langevin(f, step_size=0.1, num_steps=steps, adjust=True, num_warmup=NUM_WARMUP)

    betas = np.concatenate([[0.0], np.geomspace(1e-3, 1.0, levels)])
    init, step = replica_exchange(
        make_local,
        tm.path,
        betas=betas,
        num_warmup=NUM_WARMUP,
    )
    z0 = m.init_params(random.key(seed + 1), NUM_CHAINS, mode=0)[m.site]
    z0 = jax.vmap(tm.ravel)({m.site: z0})

    @jax.jit
    def chain(key, z):
        def body(s, k):
            s = step(k, s)
            return s, (s.z, s.adapt_state.swap_accept_prob, s.adapt_state.jumped)

        s = init(z, key)
        s, _ = jax.lax.scan(body, s, random.split(random.fold_in(key, 1), NUM_WARMUP))
        s, out = jax.lax.scan(body, s, random.split(random.fold_in(key, 2), NUM_SAMPLES))
        return s, out

    t0 = time.perf_counter()
    s, (zs, acc, jumps) = jax.block_until_ready(
        jax.vmap(chain)(random.split(random.key(seed), NUM_CHAINS), z0)
    )
    wall = time.perf_counter() - t0
    labels = np.asarray(m.assign(zs))  # (chains, draws); site flat == site here (real, 1 site)
    f = np.bincount(labels.ravel(), minlength=m.num_modes) / labels.size
    tv = 0.5 * np.abs(f - m.weights).sum()
    big = np.flatnonzero(np.asarray(m.weights) >= 0.01)
    all_modes = np.mean([np.isin(big, row).all() for row in labels])
    a = s.adapt_state
    mean_acc = np.asarray(a.swap_accept_sum / np.maximum(a.num_proposed, 1)).mean(0)
    grads = levels * (steps + 1)
    print(
        f"{m.name:28s} L={levels:2d} S={steps:2d} TV {tv:.3f} all-modes {all_modes:.2f} "
        f"swap acc min {mean_acc.min():.2f} top {mean_acc[-1]:.2f} jumps/draw "
        f"{np.asarray(jumps).mean():.3f} grads/draw {grads} {wall:.1f} s",
        flush=True,
    )
    print("   betas", np.round(np.asarray(a.betas).mean(0), 4).tolist())
    return tv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--members", default="")
    args = ap.parse_args()
    for m in posterior_family():
        if args.members and m.name not in args.members.split(","):
            continue
        run(m, args.levels, args.steps)


if __name__ == "__main__":
    main()
