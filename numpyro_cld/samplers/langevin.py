"""Functional core of vanilla Langevin dynamics: ULA, or MALA with ``adjust=True``.

As NumPyro's :func:`~numpyro.infer.hmc.hmc` and BlackJAX's ``mala``, :func:`langevin` returns
pure ``init`` and ``step`` functions over flat arrays, usable under ``jax.jit`` / ``vmap`` and in
a user's own ``lax.scan`` (``docs/functional.md``). :class:`numpyro_cld.Langevin` binds them
to a NumPyro model.
"""

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ..blocks.adaptation import all_chains, langevin_adapter, running_mean, stalled
from ..blocks.step import (
    PotentialAndScore,
    StepState,
    adaptive_langevin_steps,
    langevin_steps,
    stuck,
)
from ..blocks.thinning import (
    MAX_STEPS,
    WARMUP_STEPS,
    chains_max,
    thinning_end,
    thinning_init,
    thinning_update,
    thinning_window,
)
from ..checks import open_unit, positive_float, positive_int
from .state import LangevinState, initial_state, start_position

__all__ = ["DENSE_MAX_DIM", "dense_by_default", "langevin"]

DENSE_MAX_DIM = 200
"""Up to this many coordinates MALA adapts a dense mass matrix by default (``Langevin``, the
posterior replica of the tempered route). Measured (``benchmarks/bench_geometry.py``,
``docs/defaults.md``): 5-620x the bulk ESS per gradient of a diagonal mass on rotated and
latent-state Gaussians (d = 10-100), 3.3x on logistic regression on digits (d = 55), 3.6-23x
on four regressions on real data (d = 11-31). Above it a step's ``d^2`` products and each
window's eigen-decompositions (``d^3``) cost more than the gradient of most models; at
d = 1000 on a rotated Gaussian (whose gradient is itself a ``d^2`` product) dense still gave
70x the ESS per gradient at 3x the wall time: pass ``dense_mass=True`` for a correlated
posterior above the threshold."""


def dense_by_default(dim: int) -> bool:
    """Whether a MALA over ``dim`` coordinates adapts a dense mass matrix by default."""
    return dim <= DENSE_MAX_DIM


