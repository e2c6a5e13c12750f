"""The Langevin update, written once and shared by every kernel.

Convention (see ``docs/convention.md``)::

    z' = z + eta * M * s(z) + sqrt(2 * eta) * M^{1/2} * xi,    xi ~ N(0, I)

with ``s = -grad U`` the score and ``M`` the inverse mass matrix. ``M`` is given by its
square-root factor ``A`` (NumPyro's ``mass_matrix_sqrt_inv``) with ``M = A^T A``: a vector
for a diagonal ``M``, a matrix for a dense one. The update is written in whitened
coordinates ``w = eta * A s + sqrt(2 eta) xi``, ``z' = z + A^T w``. The MALA test uses the
log ratio of the two proposal densities expanded, with ``D = z' - z``::

    log q(z | z') - log q(z' | z) = -D . (s + s') / 2 + eta / 4 * (|A s|^2 - |A s'|^2)

(the ``|D|^2`` terms cancel): no inverse of ``M``, no solve, and no pass over the noise.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax, random
from jax.typing import ArrayLike

from ..checks import concrete_in, positive_int
from .random import step_draws

__all__ = [
    "StepState",
    "StepInfo",
    "adaptive_langevin_steps",
    "langevin_step",
    "langevin_steps",
    "stuck",
]

MAX_DELTA_ENERGY = 1000.0
"""A Metropolis proposal whose log acceptance ratio is below ``-MAX_DELTA_ENERGY`` is a
divergence, as an energy error above ``max_delta_energy`` is for NumPyro's HMC and NUTS."""

STUCK_ACCEPT_PROB = 0.1
"""A block of Metropolis-adjusted steps with a divergent proposal and a mean acceptance
probability below this could not move at its step size: the transition is flagged
``diverging`` (see :func:`stuck`)."""

PotentialAndScore = Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]
"""``f(x, rng_key) -> (potential, score)`` on a flat vector ``x``. Sources without a
density return a potential of 0; the key serves Monte-Carlo score estimators."""


class StepState(NamedTuple):
    """Carry of the Langevin update.

    - **x** - flat position.
    - **potential_energy** - ``U(x)`` (0 for score-only sources).
    - **score** - ``s(x) = -grad U(x)``.
    """

    x: jax.Array
    potential_energy: jax.Array
    score: jax.Array


class StepInfo(NamedTuple):
    """What one step (or a run of steps) reports.

    - **accept_prob** - MH acceptance probability (1 for an unadjusted step, 0 on a fault).
    - **diverging** - the proposal had a non-finite position, potential or score (it is never
      taken), or its log Metropolis ratio was below ``-MAX_DELTA_ENERGY`` (NumPyro's
      divergence).
    - **num_diverging** - how many steps of the run diverged.
    """

    accept_prob: jax.Array
    diverging: jax.Array
    num_diverging: jax.Array


def stuck(num_diverging: jax.Array, accept_prob: jax.Array, adjust: bool) -> jax.Array:
    """Whether a block of steps *diverged* in NumPyro's sense: it met a region the chain cannot
    explore at its step size, a risk of bias. A MALA step is a one-step HMC trajectory, and
    with many of them a transition, one rejected proposal with a huge energy error is routine
    in a healthy run (non-centred eight schools: 1 transition in 4 has one, at acceptance 0.47);
    what marks a funnel's neck is that the chain also cannot move there (flagged transitions of
    the centred model accept 0.03-0.06; ``docs/reliability.md``). So a block is flagged when
    a proposal diverged *and* its mean acceptance is below :data:`STUCK_ACCEPT_PROB`; without a
    Metropolis test (ULA) every non-finite proposal is a fault, flagged at once."""
    if not adjust:
        return num_diverging > 0
    return (num_diverging > 0) & (accept_prob < STUCK_ACCEPT_PROB)


def _scale(mass_sqrt_inv, v):
    return mass_sqrt_inv * v if jnp.ndim(mass_sqrt_inv) <= 1 else mass_sqrt_inv @ v


def _unscale(mass_sqrt_inv, w):
    return mass_sqrt_inv * w if jnp.ndim(mass_sqrt_inv) <= 1 else mass_sqrt_inv.T @ w


