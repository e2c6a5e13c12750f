"""Noise-conditional U-Net score network for single-channel images: ``s_theta(x, sigma)``.

The architecture of the score-based literature (DDPM, Ho et al. 2020; NCSN++/DDPM++ in
``score_sde``, Song et al. 2021): a convolution in, ``num_res_blocks`` residual blocks per
resolution with 2x average-pool downsampling between resolutions, a middle of residual
block, self-attention (at the lowest resolution) and residual block, and a mirrored
upsampling path (nearest neighbour + 3x3 conv) whose blocks take the downsampling path's
activations as skip connections. Every residual block (GroupNorm, SiLU, 3x3 conv, twice)
adds a projection of the noise embedding: Fourier features of ``log sigma`` and a two-layer
MLP. The output is divided by ``sigma`` (NCSN v2, Song & Ermon 2020), so the network learns
``sigma * score``, of order one.

The second conv of each block and the attention's output map start at zero, as in DDPM, so
every block starts as its skip path. Inputs whose sides are not multiples of
``2 ** (len(channel_mult) - 1)`` are zero-padded at the bottom and right, then cropped.

The 3x3 convolutions are the "shift and matmul" :class:`~numpyro_cld.nets.conv.Conv3x3`:
one Adam step on 64 28x28 images at ``channels=32`` took 8.0 s with it and 15.0 s with
``nnx.Conv`` (fastest of 5 each, on a 2-core CPU shared at load ~10, so slow in absolute
terms; the ratio is the point).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.typing import ArrayLike

from ..checks import positive_int
from .conv import Conv3x3
from .layers import SigmaEmbedding, as_sigmas, broadcast_sigma, check_image_shape, check_input

__all__ = ["ScoreUNet"]


def _conv3x3(in_features: int, out_features: int, rngs: nnx.Rngs, zero: bool = False) -> Conv3x3:
    conv = Conv3x3(in_features, out_features, rngs=rngs)
    if zero:
        conv.linear.kernel[...] = jnp.zeros_like(conv.linear.kernel[...])
    return conv


def _norm(channels: int, rngs: nnx.Rngs) -> nnx.GroupNorm:
    # score_sde's min(C // 4, 32) groups, lowered to a divisor of C
    groups = max(g for g in range(1, max(1, min(channels // 4, 32)) + 1) if channels % g == 0)
    return nnx.GroupNorm(channels, num_groups=groups, rngs=rngs)


class ResBlock(nnx.Module):
    """DDPM residual block on ``(N, H, W, C)`` maps, conditioned on the noise embedding."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, *, rngs: nnx.Rngs) -> None:
        self.norm1, self.conv1 = _norm(in_ch, rngs), _conv3x3(in_ch, out_ch, rngs)
        self.emb = nnx.Linear(emb_dim, out_ch, rngs=rngs)
        self.norm2, self.conv2 = _norm(out_ch, rngs), _conv3x3(out_ch, out_ch, rngs, zero=True)
        self.skip = nnx.Linear(in_ch, out_ch, rngs=rngs) if in_ch != out_ch else None

    def __call__(self, x: jax.Array, emb: jax.Array) -> jax.Array:
        h = self.conv1(jax.nn.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, None, None, :]
        h = self.conv2(jax.nn.silu(self.norm2(h)))
        # NCSN++'s skip rescaling keeps the variance from growing with depth
        return ((x if self.skip is None else self.skip(x)) + h) / np.sqrt(2.0)


