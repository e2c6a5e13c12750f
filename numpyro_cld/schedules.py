"""Noise schedules, diffusion paths and their base distributions.

Three annealing paths lead from an easy distribution to the target ``p``
(``docs/annealed.md``, "Paths and schedules"):

- ``"ve"`` (NCSN, variance exploding): ``p_sigma = p * N(0, sigma^2 I)`` for
  ``sigma_1 > ... > sigma_L`` (:func:`ncsn_sigmas`, :func:`ncsn_step_sizes`).
- ``"vp"`` (diffusion path of Cordero-Encinar, Akyildiz and Duncan):
  ``X_lam = sqrt(lam) X + sqrt(1 - lam) Z``, ``X ~ p``, ``Z ~ nu`` with ``nu`` a
  :class:`GaussianBase` or a :class:`StudentTBase`; ``lam`` increases to 1
  (:func:`vp_lambdas`).
- ``"tempered"`` (geometric path): ``p_lam ∝ p^lam nu^(1 - lam)``, same ``lambdas``.

What the kernels derive from their arguments, in functional form: the step size of each
level (:func:`path_step_sizes` of an annealing path, :func:`chained_step_sizes` of a chained
sweep), the draw of the base a sweep may start from (:func:`base_draw`) and the ladder of
likelihood powers of replica exchange (:func:`tempering_ladder`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import random
from jax.scipy.special import gammaln
from jax.typing import ArrayLike, DTypeLike

from .blocks.random import normal
from .checks import float_array, one_of, open_unit, positive_float, positive_int, renamed
from .scales import annealed_sigmas, annealed_step_size, chained_sigmas, noise_ratio

__all__ = [
    "PATHS",
    "annealed_sigmas",
    "annealed_step_size",
    "GaussianBase",
    "StudentTBase",
    "as_base",
    "base_draw",
    "chained_step_sizes",
    "check_lambdas",
    "chained_sigmas",
    "noise_ratio",
    "check_sigmas",
    "ncsn_sigmas",
    "ncsn_step_sizes",
    "path_step_sizes",
    "tempering_ladder",
    "vp_lambdas",
]

PATHS = ("ve", "vp", "tempered")
LAMBDA_SCHEDULES = ("linear", "cosine", "exponential")


def check_sigmas(
    sigmas: ArrayLike, name: str = "sigmas", allow_zero_last: bool = False
) -> jax.Array:
    """``sigmas`` as an array of the default float type (float32; float64 under x64): 1-d,
    at least one level, finite, positive (the last may be 0 with ``allow_zero_last``: the
    unsmoothed target), strictly decreasing, all of which must also hold in float32."""
    arr = float_array(name, sigmas)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-d sequence of noise levels, got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"`{name}` must contain at least one level (L >= 1), got L = 0.")
    positive = arr[:-1] if allow_zero_last else arr
    if not np.all(np.isfinite(arr)) or np.any(positive <= 0) or arr[-1] < 0:
        last = " (the last may be 0)" if allow_zero_last else ""
        raise ValueError(f"`{name}` must be finite and positive{last}, got {arr.tolist()}.")
    if np.any(np.diff(arr) >= 0):
        raise ValueError(f"`{name}` must be strictly decreasing, got {arr.tolist()}.")
    _check_float32(name, arr, arr[arr > 0], "decreasing")
    return _default_float(arr)


def _default_float(arr: np.ndarray) -> jax.Array:
    # the levels in the type the samplers run in: float32, or float64 under x64, where a
    # float32 copy would round every level (0.1 to 0.10000000149) in a float64 chain
    return jnp.asarray(arr, jnp.result_type(float))


def _check_float32(name: str, arr: np.ndarray, positive: np.ndarray, order: str) -> None:
    # levels valid in float64 can overflow to inf, underflow to 0 or collapse onto each
    # other once cast to the float32 the samplers run in without x64 (checked under x64 too,
    # so that a schedule that works in one process works in every other)
    f32 = np.finfo(np.float32)
    if np.any(np.abs(arr) > f32.max) or np.any(np.abs(positive) < f32.tiny):
        raise ValueError(
            f"`{name}` must lie within the normal float32 range [{f32.tiny:.3g}, "
            f"{f32.max:.3g}], got {arr.tolist()}."
        )
    diff = np.diff(arr.astype(np.float32))
    if np.any(diff >= 0 if order == "decreasing" else diff <= 0):
        raise ValueError(
            f"`{name}` must be strictly {order} in float32 (neighbouring levels closer than "
            f"float32 resolution are equal there), got {arr.tolist()}."
        )


def check_lambdas(lambdas: ArrayLike, name: str = "lambdas", allow_zero: bool = False) -> jax.Array:
    """``lambdas`` as an array of the default float type (float32; float64 under x64): 1-d,
    at least one level, strictly increasing (also in float32), in ``(0, 1]`` (``[0, 1]``
    with ``allow_zero``, for the tempered path)."""
    arr = float_array(name, lambdas)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-d sequence of levels, got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"`{name}` must contain at least one level (L >= 1), got L = 0.")
    low_ok = np.all(arr >= 0) if allow_zero else np.all(arr > 0)
    if not np.all(np.isfinite(arr)) or not low_ok or np.any(arr > 1):
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"`{name}` must lie in {interval}, got {arr.tolist()}.")
    if np.any(np.diff(arr) <= 0):
        raise ValueError(f"`{name}` must be strictly increasing, got {arr.tolist()}.")
    _check_float32(name, arr, arr[arr > 0], "increasing")
    return _default_float(arr)


def ncsn_sigmas(sigma_max: float = 1.0, sigma_min: float = 0.01, num_levels: int = 10) -> jax.Array:
    """Geometric noise levels ``sigma_1 = sigma_max > ... > sigma_L = sigma_min`` (NCSN).

    With ``num_levels = 1`` the single level is ``sigma_min`` (the target's own level). The
    levels must be distinct normal float32 numbers (``ValueError`` otherwise).
    """
    sigma_max = positive_float("sigma_max", sigma_max)
    sigma_min = positive_float("sigma_min", sigma_min)
    num_levels = positive_int("num_levels", num_levels)
    f32 = np.finfo(np.float32)
    for name, v in (("sigma_max", sigma_max), ("sigma_min", sigma_min)):
        if not f32.tiny <= v <= f32.max:
            raise ValueError(
                f"`{name}` must lie within the normal float32 range [{f32.tiny:.3g}, "
                f"{f32.max:.3g}], got {v!r}."
            )
    if num_levels == 1:
        return _default_float(np.array([sigma_min]))
    if not sigma_max > sigma_min:
        raise ValueError(
            f"`sigma_max` must exceed `sigma_min`, got sigma_max={sigma_max}, "
            f"sigma_min={sigma_min}."
        )
    levels = np.geomspace(sigma_max, sigma_min, num_levels)
    if np.any(np.diff(levels.astype(np.float32)) >= 0):
        raise ValueError(
            f"`sigma_max`={sigma_max} and `sigma_min`={sigma_min} are too close for "
            f"{num_levels} distinct float32 levels; lower `num_levels` or widen the range."
        )
    return _default_float(levels)


def ncsn_step_sizes(
    step_size: float | None = None, sigmas: ArrayLike | None = None, *, eps: float | None = None
) -> jax.Array:
    """NCSN step sizes ``eta_i = step_size * sigma_i^2 / sigma_L^2`` (Song & Ermon 2019,
    Alg. 1, where ``step_size`` is their ``epsilon``). ``eps`` is the former name of
    ``step_size`` (deprecated, ``FutureWarning``), as in the kernels."""
    step_size = renamed("step_size", step_size, "eps", eps)
    if step_size is None or sigmas is None:
        raise TypeError("`ncsn_step_sizes` needs `step_size` and `sigmas`.")
    eps = positive_float("step_size", step_size)
    with jax.ensure_compile_time_eval():  # the levels are constants, also inside a jit
        s = np.asarray(check_sigmas(sigmas), np.float64)
    # the ratios in float64 (sigma_i^2 underflows float32 for sigma_i < 1e-19); `eps` may be
    # traced by the user's jit, so only the ratios are checked here
    ratio = (s / s[-1]) ** 2
    if not np.all(ratio <= np.finfo(np.float32).max):
        raise ValueError(
            f"`sigmas` span too wide a range for float32 step sizes: (sigma_1 / sigma_L)^2 = "
            f"{ratio[0]:.3g}, got sigmas {s.tolist()}."
        )
    return eps * jnp.asarray(ratio, jnp.result_type(float))


def path_step_sizes(path: str, step_size: ArrayLike, levels: ArrayLike) -> jax.Array:
    """The step size of each level of ``path``, as :class:`~numpyro_cld.AnnealedLangevin`
    sets them: NCSN's ``step_size * sigma_i^2 / sigma_L^2`` (:func:`ncsn_step_sizes`) on
    ``"ve"``, ``step_size`` at every level on ``"vp"`` and ``"tempered"``.

    The levels stay constants; a ``step_size`` traced by the user's jit makes only the
    result traced.
    """
    path = one_of("path", path, PATHS)
    with jax.ensure_compile_time_eval():
        levels = jnp.asarray(np.asarray(levels))
    if path == "ve":
        return ncsn_step_sizes(step_size, levels)
    return step_size * jnp.ones(levels.shape)


def chained_step_sizes(sigmas: ArrayLike | None, step_size: float) -> np.ndarray | None:
    """The initial step size of each level of a chained sweep whose ``sigmas`` end at 0,
    as :class:`~numpyro_cld.ChainedLangevin` sets them: ``step_size + sigma_l^2 / 2``, about
    the scale of a patch's smoothed conditional (the paper's rule divides by ``sigma_L``);
    each level's multiplier is then adapted apart. ``None`` when ``sigmas`` is ``None`` or
    ends above 0: :func:`~numpyro_cld.samplers.chained` then scales ``step_size`` itself."""
    if sigmas is None:
        return None
    sigmas = np.asarray(sigmas, np.float64)  # a constant, also inside a trace
    return None if sigmas[-1] > 0 else step_size + 0.5 * sigmas**2


def vp_lambdas(
    num_levels: int = 10, schedule: str = "linear", lambda_min: float = 1e-3
) -> jax.Array:
    """Increasing ``lambda_1 = lambda_min < ... < lambda_L = 1`` for the vp / tempered paths.

    On the grid ``t_i = (i - 1) / (L - 1)``:

    - ``"linear"``: ``lam = lambda_min + (1 - lambda_min) t``;
    - ``"cosine"``: ``lam = lambda_min + (1 - lambda_min) sin^2(pi t / 2)`` (slow at both
      ends, the cosine schedule of Nichol & Dhariwal in this time direction);
    - ``"exponential"``: the OU schedule ``lam_t = min(1, exp(-2 (T - t)))`` on
      ``t in [0, T]`` with ``T = -log(lambda_min) / 2``, i.e. ``lam = lambda_min^(1 - t)``.

    ``num_levels = 1`` gives ``[1.0]`` (the target itself).
    """
    num_levels = positive_int("num_levels", num_levels)
    schedule = one_of("schedule", schedule, LAMBDA_SCHEDULES)
    lambda_min = open_unit("lambda_min", lambda_min)
    if num_levels == 1:
        return jnp.ones((1,), jnp.result_type(float))
    t = np.linspace(0.0, 1.0, num_levels)
    if schedule == "linear":
        lam = lambda_min + (1 - lambda_min) * t
    elif schedule == "cosine":
        lam = lambda_min + (1 - lambda_min) * np.sin(np.pi * t / 2) ** 2
    else:
        lam = np.minimum(1.0, lambda_min ** (1.0 - t))
    if np.any(np.diff(lam.astype(np.float32)) <= 0):
        raise ValueError(
            f"`lambda_min`={lambda_min} is too close to 1 for {num_levels} distinct float32 "
            "levels; lower `lambda_min` or `num_levels`."
        )
    return check_lambdas(lam)


def tempering_ladder(betas: Any) -> tuple[np.ndarray, bool]:
    """``(betas, adapt)``: the ladder of likelihood powers of replica exchange (``0`` first,
    ``1`` last), as :class:`~numpyro_cld.TemperedLangevin` and the tempered route of
    :class:`~numpyro_cld.ChainedLangevin` build it from their ``betas``, and whether warmup
    adapts it (``adapt_betas`` of :func:`~numpyro_cld.samplers.replica_exchange`).

    An int ``n`` gives ``0`` and ``n`` powers geometric from 1e-3 to 1 (adapted); a sequence
    gives ``0`` and the positive powers themselves, strictly increasing and ending at 1
    (kept as given).
    """
    if isinstance(betas, (int, np.integer)) and not isinstance(betas, bool):
        n = int(betas)
        if n < 1:
            raise ValueError(f"`betas` must be a positive number of powers, got {n}.")
        return np.concatenate([[0.0], np.geomspace(1e-3, 1.0, n)]), True
    try:
        b = np.asarray(betas, np.float64)
    except (TypeError, ValueError):
        b = np.zeros((0, 0))
    if b.ndim != 1 or b.size == 0 or not np.all(np.isfinite(b)):
        raise ValueError(
            f"`betas` must be an int (the number of powers), 'auto' (a pilot sizes the ladder) "
            f"or a 1-d sequence of likelihood powers, got {betas!r}."
        )
    if not (np.all(np.diff(b) > 0) and b[0] > 0 and b[-1] == 1.0):
        raise ValueError(
            f"`betas` must increase strictly within (0, 1] and end at 1, got {b.tolist()}."
        )
    return np.concatenate([[0.0], b]), False


class GaussianBase:
    """Base ``nu = N(0, scale^2 I)`` of the vp and tempered paths."""

    name = "gaussian"

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = positive_float("scale", scale)

    def log_prob(self, x: jax.Array) -> jax.Array:
        d = x.shape[-1]
        return -0.5 * jnp.sum(x**2, -1) / self.scale**2 - d * (
            math.log(self.scale) + 0.5 * math.log(2 * math.pi)
        )

    def score(self, x: jax.Array) -> jax.Array:
        return -x / self.scale**2

    def sample(
        self, rng_key: jax.Array, shape: tuple[int, ...], dtype: DTypeLike = jnp.float32
    ) -> jax.Array:
        return self.scale * normal(rng_key, shape, dtype)

    def __repr__(self) -> str:
        return f"GaussianBase(scale={self.scale})"


class StudentTBase:
    """Base ``nu = t(0, scale^2 I, alpha)`` (multivariate Student-t),
    ``nu(x) ∝ (1 + |x|^2 / (alpha scale^2))^(-(alpha + d) / 2)``, with tail index
    ``alpha > 2`` so that the variance is finite."""

    name = "student_t"

    def __init__(self, alpha: float, scale: float = 1.0) -> None:
        alpha = positive_float("alpha", alpha)
        if not alpha > 2:
            raise ValueError(
                f"`alpha` must be > 2 (finite second moment of the Student-t base), got {alpha!r}."
            )
        self.alpha = alpha
        self.scale = positive_float("scale", scale)

    def log_prob(self, x: jax.Array) -> jax.Array:
        a, s, d = self.alpha, self.scale, x.shape[-1]
        norm = (
            gammaln((a + d) / 2) - gammaln(a / 2) - 0.5 * d * jnp.log(a * math.pi) - d * math.log(s)
        )
        return norm - 0.5 * (a + d) * jnp.log1p(jnp.sum(x**2, -1) / (a * s**2))

    def score(self, x: jax.Array) -> jax.Array:
        a, s, d = self.alpha, self.scale, x.shape[-1]
        return -(a + d) * x / (a * s**2 + jnp.sum(x**2, -1, keepdims=True))

    def sample(
        self, rng_key: jax.Array, shape: tuple[int, ...], dtype: DTypeLike = jnp.float32
    ) -> jax.Array:
        # Gaussian scale mixture: Z = scale * G / sqrt(W / alpha), W ~ chi^2_alpha per vector
        key_g, key_w = random.split(rng_key)
        g = normal(key_g, shape, dtype)
        w = 2.0 * random.gamma(key_w, self.alpha / 2, shape[:-1] + (1,), dtype)
        return self.scale * g / jnp.sqrt(w / self.alpha)

    def __repr__(self) -> str:
        return f"StudentTBase(alpha={self.alpha}, scale={self.scale})"


def as_base(base: str | tuple | GaussianBase | StudentTBase) -> GaussianBase | StudentTBase:
    """``"gaussian"``, ``("student_t", alpha)`` or a base object -> a base object."""
    if isinstance(base, (GaussianBase, StudentTBase)):
        return base
    if isinstance(base, str) and base == "gaussian":
        return GaussianBase()
    if isinstance(base, str) and base == "student_t":
        raise ValueError(
            "`base='student_t'` needs a tail index: pass ('student_t', alpha) with alpha > 2 "
            "or StudentTBase(alpha, scale)."
        )
    if isinstance(base, tuple) and len(base) in (2, 3) and base[0] == "student_t":
        return StudentTBase(*base[1:])
    raise ValueError(
        "`base` must be 'gaussian', ('student_t', alpha[, scale]), GaussianBase(...) or "
        f"StudentTBase(...), got {base!r}."
    )


def base_draw(
    path: str, levels: ArrayLike, base: str | tuple | GaussianBase | StudentTBase = "gaussian"
) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``draw(rng_key, x) -> x0``: a fresh draw, shaped like ``x``, of the base of ``path``
    where an annealing sweep starts (the ``base_draw`` of
    :func:`~numpyro_cld.samplers.annealed`; :class:`~numpyro_cld.AnnealedLangevin` with
    ``start_from_base=True``): ``N(0, sigma_1^2 I)`` with ``sigma_1 = levels[0]`` on
    ``"ve"``, a draw of ``base`` (:func:`as_base`) on ``"vp"`` and ``"tempered"``."""
    path = one_of("path", path, PATHS)
    if path == "ve":

        def draw(rng_key, x):
            return levels[0] * random.normal(rng_key, x.shape, x.dtype)

        return draw
    base = as_base(base)

    def draw(rng_key, x):
        return base.sample(rng_key, x.shape, x.dtype)

    return draw


def vp_coefficients(lam: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """``(a, tau) = (sqrt(lam), sqrt(1 - lam))`` of ``X_lam = a X + tau Z``."""
    lam = jnp.asarray(lam)
    return jnp.sqrt(lam), jnp.sqrt(jnp.clip(1.0 - lam, 0.0, None))
