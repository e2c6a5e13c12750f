"""The benchmark targets (defined in ``docs/convention.md``, "Benchmark targets") as NumPyro
models, with their mode-assignment rules and start distributions.

- :func:`paper_gmm`: ``0.2 N(0, 3I) + 0.4 N(1, I) + 0.4 N(-1, I)`` in ``d = 100``.
- :func:`balanced_gmm`: the same means, weights 1/3 and unit variances.
- :func:`song_ermon_toy`: ``0.2 N((-5,-5), I) + 0.8 N((5,5), I)`` in 2-d.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax import random
from jax.typing import ArrayLike

from .checks import positive_int

__all__ = ["GaussianMixtureTarget", "paper_gmm", "balanced_gmm", "song_ermon_toy"]


@dataclass(frozen=True, eq=False)
class GaussianMixtureTarget:
    """A mixture of axis-aligned Gaussians ``sum_k w_k N(loc_k, diag(scale_k^2))``.

    :param str name: target name.
    :param weights: ``(K,)`` mixture weights.
    :param locs: ``(K, d)`` component means.
    :param scales: ``(K, d)`` component standard deviations.
    :param start: ``"mode0"``, ``"mode1"``, ... (draw starts from that component) or
        ``("uniform", low, high)``.
    :param site: name of the model's single sample site.
    """

    name: str
    weights: np.ndarray
    locs: np.ndarray
    scales: np.ndarray
    start: str | tuple = "mode0"
    site: str = "x"

    def __post_init__(self) -> None:
        arrays = (self.weights, self.locs, self.scales)
        w, locs, scales = (np.asarray(a, np.float64) for a in arrays)
        if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"`weights` must be a non-empty 1-d array >= 0, got {w.tolist()}.")
        if abs(w.sum() - 1.0) > 1e-5:
            raise ValueError(f"`weights` must sum to 1, got sum {w.sum():.6g}.")
        if locs.ndim != 2 or locs.shape[0] != w.size or locs.shape[1] < 1:
            raise ValueError(
                f"`locs` must have shape (K, d) = ({w.size}, d >= 1), got {locs.shape}."
            )
        if scales.shape != locs.shape or not np.all(np.isfinite(scales)) or np.any(scales <= 0):
            raise ValueError(
                f"`scales` must be positive and finite, of shape {locs.shape} (as `locs`), got "
                f"shape {scales.shape}."
            )

    @property
    def dim(self) -> int:
        """Dimension ``d`` of a draw."""
        return int(np.shape(self.locs)[1])

    @property
    def num_modes(self) -> int:
        """Number of components ``K``."""
        return int(np.shape(self.weights)[0])

    def _params(self) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(weights, locs, scales)`` in at least the default float type: float64 under x64
        (float32 arrays there would make the model's sites float32 for float32 draws), float32
        without it."""
        return tuple(
            # result_type: float64 definitions read as float32 without x64, with no warning
            jnp.asarray(a, jnp.promote_types(jnp.result_type(a), jnp.result_type(float)))
            for a in (self.weights, self.locs, self.scales)
        )

    def distribution(self) -> dist.MixtureSameFamily:
        """The target as a ``MixtureSameFamily`` of ``Independent`` Normals."""
        weights, locs, scales = self._params()
        return dist.MixtureSameFamily(
            dist.Categorical(probs=weights), dist.Normal(locs, scales).to_event(1)
        )

    def model(self) -> None:
        """The target as a NumPyro model with one site (no observations)."""
        numpyro.sample(self.site, self.distribution())

    def log_responsibilities(self, x: ArrayLike) -> jax.Array:
        """``log p(k | x)`` for draws ``x`` of shape ``(..., d)``: shape ``(..., K)``.

        :param x: draws ``(..., d)``.
        """
        x = jnp.asarray(x)
        if x.ndim < 1 or x.shape[-1] != self.dim:
            raise ValueError(f"`x` must have shape (..., {self.dim}), got {x.shape}.")
        weights, locs, scales = self._params()
        comp = dist.Normal(locs, scales).log_prob(x[..., None, :])
        logits = jnp.log(weights) + comp.sum(-1)
        return logits - jax.scipy.special.logsumexp(logits, -1, keepdims=True)

    def assign(self, x: ArrayLike) -> jax.Array:
        """The component of largest posterior responsibility for each draw.

        :param x: draws ``(..., d)``.
        :return: integer components of shape ``(...)``.
        """
        return jnp.argmax(self.log_responsibilities(x), axis=-1)

    def init_params(
        self, rng_key: jax.Array, num_chains: int, start: str | tuple | None = None
    ) -> dict[str, jax.Array]:
        """Start values ``{site: (num_chains, d)}`` drawn from the start distribution.

        :param rng_key: PRNG key.
        :param int num_chains: number of chains.
        :param start: overrides the target's ``start`` (same forms).
        """
        num_chains = positive_int("num_chains", num_chains)
        start = self.start if start is None else start
        if isinstance(start, str) and start.startswith("mode"):
            try:
                k = int(start[4:])
            except ValueError:
                raise ValueError(
                    f"`start` must be 'mode<k>' with an integer k, got {start!r}."
                ) from None
            if not 0 <= k < self.num_modes:
                raise ValueError(f"`start` mode must be in 0..{self.num_modes - 1}, got {k}.")
            eps = random.normal(rng_key, (num_chains, self.dim))
            _, locs, scales = self._params()
            x = locs[k] + scales[k] * eps
        elif isinstance(start, tuple) and start[:1] == ("uniform",):
            low, high = (np.nan, np.nan) if len(start) != 3 else start[1:]
            if not -np.inf < low < high < np.inf:
                raise ValueError(
                    f"`start` must be ('uniform', low, high) with finite low < high, got {start!r}."
                )
            x = random.uniform(rng_key, (num_chains, self.dim), minval=start[1], maxval=start[2])
        else:
            raise ValueError(f"`start` must be 'mode<k>' or ('uniform', low, high), got {start!r}.")
        return {self.site: x}


def paper_gmm(dim: int = 100) -> GaussianMixtureTarget:
    """paper-gmm: ``0.2 N(0, 3I) + 0.4 N(1, I) + 0.4 N(-1, I)``, started in mode 0.

    :param int dim: dimension ``d``.
    """
    # float64 definitions: exact under x64, and rounded to float32 by JAX without it
    ones = np.ones(positive_int("dim", dim))
    return GaussianMixtureTarget(
        "paper-gmm",
        np.array([0.2, 0.4, 0.4]),
        np.stack([0 * ones, ones, -ones]),
        np.stack([np.sqrt(3.0) * ones, ones, ones]),
        start="mode0",
    )


def balanced_gmm(dim: int = 100) -> GaussianMixtureTarget:
    """balanced-gmm: paper-gmm with weights 1/3 and component 0 at unit variance.

    :param int dim: dimension ``d``.
    """
    ones = np.ones(positive_int("dim", dim))
    return GaussianMixtureTarget(
        "balanced-gmm",
        np.full(3, 1 / 3),
        np.stack([0 * ones, ones, -ones]),
        np.stack([ones, ones, ones]),
        start="mode0",
    )


def song_ermon_toy() -> GaussianMixtureTarget:
    """song-ermon-toy: ``0.2 N((-5,-5), I) + 0.8 N((5,5), I)``, uniform starts in [-8, 8]^2."""
    return GaussianMixtureTarget(
        "song-ermon-toy",
        np.array([0.2, 0.8]),
        np.array([[-5.0, -5.0], [5.0, 5.0]]),
        np.ones((2, 2)),
        start=("uniform", -8.0, 8.0),
    )