class Attention(nnx.Module):
    """Single-head self-attention over the positions of an ``(N, H, W, C)`` map."""

    def __init__(self, channels: int, *, rngs: nnx.Rngs) -> None:
        self.norm = _norm(channels, rngs)
        self.qkv = nnx.Linear(channels, 3 * channels, rngs=rngs)
        self.out = nnx.Linear(channels, channels, kernel_init=nnx.initializers.zeros, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        n, h, w, c = x.shape
        q, k, v = jnp.split(self.qkv(self.norm(x)).reshape(n, h * w, 3 * c), 3, -1)
        weights = jax.nn.softmax(jnp.einsum("nqc,nkc->nqk", q, k) / np.sqrt(c), -1)
        return x + self.out(jnp.einsum("nqk,nkc->nqc", weights, v)).reshape(x.shape)


class ScoreUNet(nnx.Module):
    """``s_theta(x, sigma)`` for images of shape ``image_shape = (H, W)``, as a U-Net.

    :param image_shape: ``(H, W)``; inputs may also be given flat, ``(*batch, H * W)``.
    :param sigmas: the noise levels the network is trained on.
    :param int channels: channels at full resolution.
    :param channel_mult: channel multiplier per resolution; one 2x downsampling between
        consecutive entries (``(1, 2, 2)``: 28x28 -> 14x14 -> 7x7).
    :param int num_res_blocks: residual blocks per resolution on the way down (one more on
        the way up, which also takes the skip connections).
    :param bool attention: self-attention between the two middle blocks (lowest resolution).
    :param nnx.Rngs rngs: parameter initialisation.

    The default (``channels=16, channel_mult=(1, 2, 2), num_res_blocks=1``) has 267,377
    parameters, small enough to train on CPU; ``channels=64, num_res_blocks=2`` (6.1M
    parameters), the size of the MNIST U-Nets of the score-based literature, is the
    paper-scale configuration.

    References: Ho, Jain, Abbeel (2020), *Denoising diffusion probabilistic models*; Song &
    Ermon (2020), *Improved techniques for training score-based generative models*; Song et
    al. (2021), *Score-based generative modeling through stochastic differential equations*.

    **Example**

    .. doctest::

        >>> from flax import nnx
        >>> import jax.numpy as jnp
        >>> net = ScoreUNet((6, 6), sigmas=[1.0, 0.1], channels=8, channel_mult=(1, 2),
        ...                 rngs=nnx.Rngs(0))
        >>> apply = nnx.jit(lambda net, x, sigma: net(x, sigma))  # one program for all sigmas
        >>> out = apply(net, jnp.ones((3, 36)), 1.0)
        >>> out.shape
        (3, 36)
        >>> bool(jnp.allclose(apply(net, jnp.ones((3, 36)), 0.1), out))
        False
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        sigmas: ArrayLike,
        *,
        channels: int = 16,
        channel_mult: Sequence[int] = (1, 2, 2),
        num_res_blocks: int = 1,
        attention: bool = True,
        rngs: nnx.Rngs,
    ) -> None:
        image_shape = check_image_shape(image_shape)
        channels = positive_int("channels", channels)
        num_res_blocks = positive_int("num_res_blocks", num_res_blocks)
        if np.ndim(channel_mult) != 1 or len(channel_mult) == 0:
            raise ValueError(
                f"`channel_mult` must be a non-empty sequence of positive integers, got "
                f"{channel_mult!r}."
            )
        mult = tuple(positive_int("channel_mult", m) for m in channel_mult)
        if not isinstance(attention, (bool, np.bool_)):
            raise TypeError(f"`attention` must be True or False, got {attention!r}.")
        self.event_shape = image_shape
        self.dim = image_shape[0] * image_shape[1]
        self.sigmas = as_sigmas(sigmas)
        self.config = (
            ("image_shape", image_shape),
            ("sigmas", self.sigmas),
            ("channels", channels),
            ("channel_mult", mult),
            ("num_res_blocks", num_res_blocks),
            ("attention", bool(attention)),
        )
        step = 2 ** (len(mult) - 1)
        self._padded = tuple(-(-s // step) * step for s in image_shape)
        emb = 4 * channels
        self.embed = SigmaEmbedding(emb, rngs=rngs)
        self.embed_out = nnx.Linear(emb, emb, rngs=rngs)
        self.inp = _conv3x3(1, channels, rngs)
        down, skips, ch = [], [channels], channels
        for level, m in enumerate(mult):
            for _ in range(num_res_blocks):
                down.append(ResBlock(ch, channels * m, emb, rngs=rngs))
                ch = channels * m
                skips.append(ch)
            if level < len(mult) - 1:
                down.append(_conv3x3(ch, ch, rngs))  # after the 2x average pool
                skips.append(ch)
        self.down = nnx.List(down)
        self.mid = nnx.List([ResBlock(ch, ch, emb, rngs=rngs), ResBlock(ch, ch, emb, rngs=rngs)])
        self.attn = Attention(ch, rngs=rngs) if attention else None
        up = []
        for level, m in reversed(list(enumerate(mult))):
            for _ in range(num_res_blocks + 1):
                up.append(ResBlock(ch + skips.pop(), channels * m, emb, rngs=rngs))
                ch = channels * m
            if level > 0:
                up.append(_conv3x3(ch, ch, rngs))  # after the 2x nearest upsampling
        self.up = nnx.List(up)
        self.out_norm, self.out = _norm(ch, rngs), _conv3x3(ch, 1, rngs)

    def __call__(self, x: ArrayLike, sigma: ArrayLike) -> jax.Array:
        batch = check_input(x, self.event_shape)
        flat = jnp.shape(x)[len(batch) :] == (self.dim,)
        sigma = broadcast_sigma(sigma, batch)
        (height, width), (ph, pw) = self.event_shape, self._padded
        img = jnp.reshape(jnp.asarray(x, jnp.float32), (-1, height, width, 1))
        img = jnp.pad(img, ((0, 0), (0, ph - height), (0, pw - width), (0, 0)))
        emb = self.embed_out(jax.nn.silu(self.embed(jnp.reshape(sigma, (-1,)))))
        emb = jax.nn.silu(emb)
        h = self.inp(img)
        hs = [h]
        for layer in self.down:  # a static structure: unrolled once at trace time
            if isinstance(layer, ResBlock):
                h = layer(h, emb)
            else:
                n, hh, ww, c = h.shape
                h = layer(jnp.mean(h.reshape(n, hh // 2, 2, ww // 2, 2, c), (2, 4)))
            hs.append(h)
        h = self.mid[0](h, emb)
        if self.attn is not None:
            h = self.attn(h)
        h = self.mid[1](h, emb)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = layer(jnp.concatenate([h, hs.pop()], -1), emb)
            else:
                h = layer(jnp.repeat(jnp.repeat(h, 2, 1), 2, 2))
        h = self.out(jax.nn.silu(self.out_norm(h)))[:, :height, :width, 0]
        out = h / jnp.reshape(sigma, (-1, 1, 1))
        return jnp.reshape(out, (*batch, self.dim) if flat else (*batch, *self.event_shape))
