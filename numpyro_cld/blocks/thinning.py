"""How many Langevin steps one stored draw is worth, chosen in warmup.

A transition of ``num_steps`` Langevin steps thins the chain ``num_steps``-fold. A fixed
number over-thins where the adapted chain already mixes in a few steps (``gauss-d10-c1e2``
of ``docs/defaults.md``: bulk ESS 3,840 of 4,000 draws at 20 steps a draw; a fixed 5 gave
3.5x the ESS per gradient) and under-thins where it does not. With ``num_steps=None`` warmup
runs transitions of :data:`WARMUP_STEPS` steps, measures the lag-1 autocorrelation ``rho``
of the draws of its final window (the mass matrix fixed) and sampling runs
``k = WARMUP_STEPS * log(TARGET_AUTOCORR) / log(rho)`` steps a transition (in
``[1, MAX_STEPS]``): under an AR(1) model of the chain that is the thinning at which
successive draws correlate by :data:`TARGET_AUTOCORR`.

``rho`` is the largest over the coordinates and the potential energy (the slowest of them
sets the bulk ESS), each computed as Stan's ESS computes the autocorrelation across chains
(Vehtari et al. 2021): ``1 - (W - C) / (W + B)`` with ``W`` the within-chain variance, ``C``
the lag-1 autocovariance and ``B`` the variance of the chains' means, so that chains which
disagree read as slow. Vectorized chains pool their statistics and share one ``k``
(:func:`pooled_autocorr`): a ``while_loop`` over steps then stays a loop, not a masked one.
"""

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from numpyro.infer.hmc_util import build_adaptation_schedule

__all__ = [
    "MAX_STEPS",
    "TARGET_AUTOCORR",
    "WARMUP_STEPS",
    "ThinningState",
    "chains_max",
    "pooled_autocorr",
    "thinning_end",
    "thinning_init",
    "thinning_update",
    "thinning_window",
]

WARMUP_STEPS = 5
"""Steps a warmup transition runs when the number of steps is chosen in warmup."""

MAX_STEPS = 20
"""The most steps a sampling transition runs when the number is chosen in warmup (the
fixed default before: no run costs more per draw than it did)."""

TARGET_AUTOCORR = 0.5
"""The lag-1 autocorrelation of successive draws that the chosen thinning aims at (an
AR(1) chain with it has an ESS of a third of its draws)."""


class ThinningState(NamedTuple):
    """What the choice of steps per draw carries through warmup.

    - **steps_per_draw** - int32: steps a sampling transition runs (:data:`WARMUP_STEPS`
      until the end of warmup sets it: the warmup transitions' steps).
    - **sums** - ``(6, d + 1)``: over the final warmup window, the reference point ``r`` (the
      draw before the window) and the sums of ``a``, ``b``, ``a^2``, ``b^2``, ``a b`` for
      successive draws ``a``, ``b`` (minus ``r``, so float32 keeps their digits), the
      potential energy as the last coordinate.
    """

    steps_per_draw: Any
    sums: Any


def thinning_window(num_warmup: int) -> tuple[int, int]:
    """The ``(start, end)`` warmup transitions whose draws measure the autocorrelation:
    NumPyro's final adaptation window (the mass matrix fixed), all of warmup if short."""
    last = build_adaptation_schedule(num_warmup)[-1]
    return last.start, last.end


def thinning_init(position: jax.Array, warmup_steps: int) -> ThinningState:
    """Zero sums for a chain at ``position`` (flat) whose warmup transitions run
    ``warmup_steps`` steps."""
    shape = (6, position.shape[-1] + 1)
    return ThinningState(jnp.array(warmup_steps, jnp.int32), jnp.zeros(shape, position.dtype))


def thinning_update(
    state: ThinningState, i: jax.Array, window: tuple[int, int], before: jax.Array, after: jax.Array
) -> ThinningState:
    """Add the pair of draws ``(before, after)`` of warmup transition ``i`` (flat positions
    with the potential energy appended) if ``i`` is in the window."""
    start, end = window
    r = jnp.where(i == start, before, state.sums[0])
    a, b = before - r, after - r
    sums = state.sums.at[1:].add(jnp.stack([a, b, a * a, b * b, a * b])).at[0].set(r)
    inside = (i >= start) & (i <= end)
    return state._replace(sums=jnp.where(inside, sums, state.sums))


def thinning_end(state: ThinningState, window: tuple[int, int], warmup_steps: int) -> ThinningState:
    """``steps_per_draw`` from the window's sums of draws ``warmup_steps`` steps apart (every
    chain of a ``vmap`` the same)."""
    n = window[1] - window[0] + 1
    r, s_a, s_b, s_aa, s_bb, s_ab = state.sums[0], *(state.sums[1:] / n)
    var = 0.5 * (s_aa - s_a**2 + s_bb - s_b**2)
    cov = s_ab - s_a * s_b
    mean = r + 0.5 * (s_a + s_b)
    # a coordinate that no chain moved has no autocorrelation (NaN): a score without a
    # density has U = 0; every coordinate unmoved (stuck chains) reads as the slowest
    rho = jnp.nanmax(pooled_autocorr(jnp.stack([var, cov, mean])))
    rho = jnp.where(jnp.isnan(rho), 1.0, rho)  # then rho <= 0: one step, rho >= 1: the most
    k = warmup_steps * math.log(TARGET_AUTOCORR) / jnp.log(jnp.clip(rho, 1e-30, 1.0))
    k = jnp.where(rho >= 1.0, MAX_STEPS, jnp.ceil(jnp.nan_to_num(k, nan=MAX_STEPS)))
    return state._replace(steps_per_draw=jnp.clip(k, 1, MAX_STEPS).astype(jnp.int32))


def _autocorr(w: jax.Array, c: jax.Array, between: jax.Array) -> jax.Array:
    return 1.0 - (w - c) / (w + between)


@jax.custom_batching.custom_vmap
def pooled_autocorr(stats: jax.Array) -> jax.Array:
    """Lag-1 autocorrelation per coordinate from ``stats = (W, C, mean)`` of one chain
    (``C / W``); under a ``vmap`` of chains, Stan's cross-chain form (module docstring),
    equal in every chain."""
    w, c, _ = stats
    return _autocorr(w, c, jnp.zeros_like(w))


@pooled_autocorr.def_vmap
def _pooled_autocorr_batched(axis_size, in_batched, stats):
    if not in_batched[0]:
        return pooled_autocorr(stats), False
    w, c, mean = stats[:, 0].mean(0), stats[:, 1].mean(0), stats[:, 2]
    return _autocorr(w, c, jnp.var(mean, 0)), False


@jax.custom_batching.custom_vmap
def chains_max(x: jax.Array) -> jax.Array:
    """``x`` reduced with ``max`` over any ``vmap`` of chains (unbatched), so that a loop
    bounded by it stays a loop under ``vmap``."""
    return x


@chains_max.def_vmap
def _chains_max_batched(axis_size, in_batched, x):
    return (chains_max(jnp.max(x, 0)) if in_batched[0] else x), False
