"""Warmup adaptation shared by the samplers.

The step size and mass matrix of a single Langevin chain are adapted by NumPyro's own
``warmup_adapter`` (dual averaging and windowed Welford estimates, as for NUTS). The chained
sampler adapts one step-size multiplier per patch with the same dual-averaging scheme
(Hoffman & Gelman 2014, as in :func:`numpyro.infer.hmc_util.dual_averaging`) at every
Langevin step of warmup, and a diagonal mass matrix (each patch uses its coordinates' part)
from the sweeps of NumPyro's middle windows, so ``num_warmup`` means what it means for NUTS.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.hmc_util import build_adaptation_schedule, dual_averaging, welford_covariance

from ..checks import concrete_in

__all__ = [
    "MIN_STEP_SIZE",
    "PatchAdaptState",
    "all_chains",
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
