"""The image-flip experiment of Cheng, Fu & Farnia at CPU scale (docs/convention.md,
"Benchmark targets"; results in docs/nets.md).

Trains a noise-conditional convolutional score network (for annealed Langevin) and a
patch-conditional LSTM (for chained Langevin) on digits-flip (each 8x8 digit inverted with
probability 1/2: two modes), then samples from original and from inverted starts with

- annealed Langevin: sigma geometric 1 -> 0.01, 10 levels, ``eta_i = eps sigma_i^2/sigma_L^2``;
- chained Langevin: the prefix sweep over rows (patch 8), per-patch annealing on the
  same levels, scores from the LSTM's hidden state (one cell per step);

and reports the fraction of inverted samples (mean intensity > 0.5) per start and kernel,
with PNG grids. Paper claim: annealed stays in its start mode (>= 90%); chained produces
both modes from either start (30-70% each).

Run: ``python examples/image_flip.py --out out/image_flip`` (add ``--reuse`` to load the
trained networks saved by an earlier run; ``--quick`` for a smoke run).
"""

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from numpyro.infer import MCMC

from numpyro_cld import AnnealedLangevin, ChainedLangevin, nets
from numpyro_cld.data import digits_flip, is_inverted
from numpyro_cld.diagnostics import mode_coverage
from numpyro_cld.schedules import ncsn_sigmas


def get_net(name, make, data, args):
    path = os.path.join(args.out, f"{name}.msgpack")
    if args.reuse and os.path.exists(path):
        print(f"{name}: loaded {path}")
        return nets.load(path), None
    net = make()
    steps = args.train_steps
    result = nets.train(
        net,
        data,
        steps=steps,
        batch_size=128,
        seed=args.seed,
        learning_rate=optax.cosine_decay_schedule(args.lr, steps),
        log_every=max(1, steps // 20),
        progress=not args.no_progress,
    )
    print(
        f"{name}: {steps} Adam steps in {result.seconds:.1f} s; held-out DSM loss "
        f"{result.holdout_loss[0]:.4f} -> {result.holdout_loss[-1]:.4f}"
    )
    nets.save(net, path)
    return net, result


def run(kernel, starts, seed):
    mcmc = MCMC(
        kernel,
        num_warmup=0,
        num_samples=1,
        num_chains=len(starts),
        chain_method="vectorized",
        progress_bar=False,
    )
    t = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(seed), init_params=jnp.asarray(starts))
    x = np.asarray(mcmc.get_samples())  # (chains, 64): one sweep per chain
    levels = getattr(mcmc.last_state, "level_z", None)  # annealed: (chains, L, 64)
    return x, levels, time.perf_counter() - t


