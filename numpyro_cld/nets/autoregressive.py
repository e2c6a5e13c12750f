"""Patch-conditional (autoregressive) score network: an LSTM over the patches of ``x``.

As in Cheng et al. (Chained Langevin dynamics, App. B.2) the noise level is fed as a first
token (``log sigma`` repeated ``patch_size`` times, the log keeping its scale of order
one), then the patches of ``x`` in order. The hidden state after the finished patches is
the *context*; one more cell step on the current (noisy) patch followed by a linear head,
divided by ``sigma``, estimates the score of ``p_sigma(x_i | x_<i)``, where only patch
``i`` carries noise of level ``sigma``. This is exactly what the prefix protocol of
:mod:`numpyro_cld.sources.protocol` asks for, so a sampling step costs one cell and one head
evaluation.

Training feeds the *clean* patches to build the contexts and the *noisy* patch only to the
extra cell step, i.e. two cell evaluations per patch, no pass per patch, in one
``lax.scan`` over the patches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.typing import ArrayLike

from ..checks import positive_int
from .layers import as_sigmas, check_input, check_patch_size

__all__ = ["PatchLSTM"]

#: the LSTM state after the ``sigma`` token and the finished patches: one ``(c, h)`` pair
#: per layer
Context = tuple[tuple[jax.Array, jax.Array], ...]


class PatchLSTM(nnx.Module):
    """LSTM estimate of the prefix-conditional scores ``grad log p_sigma(x_i | x_<i)``.

    :param event_shape: shape of one sample (``(H, W)`` for images or ``d`` for vectors);
        patches are taken from the flattened (row-major) sample.
    :param int patch_size: features per patch; must divide the number of features.
    :param sigmas: the noise levels the network is trained on.
    :param int hidden: LSTM hidden features.
    :param int num_layers: stacked LSTM layers.
    :param nnx.Rngs rngs: parameter initialisation.

    **Example**

    .. doctest::

        >>> from flax import nnx
        >>> import jax.numpy as jnp
        >>> net = PatchLSTM((8, 8), 8, sigmas=[1.0, 0.01], hidden=16, rngs=nnx.Rngs(0))
        >>> ctx = net.advance(net.init_context(1.0), jnp.zeros(8))
        >>> net.patch_score(ctx, jnp.zeros(8), 1.0).shape
        (8,)
    """

    def __init__(
        self,
        event_shape: int | Sequence[int],
        patch_size: int,
        sigmas: ArrayLike,
        *,
        hidden: int = 128,
        num_layers: int = 1,
        rngs: nnx.Rngs,
    ) -> None:
        event_shape = (
            (int(event_shape),) if np.ndim(event_shape) == 0 else tuple(int(s) for s in event_shape)
        )
        if not event_shape or min(event_shape) < 1:
            raise ValueError(f"`event_shape` must be positive sizes, got {event_shape!r}.")
        hidden, num_layers = positive_int("hidden", hidden), positive_int("num_layers", num_layers)
        self.event_shape = event_shape
        self.dim = math.prod(event_shape)
        self.patch_size = check_patch_size(self.dim, patch_size)
        self.num_patches = self.dim // self.patch_size
        self.sigmas = as_sigmas(sigmas)
        self.hidden = int(hidden)
        self.config = (
            ("event_shape", event_shape),
            ("patch_size", self.patch_size),
            ("sigmas", self.sigmas),
            ("hidden", self.hidden),
            ("num_layers", int(num_layers)),
        )
        self.cells = nnx.List(
            [
                nnx.OptimizedLSTMCell(self.patch_size if k == 0 else hidden, hidden, rngs=rngs)
                for k in range(num_layers)
            ]
        )
        self.head = nnx.Linear(hidden, self.patch_size, rngs=rngs)

    # -- the recurrent pieces (any leading batch shape) -----------------------------------
    def _step(self, context: Context, inputs: jax.Array) -> tuple[Context, jax.Array]:
        new, h = [], inputs
        for cell, carry in zip(self.cells, context, strict=True):
            carry, h = cell(carry, h)
            new.append(carry)
        return tuple(new), h

    def _check_patch(self, x_patch: ArrayLike) -> None:
        if jnp.shape(x_patch)[-1:] != (self.patch_size,):
            raise ValueError(
                f"`x_patch` has shape {jnp.shape(x_patch)}, but the network was "
                f"trained with patch_size {self.patch_size}."
            )

    def init_context(self, sigma: ArrayLike) -> Context:
        """Context before any patch: the state after the ``sigma`` token."""
        sigma = jnp.asarray(sigma, jnp.float32)
        zeros = jnp.zeros((*jnp.shape(sigma), self.hidden), jnp.float32)
        token = jnp.broadcast_to(jnp.log(sigma)[..., None], (*jnp.shape(sigma), self.patch_size))
        return self._step(tuple((zeros, zeros) for _ in self.cells), token)[0]

    def advance(self, context: Context, x_patch: ArrayLike) -> Context:
        """Context after a finished (clean) patch."""
        self._check_patch(x_patch)
        return self._step(context, x_patch)[0]

    def patch_score(self, context: Context, x_patch: ArrayLike, sigma: ArrayLike) -> jax.Array:
        """Score of the current noisy patch given the context."""
        self._check_patch(x_patch)
        _, h = self._step(context, x_patch)
        return self.head(h) / jnp.asarray(sigma, jnp.float32)[..., None]

    # -- all patches at once (training) ---------------------------------------------------
    def conditional_scores(
        self, x_clean: ArrayLike, x_noisy: ArrayLike, sigma: ArrayLike
    ) -> jax.Array:
        """Scores of every noisy patch given the clean prefix, shape ``(*batch, P, patch)``."""
        batch = check_input(x_clean, self.event_shape, "x_clean")
        check_input(x_noisy, self.event_shape, "x_noisy")
        sigma = jnp.broadcast_to(jnp.asarray(sigma, jnp.float32), batch)
        clean = jnp.reshape(x_clean, (*batch, self.num_patches, self.patch_size))
        noisy = jnp.reshape(x_noisy, (*batch, self.num_patches, self.patch_size))

        # one scan step per patch: the compiled program (and compile time) does not grow
        # with the number of patches, 56 at the paper's 28x28 / patch 14
        def body(context: Context, patches: tuple[jax.Array, jax.Array]):
            noisy_i, clean_i = patches
            _, h = self._step(context, noisy_i)
            return self.advance(context, clean_i), h

        _, hs = jax.lax.scan(
            body, self.init_context(sigma), (jnp.moveaxis(noisy, -2, 0), jnp.moveaxis(clean, -2, 0))
        )
        # the head and the 1/sigma once on all patches, outside the scan
        return self.head(jnp.moveaxis(hs, 0, -2)) / sigma[..., None, None]

    def __call__(self, x: ArrayLike, sigma: ArrayLike) -> jax.Array:
        """Prefix-conditional scores of ``x`` given its own prefix, with the shape of ``x``."""
        return jnp.reshape(self.conditional_scores(x, x, sigma), jnp.shape(x))