def langevin(
    potential_and_score: PotentialAndScore,
    *,
    step_size: float = 0.01,
    num_steps: int | None = 1,
    adjust: bool = False,
    num_warmup: int = 0,
    adapt_step_size: bool | None = None,
    adapt_mass_matrix: bool | None = None,
    dense_mass: bool | None = None,
    target_accept_prob: float = 0.574,
    inverse_mass_matrix: Any = None,
) -> tuple[Callable, Callable]:
    """Langevin dynamics as a pair of pure functions.

    One transition runs ``num_steps`` steps of ``z' = z + eta M s(z) + sqrt(2 eta) M^{1/2} xi``
    in one ``lax.scan`` (:func:`numpyro_cld.blocks.langevin_steps`); during the first
    ``num_warmup`` transitions the step size (dual averaging to ``target_accept_prob``) and
    the mass matrix (windowed Welford estimates) are adapted by NumPyro's ``warmup_adapter``, its
    windows laid over the transitions (:func:`numpyro_cld.blocks.adaptation.langevin_adapter`).

    :param potential_and_score: ``f(x, rng_key) -> (U(x), s(x))`` on a flat ``x``
        (:mod:`numpyro_cld.sources`).
    :param float step_size: ``eta``; the initial value when adapted.
    :param num_steps: Langevin steps per transition; None: chosen in warmup from the
        draws' autocorrelation (:mod:`numpyro_cld.blocks.thinning`: warmup transitions of
        5 steps, sampling ones of 1 to 20, read from ``state.num_steps``; 20 without
        warmup).
    :param bool adjust: Metropolis-Hastings test (MALA).
    :param int num_warmup: transitions of warmup adaptation.
    :param adapt_step_size: adapt ``eta`` in warmup (default and only possible with ``adjust``).
    :param adapt_mass_matrix: adapt the mass matrix in warmup (default ``adjust``).
    :param dense_mass: dense rather than diagonal mass matrix; None: dense up to
        :data:`DENSE_MAX_DIM` coordinates (or the form of ``inverse_mass_matrix``).
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
    chosen = num_steps is None and num_warmup > 0  # the steps per draw chosen in warmup
    if num_steps is None:
        num_steps = WARMUP_STEPS if chosen else MAX_STEPS
    num_steps = positive_int("num_steps", num_steps)  # of every warmup transition if chosen
    window = thinning_window(num_warmup) if chosen else None
    target_accept_prob = open_unit("target_accept_prob", target_accept_prob)
    adjust = bool(adjust)
    adapt_step_size = adjust if adapt_step_size is None else bool(adapt_step_size) and adjust
    adapt_mass_matrix = adjust if adapt_mass_matrix is None else bool(adapt_mass_matrix)
    adapting = adapt_step_size or adapt_mass_matrix

    @functools.cache
    def adapter(dim: int) -> tuple[Callable, Callable]:
        # the mass matrix's form needs the dimension, known when the chain's state is traced
        dense = dense_mass
        if dense is None:
            given = inverse_mass_matrix is not None
            dense = jnp.ndim(inverse_mass_matrix) == 2 if given else dense_by_default(dim)
        return langevin_adapter(num_warmup, num_steps, adapt_step_size=adapt_step_size,
                                adapt_mass_matrix=adapt_mass_matrix, dense_mass=bool(dense),
                                target_accept_prob=target_accept_prob)  # fmt: skip

    def init(position: jax.Array, rng_key: jax.Array) -> LangevinState:
        position = start_position(position)
        pe, score = potential_and_score(position, rng_key)
        wa_init = adapter(position.shape[-1])[0]
        adapt_state = wa_init(
            position, rng_key, step_size, _in_dtype(inverse_mass_matrix, position.dtype)
        )
        thinning = thinning_init(position, num_steps) if chosen else None
        steps = jnp.zeros((), jnp.int32)
        return initial_state(position, pe, score, adapt_state, num_steps=steps, thinning=thinning)

    # With no mass matrix given or adapted, M = I as a constant: the adapter's vector of ones
    # is a traced value, and multiplying by it costs about 4% of a ULA step on paper-gmm
    unit_mass = not adapt_mass_matrix and inverse_mass_matrix is None

    def move(rng_key, state, num_steps=num_steps):
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
        def update(j, accept_prob, new, adapt):
            return adapter(state.z.shape[-1])[1](state.i, j, accept_prob, new, adapt)

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

    def warmup_move(rng_key, state):
        new, info, adapt = (move_adapting if adapting else move)(rng_key, state)
        thinning = state.thinning
        if chosen:
            pairs = (jnp.append(state.z, state.potential_energy),
                     jnp.append(new.x, new.potential_energy))  # fmt: skip
            thinning = thinning_update(thinning, state.i, window, *pairs)
            last = all_chains(state.i == window[1])
            end = functools.partial(thinning_end, window=window, warmup_steps=num_steps)
            thinning = lax.cond(last, end, lambda t: t, thinning)
        return new, info, adapt, thinning, jnp.array(num_steps, jnp.int32)

    def sampling_move(rng_key, state):
        # the chosen number is equal in every chain: the loop over steps stays one loop
        steps = chains_max(state.thinning.steps_per_draw) if chosen else num_steps
        new, info, adapt = move(rng_key, state, steps)
        return new, info, adapt, state.thinning, jnp.asarray(steps, jnp.int32)

    def step(rng_key: jax.Array, state: LangevinState) -> LangevinState:
        if adapting or chosen:
            warm = all_chains(state.i < num_warmup)
            moved = lax.cond(warm, warmup_move, sampling_move, rng_key, state)
        else:
            moved = sampling_move(rng_key, state)
        new, info, adapt_state, thinning, steps = moved
        halted = stalled(adapt_state.step_size)
        diverging = stuck(info.num_diverging, info.accept_prob, adjust) | (halted > 0)
        return LangevinState(
            state.i + 1, new.x, new.potential_energy, -new.score, info.accept_prob,
            running_mean(state.mean_accept_prob, info.accept_prob, state.i, num_warmup),
            diverging, jnp.maximum(info.num_diverging, halted), adapt_state, state.rng_key,
            steps, thinning,
        )  # fmt: skip

    return init, step


def _in_dtype(inverse_mass_matrix: Any, dtype: Any) -> Any:
    """The user's inverse mass matrix in the chain's dtype: the adapter's branches (warmup and
    after) return it, and a float32 matrix beside a float64 chain would differ in type."""
    return None if inverse_mass_matrix is None else jnp.asarray(inverse_mass_matrix, dtype)