def langevin_step(
    rng_key: jax.Array,
    state: StepState,
    potential_and_score: PotentialAndScore,
    step_size: ArrayLike,
    mass_sqrt_inv: ArrayLike = 1.0,
    adjust: bool = False,
) -> tuple[StepState, StepInfo]:
    """One unadjusted (ULA) or Metropolis-adjusted (MALA) Langevin step.

    A proposal with a non-finite position, potential or score is never taken: MALA gives it
    acceptance probability 0, ULA keeps the current state; both set ``diverging``.

    :param rng_key: PRNG key.
    :param StepState state: current position with its potential and score.
    :param potential_and_score: ``f(x, key) -> (U(x), s(x))``.
    :param step_size: ``eta`` of the update.
    :param mass_sqrt_inv: ``A`` with ``M = A^T A`` (scalar, vector or matrix).
    :param bool adjust: add the Metropolis-Hastings test with the asymmetric Gaussian
        proposal densities ``q(z'|z) = N(z'; z + eta M s(z), 2 eta M)``.
    :return: ``(new_state, info)``.
    """
    _check_step_size(step_size)
    keys = _run_keys(rng_key)
    return _step(keys, 0, state, potential_and_score, step_size, mass_sqrt_inv, adjust)


def _check_step_size(step_size):
    # host-known values only (a Python number, a NumPy array): a traced one passes under jit
    concrete_in("step_size", step_size, 0.0, float("inf"), "a positive finite step size")


def _run_keys(rng_key):
    """``(noise, score)`` base keys of a run. Step ``i`` draws its noise and uniform from the
    noise key with ``i`` in the counter (:func:`~numpyro_cld.blocks.random.step_draws`, one
    RNG call per step) and folds ``i`` into the score key, which XLA drops for a
    deterministic score."""
    key_noise, key_score = random.split(rng_key)
    return key_noise, key_score


def _step(keys, i, state, potential_and_score, step_size, mass_sqrt_inv, adjust):
    key_noise, key_score = keys
    x, pe, score = state
    xi, u = step_draws(key_noise, i, jnp.shape(x), jnp.result_type(x), uniform=adjust)
    g = _scale(mass_sqrt_inv, score)
    x_new = x + _unscale(mass_sqrt_inv, step_size * g + jnp.sqrt(2 * step_size) * xi)
    pe_new, score_new = potential_and_score(x_new, random.fold_in(key_score, i))
    if adjust:
        # The expanded ratio of the module docstring as one sum, with (g - g')(g + g') for
        # |g|^2 - |g'|^2: one elementwise pass over D, s and s', one reduction, and no
        # cancellation between two large squared norms (the noise form xi_fwd, xi_rev cost
        # 17% more of a paper-gmm step)
        if jnp.ndim(mass_sqrt_inv) <= 1:
            m = jnp.square(mass_sqrt_inv)
            terms = (score + score_new) * (
                0.25 * step_size * m * (score - score_new) - 0.5 * (x_new - x)
            )
        else:
            g_new = mass_sqrt_inv @ score_new
            terms = 0.25 * step_size * (g - g_new) * (g + g_new) - 0.5 * (x_new - x) * (
                score + score_new
            )
        log_q_ratio = jnp.sum(terms)
        log_ratio = pe - pe_new + log_q_ratio
        # A non-finite x', U(x') or s(x') makes D, pe_new or s' non-finite, and with them
        # the log ratio (inf - inf and 0 * inf are NaN): checking the ratio checks all
        # three with no pass over the vectors beyond the test's own (9% of a paper-gmm step)
        finite = jnp.isfinite(log_ratio)
        accept_prob = jnp.where(finite, jnp.minimum(jnp.exp(log_ratio), 1.0), 0.0)
        accept = u < accept_prob
        # NumPyro's meaning: an energy error above max_delta_energy is a divergence
        diverging = ~finite | (log_ratio < -MAX_DELTA_ENERGY)
    else:
        # A sum is non-finite if a term is, or if finite terms overflow (which is a fault
        # too): one reduction each checks position, potential and score, and XLA fuses the
        # score's into the gradient (x * 0 + s * 0 cost 12% of a paper-gmm step)
        finite = jnp.isfinite(pe_new + jnp.sum(score_new) + jnp.sum(x_new))
        accept_prob = finite.astype(jnp.result_type(x))
        accept = finite
        diverging = ~finite
    new = StepState(
        jnp.where(accept, x_new, x),
        jnp.where(accept, pe_new, pe),
        jnp.where(accept, score_new, score),
    )
    return new, StepInfo(accept_prob, diverging, diverging.astype(jnp.int32))


