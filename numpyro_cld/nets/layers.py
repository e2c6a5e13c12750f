"""Pieces shared by the score networks: the noise-level embedding and input checks.

Building blocks of :mod:`numpyro_cld.nets`, not part of its public API.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.typing import ArrayLike

from ..checks import float_array


def as_sigmas(sigmas: ArrayLike, name: str = "sigmas") -> tuple[float, ...]:
    """Trained noise levels as a tuple of positive floats (hashable, so it can live in the graph).

    :param sigmas: the noise levels (a scalar or a 1-d sequence).
    :param str name: how the argument is named in error messages.
    """
    if sigmas is None:
        raise TypeError(f"`{name}` is required: the noise levels the network is trained on.")
    arr = np.atleast_1d(float_array(name, sigmas))
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(
            f"`{name}` must be a non-empty 1-d array of positive finite numbers, got {sigmas!r}."
        )
    return tuple(float(s) for s in arr)


def check_image_shape(image_shape: Sequence[int]) -> tuple[int, int]:
    """``(height, width)`` of the images an image network is built for."""
    if np.ndim(image_shape) != 1 or len(image_shape) != 2:
        raise ValueError(f"`image_shape` must be (height, width), got {image_shape!r}.")
    shape = tuple(int(s) for s in image_shape)
    if min(shape) < 1:
        raise ValueError(f"`image_shape` must be (height, width), got {image_shape!r}.")
    return shape


def check_patch_size(num_features: int, patch_size: int) -> int:
    """``patch_size`` as an ``int``: a positive integer that divides ``num_features``.

    :param int num_features: number of features of one sample.
    :param int patch_size: features per patch.
    """
    if (
        isinstance(patch_size, bool)
        or not isinstance(patch_size, (int, np.integer))
        or patch_size < 1
    ):
        raise ValueError(f"`patch_size` must be a positive integer, got {patch_size!r}.")
    if num_features % patch_size:
        raise ValueError(
            f"`patch_size` {patch_size} does not divide the {num_features} features of the input."
        )
    return int(patch_size)


class SigmaEmbedding(nnx.Module):
    """Fourier features of ``log sigma`` followed by a linear map.

    The noise level enters continuously (not as a level index) so that the network is a
    function of ``sigma``; the kernels still may only ask for the trained levels.

    :param int out_features: size of the embedding.
    :param int num_frequencies: Fourier frequencies ``0.25 * 2^j``, ``j < num_frequencies``.
    :param nnx.Rngs rngs: parameter initialisation.
    """

    def __init__(self, out_features: int, num_frequencies: int = 8, *, rngs: nnx.Rngs) -> None:
        self.frequencies = tuple(float(f) for f in 2.0 ** np.arange(num_frequencies) * 0.25)
        self.linear = nnx.Linear(2 * num_frequencies + 1, out_features, rngs=rngs)

    def __call__(self, sigma: ArrayLike) -> jax.Array:
        log_sigma = jnp.log(jnp.asarray(sigma, jnp.float32))[..., None]
        angles = log_sigma * jnp.asarray(self.frequencies, jnp.float32)
        feats = jnp.concatenate([log_sigma, jnp.sin(angles), jnp.cos(angles)], -1)
        return self.linear(feats)


def check_input(x: ArrayLike, event_shape: Sequence[int], name: str = "x") -> tuple[int, ...]:
    """Split ``x`` of shape ``(*batch, *event_shape)`` or ``(*batch, prod(event_shape))``.

    :param x: the input.
    :param event_shape: shape of one sample.
    :param str name: how the argument is named in error messages.
    :return: the batch shape.
    """
    shape = tuple(jnp.shape(x))
    size = math.prod(event_shape)
    k = len(event_shape)
    if shape[len(shape) - k :] == tuple(event_shape):
        return shape[: len(shape) - k]
    if len(shape) >= 1 and shape[-1] == size:
        return shape[:-1]
    raise ValueError(
        f"`{name}` has shape {shape}, but the network was trained on inputs of "
        f"shape {tuple(event_shape)} (or {size} flat features), with optional "
        f"leading batch dimensions."
    )


def broadcast_sigma(sigma: ArrayLike, batch_shape: tuple[int, ...]) -> jax.Array:
    """``sigma`` as float32, broadcast to ``batch_shape``.

    :param sigma: a scalar or a ``batch_shape`` array of noise levels; positive (checked
        unless traced).
    :param tuple batch_shape: the batch shape of the input.
    """
    # checked in NumPy: a jnp comparison inside a trace is traced even on a Python float
    if not isinstance(sigma, jax.core.Tracer) and not np.all(np.asarray(sigma) > 0):
        raise ValueError(f"`sigma` must be positive (a noise level), got {np.asarray(sigma)}.")
    sigma = jnp.asarray(sigma, jnp.float32)
    try:
        return jnp.broadcast_to(sigma, batch_shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"`sigma` must be a scalar or of the batch shape {tuple(batch_shape)} of `x`, got "
            f"shape {sigma.shape}."
        ) from None
