"""Exact prefix sources (see :mod:`.protocol`) from explicit parameters.

Coordinates are in *site order*; ``x_{<n}`` denotes the first ``n``.

- :class:`GaussianMixturePrefix` - ``sum_k w_k N(loc_k, S_k)`` with diagonal or dense
  ``S_k`` (one component for a plain Normal / MultivariateNormal). The context keeps the
  per-component partial log-likelihoods of the finished patches (and, for dense ``S_k``, the
  whitened residuals), so a step costs ``O(patch_size x K)`` (diagonal) whatever ``d`` is.
  It smooths the current patch exactly:
  ``p_sigma(x_i | x_<i) = sum_k r_k(x_<i) N(x_i; mu_ki, S_ki + sigma^2 I)``.
- :class:`PotentialPrefix` - any ``prefix_potential(x, n) = -log p(x_{<n})``; ``O(d)`` a step.

:func:`numpyro_cld.sources.model_prefix.model_prefix` builds either from a NumPyro model.
"""

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.linalg import solve_triangular
from jax.scipy.special import logsumexp
from jax.typing import ArrayLike

from ..checks import positive_int

__all__ = ["GaussianMixturePrefix", "PatchStarts", "PotentialPrefix"]

_LOG_2PI = math.log(2 * math.pi)


class PatchStarts:
    """``start(i)``: first coordinate of patch ``i`` (``i * patch_size`` or a table)."""

    def _init_starts(self, patch_size, starts):
        if (patch_size is None) == (starts is None):
            raise ValueError("Give exactly one of `patch_size` or `starts`.")
        if patch_size is not None:
            patch_size = positive_int("patch_size", patch_size)
        else:
            table = np.asarray(starts)
            if (
                table.ndim != 1
                or table.size == 0
                or not np.issubdtype(table.dtype, np.integer)
                or table[0] != 0
                or np.any(np.diff(table) <= 0)
            ):
                raise ValueError(
                    f"`starts` must be increasing integer coordinates from 0, got {starts!r}."
                )
        self.patch_size = patch_size
        self._table = None if starts is None else jnp.asarray(np.asarray(starts, np.int32))

    def start(self, i: ArrayLike) -> ArrayLike:
        return i * self.patch_size if self._table is None else self._table[i]


def _check_mixture(log_weights, locs, scales, scale_tril) -> None:
    """Shapes ``(K,)``, ``(K, d)``, ``(K, d)`` (or broadcastable) / ``(K, d, d)``; positive
    scales when their values are concrete."""
    k_d = jnp.shape(locs)
    if len(k_d) != 2 or 0 in k_d:
        raise ValueError(f"`locs` must have shape (K, d) with K, d >= 1, got {k_d}.")
    if jnp.shape(log_weights) != k_d[:1]:
        raise ValueError(
            f"`log_weights` must have shape ({k_d[0]},), one per component of `locs`, got "
            f"{jnp.shape(log_weights)}."
        )
    if scale_tril is not None and jnp.shape(scale_tril) != (k_d[0], k_d[1], k_d[1]):
        raise ValueError(
            f"`scale_tril` must have shape {(k_d[0], k_d[1], k_d[1])}, got {jnp.shape(scale_tril)}."
        )
    if scales is not None:
        try:
            fits = np.broadcast_shapes(jnp.shape(scales), k_d) == k_d
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"`scales` must broadcast to the shape {k_d} of `locs`, got {jnp.shape(scales)}."
            )
        if not isinstance(scales, jax.core.Tracer) and not np.all(np.asarray(scales) > 0):
            raise ValueError("`scales` must be positive standard deviations.")


