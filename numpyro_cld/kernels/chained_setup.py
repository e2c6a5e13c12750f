"""What a :class:`~numpyro_cld.ChainedLangevin` runs on a model: the checks of its
arguments, the patch layout in the model's site order and where its prefix conditionals come
from (a user source, a prefix potential, or exact marginals of the model)."""

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from jax.flatten_util import ravel_pytree

from ..blocks.patches import PatchLayout, patch_layout
from ..sources.model_prefix import (
    NotExactError,
    latent_sites,
    model_prefix,
    model_trace,
    site_permutation,
)
from ..sources.protocol import PrefixSource

__all__ = [
    "check_betas",
    "check_prefix_args",
    "check_tempered",
    "choose_conditional",
    "model_layout",
    "prefix_kind",
    "tempered_refresh",
    "tempered_sampler",
    "tempered_unavailable",
]


def model_layout(
    model: Callable | None,
    model_args: tuple,
    model_kwargs: dict,
    one_params: Any,
    *,
    patch_size: int,
    blocks: Sequence | None,
) -> PatchLayout:
    """The patches of one chain's latent pytree ``one_params``, in the model's site order."""
    dim = ravel_pytree(one_params)[0].shape[0]
    slices, perm = {}, None
    if model is not None:
        sites = latent_sites(model_trace(model, model_args, model_kwargs))
        slices = {s.name: (s.offset, s.size) for s in sites}
        perm = site_permutation(sites)
    return patch_layout(dim, patch_size=patch_size, blocks=blocks, site_slices=slices, perm=perm)


def check_prefix_args(
    conditional, order, sigmas, adjust, score_fn, prefix_source, prefix_potential
) -> None:
    """The constructor arguments of the sweep must agree with each other."""
    if prefix_source is not None and prefix_potential is not None:
        raise ValueError("Give at most one of `prefix_source` and `prefix_potential`.")
    if prefix_source is not None and not isinstance(prefix_source, PrefixSource):
        raise TypeError(
            "`prefix_source` must follow numpyro_cld.sources.PrefixSource (init_context, "
            f"advance, potential_and_score, has_density); got {type(prefix_source).__name__}."
        )
    if prefix_potential is not None and not callable(prefix_potential):
        raise TypeError("`prefix_potential` must be callable f(x, n) -> -log p(x_<n).")
    user_prefix = prefix_source is not None or prefix_potential is not None
    if conditional == "full" and user_prefix:
        raise ValueError(
            "`conditional='full'` does not use `prefix_source` or "
            "`prefix_potential`; use conditional='prefix' or drop them."
        )
    if conditional == "full" and sigmas is not None and not isinstance(sigmas, str):
        raise ValueError(
            "`sigmas` (Chained-ALD) needs conditional='prefix': the full "
            "conditional has no exact smoothed score; use AnnealedLangevin."
        )
    if order == "random" and conditional == "prefix":
        raise ValueError(
            "`order='random'` needs conditional='full': the prefix sweep "
            "must visit the patches in coordinate order."
        )
    if adjust and score_fn is not None and prefix_source is None:
        raise ValueError(
            "`adjust=True` needs a density for the Metropolis test, but only "
            "`score_fn` was given; pass `model` or `potential_fn`."
        )
    if adjust and prefix_source is not None and not prefix_source.has_density:
        raise ValueError(
            "`adjust=True` needs a prefix source with a density "
            "(`has_density=True`); this one has none."
        )


def prefix_kind(
    layout, model, model_args, model_kwargs, prefix_source, prefix_potential, patch_size
) -> str:
    """Where the prefix conditionals come from (``"user"``, ``"potential"``, ``"gaussian"`` or
    ``"masked"``); raises :class:`NotExactError` with the reason when there are none."""
    if not layout.contiguous:
        raise NotExactError("the blocks are not consecutive ranges in coordinate order")
    if prefix_source is not None:
        ps = getattr(prefix_source, "patch_size", None)
        if ps is not None and patch_size is not None and ps != patch_size:
            raise ValueError(
                f"`prefix_source` was built for patch_size {ps}, but the "
                f"kernel has `patch_size`={patch_size}."
            )
        # a source knows its dimension as `dim` (potential, network) or by its means
        locs = getattr(prefix_source, "locs", None)
        dim = getattr(prefix_source, "dim", None if locs is None else np.shape(locs)[-1])
        if dim is not None and int(dim) != layout.dim:
            raise ValueError(
                f"`prefix_source` was built for dimension {int(dim)}, but the model's latent "
                f"vector has {layout.dim} coordinates."
            )
        return "user"
    if prefix_potential is not None:
        return "potential"
    if model is None:
        raise NotExactError(
            "the target is given as a `potential_fn`/`score_fn`, which says nothing about marginals"
        )
    return model_prefix(model, model_args, model_kwargs, starts=layout.starts)[1]


