"""Vanilla, annealed and chained Langevin on a multimodal target: who finds the modes?

The default is paper-gmm (d = 100, ``0.2 N(0, 3I) + 0.4 N(1, I) + 0.4 N(-1, I)``) with every
chain started in the wide mode 0. All kernels get the same number of Langevin steps per
stored draw (``--steps``): vanilla ``num_steps = steps``; annealed one sweep of
``levels x steps/levels``; chained one sweep of ``patches x steps/patches``. Prints the mode
coverage table (numpyro_cld.diagnostics.compare_kernels, with ArviZ ESS and R-hat) and writes
``frequencies.png`` and ``frequency_vs_steps.png`` to ``--out``.

Usage: python examples/compare_kernels.py [--target paper-gmm] [--dim 100] [--patch-size 10]
       [--steps 1000] [--draws 20] [--chains 500] [--kernels vanilla,annealed,chained]
       [--devices 1] [--out out/compare_kernels]
"""

import argparse
import os
import time

from _devices import chain_method_for

TARGETS = ("paper-gmm", "balanced-gmm", "song-ermon-toy")
KERNELS = ("vanilla", "annealed", "chained")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", choices=TARGETS, default="paper-gmm")
    p.add_argument("--dim", type=int, default=100, help="dimension (gmm targets)")
    p.add_argument("--patch-size", type=int, default=10)
    p.add_argument("--steps", type=int, default=1000, help="Langevin steps per stored draw")
    p.add_argument("--draws", type=int, default=20, help="stored draws per chain")
    p.add_argument("--chains", type=int, default=500)
    p.add_argument(
        "--kernels",
        default=",".join(KERNELS),
        help="comma-separated subset of " + ",".join(KERNELS),
    )
    p.add_argument(
        "--devices",
        type=int,
        default=1,
        help="host devices to shard the chains over (no progress bar when > 1)",
    )
    p.add_argument("--out", default=os.path.join("out", "compare_kernels"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    kernels = [k.strip() for k in args.kernels.split(",") if k.strip()]
    bad = [k for k in kernels if k not in KERNELS]
    if bad or not kernels:
        p.error(f"--kernels must be a subset of {','.join(KERNELS)}, got {args.kernels!r}")
    args.kernels = kernels
    for name in ("dim", "patch_size", "steps", "draws", "chains", "devices"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def build(args, target):
    from numpyro_cld import AnnealedLangevin, ChainedLangevin, Langevin
    from numpyro_cld.schedules import ncsn_sigmas

    num_levels = 10
    if target.name == "song-ermon-toy":
        # sigma_1 must be comparable to the distance between the modes
        # (docs/annealed.md, "Paths and schedules")
        sigmas, eps, eta = ncsn_sigmas(20.0, 1.0, num_levels), 0.05, 0.05
    else:
        sigmas, eps, eta = ncsn_sigmas(1.0, 0.01, num_levels), 2e-5, 0.1
    patch = min(args.patch_size, target.dim)
    num_patches = -(-target.dim // patch)
    make = {
        "vanilla": lambda: Langevin(
            target.model, step_size=eta, num_steps=args.steps, adjust=False
        ),
        "annealed": lambda: AnnealedLangevin(
            target.model,
            sigmas=sigmas,
            step_size=eps,
            steps_per_level=max(1, args.steps // num_levels),
        ),
        "chained": lambda: ChainedLangevin(
            target.model,
            patch_size=patch,
            conditional="prefix",
            step_size=eta,
            steps_per_patch=max(1, args.steps // num_patches),
            adjust=False,
        ),
    }
    return {k: make[k]() for k in args.kernels}


def main(argv=None):
    args = parse_args(argv)
    chain_method = chain_method_for(args.devices, args.chains)  # before JAX starts
    import jax
    from numpyro.infer import MCMC

    from numpyro_cld import diagnostics, plots
    from numpyro_cld.targets import balanced_gmm, paper_gmm, song_ermon_toy

    target = {
        "paper-gmm": lambda: paper_gmm(args.dim),
        "balanced-gmm": lambda: balanced_gmm(args.dim),
        "song-ermon-toy": song_ermon_toy,
    }[args.target]()
    init = target.init_params(jax.random.key(args.seed + 1), args.chains)
    print(
        f"{target.name}: d={target.dim}, weights={list(map(float, target.weights))}, "
        f"start={target.start}, {args.chains} chains x {args.draws} draws x {args.steps} "
        f"Langevin steps per draw, {jax.device_count()} device(s)"
    )
    runs = {}
    for name, kernel in build(args, target).items():
        mcmc = MCMC(
            kernel,
            num_warmup=0,
            num_samples=args.draws,
            num_chains=args.chains,
            chain_method=chain_method,
            progress_bar=not args.no_progress and args.devices == 1,
        )
        t0 = time.perf_counter()
        mcmc.run(jax.random.key(args.seed), init_params=init)
        jax.block_until_ready(mcmc.last_state.z)
        print(f"{name}: {time.perf_counter() - t0:.1f} s")
        runs[name] = mcmc

    table = diagnostics.compare_kernels(runs, target)
    print(table)
    os.makedirs(args.out, exist_ok=True)
    title = (
        f"{target.name}, d = {target.dim}, {args.chains} chains per kernel, start: {target.start}"
    )
    fig = plots.plot_mode_frequencies(table.coverage, title=title)
    fig.savefig(os.path.join(args.out, "frequencies.png"), dpi=120, bbox_inches="tight")
    fig = plots.plot_frequency_vs_steps(table.coverage, steps_per_draw=args.steps, title=title)
    fig.savefig(os.path.join(args.out, "frequency_vs_steps.png"), dpi=120, bbox_inches="tight")
    table.frame.to_csv(os.path.join(args.out, "table.csv"))
    print("wrote", os.path.join(args.out, "{frequencies,frequency_vs_steps}.png"), "and table.csv")
    return table


if __name__ == "__main__":
    main()
