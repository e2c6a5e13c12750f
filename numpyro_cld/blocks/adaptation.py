"""Warmup adaptation shared by the samplers.

The step size and mass matrix of a single Langevin chain are adapted by NumPyro's own
``warmup_adapter`` (dual averaging and windowed Welford estimates, as for NUTS). The chained
sampler adapts one step-size multiplier per patch with the same dual-averaging scheme
(Hoffman & Gelman 2014, as in :func:`numpyro.infer.hmc_util.dual_averaging`).
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.hmc_util import dual_averaging

__all__ = ["PatchAdaptState", "patch_adapt_init", "patch_adapt_update", "running_mean"]


class PatchAdaptState(NamedTuple):
    """Per-patch step-size adaptation of the chained sampler.

    - **step_scale** - ``(P,)`` multipliers of the step size, one per patch (all 1 when not
      adapted).
    - **da_state** - dual-averaging state ``(x, x_avg, g_avg, t, prox_center)`` of
      ``log step_scale``, batched over patches.
    """

    step_scale: Any
    da_state: Any


def running_mean(mean: jax.Array, value: jax.Array, i: jax.Array, num_warmup: int) -> jax.Array:
    """Running mean of ``value`` at iteration ``i``, restarted when sampling begins (the
    ``mean_accept_prob`` of NumPyro's HMC)."""
    itr = i + 1
    n = jnp.where(i < num_warmup, itr, itr - num_warmup)
    return mean + (value - mean) / n


def patch_adapt_init(num_patches: int, dtype: Any) -> PatchAdaptState:
    """Unit multipliers and a fresh dual-averaging state for ``num_patches`` patches."""
    scale = jnp.ones((num_patches,), dtype)
    # prox centre log(10 * 1), as in NumPyro's step-size adaptation
    da = (
        jnp.zeros_like(scale),
        jnp.zeros_like(scale),
        jnp.zeros_like(scale),
        jnp.array(0, jnp.int32),
        jnp.full_like(scale, np.log(10.0)),
    )
    return PatchAdaptState(scale, da)


def patch_adapt_update(
    state: PatchAdaptState,
    accept_prob: jax.Array,
    i: jax.Array,
    num_warmup: int,
    target_accept_prob: float,
) -> PatchAdaptState:
    """One dual-averaging update of every patch's multiplier from its mean acceptance
    ``accept_prob`` (``(P,)``) during warmup; the averaged iterate is kept at its end."""
    _, da_update = dual_averaging()
    warm = i < num_warmup
    new_da = da_update(target_accept_prob - accept_prob, state.da_state)
    last = i == num_warmup - 1
    new_scale = jnp.exp(jnp.where(last, new_da[1], new_da[0]))
    return PatchAdaptState(
        jnp.where(warm, new_scale, state.step_scale),
        jax.tree.map(lambda a, b: jnp.where(warm, a, b), new_da, state.da_state),
    )
