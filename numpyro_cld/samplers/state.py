"""The state of every sampler, documented once."""

from typing import Any, NamedTuple

import jax.numpy as jnp

__all__ = ["LangevinState", "initial_state"]


class LangevinState(NamedTuple):
    """State of a Langevin chain: of the functional samplers (:mod:`numpyro_cld.samplers`,
    flat arrays) and of the :class:`~numpyro.infer.mcmc.MCMCKernel` classes (pytrees shaped
    like the model's latent sites).

    - **i** - iteration (transition) counter.
    - **z** - latent values (unconstrained) at the end of the transition: a flat vector in
      the samplers, a dict of sites in the kernels.
    - **potential_energy** - ``U(z)`` of the target (of the last level for the annealed
      sampler; 0 for a score without density; a noisy estimate with Monte-Carlo smoothing).
    - **z_grad** - ``grad U(z)`` (minus the score), shaped like ``z``.
    - **accept_prob** - mean Metropolis acceptance probability over the Langevin steps of
      the transition (1 for unadjusted steps, 0 for a step with a numerical fault).
    - **mean_accept_prob** - running mean of ``accept_prob`` over warmup or sampling.
    - **diverging** - whether any step of the transition diverged: a non-finite position,
      potential or score (that proposal was not taken), a Metropolis proposal with log
      acceptance ratio below ``-1000`` (NumPyro's ``max_delta_energy``), or a step size
      adapted below ``1e-8``.
    - **num_diverging** - how many steps of the transition diverged.
    - **adapt_state** - what the sampler adapts or records: NumPyro's ``HMCAdaptState`` for
      :func:`~numpyro_cld.samplers.langevin` (``step_size``, ``inverse_mass_matrix``,
      ``mass_matrix_sqrt_inv``, ...), a :class:`~numpyro_cld.blocks.PatchAdaptState` for
      :func:`~numpyro_cld.samplers.chained` and an
      :class:`~numpyro_cld.samplers.AnnealedAdaptState` for
      :func:`~numpyro_cld.samplers.annealed`.
    - **rng_key** - PRNG key of the next transition (kept by the kernels; the functional
      samplers take keys explicitly and leave it as it is).
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
    rng_key: Any = None


def initial_state(
    position: Any, potential_energy: Any, score: Any, adapt_state: Any
) -> LangevinState:
    """The state before the first transition: counters and acceptances at zero."""
    zero = jnp.zeros((), jnp.result_type(position))
    return LangevinState(
        jnp.array(0), position, potential_energy, -score, zero, zero, jnp.array(False),
        jnp.array(0, jnp.int32), adapt_state,
    )  # fmt: skip