def langevin_steps(
    rng_key: jax.Array,
    state: StepState,
    potential_and_score: PotentialAndScore,
    step_size: ArrayLike,
    mass_sqrt_inv: ArrayLike = 1.0,
    *,
    adjust: bool = False,
    num_steps: int | jax.Array = 1,
) -> tuple[StepState, StepInfo]:
    """``num_steps`` Langevin steps in one ``lax.scan``; no trajectory is stored. A traced
    ``num_steps`` (chosen at run time, the same in every chain of a ``vmap``) runs them in a
    ``lax.fori_loop``.

    :return: the final state and a :class:`StepInfo` whose ``accept_prob`` is the mean over
        the steps, ``diverging`` whether any step was a fault and ``num_diverging`` the count.
    """
    traced = isinstance(num_steps, jax.Array)
    if not traced:
        positive_int("num_steps", num_steps)
    _check_step_size(step_size)
    if not traced and num_steps == 1:
        return langevin_step(rng_key, state, potential_and_score, step_size, mass_sqrt_inv, adjust)

    def body(carry, i):
        state, accept_sum, num_diverging = carry
        # keys derived in the loop and step infos summed in the carry, so that memory does
        # not grow with num_steps (a stacked info per step is 9 bytes x steps x chains)
        state, info = _step(
            base_keys,
            i,
            state,
            potential_and_score,
            step_size,
            mass_sqrt_inv,
            adjust,
        )
        return (state, accept_sum + info.accept_prob, num_diverging + info.num_diverging), None

    base_keys = _run_keys(rng_key)
    zero = jnp.zeros((), jnp.result_type(state.x))
    # int32 also under x64, so the count's dtype is the same in and out of the carry
    init = (state, zero, jnp.zeros((), jnp.int32))
    if traced:
        carry = lax.fori_loop(0, num_steps, lambda i, c: body(c, i)[0], init)
    else:
        carry = lax.scan(body, init, jnp.arange(num_steps))[0]
    state, accept_sum, num_diverging = carry
    return state, StepInfo(accept_sum / num_steps, num_diverging > 0, num_diverging)


def adaptive_langevin_steps(
    rng_key: jax.Array,
    state: StepState,
    potential_and_score: PotentialAndScore,
    adapt_state: Any,
    *,
    params: Callable[[Any], tuple[ArrayLike, ArrayLike]],
    update: Callable[[jax.Array, jax.Array, jax.Array, Any], Any],
    adjust: bool = False,
    num_steps: int = 1,
) -> tuple[StepState, StepInfo, Any]:
    """:func:`langevin_steps` that adapts while it moves: step ``j`` uses
    ``(step_size, mass_sqrt_inv) = params(adapt_state)`` and is followed by
    ``adapt_state = update(j, accept_prob, state, adapt_state)`` (``state`` the new
    :class:`StepState`) (warmup adaptation at every
    Langevin step, as NUTS adapts at every trajectory). Step ``j`` draws what step ``j`` of
    :func:`langevin_steps` draws.

    :return: ``(state, info, adapt_state)`` after the ``num_steps`` steps.
    """

    def body(carry, j):
        state, adapt, accept_sum, num_diverging = carry
        step_size, mass_sqrt_inv = params(adapt)
        state, info = _step(
            base_keys, j, state, potential_and_score, step_size, mass_sqrt_inv, adjust
        )
        adapt = update(j, info.accept_prob, state, adapt)
        accept_sum, num_diverging = (
            accept_sum + info.accept_prob,
            num_diverging + info.num_diverging,
        )
        return (state, adapt, accept_sum, num_diverging), None

    base_keys = _run_keys(rng_key)
    zero = jnp.zeros((), jnp.result_type(state.x))
    init = (state, adapt_state, zero, jnp.zeros((), jnp.int32))
    (state, adapt_state, accept_sum, num_diverging), _ = lax.scan(body, init, jnp.arange(num_steps))
    info = StepInfo(accept_sum / num_steps, num_diverging > 0, num_diverging)
    return state, info, adapt_state
