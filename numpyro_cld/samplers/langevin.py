"""Functional core of vanilla Langevin dynamics: ULA, or MALA with ``adjust=True``.

As NumPyro's :func:`~numpyro.infer.hmc.hmc` and BlackJAX's ``mala``, :func:`langevin` returns
pure ``init`` and ``step`` functions over flat arrays, usable under ``jax.jit`` / ``vmap`` and in
a user's own ``lax.scan`` (``docs/functional.md``). :class:`numpyro_cld.Langevin` binds them
to a NumPyro model.
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from numpyro.infer.hmc_util import warmup_adapter

from ..blocks.adaptation import all_chains, running_mean, stalled
from ..blocks.step import (
    PotentialAndScore,
    StepState,
    adaptive_langevin_steps,
    langevin_steps,
    stuck,
)
from ..checks import open_unit, positive_float, positive_int
from .state import LangevinState, initial_state, start_position

__all__ = ["langevin"]


def langevin(
    potential_and_score: PotentialAndScore,
    *,
    step_size: float = 0.01,
    num_steps: int = 1,
    adjust: bool = False,
    num_warmup: int = 0,
    adapt_step_size: bool | None = None,
    adapt_mass_matrix: bool | None = None,
    dense_mass: bool = False,
    target_accept_prob: float = 0.574,
    inverse_mass_matrix: Any = None,
) -> tuple[Callable, Callable]:
    """Langevin dynamics as a pair of pure functions.

    One transition runs ``num_steps`` steps of ``z' = z + eta M s(z) + sqrt(2 eta) M^{1/2} xi``
    in one ``lax.scan`` (:func:`numpyro_cld.blocks.langevin_steps`); during the first
    ``num_warmup`` transitions the step size (dual averaging to ``target_accept_prob``) and
    the mass matrix (windowed Welford estimates) are adapted by NumPyro's ``warmup_adapter``.

    :param potential_and_score: ``f(x, rng_key) -> (U(x), s(x))`` on a flat ``x``
        (:mod:`numpyro_cld.sources`).
    :param float step_size: ``eta``; the initial value when adapted.
    :param int num_steps: Langevin steps per transition.
    :param bool adjust: Metropolis-Hastings test (MALA).
    :param int num_warmup: transitions of warmup adaptation.
    :param adapt_step_size: adapt ``eta`` in warmup (default and only possible with ``adjust``).
    :param adapt_mass_matrix: adapt the mass matrix in warmup (default ``adjust``).
    :param bool dense_mass: dense rather than diagonal mass matrix.
    :param float target_accept_prob: target of the step-size adaptation.
    :param inverse_mass_matrix: initial inverse mass matrix ``M`` (vector or matrix).
    :return: ``(init, step)`` with ``init(position, rng_key) -> LangevinState`` and
        ``step(rng_key, state) -> LangevinState``.

    **Example**

    .. doctest::

        >>> import jax, jax.numpy as jnp
        >>> from numpyro_cld.samplers import langevin
        >>> def potential_and_score(x, rng_key=None):  # N(0, I)
        ...     return 0.5 * jnp.sum(x**2), -x
        >>> init, step = langevin(potential_and_score, step_size=0.5, adjust=True)
        >>> state = init(jnp.zeros(3), jax.random.key(0))
        >>> def body(state, key):
        ...     state = step(key, state)
        ...     return state, state.z
        >>> _, zs = jax.lax.scan(body, state, jax.random.split(jax.random.key(1), 4000))
        >>> bool(abs(float(zs.var()) - 1.0) < 0.15)
        True
    """
    step_size = positive_float("step_size", step_size)
    num_steps = positive_int("num_steps", num_steps)
    target_accept_prob = open_unit("target_accept_prob", target_accept_prob)
    adjust = bool(adjust)
    adapt_step_size = adjust if adapt_step_size is None else bool(adapt_step_size) and adjust
    adapt_mass_matrix = adjust if adapt_mass_matrix is None else bool(adapt_mass_matrix)
    adapting = adapt_step_size or adapt_mass_matrix
    # adaptation at every Langevin step of warmup, so that `num_warmup` transitions give
    # num_warmup * num_steps updates (NumPyro's windows are laid out over the steps)
    wa_init, wa_update = warmup_adapter(
        num_warmup * num_steps,
        adapt_step_size=adapt_step_size,
        adapt_mass_matrix=adapt_mass_matrix,
        dense_mass=dense_mass,
        target_accept_prob=target_accept_prob,
    )

    def init(position: jax.Array, rng_key: jax.Array) -> LangevinState:
        position = start_position(position)
        pe, score = potential_and_score(position, rng_key)
        adapt_state = wa_init(
            (position,),
            rng_key,
            step_size,
            inverse_mass_matrix=_in_dtype(inverse_mass_matrix, position.dtype),
            mass_matrix_size=position.shape[0],
        )
        return initial_state(position, pe, score, adapt_state)

    # With no mass matrix given or adapted, M = I as a constant: the adapter's vector of ones
    # is a traced value, and multiplying by it costs about 4% of a ULA step on paper-gmm
    unit_mass = not adapt_mass_matrix and inverse_mass_matrix is None

    def move(rng_key, state):
        adapt = state.adapt_state
        new, info = langevin_steps(
            rng_key,
            StepState(state.z, state.potential_energy, -state.z_grad),
            potential_and_score,
            adapt.step_size,
            1.0 if unit_mass else adapt.mass_matrix_sqrt_inv,
            adjust=adjust,
            num_steps=num_steps,
        )
        return new, info, adapt

    def move_adapting(rng_key, state):
        def update(j, accept_prob, x, adapt):
            return wa_update(state.i * num_steps + j, accept_prob, (x,), adapt)

        return adaptive_langevin_steps(
            rng_key,
            StepState(state.z, state.potential_energy, -state.z_grad),
            potential_and_score,
            state.adapt_state,
            params=lambda adapt: (adapt.step_size, adapt.mass_matrix_sqrt_inv),
            update=update,
            adjust=adjust,
            num_steps=num_steps,
        )

    def step(rng_key: jax.Array, state: LangevinState) -> LangevinState:
        if adapting:
            warm = all_chains(state.i < num_warmup)
            new, info, adapt_state = lax.cond(warm, move_adapting, move, rng_key, state)
        else:
            new, info, adapt_state = move(rng_key, state)
        halted = stalled(adapt_state.step_size)
        diverging = stuck(info.num_diverging, info.accept_prob, adjust) | (halted > 0)
        return LangevinState(
            state.i + 1, new.x, new.potential_energy, -new.score, info.accept_prob,
            running_mean(state.mean_accept_prob, info.accept_prob, state.i, num_warmup),
            diverging, jnp.maximum(info.num_diverging, halted), adapt_state, state.rng_key,
        )  # fmt: skip

    return init, step


def _in_dtype(inverse_mass_matrix: Any, dtype: Any) -> Any:
    """The user's inverse mass matrix in the chain's dtype: the adapter's branches (warmup and
    after) return it, and a float32 matrix beside a float64 chain would differ in type."""
    return None if inverse_mass_matrix is None else jnp.asarray(inverse_mass_matrix, dtype)
