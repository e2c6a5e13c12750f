"""Noise levels from the target's own scale (Song & Ermon, *Improved Techniques for Training
Score-Based Generative Models*, 2020), for the ``sigmas="auto"`` defaults of
:class:`~numpyro_cld.AnnealedLangevin` and :class:`~numpyro_cld.ChainedLangevin`; exported
by :mod:`numpyro_cld.schedules`."""

import math

import numpy as np
from jax.typing import ArrayLike

from .checks import float_array, open_unit, positive_float, positive_int

__all__ = ["annealed_sigmas", "annealed_step_size", "chained_sigmas", "noise_ratio"]


def _max_distance(x: np.ndarray) -> float:
    sq = np.sum(x**2, 1)
    return float(np.sqrt(max((sq[:, None] + sq[None, :] - 2 * x @ x.T).max(), 0.0)))


def _max_patch_distance(x: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> float:
    """The largest :func:`_max_distance` over the patches ``x[:, a:b]``, exactly, with few
    patches computed in full: a patch's diameter is at most twice its largest distance to
    its mean, so patches are visited in decreasing order of that bound until the bound falls
    below the best diameter so far (a loop over all 10^4 patches of d = 10^5 took minutes)."""
    # largest distance of a draw to the mean draw, per patch, without a Python loop
    centred = x - np.mean(x, 0)
    radius = np.sqrt(np.max(np.add.reduceat(centred**2, starts, axis=1), axis=0))
    best = 0.0
    for j in np.argsort(-radius):
        if 2 * radius[j] <= best:
            break
        best = max(best, _max_distance(x[:, starts[j] : ends[j]]))
    return best


def _check_draws(draws: ArrayLike) -> np.ndarray:
    x = float_array("draws", draws)
    if x.ndim != 2 or x.shape[0] < 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"`draws` must be finite, of shape (N >= 2, d), got shape {x.shape}.")
    return x


def _check_scale(sigma_1: float) -> None:
    # the samplers run in float32: a first level beyond its range would be inf there
    if not sigma_1 <= np.finfo(np.float32).max:
        raise ValueError(
            f"`draws` are too spread out: their largest distance ({sigma_1:.3g}) is not a "
            "finite float32 noise level; rescale the draws."
        )


def noise_ratio(dim: int) -> float | None:
    """Song & Ermon's (2020) technique 2: the ratio ``gamma = sigma_{i-1} / sigma_i`` of a
    geometric schedule in dimension ``dim`` with
    ``Phi(sqrt(2 dim)(gamma - 1) + 3 gamma) - Phi(sqrt(2 dim)(gamma - 1) - 3 gamma) = 1/2``
    (neighbouring levels' shells overlap). ``None`` for ``dim < 5``, where no ratio is too
    large."""
    dim = positive_int("dim", dim)
    a = math.sqrt(2 * dim)
    if a <= 3:
        return None

    def f(g):
        phi = lambda t: 0.5 * (1 + math.erf(t / math.sqrt(2)))  # noqa: E731
        return phi(a * (g - 1) + 3 * g) - phi(a * (g - 1) - 3 * g) - 0.5

    lo, hi = 1.0, 2.0
    while f(hi) > 0:
        hi *= 2
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    return 0.5 * (lo + hi)


def annealed_sigmas(draws: ArrayLike, sigma_min: float = 0.01, min_levels: int = 10) -> np.ndarray:
    """Noise levels of annealed Langevin from draws of the target, after Song & Ermon,
    *Improved Techniques for Training Score-Based Generative Models* (2020): ``sigma_1`` is
    the largest distance between two draws (technique 1), the levels are geometric with the
    ratio of technique 2 in the draws' dimension (:func:`noise_ratio`) down to
    ``sigma_min``, and there are at least ``min_levels`` of them.

    :param draws: ``(N, d)`` draws (``N >= 2``).
    :param float sigma_min: the last level (the target's own, slightly smoothed).
    :param int min_levels: the fewest levels (also the number when ``d < 5``).
    :return: ``(L,)`` float64, strictly decreasing.
    """
    sigma_min = positive_float("sigma_min", sigma_min)
    min_levels = positive_int("min_levels", min_levels)
    x = _check_draws(draws)
    sigma_1 = _max_distance(x)
    _check_scale(sigma_1)
    if not sigma_1 > sigma_min:
        raise ValueError(
            f"the largest distance between `draws` ({sigma_1:.3g}) must exceed "
            f"`sigma_min`={sigma_min}: no room for a schedule."
        )
    gamma = noise_ratio(x.shape[1])
    levels = min_levels
    if gamma is not None:
        levels = max(levels, math.ceil(math.log(sigma_1 / sigma_min) / math.log(gamma)) + 1)
    return np.geomspace(sigma_1, sigma_min, levels)


