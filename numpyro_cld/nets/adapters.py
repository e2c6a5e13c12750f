"""Trained networks as score sources for the kernels.

- :func:`as_score_fn`: a noise-conditional network -> ``score_fn(x, sigma)`` for
  :class:`~numpyro_cld.AnnealedLangevin`;
- :func:`as_prefix_source`: a :class:`PatchLSTM` -> a prefix source
  (:mod:`numpyro_cld.sources.protocol`) for :class:`~numpyro_cld.ChainedLangevin`.

Both check the sampler's noise levels against the trained ones: a network asked for a
``sigma`` it never saw returns an untrained extrapolation, not an error, so the check is
made here, where ``sigmas`` is still a concrete array.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike

from ..checks import float_array
from ..sources.levels import check_among_trained
from .autoregressive import Context, PatchLSTM
from .conv import ScoreConv
from .layers import check_patch_size
from .mlp import ScoreMLP
from .unet import ScoreUNet

__all__ = ["as_score_fn", "as_prefix_source", "NetPrefixSource", "check_trained_sigmas"]


def check_trained_sigmas(
    net: ScoreMLP | ScoreConv | ScoreUNet | PatchLSTM, sigmas: ArrayLike | None, rtol: float = 1e-4
) -> np.ndarray | None:
    """Raise ``ValueError`` unless every entry of ``sigmas`` is one of the trained levels.

    :param net: a trained network (its ``sigmas`` are the trained levels).
    :param sigmas: the sampler's noise levels; None skips the check.
    :param float rtol: relative tolerance of the comparison.
    :return: ``sigmas`` as a float64 array, or None.
    """
    if sigmas is None:
        return None
    arr = np.atleast_1d(float_array("sigmas", sigmas))
    trained = np.asarray(net.sigmas)
    if arr.ndim != 1 or not np.all(np.isfinite(arr)):
        raise ValueError(f"`sigmas` must be a 1-d array of finite noise levels, got {sigmas!r}.")
    check_among_trained(arr, trained, "", "retrain the network or pass the trained levels", rtol)
    return arr


def as_score_fn(
    net: ScoreMLP | ScoreConv | ScoreUNet, sigmas: ArrayLike | None = None
) -> Callable[[Any, ArrayLike], Any]:
    """``score_fn(x, sigma)`` of a trained noise-conditional network.

    :param net: a :class:`ScoreMLP`, :class:`ScoreConv` or :class:`ScoreUNet`.
    :param sigmas: the sampler's noise levels, checked against ``net.sigmas``. Without
        them, :class:`~numpyro_cld.AnnealedLangevin` makes the same check on its own
        ``sigmas`` (and takes ``net.sigmas`` for ``sigmas="auto"``): the function carries
        the trained levels as ``score_fn.trained_sigmas``.
    :return: a pure function; ``x`` may be an array ``(..., dim)``/``(..., H, W)`` or a
        pytree, whose leaves are raveled in order (the layout of a one-site model).
    """
    if isinstance(net, PatchLSTM):
        raise TypeError(
            "`net` is a PatchLSTM (prefix-conditional scores); use "
            "as_prefix_source for ChainedLangevin."
        )
    if not isinstance(net, (ScoreMLP, ScoreConv, ScoreUNet)):
        raise TypeError(
            f"`net` must be a ScoreMLP, ScoreConv or ScoreUNet, got {type(net).__name__}."
        )
    check_trained_sigmas(net, sigmas)
    graphdef, state = nnx.split(net)

    def score_fn(x: Any, sigma: ArrayLike) -> Any:
        model = nnx.merge(graphdef, state)
        if isinstance(x, (jax.Array, np.ndarray)):
            return model(x, sigma).astype(jnp.result_type(x))
        flat, unravel = ravel_pytree(x)
        return unravel(model(flat, sigma).astype(flat.dtype))

    # the trained levels travel with the function: AnnealedLangevin uses them for
    # sigmas="auto" and refuses other levels, also when `sigmas` was not given here
    score_fn.trained_sigmas = np.asarray(net.sigmas, np.float64)
    return score_fn


class NetPrefixSource:
    """Prefix source (see :mod:`numpyro_cld.sources.protocol`) backed by a trained
    :class:`PatchLSTM`.

    The context is the LSTM state after the ``sigma`` token and the finished patches, so the
    kernel keeps one per noise level. ``sigma = 0`` (the unsmoothed target) is answered at
    the smallest trained level. There is no density: ``potential = 0``, ``has_density =
    False`` (no Metropolis test).

    :param net: the trained :class:`PatchLSTM`.
    :param sigmas: the sampler's noise levels, checked against ``net.sigmas``.
    :param patch_size: the sampler's patch size, checked against ``net.patch_size``.
    """

    has_density = False

    def __init__(
        self, net: PatchLSTM, sigmas: ArrayLike | None = None, patch_size: int | None = None
    ) -> None:
        if not isinstance(net, PatchLSTM):
            raise TypeError(f"`net` must be a PatchLSTM, got {type(net).__name__}.")
        if patch_size is not None:
            check_patch_size(net.dim, patch_size)
            if patch_size != net.patch_size:
                raise ValueError(
                    f"`patch_size` {patch_size} differs from the network's "
                    f"trained patch_size {net.patch_size}."
                )
        check_trained_sigmas(net, sigmas)
        self.patch_size = net.patch_size
        self.num_patches = net.num_patches
        self.dim = net.dim
        self.sigma_min = float(min(net.sigmas))
        self._graphdef, self._state = nnx.split(net)

    def _net(self) -> PatchLSTM:
        return nnx.merge(self._graphdef, self._state)

    def _sigma(self, sigma: ArrayLike) -> jax.Array:
        sigma = jnp.asarray(sigma, jnp.float32)
        return jnp.where(sigma > 0, sigma, self.sigma_min)

    def init_context(self, sigma: ArrayLike) -> Context:
        """The LSTM state after the ``sigma`` token."""
        return self._net().init_context(self._sigma(sigma))

    def advance(
        self, context: Context, i: ArrayLike, x_patch: ArrayLike, sigma: ArrayLike
    ) -> Context:
        """The context after the finished patch ``x_patch`` (``i`` and ``sigma`` unused)."""
        return self._net().advance(context, jnp.asarray(x_patch, jnp.float32))

    def potential_and_score(
        self, context: Context, i: ArrayLike, x_patch: ArrayLike, sigma: ArrayLike
    ) -> tuple[jax.Array, jax.Array]:
        """``(0, score)`` of the current noisy patch at level ``sigma`` (no density)."""
        score = self._net().patch_score(
            context, jnp.asarray(x_patch, jnp.float32), self._sigma(sigma)
        )
        dtype = jnp.result_type(x_patch)
        return jnp.zeros((), dtype), score.astype(dtype)


def as_prefix_source(
    net: PatchLSTM, sigmas: ArrayLike | None = None, patch_size: int | None = None
) -> NetPrefixSource:
    """:class:`NetPrefixSource` of ``net``, checking ``sigmas`` and ``patch_size``.

    :param net: the trained :class:`PatchLSTM`.
    :param sigmas: the sampler's noise levels, checked against ``net.sigmas``.
    :param patch_size: the sampler's patch size, checked against ``net.patch_size``.
    """
    return NetPrefixSource(net, sigmas=sigmas, patch_size=patch_size)
