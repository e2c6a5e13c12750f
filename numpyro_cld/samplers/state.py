"""The state of every sampler, documented once."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["LangevinState", "chain_dtype", "initial_state", "start_position"]


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
    - **diverging** - whether the transition diverged in NumPyro's sense: a block of its
      steps (the transition, a patch, a level) had a divergent proposal and accepted under
      10% of its proposals (:func:`~numpyro_cld.blocks.step.stuck`; ULA: any divergent
      proposal), or a step size was adapted below ``1e-8``.
    - **num_diverging** - how many proposals of the transition diverged: a non-finite
      position, potential or score (not taken), or a log acceptance ratio below ``-1000``
      (NumPyro's ``max_delta_energy``).
    - **adapt_state** - what the sampler adapts or records: NumPyro's ``HMCAdaptState`` for
      :func:`~numpyro_cld.samplers.langevin` (``step_size``, ``inverse_mass_matrix``,
      ``mass_matrix_sqrt_inv``, ...), a :class:`~numpyro_cld.blocks.PatchAdaptState` for
      :func:`~numpyro_cld.samplers.chained` and an
      :class:`~numpyro_cld.samplers.AnnealedAdaptState` for
      :func:`~numpyro_cld.samplers.annealed`.
    - **rng_key** - PRNG key of the next transition (kept by the kernels; the functional
      samplers take keys explicitly and leave it as it is).
    - **num_steps** - Langevin steps (gradient evaluations) the transition ran, as NUTS's
      ``num_steps`` (usable in ``extra_fields``; :func:`~numpyro_cld.samplers.langevin`
      only, else None).
    - **thinning** - a :class:`~numpyro_cld.blocks.thinning.ThinningState` where the steps
      per transition are chosen in warmup (``num_steps=None``), else None.
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
    num_steps: Any = None
    thinning: Any = None


def initial_state(
    position: Any, potential_energy: Any, score: Any, adapt_state: Any, **fields: Any
) -> LangevinState:
    """The state before the first transition: counters and acceptances at zero (``fields``:
    the optional ones, e.g. ``num_steps``)."""
    zero = jnp.zeros((), jnp.result_type(position))
    return LangevinState(
        jnp.array(0), position, potential_energy, -score, zero, zero, jnp.array(False),
        jnp.array(0, jnp.int32), adapt_state, **fields,
    )  # fmt: skip


def chain_dtype(dtype: Any) -> Any:
    """The dtype a chain started at values of ``dtype`` runs in: at least the default float
    type (float64 under ``jax_enable_x64``, else float32). The samplers' step sizes, levels
    and adaptation are in that type, so a float32 (or integer) start under x64 would change
    type in the first step, which a ``lax.scan`` carry cannot; an upcast loses nothing."""
    return jnp.promote_types(dtype, jnp.result_type(float))


def start_position(position: Any) -> Any:
    """``position`` (an array or a pytree of arrays) in its chain's dtype."""
    return jax.tree.map(lambda a: jnp.asarray(a, chain_dtype(jnp.result_type(a))), position)
