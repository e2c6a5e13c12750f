"""Mode coverage on paper-gmm (d = 100): vanilla Langevin against chained Langevin.

All chains start in mode 0 (``x0 ~ N(0, 3I)``). Vanilla Langevin (ULA) and chained Langevin
(prefix conditionals, patch_size 10) get the same number of Langevin steps per transition
(``10 patches x steps_per_patch``) and the same number of transitions. Prints the
:func:`numpyro_cld.diagnostics.compare_kernels` table; with ``--plots DIR`` also writes
the frequency and frequency-vs-steps figures there.

Usage: python examples/coverage_table.py [--chains 300] [--draws 50] [--steps-per-patch 100]
"""

import argparse
import time

import jax
from jax import random
from numpyro.infer import MCMC

from numpyro_cld import ChainedLangevin, Langevin, diagnostics
from numpyro_cld.targets import paper_gmm


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=300)
    parser.add_argument("--draws", type=int, default=50, help="transitions (sweeps) per chain")
    parser.add_argument("--patch-size", type=int, default=10)
    parser.add_argument("--steps-per-patch", type=int, default=100)
    parser.add_argument("--step-size", type=float, default=0.1)
    parser.add_argument("--plots", default=None, help="directory for the PNG figures")
    args = parser.parse_args()

    target = paper_gmm(100)
    num_patches = -(-target.dim // args.patch_size)
    steps = num_patches * args.steps_per_patch  # Langevin steps per transition, both kernels
    kernels = {
        "vanilla": Langevin(target.model, step_size=args.step_size, num_steps=steps, adjust=False),
        "chained": ChainedLangevin(
            target.model,
            patch_size=args.patch_size,
            conditional="prefix",
            steps_per_patch=args.steps_per_patch,
            step_size=args.step_size,
            adjust=False,
        ),
    }
    init = target.init_params(random.key(1), args.chains)  # mode 0
    runs = {}
    for name, kernel in kernels.items():
        mcmc = MCMC(
            kernel,
            num_warmup=0,
            num_samples=args.draws,
            num_chains=args.chains,
            chain_method="vectorized",
            progress_bar=False,
        )
        t0 = time.perf_counter()
        mcmc.run(random.key(0), init_params=init)
        jax.block_until_ready(mcmc.last_state.z)
        print(f"{name}: {time.perf_counter() - t0:.1f} s")
        runs[name] = mcmc

    print(
        f"paper-gmm d={target.dim}, {args.chains} chains from mode 0, {args.draws} draws, "
        f"{steps} Langevin steps per draw (eta={args.step_size}; chained: patch_size="
        f"{args.patch_size}, {args.steps_per_patch} steps per patch)"
    )
    table = diagnostics.compare_kernels(runs, target)
    print(table)

    if args.plots:
        import os

        from numpyro_cld import plots

        os.makedirs(args.plots, exist_ok=True)
        plots.plot_mode_frequencies(table).savefig(
            os.path.join(args.plots, "paper_gmm_frequencies.png"), dpi=120
        )
        plots.plot_frequency_vs_steps(table, steps_per_draw=steps).savefig(
            os.path.join(args.plots, "paper_gmm_frequency_vs_steps.png"), dpi=120
        )


if __name__ == "__main__":
    main()
