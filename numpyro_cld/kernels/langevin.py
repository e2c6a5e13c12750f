"""Vanilla Langevin dynamics (ULA) and MALA as a NumPyro kernel."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax, random
from jax.flatten_util import ravel_pytree

from numpyro.infer.hmc_util import warmup_adapter
from numpyro.infer.initialization import init_to_uniform

from .._validate import open_unit, positive_float, positive_int
from ..step import StepState, langevin_steps
from .base import LangevinBase


class LangevinState(NamedTuple):
    """State of :class:`Langevin`.

    - **i** - iteration; reset to 0 after warmup.
    - **z** - latent values (unconstrained) at the end of the transition.
    - **potential_energy** - ``U(z)``; 0 for a kernel built from ``score_fn``.
    - **z_grad** - ``grad U(z)`` (minus the score), with the structure of ``z``.
    - **accept_prob** - mean Metropolis acceptance probability over the ``num_steps``
      steps of this transition (1 for ULA, 0 for a step with a numerical fault).
    - **mean_accept_prob** - running mean of ``accept_prob`` over warmup or sampling.
    - **diverging** - whether any step of this transition met a non-finite position,
      potential or score (the faulty proposal was not taken).
    - **num_diverging** - how many steps of this transition were faults.
    - **adapt_state** - NumPyro's ``HMCAdaptState``: ``step_size`` (the Langevin ``eta``),
      ``inverse_mass_matrix``, ``mass_matrix_sqrt``, ``mass_matrix_sqrt_inv``, ...
    - **rng_key** - PRNG key for the next transition.
    """

    i: Any
    z: Any
    potential_energy: Any
    z_grad: Any
    accept_prob: Any
    mean_accept_prob: Any
    diverging: Any
    num_diverging: Any
    adapt_state: Any
    rng_key: Any


class Langevin(LangevinBase):
    r"""Langevin dynamics: the unadjusted Langevin algorithm (ULA) or, with ``adjust=True``,
    the Metropolis-adjusted Langevin algorithm (MALA).

    One transition runs ``num_steps`` steps of

    .. math::

        z' = z + \eta M \nabla \log p(z) + \sqrt{2\eta}\, M^{1/2} \xi,\qquad \xi\sim N(0, I)

    in a single ``lax.scan`` (no trajectory is stored, so very long runs cost no memory;
    ``num_steps`` thins). ``M`` is the inverse mass matrix. ULA is biased by ``O(eta)``:
    for ``N(0, s^2)`` its stationary law is ``N(0, s^2 / (1 - eta / (2 s^2)))``. MALA adds
    a Metropolis-Hastings test with the proposal densities
    ``q(z'|z) = N(z'; z + eta M s(z), 2 eta M)`` and is exact.

    A proposal whose position, potential or score is not finite is never taken: MALA
    rejects it (acceptance probability 0), ULA keeps the current state for that step;
    both set ``diverging``.

    **References:**

    1. *Exponential convergence of Langevin distributions and their discrete
       approximations*, G. O. Roberts, R. L. Tweedie (1996)
    2. *On the Mode-Seeking Properties of Langevin Dynamics*, X. Cheng, J. Fu, F. Farnia

    :param model: a NumPyro model with continuous latent sites.
    :param potential_fn: ``U(z) = -log p(z)`` on the pytree of ``init_params``.
    :param score_fn: ``z -> grad log p(z)`` with the structure of ``z`` (for learned scores
        with no density; ULA only).
    :param float step_size: ``eta``; the initial value when adapted (MALA only).
    :param int num_steps: Langevin steps per MCMC transition.
    :param bool adjust: use the Metropolis-Hastings test (MALA).
    :param bool adapt_step_size: with ``adjust=True``, dual-averaging adaptation of ``eta``
        to ``target_accept_prob`` during warmup. ULA never adapts its step size.
    :param float target_accept_prob: target of the adaptation (0.574 is optimal for MALA).
    :param adapt_mass_matrix: adapt the (diagonal or dense) mass matrix during warmup with
        NumPyro's Welford scheme; defaults to ``adjust``.
    :param bool dense_mass: dense rather than diagonal mass matrix.
    :param inverse_mass_matrix: initial inverse mass matrix ``M`` (vector or matrix).
    :param init_strategy: NumPyro per-site initialisation strategy.

    **Example**

    .. doctest::

        >>> import jax
        >>> import numpyro, numpyro.distributions as dist
        >>> from numpyro.infer import MCMC
        >>> from numpyro_cld import Langevin
        >>> def model():
        ...     numpyro.sample("x", dist.Normal(1.0, 2.0))
        >>> mcmc = MCMC(Langevin(model, adjust=True, num_steps=5), num_warmup=500,
        ...             num_samples=2000, progress_bar=False)
        >>> mcmc.run(jax.random.key(0))
        >>> abs(float(mcmc.get_samples()["x"].mean()) - 1.0) < 0.3
        True
    """

    def __init__(self, model=None, *, potential_fn=None, score_fn=None, step_size=0.01,
                 num_steps=1, adjust=False, adapt_step_size=True, target_accept_prob=0.574,
                 adapt_mass_matrix=None, dense_mass=False, inverse_mass_matrix=None,
                 init_strategy=init_to_uniform):
        super().__init__(model, potential_fn=potential_fn, score_fn=score_fn,
                         init_strategy=init_strategy)
        self._step_size = positive_float("step_size", step_size)
        self._num_steps = positive_int("num_steps", num_steps)
        self._adjust = bool(adjust)
        if self._adjust and score_fn is not None:
            raise ValueError(
                "`adjust=True` needs a density for the Metropolis test, but only `score_fn` "
                "was given; pass `model` or `potential_fn`, or use adjust=False (ULA)."
            )
        self._target_accept_prob = open_unit("target_accept_prob", target_accept_prob)
        self._adapt_step_size = bool(adapt_step_size) and self._adjust
        self._adapt_mass_matrix = (
            self._adjust if adapt_mass_matrix is None else bool(adapt_mass_matrix)
        )
        self._dense_mass = bool(dense_mass)
        self._inverse_mass_matrix = inverse_mass_matrix

    def get_diagnostics_str(self, state):
        return "step size {:.2e}. acc. prob={:.2f}".format(
            state.adapt_state.step_size, state.mean_accept_prob
        )

    def _init_one(self, rng_key, init_params, model_args, model_kwargs):
        rng_key, key_wa = random.split(rng_key)
        x = ravel_pytree(init_params)[0]
        pe, score = self._source(model_args, model_kwargs)(x, key_wa)
        wa_init, self._wa_update = warmup_adapter(
            self._num_warmup,
            adapt_step_size=self._adapt_step_size,
            adapt_mass_matrix=self._adapt_mass_matrix,
            dense_mass=self._dense_mass,
            target_accept_prob=self._target_accept_prob,
        )
        adapt_state = wa_init((x,), key_wa, self._step_size,
                              inverse_mass_matrix=self._inverse_mass_matrix,
                              mass_matrix_size=x.shape[0])
        zero = jnp.zeros((), jnp.result_type(x))
        return LangevinState(
            jnp.array(0), init_params, pe, self._unravel_fn(-score), zero, zero,
            jnp.array(False), jnp.array(0, jnp.int32), adapt_state, rng_key,
        )

    def _sample_one(self, state, model_args, model_kwargs):
        source = self._source(model_args, model_kwargs)
        adapt_state = state.adapt_state
        rng_key, key_steps = random.split(state.rng_key)
        x = ravel_pytree(state.z)[0]
        score = -ravel_pytree(state.z_grad)[0]
        new, info = langevin_steps(
            key_steps, StepState(x, state.potential_energy, score), source,
            adapt_state.step_size, adapt_state.mass_matrix_sqrt_inv,
            adjust=self._adjust, num_steps=self._num_steps,
        )
        if self._adapt_step_size or self._adapt_mass_matrix:
            adapt_state = lax.cond(
                state.i < self._num_warmup,
                lambda s: self._wa_update(state.i, info.accept_prob, (new.x,), s),
                lambda s: s,
                adapt_state,
            )
        return LangevinState(
            state.i + 1, self._unravel_fn(new.x), new.potential_energy,
            self._unravel_fn(-new.score), info.accept_prob,
            self._mean_accept_prob(state, info.accept_prob), info.diverging,
            info.num_diverging, adapt_state, rng_key,
        )

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_wa_update", None)
        return state
