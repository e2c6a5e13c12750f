"""Noise-conditional score network for small single-channel images.

A stack of 3x3 convolutions with the ``log sigma`` embedding added to every hidden layer
and a residual path; the output is divided by ``sigma`` (NCSN v2). Four layers already see
the whole of an 8x8 digit, which is what the network needs to tell the two modes apart.
"""

import jax
import jax.numpy as jnp
from flax import nnx

from ._base import SigmaEmbedding, as_sigmas, broadcast_sigma, check_input

__all__ = ["ScoreConv"]


class ScoreConv(nnx.Module):
    """``s_theta(x, sigma)`` for images of shape ``image_shape = (H, W)``.

    :param image_shape: ``(H, W)``; inputs may also be given flat, ``(*batch, H * W)``.
    :param sigmas: the noise levels the network is trained on.
    :param int channels: hidden channels.
    :param int depth: number of hidden 3x3 convolutions (>= 1).
    :param nnx.Rngs rngs: parameter initialisation.

    **Example**

    .. doctest::

        >>> from flax import nnx
        >>> import jax.numpy as jnp
        >>> net = ScoreConv((8, 8), sigmas=[1.0, 0.01], channels=8, rngs=nnx.Rngs(0))
        >>> net(jnp.zeros((3, 64)), 1.0).shape
        (3, 64)
    """

    def __init__(self, image_shape, sigmas, *, channels: int = 32, depth: int = 4,
                 rngs: nnx.Rngs):
        image_shape = tuple(int(s) for s in image_shape)
        if len(image_shape) != 2 or min(image_shape) < 1:
            raise ValueError(f"`image_shape` must be (height, width), got {image_shape!r}.")
        self.event_shape = image_shape
        self.dim = image_shape[0] * image_shape[1]
        self.sigmas = as_sigmas(sigmas)
        self.config = (("image_shape", image_shape), ("sigmas", self.sigmas),
                       ("channels", int(channels)), ("depth", int(depth)))
        self.embed = SigmaEmbedding(channels, rngs=rngs)
        self.inp = nnx.Conv(1, channels, (3, 3), padding="SAME", rngs=rngs)
        self.layers = nnx.List([nnx.Conv(channels, channels, (3, 3), padding="SAME", rngs=rngs)
                                for _ in range(depth - 1)])
        self.out = nnx.Conv(channels, 1, (3, 3), padding="SAME", rngs=rngs)

    def __call__(self, x, sigma):
        batch = check_input(x, self.event_shape)
        flat = jnp.shape(x)[len(batch):] == (self.dim,)
        sigma = broadcast_sigma(sigma, batch)
        img = jnp.reshape(x, (-1, *self.event_shape, 1))
        emb = self.embed(jnp.reshape(sigma, (-1,)))[:, None, None, :]
        h = jax.nn.silu(self.inp(img) + emb)
        for layer in self.layers:
            h = h + jax.nn.silu(layer(h) + emb)
        out = self.out(h)[..., 0] / jnp.reshape(sigma, (-1, 1, 1))
        return jnp.reshape(out, (*batch, self.dim) if flat else (*batch, *self.event_shape))
