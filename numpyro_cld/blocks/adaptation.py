"""Warmup adaptation shared by the samplers.

The step size and mass matrix of a single Langevin chain are adapted by NumPyro's own
``warmup_adapter`` (dual averaging and windowed Welford estimates, as for NUTS). The chained
sampler adapts one step-size multiplier per patch with the same dual-averaging scheme
(Hoffman & Gelman 2014, as in :func:`numpyro.infer.hmc_util.dual_averaging`) at every
Langevin step of warmup, and a diagonal mass matrix (each patch uses its coordinates' part)
from the sweeps of NumPyro's middle windows, so ``num_warmup`` means what it means for NUTS.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from numpyro.infer.hmc_util import (
    build_adaptation_schedule,
    dual_averaging,
    warmup_adapter,
    welford_covariance,
)

from ..checks import concrete_in

__all__ = [
    "MIN_STEP_SIZE",
    "PatchAdaptState",
    "all_chains",
    "langevin_adapter",
    "patch_adapt_end",
    "patch_adapt_init",
    "patch_da_update",
    "patch_mass_update",
    "patch_mass_windows",
    "patch_step_scale",
    "running_mean",
    "stalled",
]


MIN_STEP_SIZE = 1e-8
"""A step size below this moves nothing in float32: a transition that uses one diverges."""


def stalled(step_size: jax.Array) -> jax.Array:
    """``1`` (int32) if a step size is below :data:`MIN_STEP_SIZE` (any entry), else 0: a
    stalled transition counts at least one divergence."""
    return jnp.any(step_size < MIN_STEP_SIZE).astype(jnp.int32)


class PatchAdaptState(NamedTuple):
    """Per-patch step-size adaptation of the chained sampler.

    - **step_scale** - ``(P,)`` multipliers of the step size, one per patch (all 1 when not
      adapted); ``(P, L)`` with ``L`` noise levels (Chained-ALD), one per patch and level,
      since the smoothed conditionals of a patch differ in scale from level to level.
    - **da_state** - dual-averaging state ``(x, x_avg, g_avg, t, prox_center)`` of
      ``log step_scale``, batched like it.
    - **mass_sqrt_inv** - ``(d,)`` diagonal factor ``A`` of the inverse mass matrix
      ``M = A^2`` (the standard deviations estimated in warmup; ones when not adapted).
    - **welford** - NumPyro's Welford state ``(mean, m2, n)`` of the per-coordinate variance
      over the sweeps of the current adaptation window.
    """

    step_scale: Any
    da_state: Any
    mass_sqrt_inv: Any = None
    welford: Any = None


def running_mean(mean: jax.Array, value: jax.Array, i: jax.Array, num_warmup: int) -> jax.Array:
    """Running mean of ``value`` at iteration ``i``, restarted when sampling begins (the
    ``mean_accept_prob`` of NumPyro's HMC)."""
    itr = i + 1
    n = jnp.where(i < num_warmup, itr, itr - num_warmup)
    return mean + (value - mean) / n


def _da_init(scale: jax.Array) -> tuple:
    # at the multipliers ``scale``, prox centre log(10 scale), as NumPyro's step-size adaptation
    return (
        jnp.log(scale),
        jnp.zeros_like(scale),
        jnp.zeros_like(scale),
        jnp.zeros(scale.shape, jnp.int32),
        jnp.log(10.0 * scale),
    )


def patch_adapt_init(
    num_patches: int, dtype: Any, levels: tuple = (), dim: int = 0
) -> PatchAdaptState:
    """Unit multipliers and a fresh dual-averaging state for ``num_patches`` patches (times
    ``levels``, e.g. ``(L,)`` for one multiplier per noise level), and a unit diagonal mass
    matrix over ``dim`` coordinates."""
    scale = jnp.ones((num_patches, *levels), dtype)
    wf_init = welford_covariance(diagonal=True)[0]
    welford = jax.tree.map(lambda a: a.astype(dtype) if a.ndim else a, wf_init(dim))
    return PatchAdaptState(scale, _da_init(scale), jnp.ones((dim,), dtype), welford)


def patch_mass_windows(num_warmup: int) -> np.ndarray | None:
    """The ``(start, end)`` transitions of NumPyro's middle adaptation windows (an
    ``(n, 2)`` array), whose sweeps estimate the mass matrix; ``None`` if there are none
    (fewer than 20 warmup transitions, as in NumPyro)."""
    windows = build_adaptation_schedule(num_warmup)[1:-1]
    return np.array([(w.start, w.end) for w in windows]) if windows else None


def patch_mass_update(
    state: PatchAdaptState, x: jax.Array, i: jax.Array, windows: np.ndarray
) -> PatchAdaptState:
    """After warmup transition ``i`` with position ``x``: in a middle window, add ``x`` to
    the Welford estimate; at a window's end, make the (Stan-regularised) variance the
    inverse mass matrix, restart the estimate and restart dual averaging from the current
    multipliers, as NumPyro's ``warmup_adapter`` does at the end of a window."""
    _, wf_update, wf_final = welford_covariance(diagonal=True)
    inside = (i >= windows[0, 0]) & (i <= windows[-1, 1])
    wf = jax.tree.map(
        lambda a, b: jnp.where(inside, a, b), wf_update(x, state.welford), state.welford
    )
    at_end = jnp.any(i == jnp.asarray(windows[:, 1]))
    _, _, sd = wf_final(wf, regularize=True)
    fresh = jax.tree.map(jnp.zeros_like, wf)
    da = jax.tree.map(
        lambda a, b: jnp.where(at_end, a, b), _da_init(jnp.exp(state.da_state[0])), state.da_state
    )
    return state._replace(
        mass_sqrt_inv=jnp.where(at_end, sd.astype(x.dtype), state.mass_sqrt_inv),
        welford=jax.tree.map(lambda a, b: jnp.where(at_end, a, b), fresh, wf),
        da_state=da,
    )


def patch_da_update(
    da: tuple, accept_prob: jax.Array, target_accept_prob: float, active: jax.Array
) -> tuple:
    """One dual-averaging update of one patch's ``log step_scale`` after one Langevin step
    (``da`` is that patch's slice of ``PatchAdaptState.da_state``); no-op unless ``active``.
    Host-known probabilities are checked (a NaN or one outside [0, 1] would drive the step
    size to NaN or to a wrong target); traced ones pass."""
    concrete_in("accept_prob", accept_prob, 0.0, 1.0, "a probability in [0, 1]", closed=True)
    concrete_in(
        "target_accept_prob", target_accept_prob, 0.0, 1.0, "a probability strictly between 0 and 1"
    )
    _, da_update = dual_averaging()
    new = da_update(target_accept_prob - accept_prob, da)
    return jax.tree.map(lambda a, b: jnp.where(active, a, b), new, da)


def patch_step_scale(state: PatchAdaptState, i: jax.Array, warm: jax.Array) -> jax.Array:
    """Patch ``i``'s multiplier: the current dual-averaging iterate in warmup, the adapted
    value after it."""
    return jnp.where(warm, jnp.exp(state.da_state[0][i]), state.step_scale[i])


def patch_adapt_end(state: PatchAdaptState, i: jax.Array, num_warmup: int) -> PatchAdaptState:
    """After transition ``i``: in warmup, the multipliers follow the iterates; the last warmup
    transition fixes them at the averaged iterates (as NumPyro's step-size adaptation)."""
    x, x_avg = state.da_state[0], state.da_state[1]
    scale = jnp.exp(jnp.where(i == num_warmup - 1, x_avg, x))
    return state._replace(step_scale=jnp.where(i < num_warmup, scale, state.step_scale))


@jax.custom_batching.custom_vmap
def all_chains(pred: jax.Array) -> jax.Array:
    """``pred`` reduced with ``all`` over any ``vmap`` of chains, so that a ``lax.cond`` on it
    stays a branch under ``vmap`` (a batched predicate turns ``cond`` into a ``select`` that
    runs both branches). For the warmup test ``i < num_warmup``, equal in every chain."""
    return pred


@all_chains.def_vmap
def _all_chains_batched(axis_size, in_batched, pred):
    return (all_chains(jnp.all(pred)) if in_batched[0] else pred), False


def langevin_adapter(
    num_warmup: int,
    num_steps: int,
    *,
    adapt_step_size: bool,
    adapt_mass_matrix: bool,
    dense_mass: bool,
    target_accept_prob: float,
) -> tuple[Callable, Callable]:
    """Warmup adaptation of Langevin transitions of ``num_steps`` steps: NumPyro's dual
    averaging of the step size and its windows (``build_adaptation_schedule``), laid out over
    the ``num_warmup`` *transitions* as NUTS lays them over its trajectories, every step
    adapting inside them. State: NumPyro's ``HMCAdaptState``.

    The mass matrix set at the end of a window is the geometric mean ``M = C_x # C_s^-1`` of
    the covariance ``C_x`` of the window's positions and the inverse covariance ``C_s`` of
    their scores (diagonal: ``M_i = sqrt(var x_i / var s_i)``; Seyboldt's Fisher-divergence
    metric of nutpie). On a Gaussian both are the covariance; early in warmup ``C_x`` is
    short in the directions the chain has not explored yet and ``C_s^-1`` long in them, so
    their mean grows the steps there instead of freezing them: on rotated Gaussians of
    condition number 1e3-1e4 ``C_x`` alone left 4 x 1000 draws at bulk ESS 20-100
    (``docs/defaults.md``, "Hard geometry").

    Windows over the steps would make the first mass window 25 consecutive steps (a
    covariance of rank at most 25); the window-end update (eigen-decompositions) is a branch
    taken once per window, not a ``select`` computed at every step of vmapped chains
    (:func:`all_chains`).

    :return: ``(init, update)``: ``init(position, rng_key, step_size, inverse_mass_matrix)``
        and ``update(i, j, accept_prob, step_state, adapt_state)``
        after step ``j`` of transition ``i``.
    """
    wa_init, _ = warmup_adapter(num_warmup, adapt_step_size=adapt_step_size,
                                adapt_mass_matrix=False, dense_mass=dense_mass)  # fmt: skip
    schedule = build_adaptation_schedule(num_warmup)
    ends = jnp.asarray([w.end for w in schedule])  # where window_idx moves on
    mass_ends = jnp.asarray([w.end for w in schedule[1:-1]] or [-1])  # the middle windows
    ss_init, ss_update = dual_averaging()
    mm_init, mm_update, mm_final = welford_covariance(diagonal=not dense_mass)

    def init(position, rng_key, step_size, inverse_mass_matrix):
        adapt = wa_init((position,), rng_key, step_size, inverse_mass_matrix=inverse_mass_matrix,
                        mass_matrix_size=position.shape[0])  # fmt: skip
        if not adapt_mass_matrix:  # no Welford state (d x d for a dense mass) to carry
            return adapt._replace(mm_state=())
        wf = jax.tree.map(lambda a: a.astype(position.dtype) if a.ndim else a,
                          mm_init(position.shape[0]))  # fmt: skip
        return adapt._replace(mm_state=(wf, wf))

    def within(accept_prob, new, adapt):
        if adapt_step_size:
            ss_state = ss_update(target_accept_prob - accept_prob, adapt.ss_state)
            finfo = jnp.finfo(jnp.result_type(adapt.step_size))
            step_size = jnp.clip(jnp.exp(ss_state[0]), finfo.tiny, finfo.max)
            adapt = adapt._replace(step_size=step_size, ss_state=ss_state)
        if adapt_mass_matrix:
            middle = (adapt.window_idx > 0) & (adapt.window_idx < len(schedule) - 1)
            wx, ws = adapt.mm_state
            upd = (mm_update(new.x, wx), mm_update(new.score, ws))
            mm = jax.tree.map(lambda a, b: jnp.where(middle, a, b), upd, adapt.mm_state)
            adapt = adapt._replace(mm_state=mm)
        return adapt

    def window_end(adapt):
        if adapt_mass_matrix:
            wx, ws = adapt.mm_state
            cov_x, cov_s = mm_final(wx, regularize=True)[0], mm_final(ws, regularize=False)[0]
            inverse_mass = _fisher_mean(cov_x, cov_s)
            fresh = jax.tree.map(jnp.zeros_like, wx)
            adapt = adapt._replace(mm_state=(fresh, fresh), **_mass_triple(inverse_mass))
        if adapt_step_size:
            adapt = adapt._replace(ss_state=ss_init(jnp.log(10.0) + jnp.log(adapt.step_size)))
        return adapt

    def update(i, j, accept_prob, new, adapt):
        adapt = within(accept_prob, new, adapt)
        last = j == num_steps - 1
        if adapt_step_size:  # warmup ends at the average of dual averaging's iterates
            final = last & (i == num_warmup - 1)
            adapt = adapt._replace(
                step_size=jnp.where(final, jnp.exp(adapt.ss_state[1]), adapt.step_size)
            )
        at_end = all_chains(last & jnp.any(i == mass_ends))
        adapt = lax.cond(at_end, window_end, lambda a: a, adapt)
        return adapt._replace(window_idx=adapt.window_idx + (last & jnp.any(i == ends)))

    return init, update


def _fisher_mean(cov_x: jax.Array, cov_s: jax.Array) -> jax.Array:
    """``C_x # C_s^-1``, the matrix geometric mean (elementwise for vectors), computed as
    ``C_x^1/2 K^-1/2 C_x^1/2`` with ``K = C_x^1/2 C_s C_x^1/2``. ``K = I`` where the two
    agree; its eigenvalues are clipped to ``[1e-4, 1e4]`` (``C_x`` corrected by at most 100x
    in a window), which also keeps float32 round-off in a direction the scores barely
    moved in (an eigenvalue of ``K`` at or below 0) from giving an infinite mass.

    Dense: computed on the draws' correlations (``C_x`` and ``C_s`` scaled by the draws'
    standard deviations ``D``, then ``M = D M' D``; the mean is covariant under such a
    congruence). Eigen-decompositions of the unscaled matrices lose in float32 every
    coordinate whose variance is below ``eps`` of the largest: a correlated Gaussian with
    standard deviations from 1e-2 to 1e2 left the dense default at bulk ESS 31, r-hat 1.10."""
    if cov_x.ndim == 1:
        return cov_x / jnp.sqrt(jnp.clip(cov_x * cov_s, *_K_RANGE))
    sd = jnp.sqrt(jnp.maximum(jnp.diag(cov_x), jnp.finfo(cov_x.dtype).tiny))
    outer = sd[:, None] * sd[None, :]
    a, u = jnp.linalg.eigh(cov_x / outer)
    a_half = (u * jnp.sqrt(jnp.maximum(a, 0.0))) @ u.T
    k, v = jnp.linalg.eigh(a_half @ (cov_s * outer) @ a_half)
    k_inv_half = (v / jnp.sqrt(jnp.clip(k, *_K_RANGE))) @ v.T
    m = a_half @ k_inv_half @ a_half
    return 0.5 * (m + m.T) * outer


_K_RANGE = (1e-4, 1e4)


def _mass_triple(inverse_mass: jax.Array) -> dict:
    """NumPyro's ``(inverse_mass_matrix, mass_matrix_sqrt, mass_matrix_sqrt_inv)`` of ``M``
    (``sqrt sqrt^T = M^-1``, ``sqrt_inv^T sqrt_inv = M``). A dense ``M = D R D`` (``D`` its
    standard deviations) from the eigen-decomposition of ``R``, its eigenvalues floored at
    ``d * eps`` of the largest.

    Not NumPyro's Cholesky of ``M``: a covariance from a window with fewer effective draws
    than dimensions has eigenvalues near 0, and ``C_x # C_s^-1`` computed in float32 may put
    one just below it (``-1e-6`` of a largest of 44, measured at ``d = 200``); the Cholesky
    factor is then NaN, every proposal non-finite, and dual averaging drives the step size to
    0 (13 of 16 chains of the tempered route's posterior replica froze so). ``R`` rather than
    ``M``: the floor is then relative to correlations, not to the largest variance."""
    if inverse_mass.ndim == 1:
        sqrt_inv = jnp.sqrt(inverse_mass)
        return dict(inverse_mass_matrix=inverse_mass, mass_matrix_sqrt=1.0 / sqrt_inv,
                    mass_matrix_sqrt_inv=sqrt_inv)  # fmt: skip
    sd = jnp.sqrt(jnp.maximum(jnp.diag(inverse_mass), jnp.finfo(inverse_mass.dtype).tiny))
    w, v = jnp.linalg.eigh(inverse_mass / sd[:, None] / sd[None, :])
    # the largest eigenvalue; ``initial`` for a model without latents (d = 0)
    w = jnp.maximum(w, jnp.max(w, initial=0.0) * w.shape[-1] * jnp.finfo(w.dtype).eps)
    root = jnp.sqrt(w)
    return dict(inverse_mass_matrix=sd[:, None] * ((v * w) @ v.T) * sd[None, :],
                mass_matrix_sqrt=(v / root) / sd[:, None],
                mass_matrix_sqrt_inv=(v * root).T * sd[None, :])  # fmt: skip