def choose_conditional(
    layout: PatchLayout,
    conditional: str,
    *,
    explicit_levels: bool,
    order: str,
    prefix: Callable[[], str],
    tempered_ok: Callable[[], bool] = lambda: False,
) -> tuple[str, str | None]:
    """The sweep a :class:`~numpyro_cld.ChainedLangevin` runs and where its prefix
    conditionals come from: ``("prefix", kind)``, ``("tempered", None)`` or ``("full",
    None)``. ``prefix()`` is :func:`prefix_kind` for this model; where it finds no exact
    prefix marginals, ``"auto"`` runs the tempered route where ``tempered_ok()`` (a model with
    data and a prior to draw from) and falls back to the full sweep otherwise, each with a
    one-line warning, while
    ``conditional="prefix"`` or explicit ``sigmas`` raise."""
    if layout.dim == 0:  # nothing to sweep (the state passes through unchanged)
        return "full", None
    if conditional == "full":
        return "full", None
    try:
        kind = prefix()
    except NotExactError as e:
        if conditional == "prefix" or explicit_levels:
            raise ValueError(
                f"conditional='prefix' needs exact prefix marginals, but {e}. Use "
                "conditional='full' (exact Metropolis-within-Gibbs with adjust=True, "
                "not mode-finding) or pass a `prefix_potential`/`prefix_source`."
            ) from None
        if tempered_ok():
            warnings.warn(
                "ChainedLangevin: a model with data (no exact prefix conditionals): running "
                "conditional='tempered', replica exchange over likelihood powers anchored at "
                "exact prior draws, the full sweep at the posterior (exact; finds the modes of "
                "the posterior, docs/posteriors.md). conditional='full' runs the sweep alone.",
                UserWarning,
                stacklevel=6,
            )
            return "tempered", None
        warnings.warn(
            f"ChainedLangevin: no exact prefix conditionals ({e}). Running the "
            "full-conditional sweep instead: exact (Metropolis-within-Gibbs) but as "
            "mode-seeking as vanilla Langevin, so modes far from the start may be "
            "missed. Pass `prefix_potential` or `prefix_source` for the mode-finding "
            "prefix sweep, or conditional='full' to silence this.",
            UserWarning,
            stacklevel=6,
        )
        return "full", None
    if order == "random":
        raise ValueError(
            "`order='random'` needs conditional='full': the prefix "
            "sweep must visit the patches in coordinate order."
        )
    return "prefix", kind


def check_betas(betas: Any) -> tuple[np.ndarray, bool]:
    """The ladder of ``conditional="tempered"`` (``0`` first, ``1`` last) and whether warmup
    adapts it: an int ``n`` gives ``n`` powers geometric from 1e-3 to 1 (adapted), a
    sequence the positive powers themselves (kept as given)."""
    if isinstance(betas, (int, np.integer)) and not isinstance(betas, bool):
        n = int(betas)
        if n < 1:
            raise ValueError(f"`betas` must be a positive number of powers, got {n}.")
        return np.concatenate([[0.0], np.geomspace(1e-3, 1.0, n)]), True
    try:
        b = np.asarray(betas, np.float64)
    except (TypeError, ValueError):
        b = np.zeros((0, 0))
    if b.ndim != 1 or b.size == 0 or not np.all(np.isfinite(b)):
        raise ValueError(
            f"`betas` must be an int (the number of powers) or a 1-d sequence of likelihood "
            f"powers, got {betas!r}."
        )
    if not (np.all(np.diff(b) > 0) and b[0] > 0 and b[-1] == 1.0):
        raise ValueError(
            f"`betas` must increase strictly within (0, 1] and end at 1, got {b.tolist()}."
        )
    return np.concatenate([[0.0], b]), False


def tempered_unavailable(model, model_args, model_kwargs) -> str | None:
    """Why ``conditional="tempered"`` cannot run on this target, or None: it needs a model
    with observed sites whose prior can be drawn by running it forward."""
    from jax import random

    from ..sources.tempered import prior_sample_error

    if model is None:
        return (
            "needs a `model`: it splits prior and likelihood and draws from the prior, which "
            "a `potential_fn` or `score_fn` does not allow"
        )
    tr = model_trace(model, model_args, model_kwargs)
    if not any(s["type"] == "sample" and s["is_observed"] for s in tr.values()):
        return (
            "tempers the likelihood, but this model has no observed sites; its prior is the "
            "target (use conditional='auto')"
        )
    why = prior_sample_error(model, random.key(0), model_args, model_kwargs)
    return None if why is None else f"draws the prior by running the model forward, but {why}"


def check_tempered(model, model_args, model_kwargs) -> None:
    """Raise where :func:`tempered_unavailable` says why."""
    why = tempered_unavailable(model, model_args, model_kwargs)
    if why is not None:
        raise ValueError(f"conditional='tempered' {why}.")


def tempered_sampler(
    model, model_args, model_kwargs, make_local, ladder, *, make_target, num_warmup
):
    """:func:`~numpyro_cld.samplers.tempering.replica_exchange` bound to ``model``."""
    from jax import random

    from ..samplers.tempering import replica_exchange
    from ..sources.tempered import tempered_model

    betas, adapt = ladder
    tm = tempered_model(model, random.key(0), model_args, model_kwargs)
    return replica_exchange(
        make_local,
        tm.potential_and_score,
        tm.log_likelihood,
        tm.prior_sample,
        betas=betas,
        make_target=make_target,
        num_warmup=num_warmup,
        adapt_betas=adapt,
    )


def tempered_refresh(model, model_args, model_kwargs, state):
    """A flat replica-exchange ``state`` with every replica's cached potential, score and
    log-likelihood recomputed for new model arguments (``numpyro.infer.Gibbs`` moves the
    other blocks' sites between transitions)."""
    import jax
    import jax.numpy as jnp
    from jax import random

    from ..samplers.tempering import refreshed
    from ..sources.tempered import tempered_model

    tm = tempered_model(model, random.key(0), model_args, model_kwargs)
    a = state.adapt_state
    hot = [] if a.hot is None else [a.hot.z]
    z = jnp.concatenate([a.prior_z[None], *hot, state.z[None]])
    state = state._replace(adapt_state=a._replace(log_likelihood=jax.vmap(tm.log_likelihood)(z)))
    return refreshed(state, z, lambda b: lambda x, key=None: tm.potential_and_score(x, b, key))
