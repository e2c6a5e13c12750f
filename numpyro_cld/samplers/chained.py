"""Functional core of chained Langevin dynamics (Cheng, Fu & Farnia): one transition is a
sweep over the patches of the latent vector.

:func:`chained` returns pure ``init`` / ``step`` functions over flat arrays
(``docs/functional.md``); :class:`numpyro_cld.ChainedLangevin` resolves the layout and the
prefix source from a NumPyro model and binds them.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax, random

from ..blocks.adaptation import (
    patch_adapt_end,
    patch_adapt_init,
    patch_da_update,
    patch_mass_update,
    patch_mass_windows,
    patch_step_scale,
    running_mean,
    stalled,
)
from ..blocks.patches import PatchLayout, patch_padding, scan_patches
from ..blocks.step import (
    PotentialAndScore,
    StepState,
    adaptive_langevin_steps,
    langevin_steps,
    stuck,
)
from ..checks import one_of, open_unit, positive_float, positive_int
from ..schedules import check_sigmas
from ..sources.protocol import PrefixSource
from .state import LangevinState, initial_state, start_position

__all__ = ["chained"]


def chained(
    layout: PatchLayout,
    potential_and_score: PotentialAndScore,
    *,
    prefix_source: PrefixSource | None = None,
    step_size: float = 0.1,
    sigmas: jax.Array | None = None,
    step_sizes: jax.Array | None = None,
    steps_per_patch: int = 20,
    adjust: bool = False,
    order: str = "sequential",
    num_warmup: int = 0,
    adapt_step_size: bool | None = None,
    adapt_mass_matrix: bool | None = None,
    target_accept_prob: float = 0.574,
) -> tuple[Callable, Callable]:
    """Chained Langevin dynamics as a pair of pure functions.

    Patch ``i`` of ``layout`` gets ``steps_per_patch`` Langevin steps (at each level of
    ``sigmas``, with ``eta_l = step_size sigma_l^2 / sigma_L^2``: Chained-ALD) with the score
    of its prefix conditional ``p(x_i | x_<i)`` from ``prefix_source`` (the prefix sweep,
    Chained-LD) or, without one, of its full conditional ``p(x_i | x_-i)`` from
    ``potential_and_score`` (the full sweep: Metropolis-within-Gibbs with ``adjust``). During
    the first ``num_warmup`` transitions each patch's step size (each level's, with
    ``sigmas``) is adapted by dual averaging (with ``adjust``).

    :param PatchLayout layout: the patches (:func:`numpyro_cld.blocks.patch_layout`).
    :param potential_and_score: ``f(x, rng_key) -> (U, s)`` of the whole target.
    :param prefix_source: a :class:`~numpyro_cld.sources.PrefixSource` over the same
        patches (site order); ``None`` for the full-conditional sweep.
    :param float step_size: ``eta`` (of the last level with ``sigmas``).
    :param sigmas: decreasing noise levels of Chained-ALD (prefix sweep only); the last may
        be 0 (the exact prefix conditional) when ``step_sizes`` is given.
    :param step_sizes: ``(L,)`` initial step size of each level, instead of the rule
        ``step_size * sigma_l^2 / sigma_L^2``. Each level's multiplier is adapted apart.
    :param int steps_per_patch: Langevin steps per patch (per level with ``sigmas``).
    :param bool adjust: Metropolis-Hastings test for every patch step.
    :param str order: ``"sequential"`` or ``"random"`` (full sweep only).
    :param int num_warmup: transitions of warmup adaptation.
    :param adapt_step_size: per-patch dual averaging in warmup (default ``adjust``).
    :param adapt_mass_matrix: a diagonal mass matrix estimated from the sweeps of NumPyro's
        middle warmup windows, each patch preconditioned by its coordinates' part (default:
        with ``adapt_step_size`` for the full sweep; not with ``sigmas``, whose smoothed
        levels differ in scale and adapt their step sizes per level instead). The prefix
        sweep may use one, but by default does not: its patch chains are not exact draws,
        and a faster-moving early patch leaves the later ones further behind (measured on a
        hierarchical model: variance 1.49 instead of 1.25 with it, 1.37 without).
    :param float target_accept_prob: target of the adaptation.
    :return: ``(init, step)`` with ``init(position, rng_key) -> LangevinState`` and
        ``step(rng_key, state) -> LangevinState``.
    """
    step_size = positive_float("step_size", step_size)
    steps_per_patch = positive_int("steps_per_patch", steps_per_patch)
    order = one_of("order", order, ("sequential", "random"))
    target_accept_prob = open_unit("target_accept_prob", target_accept_prob)
    adjust = bool(adjust)
    adapt_step_size = adjust if adapt_step_size is None else bool(adapt_step_size) and adjust
    if adapt_mass_matrix is None:
        adapt_mass_matrix = adapt_step_size and sigmas is None and prefix_source is None
    if adapt_mass_matrix and (sigmas is not None or not adjust):
        raise ValueError(
            "`adapt_mass_matrix=True` needs adjust=True and no `sigmas`: the smoothed levels "
            "of Chained-ALD differ in scale (their step sizes adapt per level instead)."
        )
    mass_windows = patch_mass_windows(num_warmup) if adapt_mass_matrix else None
    prefix = prefix_source is not None
    # the full sweep runs blocks of different sizes in one scan, padded (scan_patches)
    pad = 0 if prefix else patch_padding(layout)
    if sigmas is not None and not prefix:
        raise ValueError(
            "`sigmas` (Chained-ALD) needs a `prefix_source`: the full "
            "conditional has no exact smoothed score."
        )
    if order == "random" and prefix:
        raise ValueError(
            "`order='random'` needs the full sweep: the prefix sweep must visit "
            "the patches in coordinate order."
        )
    if sigmas is None:
        sigmas, etas, levels = np.zeros(1), step_size * np.ones(1), ()  # step_size may be traced
    else:  # NumPy: a kernel may bind it inside a trace (`jit_model_args`, a user's jit)
        sigmas = np.asarray(sigmas, np.float64)
        check_sigmas(sigmas, allow_zero_last=True)
        levels = sigmas.shape
        if isinstance(step_sizes, jax.core.Tracer):  # scaled from a step size the user traced
            etas = step_sizes
            if etas.shape != levels:
                raise ValueError(
                    f"`step_sizes` must hold {levels[0]} step sizes, one per level of "
                    f"`sigmas`, got shape {etas.shape}."
                )
        elif step_sizes is not None:
            etas = np.asarray(step_sizes, np.float64)
            if etas.shape != levels or not np.all(np.isfinite(etas) & (etas > 0)):
                raise ValueError(
                    f"`step_sizes` must hold {levels[0]} finite positive step sizes, one per "
                    f"level of `sigmas`, got {etas.tolist()}."
                )
        elif sigmas[-1] == 0:
            raise ValueError(
                "`sigmas` ending at 0 (the unsmoothed conditional) need explicit `step_sizes`: "
                "the rule eta_l = step_size sigma_l^2 / sigma_L^2 divides by sigma_L."
            )
        else:
            etas = step_size * sigmas**2 / sigmas[-1] ** 2

    def init(position: jax.Array, rng_key: jax.Array) -> LangevinState:
        position = start_position(position)
        pe, score = potential_and_score(position, rng_key)
        adapt_state = patch_adapt_init(
            layout.num_patches, jnp.result_type(position), levels, jnp.size(position)
        )
        return initial_state(position, pe, score, adapt_state)

    def step(rng_key: jax.Array, state: LangevinState) -> LangevinState:
        if layout.num_patches == 0:  # no latent coordinates: nothing moves
            one = jnp.ones((), jnp.result_type(state.z))
            return state._replace(
                i=state.i + 1,
                accept_prob=one,
                mean_accept_prob=running_mean(state.mean_accept_prob, one, state.i, num_warmup),
            )
        key_sweep, key_order, key_src = random.split(rng_key, 3)
        dtype = jnp.result_type(state.z)
        sigma_l, eta_l = jnp.asarray(sigmas, dtype), jnp.asarray(etas, dtype)
        warm = state.i < num_warmup
        if prefix:
            ctxs = jax.vmap(prefix_source.init_context)(sigma_l)
        else:
            ctxs = jnp.zeros(sigma_l.shape)

        def patch_step(carry, i, idx):
            x, ctxs, key, adapt = carry
            key, key_patch = random.split(key)
            # one multiplier per level: (L,) here, stored as () without sigmas
            scale = jnp.reshape(patch_step_scale(adapt, i, warm), (-1,))
            da = jax.tree.map(lambda a: jnp.reshape(a[i], (-1,)), adapt.da_state)
            mass = _padded(adapt.mass_sqrt_inv, pad, 1)[idx]
            x = _padded(x, pad, 0)

            def make_source(ctx, sigma):
                if prefix:
                    return lambda v, k: _checked_prefix(
                        prefix_source.potential_and_score(ctx, i, v, sigma), v
                    )

                def full_conditional(v, k):
                    pe, s = potential_and_score(x.at[idx].set(v)[: layout.dim], k)
                    return pe, _padded(s, pad, 0)[idx]  # padding slots: score 0

                return full_conditional

            def level_body(c, inp):
                xp, k = c
                eta, sigma, ctx, scale, da = inp
                k, k_init, k_steps = random.split(k, 3)
                fn = make_source(ctx, sigma)
                st = StepState(xp, *fn(xp, k_init))
                if not adapt_step_size:
                    st, info = langevin_steps(
                        k_steps, st, fn, eta * scale, mass, adjust=adjust,
                        num_steps=steps_per_patch,
                    )  # fmt: skip
                    return (st.x, k), (da, info.accept_prob, info.num_diverging)
                # dual averaging at every step of warmup (the multiplier is exp(da.x) then)
                st, info, da = adaptive_langevin_steps(
                    k_steps,
                    st,
                    fn,
                    da,
                    params=lambda da: (eta * jnp.where(warm, jnp.exp(da[0]), scale), mass),
                    update=lambda j, acc, _, da: patch_da_update(da, acc, target_accept_prob, warm),
                    adjust=adjust,
                    num_steps=steps_per_patch,
                )
                return (st.x, k), (da, info.accept_prob, info.num_diverging)

            (xp, _), (da, acc, ndiv) = lax.scan(
                level_body, (x[idx], key_patch), (eta_l, sigma_l, ctxs, scale, da)
            )
            if prefix:
                ctxs = jax.vmap(lambda c, s: prefix_source.advance(c, i, xp, s))(ctxs, sigma_l)
            da_state = jax.tree.map(
                lambda a, v: a.at[i].set(jnp.reshape(v, a.shape[1:])), adapt.da_state, da
            )
            x = x.at[idx].set(xp)[: layout.dim]
            carry = (x, ctxs, key, adapt._replace(da_state=da_state))
            # a patch that could not move at one of its levels flags the transition
            patch_stuck = jnp.any(stuck(ndiv, acc, adjust))
            return carry, (jnp.mean(acc), jnp.sum(ndiv, dtype=jnp.int32), patch_stuck)

        carry = (state.z, ctxs, key_sweep, state.adapt_state)
        (x, _, _, adapt_state), acc_patch, ndiv, patch_stuck = scan_patches(
            layout, patch_step, carry, order=order, rng_key=key_order, pad=not prefix
        )
        pe, score = potential_and_score(x, key_src)
        if adapt_step_size:
            adapt_state = patch_adapt_end(adapt_state, state.i, num_warmup)
        if mass_windows is not None:
            adapt_state = patch_mass_update(adapt_state, x, state.i, mass_windows)
        accept_prob = jnp.mean(acc_patch)
        halted = stalled(eta_l * adapt_state.step_scale)
        return LangevinState(
            state.i + 1, x, pe, -score, accept_prob,
            running_mean(state.mean_accept_prob, accept_prob, state.i, num_warmup),
            patch_stuck | (halted > 0), jnp.maximum(ndiv, halted), adapt_state,
            state.rng_key,
        )  # fmt: skip

    return init, step


def _checked_prefix(out, x_patch):
    """``(U, s)`` of a prefix source, whose shapes are static: a scalar ``U`` and ``s`` of the
    patch's shape (a score of another shape would be broadcast over the patch in silence)."""
    pe, s = out
    if jnp.shape(pe) != () or jnp.shape(s) != jnp.shape(x_patch):
        raise ValueError(
            "`prefix_source.potential_and_score(context, i, x_patch, level)` must return a "
            f"scalar potential and a score of the patch's shape {jnp.shape(x_patch)}, got "
            f"shapes {jnp.shape(pe)} and {jnp.shape(s)}."
        )
    return pe, s


def _padded(v, pad, fill):
    """``v`` with ``pad`` slots of ``fill`` appended (the padding of unequal blocks)."""
    return v if pad == 0 else jnp.concatenate([v, jnp.full((pad,), fill, v.dtype)])
