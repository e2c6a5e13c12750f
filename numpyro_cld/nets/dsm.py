"""Denoising score matching (Vincent 2011; Song & Ermon 2019), sigma^2-weighted.

For a noise level ``sigma`` drawn uniformly from the trained levels and ``z ~ N(0, I)``,
``x~ = x + sigma z`` has the conditional score ``-z / sigma``; weighting the squared error
by ``sigma^2`` (NCSN's lambda(sigma) = sigma^2) gives ``|sigma s(x~, sigma) + z|^2``, of
order one at every level. The losses below average it over the batch *and* the features,
so the value is comparable across data sizes (a network that outputs zero scores 1.0).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import random

from .autoregressive import PatchLSTM
from .conv import ScoreConv
from .mlp import ScoreMLP

__all__ = ["dsm_loss", "patch_dsm_loss", "loss_for"]

#: ``loss(net, batch, rng_key)``, a scalar
Loss = Callable[..., jax.Array]


def _noise(
    net: ScoreMLP | ScoreConv | PatchLSTM, x: jax.Array, rng_key: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    key_sigma, key_z = random.split(rng_key)
    sigmas = jnp.asarray(net.sigmas, jnp.float32)
    sigma = sigmas[random.randint(key_sigma, (x.shape[0],), 0, sigmas.shape[0])]
    z = random.normal(key_z, x.shape, jnp.float32)
    sigma_b = jnp.reshape(sigma, (-1,) + (1,) * (x.ndim - 1))
    return sigma, sigma_b, z, x + sigma_b * z


def dsm_loss(net: ScoreMLP | ScoreConv, x: jax.Array, rng_key: jax.Array) -> jax.Array:
    """Noise-conditional DSM loss of ``net(x, sigma)`` on a batch ``x`` (leading axis).

    :param net: a :class:`~numpyro_cld.nets.ScoreMLP` or :class:`~numpyro_cld.nets.ScoreConv`.
    :param x: a batch of clean samples.
    :param rng_key: PRNG key of the noise levels and the noise.
    """
    sigma, sigma_b, z, x_noisy = _noise(net, x, rng_key)
    return jnp.mean((sigma_b * net(x_noisy, sigma) + z) ** 2)


def patch_dsm_loss(net: PatchLSTM, x: jax.Array, rng_key: jax.Array) -> jax.Array:
    """DSM loss of the prefix-conditional scores of a :class:`PatchLSTM`.

    All patches are noised at once, but the score of patch ``i`` sees only its own noisy
    patch and the clean prefix, so each term is the DSM loss of ``p_sigma(x_i | x_<i)``.

    :param net: a :class:`PatchLSTM`.
    :param x: a batch of clean samples.
    :param rng_key: PRNG key of the noise levels and the noise.
    """
    sigma, sigma_b, z, x_noisy = _noise(net, x, rng_key)
    s = jnp.reshape(net.conditional_scores(x, x_noisy, sigma), x.shape)
    return jnp.mean((sigma_b * s + z) ** 2)


def loss_for(net: ScoreMLP | ScoreConv | PatchLSTM) -> Loss:
    """The DSM loss that matches the network type.

    :param net: a score network.
    """
    return patch_dsm_loss if isinstance(net, PatchLSTM) else dsm_loss
