"""Noise-conditional score network for vectors: ``s_theta(x, sigma)``.

An MLP on ``x`` whose hidden layers are shifted by an embedding of ``log sigma``; the
output is divided by ``sigma`` (NCSN v2, Song & Ermon 2020), so the network only has to
learn ``sigma * score``, which is of order one at every noise level.
"""

from __future__ import annotations

import jax
from flax import nnx
from jax.typing import ArrayLike

from ..checks import positive_int
from .layers import SigmaEmbedding, as_sigmas, broadcast_sigma, check_input

__all__ = ["ScoreMLP"]


class ScoreMLP(nnx.Module):
    """``s_theta(x, sigma)`` for flat inputs of size ``dim``.

    :param int dim: number of features.
    :param sigmas: the noise levels the network is trained on (kept with the network so
        samplers can be checked against them).
    :param int hidden: width of the hidden layers.
    :param int depth: number of hidden layers.
    :param nnx.Rngs rngs: parameter initialisation.

    ``net(x, sigma)`` takes ``x`` of shape ``(*batch, dim)`` and a scalar or ``(*batch,)``
    ``sigma``; it returns the score estimate with the shape of ``x``.

    **Example**

    .. doctest::

        >>> from flax import nnx
        >>> import jax.numpy as jnp
        >>> net = ScoreMLP(2, sigmas=[1.0, 0.1], hidden=16, rngs=nnx.Rngs(0))
        >>> net(jnp.zeros((5, 2)), 0.1).shape
        (5, 2)
    """

    def __init__(
        self, dim: int, sigmas: ArrayLike, *, hidden: int = 128, depth: int = 3, rngs: nnx.Rngs
    ) -> None:
        self.dim = positive_int("dim", dim)
        hidden, depth = positive_int("hidden", hidden), positive_int("depth", depth)
        self.event_shape = (self.dim,)
        self.sigmas = as_sigmas(sigmas)
        self.config = (
            ("dim", self.dim),
            ("sigmas", self.sigmas),
            ("hidden", int(hidden)),
            ("depth", int(depth)),
        )
        self.embed = SigmaEmbedding(hidden, rngs=rngs)
        self.layers = nnx.List(
            [nnx.Linear(self.dim if k == 0 else hidden, hidden, rngs=rngs) for k in range(depth)]
        )
        self.out = nnx.Linear(hidden, self.dim, rngs=rngs)

    def __call__(self, x: ArrayLike, sigma: ArrayLike) -> jax.Array:
        batch = check_input(x, self.event_shape)
        sigma = broadcast_sigma(sigma, batch)
        emb = self.embed(sigma)
        h = x
        for layer in self.layers:
            h = jax.nn.silu(layer(h) + emb)
        return self.out(h) / sigma[..., None]
