"""Sample quality for the MNIST image-flip example: a small digit classifier and a Fréchet
distance between its features.

- :class:`Classifier`: a Flax NNX MLP ``784 -> hidden -> features -> 10`` (ReLU); its
  ``features`` (the penultimate layer) play the role of the Inception features of FID.
- :func:`train_classifier`: Adam on cross-entropy, minibatches with replacement, seeded.
- :func:`frechet_distance`: ``|mu_1 - mu_2|^2 + tr(C_1 + C_2 - 2 (C_1 C_2)^{1/2})`` between
  two feature sets (Heusel et al. 2017, with the classifier's features instead of
  Inception's). It is biased upwards for small sets, so compare it only with a baseline of
  real images of the *same size* (:func:`real_baseline`).

Digits of either mode are classified after mapping inverted images back with ``1 - x``
(the image-flip mode rule ``is_inverted``), so one classifier trained on original digits
serves both modes.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.linalg
from flax import nnx

from numpyro_cld.data import is_inverted

__all__ = [
    "Classifier",
    "train_classifier",
    "predict",
    "to_original_mode",
    "frechet_distance",
    "real_baseline",
]


class Classifier(nnx.Module):
    """MLP digit classifier on flat ``(N, dim)`` images in [0, 1]."""

    def __init__(self, dim: int, *, hidden: int = 256, features: int = 64, rngs: nnx.Rngs):
        self.l1 = nnx.Linear(dim, hidden, rngs=rngs)
        self.l2 = nnx.Linear(hidden, features, rngs=rngs)
        self.head = nnx.Linear(features, 10, rngs=rngs)

    def features(self, x):
        return jax.nn.relu(self.l2(jax.nn.relu(self.l1(x))))

    def __call__(self, x):
        return self.head(self.features(x))


def train_classifier(images, labels, *, steps=2000, batch_size=128, lr=1e-3, seed=0, **kw):
    """Train a :class:`Classifier` on ``images`` ``(N, dim)`` and integer ``labels``.

    :return: ``(net, seconds)``.
    """
    x, y = jnp.asarray(images, jnp.float32), jnp.asarray(labels, jnp.int32)
    net = Classifier(x.shape[1], rngs=nnx.Rngs(seed), **kw)
    opt = nnx.Optimizer(net, optax.adamw(lr, weight_decay=1e-4), wrt=nnx.Param)
    graphdef, state = nnx.split((net, opt))

    def loss_fn(model, xb, yb):
        return optax.softmax_cross_entropy_with_integer_labels(model(xb), yb).mean()

    @jax.jit
    def run(state, key):
        def body(state, key):
            model, o = nnx.merge(graphdef, state)
            idx = jax.random.randint(key, (batch_size,), 0, x.shape[0])
            loss, grads = nnx.value_and_grad(loss_fn)(model, x[idx], y[idx])
            o.update(model, grads)
            return nnx.state((model, o)), loss

        return jax.lax.scan(body, state, jax.random.split(key, steps))

    t = time.perf_counter()
    state, _ = run(state, jax.random.PRNGKey(seed))
    nnx.update((net, opt), state)
    return net, time.perf_counter() - t


def to_original_mode(images):
    """Flat images with the inverted ones (``is_inverted``) mapped back by ``1 - x``,
    clipped to [0, 1]."""
    x = np.clip(np.asarray(images, np.float32).reshape(len(images), -1), 0.0, 1.0)
    return np.where(is_inverted(x)[:, None], 1.0 - x, x)


def predict(net, images, batch=1000):
    """``(probabilities (N, 10), features (N, F))`` of flat images in [0, 1]."""
    probs, feats = [], []
    for i in range(0, len(images), batch):
        xb = jnp.asarray(images[i : i + batch], jnp.float32)
        f = net.features(xb)
        probs.append(np.asarray(jax.nn.softmax(net.head(f))))
        feats.append(np.asarray(f))
    return np.concatenate(probs), np.concatenate(feats).astype(np.float64)


def frechet_distance(f1, f2):
    """Fréchet distance between Gaussians fitted to the feature sets ``f1``, ``f2``."""
    f1, f2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    mu1, mu2 = f1.mean(0), f2.mean(0)
    c1, c2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = scipy.linalg.sqrtm(c1 @ c2)
    if not np.all(np.isfinite(covmean)):  # singular product: regularise as in pytorch-fid
        off = 1e-6 * np.eye(len(c1))
        covmean = scipy.linalg.sqrtm((c1 + off) @ (c2 + off))
    covmean = np.real(covmean)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(c1 + c2 - 2 * covmean))


def real_baseline(ref_features, heldout_features, n, repeats=5, seed=0):
    """Fréchet distance of ``n`` held-out real images to the reference set: mean and sd over
    ``repeats`` random subsets (the value a perfect sampler of ``n`` images would get)."""
    rng = np.random.default_rng(seed)
    n = min(n, len(heldout_features))
    d = [
        frechet_distance(
            heldout_features[rng.choice(len(heldout_features), n, replace=False)], ref_features
        )
        for _ in range(repeats)
    ]
    return float(np.mean(d)), float(np.std(d))
