"""Reproduce the paper's Figure 1 (and its appendix variants) on paper-gmm (or balanced-gmm).

Every chain starts in one mode (``--starts``, default all three: mode 0 is the paper's
figure, modes 1 and 2 the appendix variants). Each kernel stores the state after every
``--chunk`` Langevin steps, so the pooled mode frequencies can be read after 1e3, 1e4, 1e5
(and, with ``--long``, 1e6) steps:

- ``vanilla``: ULA with ``num_steps = chunk``;
- ``annealed``: repeated NCSN sweeps (sigma 1 -> 0.01, 10 levels, ``chunk / 10`` steps per level);
- ``chained``: prefix sweeps over patches of ``--patch-size`` (``chunk / patches`` steps per patch);
- ``chained-mh``: the same with the Metropolis test and per-patch step sizes adapted in warmup.

Writes ``figure1_mode{k}.png`` (frequencies against steps, the paper's layout) and
``figure1.json`` (the frequencies) to ``--out`` and prints a table.

Usage: python examples/figure1.py [--target paper-gmm] [--chains 1000] [--starts 0,1,2] [--long]
       [--devices 2] [--out out/figure1]
"""

import argparse
import json
import os
import time

from _devices import chain_method_for

KERNELS = ("vanilla", "annealed", "chained", "chained-mh")


def make_kernel(name, target, chunk, patch_size, eta):
    from numpyro_cld import AnnealedLangevin, ChainedLangevin, Langevin
    from numpyro_cld.schedules import ncsn_sigmas

    num_patches = -(-target.dim // patch_size)
    if name == "vanilla":
        return Langevin(target.model, step_size=eta, num_steps=chunk, adjust=False)
    if name == "annealed":
        return AnnealedLangevin(
            target.model,
            sigmas=ncsn_sigmas(1.0, 0.01, 10),
            step_size=2e-5,
            steps_per_level=max(1, chunk // 10),
        )
    return ChainedLangevin(
        target.model,
        patch_size=patch_size,
        conditional="prefix",
        step_size=eta,
        steps_per_patch=max(1, chunk // num_patches),
        adjust=name == "chained-mh",
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--target",
        choices=("paper-gmm", "balanced-gmm"),
        default="paper-gmm",
        help="balanced-gmm: weights 1/3 and unit variances (no wide mode)",
    )
    p.add_argument("--chains", type=int, default=1000)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--patch-size", type=int, default=10)
    p.add_argument("--starts", default="0,1,2")
    p.add_argument("--kernels", default=",".join(KERNELS))
    p.add_argument("--chunk", type=int, default=1000, help="Langevin steps per stored draw")
    p.add_argument("--max-steps", type=float, default=1e5)
    p.add_argument("--long", action="store_true", help="run to 1e6 steps")
    p.add_argument("--eta", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=20, help="warmup sweeps of chained-mh")
    p.add_argument(
        "--devices",
        type=int,
        default=1,
        help="host devices to shard the chains over (no progress bar when > 1)",
    )
    p.add_argument("--out", default=os.path.join("out", "figure1"))
    args = p.parse_args()
    chain_method = chain_method_for(args.devices, args.chains)  # before JAX starts
    import jax
    import numpy as np
    from jax import random
    from numpyro.infer import MCMC

    from numpyro_cld import diagnostics, plots
    from numpyro_cld.targets import balanced_gmm, paper_gmm

    max_steps = int(1e6 if args.long else args.max_steps)
    kernels = [k for k in args.kernels.split(",") if k]
    if any(k not in KERNELS for k in kernels):
        p.error(f"--kernels must be a subset of {','.join(KERNELS)}")
    num_draws = max_steps // args.chunk
    target = {"paper-gmm": paper_gmm, "balanced-gmm": balanced_gmm}[args.target](args.dim)
    os.makedirs(args.out, exist_ok=True)
    results, t_start = {}, time.perf_counter()
    checkpoints = [s for s in (10**3, 10**4, 10**5, 10**6) if s <= max_steps]
    for start in [int(s) for s in args.starts.split(",")]:
        init = target.init_params(random.key(100 + start), args.chains, start=f"mode{start}")
        coverage = {}
        for name in kernels:
            kernel = make_kernel(name, target, args.chunk, args.patch_size, args.eta)
            warmup = args.warmup if name == "chained-mh" else 0
            mcmc = MCMC(
                kernel,
                num_warmup=warmup,
                num_samples=num_draws,
                num_chains=args.chains,
                chain_method=chain_method,
                progress_bar=args.devices == 1,
            )
            t0 = time.perf_counter()
            mcmc.run(random.key(start), init_params=init)
            jax.block_until_ready(mcmc.last_state.z)
            secs = time.perf_counter() - t0
            cov = diagnostics.mode_coverage(mcmc, target)
            coverage[name] = cov
            freq = np.asarray(diagnostics.frequencies_by_draw(cov))  # (draws, K)
            row = {int(s): freq[s // args.chunk - 1].round(4).tolist() for s in checkpoints}
            results[f"mode{start}/{name}"] = {"seconds": round(secs, 1), "frequencies": row}
            print(
                f"start mode {start} {name:>10} ({secs:6.1f} s): "
                + "  ".join(f"{s:.0e}: {np.round(f, 3).tolist()}" for s, f in row.items())
            )
        fig = plots.plot_frequency_vs_steps(coverage, steps_per_draw=args.chunk)
        fig.suptitle(f"{target.name} d={args.dim}, start in mode {start}")
        fig.savefig(
            os.path.join(args.out, f"figure1_mode{start}.png"), dpi=120, bbox_inches="tight"
        )
    total = time.perf_counter() - t_start
    results["total_seconds"] = round(total, 1)
    results["setup"] = {
        "target": target.name,
        "chains": args.chains,
        "dim": args.dim,
        "patch_size": args.patch_size,
        "chunk": args.chunk,
        "max_steps": max_steps,
        "devices": jax.device_count(),
    }
    with open(os.path.join(args.out, "figure1.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"total {total:.0f} s; wrote {args.out}/figure1_mode*.png and figure1.json")


if __name__ == "__main__":
    main()
