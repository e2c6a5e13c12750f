"""Functional core of annealed Langevin dynamics: one transition is one annealing sweep.

:func:`annealed` returns pure ``init`` / ``step`` functions over flat arrays
(``docs/functional.md``); :class:`numpyro_cld.AnnealedLangevin` binds them to a model and
builds the level source and schedule.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax, random

from ..blocks.adaptation import running_mean
from ..blocks.step import StepState, langevin_steps, stuck
from ..checks import positive_int
from ..sources.protocol import Source
from .state import LangevinState, initial_state, start_position

__all__ = ["AnnealedAdaptState", "annealed"]


class AnnealedAdaptState(NamedTuple):
    """What the annealed sampler carries besides the position.

    - **step_size** - ``(L,)`` Langevin step size ``eta_l`` of each level.
    - **level_z** - with ``store_levels=True``, the position at the end of each level,
      ``(L, d)``; otherwise ``None``.
    """

    step_size: Any
    level_z: Any


def annealed(
    level_source: Source,
    levels: jax.Array,
    step_sizes: jax.Array,
    *,
    steps_per_level: int = 100,
    adjust: bool = False,
    num_warmup: int = 0,
    base_draw: Callable | None = None,
    store_levels: bool = False,
) -> tuple[Callable, Callable]:
    """Annealed Langevin dynamics as a pair of pure functions.

    A transition runs ``steps_per_level`` Langevin steps (ULA, or MALA with ``adjust``) at
    each level ``levels[0], ..., levels[-1]`` with the step sizes ``step_sizes``, from the
    chain's position or, given ``base_draw``, from a fresh draw of the path's base.

    :param level_source: ``source(x, level, rng_key) -> (U_level, s_level)``.
    :param levels: ``(L,)`` levels in sweep order (sigmas or lambdas).
    :param step_sizes: ``(L,)`` step size of each level (e.g.
        :func:`~numpyro_cld.schedules.ncsn_step_sizes`).
    :param int steps_per_level: Langevin steps per level.
    :param bool adjust: Metropolis-adjust each step (needs a density at every level).
    :param int num_warmup: transitions counted as warmup by ``mean_accept_prob``.
    :param base_draw: ``base_draw(rng_key, x) -> x0``: start every sweep from it.
    :param bool store_levels: keep the position at the end of each level.
    :return: ``(init, step)`` with ``init(position, rng_key) -> LangevinState`` and
        ``step(rng_key, state) -> LangevinState``.
    """
    steps_per_level = positive_int("steps_per_level", steps_per_level)
    levels, step_sizes = jnp.asarray(levels), jnp.asarray(step_sizes)

    def init(position: jax.Array, rng_key: jax.Array) -> LangevinState:
        position = start_position(position)
        pe, score = level_source(position, levels[-1], rng_key)
        dtype = jnp.result_type(position)
        level_z = jnp.zeros(levels.shape + position.shape, dtype) if store_levels else None
        adapt_state = AnnealedAdaptState(step_sizes.astype(dtype), level_z)
        return initial_state(position, pe, score, adapt_state)

    def step(rng_key: jax.Array, state: LangevinState) -> LangevinState:
        key_start, key_sweep = random.split(rng_key)
        x = state.z if base_draw is None else base_draw(key_start, state.z)

        def level_body(st, inputs):
            level, eta, key = inputs
            key_score, key_steps = random.split(key)

            def source(y, k):
                return level_source(y, level, k)

            pe, score = source(st.x, key_score)  # the level changed: recompute
            new, info = langevin_steps(
                key_steps,
                StepState(st.x, pe, score),
                source,
                eta,
                1.0,
                adjust=adjust,
                num_steps=steps_per_level,
            )
            return new, (info, new.x if store_levels else None)

        # the carry's potential and score are recomputed at every level; zeros stand in
        init_st = StepState(x, jnp.zeros((), x.dtype), jnp.zeros_like(x))
        adapt = state.adapt_state
        last, (infos, level_z) = lax.scan(
            level_body,
            init_st,
            (levels.astype(x.dtype), adapt.step_size, random.split(key_sweep, levels.shape[0])),
        )
        accept_prob = jnp.mean(infos.accept_prob)
        return LangevinState(
            state.i + 1,
            last.x,
            last.potential_energy,
            -last.score,
            accept_prob,
            running_mean(state.mean_accept_prob, accept_prob, state.i, num_warmup),
            jnp.any(stuck(infos.num_diverging, infos.accept_prob, adjust)),
            jnp.sum(infos.num_diverging, dtype=jnp.int32),
            adapt._replace(level_z=level_z),
            state.rng_key,
        )

    return init, step