class GaussianMixturePrefix(PatchStarts):
    """Exact prefix conditionals of ``sum_k w_k N(loc_k, S_k)`` in ``d`` dimensions.

    :param log_weights: ``(K,)`` log mixture weights (normalised here).
    :param locs: ``(K, d)`` component means.
    :param scales: ``(K, d)`` standard deviations (diagonal ``S_k``), or
    :param scale_tril: ``(K, d, d)`` lower Cholesky factors (dense ``S_k``).
    :param int patch_size: patch ``i`` starts at ``i * patch_size``; or
    :param starts: the start of each patch.
    """

    has_density = True

    def __init__(
        self,
        log_weights: ArrayLike,
        locs: ArrayLike,
        scales: ArrayLike | None = None,
        scale_tril: ArrayLike | None = None,
        *,
        patch_size: int | None = None,
        starts: Sequence[int] | None = None,
    ):
        if (scales is None) == (scale_tril is None):
            raise ValueError("Give exactly one of `scales` or `scale_tril`.")
        self._init_starts(patch_size, starts)
        # floating whatever the model wrote (``Normal(0, 1)`` has integer parameters), and at
        # least the default float type (float32 parameters under x64 too): the contexts built
        # from these are carried through a scan beside the chain's float64 patches there, and
        # must keep one dtype
        dtype = jnp.promote_types(jnp.asarray(locs).dtype, jnp.result_type(float))
        _check_mixture(log_weights, locs, scales, scale_tril)
        log_weights = jnp.asarray(log_weights, dtype)
        self.log_weights = log_weights - logsumexp(log_weights)
        self.locs = jnp.asarray(locs, dtype)
        scales = None if scales is None else jnp.asarray(scales, dtype)
        self.scales = None if scales is None else jnp.broadcast_to(scales, self.locs.shape)
        self.scale_tril = None if scale_tril is None else jnp.asarray(scale_tril, dtype)

    @property
    def dense(self) -> bool:
        return self.scale_tril is not None

    def init_context(self, sigma: ArrayLike) -> Any:
        k, d = self.locs.shape
        partial = jnp.zeros((k,), self.locs.dtype)
        if self.dense:
            return partial, jnp.zeros((k, d), self.locs.dtype)
        return partial

    def _patch(self, context, i, n):
        """Per-component conditional mean and covariance factor of patch ``i``."""
        s = self.start(i)
        mu = lax.dynamic_slice_in_dim(self.locs, s, n, axis=1)
        if not self.dense:
            return mu, lax.dynamic_slice_in_dim(self.scales, s, n, axis=1)
        k, d = self.locs.shape
        rows = lax.dynamic_slice(self.scale_tril, (0, s, 0), (k, n, d))
        # z beyond the finished patches is zero, so rows @ z = L[p, <s] z_<s
        mu = mu + jnp.einsum("knd,kd->kn", rows, context[1])
        return mu, lax.dynamic_slice(self.scale_tril, (0, s, s), (k, n, n))

    def _comp_logp(self, mu, fac, x_patch, sigma):
        if not self.dense:
            # times 1/var: var is sliced inside the sweep's loop, where XLA keeps divisions
            inv_var = jnp.reciprocal(fac**2 + sigma**2)
            return -0.5 * jnp.sum((x_patch - mu) ** 2 * inv_var - jnp.log(inv_var) + _LOG_2PI, -1)
        n = x_patch.shape[0]
        cov = fac @ jnp.swapaxes(fac, -1, -2) + sigma**2 * jnp.eye(n, dtype=fac.dtype)
        chol = jnp.linalg.cholesky(cov)
        z = solve_triangular(chol, (x_patch - mu)[..., None], lower=True)[..., 0]
        logdet = jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), -1)
        return -0.5 * jnp.sum(z**2, -1) - logdet - 0.5 * n * _LOG_2PI

    def potential_and_score(
        self, context: Any, i: ArrayLike, x_patch: jax.Array, sigma: ArrayLike
    ) -> tuple[jax.Array, jax.Array]:
        partial = context[0] if self.dense else context
        mu, fac = self._patch(context, i, x_patch.shape[0])
        prior = self.log_weights + partial
        prior = prior - logsumexp(prior)  # r_k(x_<i): U is then -log p_sigma(x_i | x_<i)

        def potential(xp):
            return -logsumexp(prior + self._comp_logp(mu, fac, xp, sigma))

        if not self.dense:  # closed form: sum_k r_k (mu_k - x) / var_k
            logits = prior + self._comp_logp(mu, fac, x_patch, sigma)
            r = jax.nn.softmax(logits)
            score = jnp.sum(r[:, None] * (mu - x_patch) * jnp.reciprocal(fac**2 + sigma**2), 0)
            return -logsumexp(logits), score
        pe, grad = jax.value_and_grad(potential)(x_patch)
        return pe, -grad

    def advance(self, context: Any, i: ArrayLike, x_patch: jax.Array, sigma: ArrayLike) -> Any:
        mu, fac = self._patch(context, i, x_patch.shape[0])
        comp = self._comp_logp(mu, fac, x_patch, 0.0)
        if not self.dense:
            return context + comp
        z_patch = solve_triangular(fac, (x_patch - mu)[..., None], lower=True)[..., 0]
        z = lax.dynamic_update_slice(context[1], z_patch, (0, self.start(i)))
        return context[0] + comp, z


class PotentialPrefix(PatchStarts):
    """Prefix source from ``prefix_potential(x, n) = -log p(x_{<n})`` on the flat vector
    ``x`` (site order); coordinates from ``n`` on are placeholders and must not change the
    value. The context is the vector of finished coordinates, so a step costs one
    evaluation of ``prefix_potential`` (``O(d)`` in general)."""

    has_density = True

    def __init__(
        self,
        prefix_potential: Callable,
        dim: int,
        *,
        patch_size: int | None = None,
        starts: Sequence[int] | None = None,
    ):
        self._init_starts(patch_size, starts)
        self.prefix_potential = prefix_potential
        self.dim = positive_int("dim", dim)

    def init_context(self, sigma: ArrayLike) -> Any:
        return jnp.zeros((self.dim,))

    def potential_and_score(
        self, context: Any, i: ArrayLike, x_patch: jax.Array, sigma: ArrayLike
    ) -> tuple[jax.Array, jax.Array]:
        s = self.start(i)

        def potential(xp):
            x = lax.dynamic_update_slice(context, xp.astype(context.dtype), (s,))
            return self.prefix_potential(x, s + xp.shape[0])

        pe, grad = jax.value_and_grad(potential)(x_patch)
        return pe, -grad

    def advance(self, context: Any, i: ArrayLike, x_patch: jax.Array, sigma: ArrayLike) -> Any:
        return lax.dynamic_update_slice(context, x_patch.astype(context.dtype), (self.start(i),))