def mosaic(images, n=6):
    images = np.clip(images[: n * n], 0, 1).reshape(-1, 8, 8)
    images = np.pad(images, ((0, n * n - len(images)), (1, 1), (1, 1)), constant_values=0.5)
    return images.reshape(n, n, 10, 10).transpose(0, 2, 1, 3).reshape(n * 10, n * 10)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="out/image_flip")
    p.add_argument("--reuse", action="store_true", help="load saved networks if present")
    p.add_argument("--train-steps", type=int, default=4000)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--num-samples", type=int, default=200, help="chains per start")
    p.add_argument("--steps-per-level", type=int, default=100)
    p.add_argument("--steps-per-patch", type=int, default=100, help="per level and patch")
    p.add_argument("--eps", type=float, default=2e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--quick", action="store_true", help="tiny smoke run")
    p.add_argument(
        "--same-noise",
        action="store_true",
        help="use the same PRNG key for both starts (a coupling check)",
    )
    p.add_argument(
        "--control",
        choices=["digits", "mnist"],
        nargs="*",
        default=[],
        help="also run both kernels with the exact scores of a KDE of the data",
    )
    p.add_argument("--control-only", action="store_true", help="skip the learned networks")
    p.add_argument("--control-chains", type=int, default=100)
    p.add_argument(
        "--control-images",
        type=int,
        default=1000,
        help="KDE components (a random subset of the data)",
    )
    p.add_argument(
        "--control-steps",
        type=int,
        default=30,
        help="steps per level (annealed) and per level and patch (chained)",
    )
    p.add_argument(
        "--control-patch",
        type=int,
        default=None,
        help="chained patch size in the control (default: one image row)",
    )
    p.add_argument("--control-kernels", nargs="*", default=["annealed", "chained"])
    args = p.parse_args()
    if args.quick:
        args.train_steps, args.num_samples = 200, 16
        args.steps_per_level = args.steps_per_patch = 10
    os.makedirs(args.out, exist_ok=True)

    sigmas = np.asarray(ncsn_sigmas(1.0, 0.01, 10))
    if args.control_only:
        for name in args.control:
            exact_control(name, sigmas, args)
        return
    data = digits_flip(seed=args.seed)
    print(f"digits-flip: {len(data.images)} images, {data.inverted.mean():.3f} inverted")

    t0 = time.perf_counter()
    conv, conv_res = get_net(
        "conv",
        lambda: nets.ScoreConv((8, 8), sigmas, channels=32, depth=4, rngs=nnx.Rngs(args.seed)),
        data.images,
        args,
    )
    lstm, lstm_res = get_net(
        "lstm",
        lambda: nets.PatchLSTM(
            (8, 8), 8, sigmas, hidden=128, num_layers=1, rngs=nnx.Rngs(args.seed + 1)
        ),
        data.images,
        args,
    )
    print(
        f"training (both networks, incl. compilation): {time.perf_counter() - t0:.1f} s "
        f"on {os.cpu_count()} CPU cores (shared machine: measured once)"
    )

    # starts: the same digits, as originals and inverted (not the flipped training set)
    originals = digits_flip(flip_prob=0.0, seed=args.seed + 7).images
    pick = np.random.default_rng(args.seed).choice(len(originals), args.num_samples, replace=False)
    starts = {"original": originals[pick].reshape(-1, 64)}
    starts["inverted"] = 1.0 - starts["original"]

    kernels = {
        "annealed": lambda: AnnealedLangevin(
            score_fn=nets.as_score_fn(conv, sigmas),
            sigmas=sigmas,
            steps_per_level=args.steps_per_level,
            step_size=args.eps,
            store_levels=True,
        ),
        "chained": lambda: ChainedLangevin(
            # the kernel's state keeps the full target's score: the conv net at sigma_L
            score_fn=lambda z: nets.as_score_fn(conv)(z, sigmas[-1]),
            prefix_source=nets.as_prefix_source(lstm, sigmas, patch_size=8),
            conditional="prefix",
            patch_size=8,
            sigmas=sigmas,
            step_size=args.eps,
            steps_per_patch=args.steps_per_patch,
        ),
    }
    results = {}
    for kname, make in kernels.items():
        for j, (sname, x0) in enumerate(starts.items()):
            seed = args.seed + 11 + (0 if args.same_noise else 100 * j)
            x, levels, sec = run(make(), x0, seed)
            lab = is_inverted(x).astype(int)
            cov = mode_coverage(labels=lab[:, None], num_modes=2, weights=[0.5, 0.5])
            frac = float(cov["frequency"].values[1])
            se = np.sqrt(max(frac * (1 - frac), 1e-12) / len(lab))
            results[kname, sname] = (x, frac)
            print(
                f"{kname:9s} from {sname:8s}: inverted fraction {frac:.3f} (+- {se:.3f}), "
                f"non-finite {int((~np.isfinite(x)).any(-1).sum())}, {sec:.1f} s"
            )
            if levels is not None:  # where the mode is decided: after each level
                per_level = [
                    float(is_inverted(np.asarray(levels)[:, k]).mean()) for k in range(len(sigmas))
                ]
                print(
                    f"    inverted after each level (sigma {sigmas[0]:.2f} -> {sigmas[-1]:.2f}):",
                    np.round(per_level, 3),
                )
        if args.same_noise:  # same noise from both starts: has the start been forgotten?
            diff = np.abs(results[kname, "original"][0] - results[kname, "inverted"][0])
            print(
                f"    {kname}: same noise, max |sample(original) - sample(inverted)| = "
                f"{diff.max():.2e}"
            )
    np.savez(
        os.path.join(args.out, "samples.npz"), **{f"{k}_{s}": v[0] for (k, s), v in results.items()}
    )

    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(9, 6.3))
    for r, sname in enumerate(starts):
        panels = [("start: " + sname, starts[sname])] + [
            (f"{k} (inv. {results[k, sname][1]:.2f})", results[k, sname][0]) for k in kernels
        ]
        for c, (title, imgs) in enumerate(panels):
            axes[r, c].imshow(mosaic(imgs), cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_title(title, fontsize=9)
            axes[r, c].axis("off")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "image_flip_grid.png"), dpi=120)
    trained = [
        (n, r)
        for n, r in (("conv (annealed)", conv_res), ("LSTM (chained)", lstm_res))
        if r is not None
    ]
    if trained:
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for name, res in trained:
            ax.plot(np.r_[0, res.steps], res.holdout_loss, label=f"{name}, held-out")
            ax.plot(res.steps, res.train_loss, "--", label=f"{name}, train")
        ax.set_yscale("log")
        ax.set_xlabel("Adam step")
        ax.set_ylabel("DSM loss (sigma^2-weighted, per pixel)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, "dsm_loss.png"), dpi=120)
    print("figures in", args.out)
    for name in args.control:
        exact_control(name, sigmas, args)


def exact_control(name, sigmas, args, bandwidth=0.05):
    """Both kernels with *exact* scores: the target is a Gaussian KDE of the flip data.

    No network enters, so this separates what the kernels do on this target from what
    the learned scores do. Annealed uses the closed-form smoothing of the mixture,
    chained the exact prefix conditionals (both from the model).
    """
    import numpyro
    import numpyro.distributions as dist

    from numpyro_cld.data import mnist5k_flip

    data = digits_flip(seed=args.seed) if name == "digits" else mnist5k_flip(seed=args.seed)
    rng = np.random.default_rng(args.seed + 3)
    keep = rng.choice(len(data.images), min(args.control_images, len(data.images)), replace=False)
    images = jnp.asarray(data.images[keep].reshape(len(keep), -1))
    side = data.images.shape[-1]

    def model():
        numpyro.sample(
            "x",
            dist.MixtureSameFamily(
                dist.Categorical(logits=jnp.zeros(images.shape[0])),
                dist.Normal(images, bandwidth).to_event(1),
            ),
        )

    n = args.control_chains
    originals = (digits_flip if name == "digits" else mnist5k_flip)(
        flip_prob=0.0, seed=args.seed + 7
    ).images.reshape(-1, side * side)
    pick = np.random.default_rng(args.seed).choice(len(originals), n, replace=False)
    print(
        f"exact-score control on {name}-flip (KDE of {len(keep)} images, bandwidth "
        f"{bandwidth}, d = {side**2}, {n} chains per start, {args.control_steps} steps per "
        "level (and patch)):"
    )
    steps = args.control_steps
    patch = args.control_patch or side
    print(f"  chained patch size {patch}")
    runs = {
        "annealed": lambda: AnnealedLangevin(
            model, sigmas=sigmas, steps_per_level=steps, step_size=args.eps, store_levels=True
        ),
        "chained": lambda: ChainedLangevin(
            model,
            conditional="prefix",
            patch_size=patch,
            sigmas=sigmas,
            step_size=args.eps,
            steps_per_patch=steps,
            adjust=False,
        ),
    }
    for kname, make in ((k, runs[k]) for k in args.control_kernels):
        for j, sname in enumerate(("original", "inverted")):
            x0 = originals[pick] if sname == "original" else 1.0 - originals[pick]
            mcmc = MCMC(
                make(),
                num_warmup=0,
                num_samples=1,
                num_chains=n,
                chain_method="vectorized",
                progress_bar=False,
            )
            t = time.perf_counter()
            mcmc.run(
                jax.random.PRNGKey(args.seed + 11 + 100 * j), init_params={"x": jnp.asarray(x0)}
            )
            x = np.asarray(mcmc.get_samples()["x"])
            frac = float(is_inverted(x).mean())
            line = (
                f"  {kname:9s} from {sname:8s}: inverted fraction {frac:.3f} "
                f"(+- {np.sqrt(max(frac * (1 - frac), 1e-12) / n):.3f}), "
                f"{time.perf_counter() - t:.1f} s"
            )
            levels = getattr(mcmc.last_state, "level_z", None)
            if levels is not None:
                line += ", after each level: " + str(
                    np.round(
                        [
                            float(is_inverted(np.asarray(levels)[:, k]).mean())
                            for k in range(len(sigmas))
                        ],
                        2,
                    )
                )
            print(line)


if __name__ == "__main__":
    main()
