"""Choosing ``patch_size``: the prefix sweep on paper-gmm at a fixed budget of Langevin steps.

Every chain starts in the wide mode 0 and gets the same number of Langevin steps
(``--budget``, split as ``sweeps x patches x steps_per_patch``) for every patch size; the mode
frequencies of the final draws are compared with the weights 0.2 / 0.4 / 0.4 by the total
variation ``TV = 1/2 sum_k |f_k - w_k|``. ``patch_size = d`` is vanilla Langevin (one patch).
The dashed line in the plot is the TV that exact independent draws would show with this many
chains (sampling noise alone, from 2000 multinomial replicates).

Writes ``patch_size_sweep.png``, ``patch_size_sweep.json`` and ``patch_size_sweep.md`` (the
table of ``docs/chained.md``) to ``--out``.

Usage: python examples/patch_size_sweep.py [--chains 500] [--budget 20000] [--sweeps 20]
       [--patch-sizes 1,2,5,10,20,50,100] [--devices 1] [--out out/patch_size_sweep]
"""

import argparse
import json
import os
import time

from _devices import chain_method_for


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chains", type=int, default=500)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--budget", type=int, default=20000, help="Langevin steps per chain")
    p.add_argument("--sweeps", type=int, default=20)
    p.add_argument("--patch-sizes", default="1,2,5,10,20,50,100")
    p.add_argument("--step-size", type=float, default=0.1)
    p.add_argument(
        "--devices",
        type=int,
        default=1,
        help="host devices to shard the chains over (no progress bar when > 1)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join("out", "patch_size_sweep"))
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.patch_sizes.split(",") if s]
    if not sizes or any(not 1 <= s <= args.dim for s in sizes):
        p.error(f"--patch-sizes must be integers in 1..{args.dim}")
    chain_method = chain_method_for(args.devices, args.chains)  # before JAX starts
    import jax
    import matplotlib.pyplot as plt
    import numpy as np
    from numpyro.infer import MCMC

    from numpyro_cld import ChainedLangevin
    from numpyro_cld.targets import paper_gmm

    target = paper_gmm(args.dim)
    weights = np.asarray(target.weights, np.float64)
    init = target.init_params(jax.random.key(args.seed + 100), args.chains, "mode0")
    rows = []
    for ps in sizes:
        patches = -(-args.dim // ps)
        steps = max(1, args.budget // (args.sweeps * patches))
        kernel = ChainedLangevin(
            target.model,
            patch_size=ps,
            steps_per_patch=steps,
            step_size=args.step_size,
            adjust=False,
        )
        mcmc = MCMC(
            kernel,
            num_warmup=0,
            num_samples=args.sweeps,
            num_chains=args.chains,
            chain_method=chain_method,
            progress_bar=args.devices == 1,
        )
        t0 = time.perf_counter()
        mcmc.run(jax.random.key(args.seed), init_params=init)
        x_last = mcmc.get_samples(group_by_chain=True)[target.site][:, -1]
        freq = np.bincount(np.asarray(target.assign(x_last)), minlength=3) / args.chains
        rows.append(
            {
                "patch_size": ps,
                "steps_per_patch": steps,
                "sweeps": args.sweeps,
                "freq": freq.round(4).tolist(),
                "tv": float(0.5 * np.abs(freq - weights).sum()),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
        print(
            f"patch_size {ps:>3}: {steps} steps/patch x {args.sweeps} sweeps, "
            f"f = {np.round(freq, 3).tolist()}, TV {rows[-1]['tv']:.3f}",
            flush=True,
        )

    draws = np.random.default_rng(0).multinomial(args.chains, weights, size=2000) / args.chains
    noise_tv = float(np.mean(0.5 * np.abs(draws - weights).sum(-1)))
    os.makedirs(args.out, exist_ok=True)
    lines = [
        "| patch_size | steps/patch x sweeps | f0 | f1 | f2 | TV | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['patch_size']} | {r['steps_per_patch']} x {r['sweeps']} | "
        + " | ".join(f"{f:.3f}" for f in r["freq"])
        + f" | {r['tv']:.3f} | {r['seconds']} |"
        for r in rows
    ]
    with open(os.path.join(args.out, "patch_size_sweep.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out, "patch_size_sweep.json"), "w") as fh:
        json.dump(
            {
                "setup": {k: v for k, v in vars(args).items() if k != "out"},
                "noise_tv": noise_tv,
                "rows": rows,
            },
            fh,
            indent=1,
        )

    fig, (ax_f, ax_tv) = plt.subplots(1, 2, figsize=(10, 3.6))
    xs = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    for k in range(3):
        f = np.array([r["freq"][k] for r in rows])
        ax_f.bar(xs, f, bottom=bottom, label=f"mode {k} (w = {weights[k]:.1f})")
        bottom += f
    for c in np.cumsum(weights)[:-1]:
        ax_f.axhline(c, color="k", lw=0.8, ls=":")
    ax_f.set(
        xticks=xs,
        xticklabels=[r["patch_size"] for r in rows],
        xlabel="patch_size",
        ylabel="fraction of chains",
        title="mode frequencies (dotted: target)",
    )
    ax_f.legend(fontsize=7, loc="lower left")
    ax_tv.plot([r["patch_size"] for r in rows], [r["tv"] for r in rows], "o-")
    ax_tv.axhline(noise_tv, color="k", ls="--", lw=0.8, label=f"exact draws ({args.chains})")
    ax_tv.set(
        xscale="log",
        xlabel="patch_size",
        ylabel="TV to the weights",
        title=f"budget {args.budget} steps a chain, d = {args.dim}",
    )
    ax_tv.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "patch_size_sweep.png"), dpi=120)
    print("\n".join(lines))
    print(f"exact draws with {args.chains} chains: TV {noise_tv:.3f} on average")
    print("wrote", os.path.join(args.out, "patch_size_sweep.{png,json,md}"))
    return rows


if __name__ == "__main__":
    main()