def annealed_step_size(sigmas: ArrayLike, steps_per_level: int) -> float:
    """Song & Ermon's (2020) technique 3: the ``eps`` of NCSN's steps
    ``eta_i = eps sigma_i^2 / sigma_L^2`` with ``T = steps_per_level`` steps a level. For a
    level whose start has ``gamma^2`` times its variance (``gamma`` the ratio of neighbouring
    levels, geometric mean over the schedule), ``T`` unadjusted steps leave the variance ratio

    ``f(u) = (1 - u)^(2T) (gamma^2 - 2 / (2 - u)) + 2 / (2 - u)``, ``u = eps / sigma_L^2``,

    and ``eps`` is the one that brings ``f`` closest to 1 (searched on a grid of ``u`` in
    ``(1e-9, 1)``): small enough that ULA's stationary variance ``2 / (2 - u)`` stays near 1,
    large enough that ``T`` steps forget the previous level.

    :param sigmas: ``(L,)`` decreasing positive levels (``L >= 2``).
    :param int steps_per_level: ``T``.
    :return: ``eps``.
    """
    s = float_array("sigmas", sigmas)
    if s.ndim != 1 or s.size < 2 or not np.all(np.isfinite(s) & (s > 0)) or np.any(np.diff(s) >= 0):
        raise ValueError(
            f"`sigmas` must be at least 2 strictly decreasing positive levels, got {s.tolist()}."
        )
    t = positive_int("steps_per_level", steps_per_level)
    gamma = (s[0] / s[-1]) ** (1.0 / (s.size - 1))
    u = np.geomspace(1e-9, 0.999, 100_000)
    b = 2.0 / (2.0 - u)
    f = (1.0 - u) ** (2 * t) * (gamma**2 - b) + b
    return float(u[np.argmin(np.abs(f - 1.0))] * s[-1] ** 2)


def chained_sigmas(
    draws: ArrayLike, starts: ArrayLike, num_levels: int = 40, ratio: float = 1e-3
) -> np.ndarray:
    """Noise levels of Chained-ALD from draws of the target: ``sigma_1`` is the largest
    distance between two draws within one patch (technique 1 of Song & Ermon, *Improved
    Techniques for Training Score-Based Generative Models*, 2020: the first level must make
    every mode reachable from every other), then ``num_levels - 2`` geometric levels down to
    ``ratio * sigma_1``, and a last level ``0``: the exact conditional, so that the MH test of
    the last level targets the patch's own prefix conditional.

    (Their technique 2, a ratio from the dimension, constrains nothing for patches of fewer
    than 5 coordinates, where Gaussians of neighbouring scales overlap anyway; the number of
    levels was measured on :mod:`numpyro_cld.examples.families`: at 200 steps per patch and
    sweep, 40 levels of 5 steps give a smaller error in the mode frequencies than 20 of 10 or
    10 of 20, ``docs/defaults.md``.)

    :param draws: ``(N, d)`` draws in site order (``N >= 2``).
    :param starts: first coordinate of each patch (``PatchLayout.starts``).
    :param int num_levels: ``L >= 2`` levels, the last one ``0``.
    :param float ratio: ``sigma_{L-1} / sigma_1`` in ``(0, 1)``.
    :return: ``(L,)`` float64, strictly decreasing, ending at 0.
    """
    num_levels = positive_int("num_levels", num_levels)
    if num_levels < 2:
        raise ValueError(
            f"`num_levels` must be at least 2 (a smoothed and the exact level), got {num_levels}."
        )
    ratio = open_unit("ratio", ratio)
    x = _check_draws(draws)
    starts = np.asarray(starts)
    if starts.size and not np.issubdtype(starts.dtype, np.integer):
        raise TypeError(f"`starts` must be integer coordinates, got {starts.tolist()!r}.")
    starts = starts.astype(int)
    d = x.shape[1]
    if starts.ndim != 1 or starts.size == 0 or starts[0] != 0 or np.any(np.diff(starts) <= 0):
        raise ValueError(
            f"`starts` must be the increasing first coordinates of the patches, from 0, got "
            f"{starts.tolist()}."
        )
    if starts[-1] >= d:
        raise ValueError(
            f"`starts` must lie below the dimension {d} of `draws`, got {starts.tolist()}."
        )
    ends = np.append(starts[1:], d)
    sigma_1 = _max_patch_distance(x, starts, ends)
    _check_scale(sigma_1)
    if not sigma_1 > 0:
        raise ValueError("`draws` do not vary within any patch: no scale for the noise levels.")
    if num_levels == 2:
        return np.array([sigma_1, 0.0])
    return np.append(np.geomspace(sigma_1, ratio * sigma_1, num_levels - 1), 0.0)
