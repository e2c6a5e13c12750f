"""What a :class:`~numpyro_cld.ChainedLangevin` runs on a model: the checks of its
arguments, the patch layout in the model's site order and where its prefix conditionals come
from (a user source, a prefix potential, or exact marginals of the model)."""

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from jax.flatten_util import ravel_pytree

from ..blocks.patches import PatchLayout, patch_layout
from ..checks import user_stacklevel
from ..notes import say_once
from ..sources.model_prefix import (
    NotExactError,
    latent_sites,
    model_prefix,
    site_permutation,
)
from ..sources.protocol import PrefixSource

__all__ = [
    "check_adaptation_and_patches",
    "check_prefix_args",
    "check_smoothed_prefix",
    "choose_conditional",
    "mass_with_levels",
    "model_layout",
    "prefix_kind",
]


def model_layout(
    site_trace: dict | None, one_params: Any, *, patch_size: int, patches: Sequence | None
) -> PatchLayout:
    """The patches of one chain's latent pytree ``one_params``, in the site order of the
    model traced in ``site_trace`` (None for a ``potential_fn``/``score_fn``: raveled order)."""
    dim = ravel_pytree(one_params)[0].shape[0]
    slices, perm = {}, None
    if site_trace is not None:
        sites = latent_sites(site_trace)
        slices = {s.name: (s.offset, s.size) for s in sites}
        perm = site_permutation(sites)
    return patch_layout(dim, patch_size=patch_size, patches=patches, site_slices=slices, perm=perm)


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
    if conditional == "tempered" and (user_prefix or sigmas is not None):
        raise ValueError(
            "conditional='tempered' moves every replica by MALA (the posterior replica by "
            "the full sweep with sweep_posterior=True); it takes no `sigmas`, "
            "`prefix_source` or `prefix_potential`."
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
    layout,
    model,
    model_args,
    model_kwargs,
    prefix_source,
    prefix_potential,
    patch_size,
    site_trace=None,
) -> str:
    """Where the prefix conditionals come from (``"user"``, ``"potential"``, ``"gaussian"`` or
    ``"masked"``); raises :class:`NotExactError` with the reason when there are none."""
    if not layout.contiguous:
        raise NotExactError("the patches are not consecutive ranges in coordinate order")
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
    return model_prefix(model, model_args, model_kwargs, starts=layout.starts, trace_=site_trace)[1]


def choose_conditional(
    layout: PatchLayout,
    conditional: str,
    *,
    explicit_levels: bool,
    order: str,
    prefix: Callable[[], str],
    tempered_unavailable: Callable[[], str | None],
    tempered_reference: tuple[str, str | None] = ("prior", None),
) -> tuple[str, str | None]:
    """The sweep a :class:`~numpyro_cld.ChainedLangevin` runs and where its prefix
    conditionals come from: ``("prefix", kind)``, ``("tempered", None)`` or ``("full",
    None)``. ``prefix()`` is :func:`prefix_kind` for this model; where it finds no exact
    prefix marginals, ``"auto"`` runs the tempered route where ``tempered_unavailable()`` says
    nothing against it (a model with data and a prior to draw from) and falls back to the full
    sweep otherwise, each with a one-line warning; ``conditional="tempered"`` raises with its
    reason, as
    ``conditional="prefix"`` or explicit ``sigmas`` raise."""
    if layout.dim == 0:  # nothing to sweep (the state passes through unchanged)
        return "full", None
    if conditional == "full":
        return "full", None
    if conditional == "tempered":
        why = tempered_unavailable()
        if why is not None:
            raise ValueError(f"conditional='tempered' {why}.")
        return "tempered", None
    try:
        kind = prefix()
    except NotExactError as e:
        if conditional == "prefix" or explicit_levels:
            raise ValueError(
                f"conditional='prefix' needs exact prefix marginals, but {e}. Use "
                "conditional='full' (exact Metropolis-within-Gibbs with adjust=True, "
                "not mode-finding) or pass a `prefix_potential`/`prefix_source`."
            ) from None
        if tempered_unavailable() is None:
            say_once(
                f"route:tempered:{tempered_reference[0]}", _tempered_note(e, *tempered_reference)
            )
            return "tempered", None
        warnings.warn(
            f"ChainedLangevin: no exact prefix conditionals ({e}), and the tempered route "
            f"{tempered_unavailable()}. Running the full-conditional sweep instead: as "
            "mode-seeking as vanilla Langevin, so modes far from the start may be missed. "
            "Pass `prefix_potential` or `prefix_source` for the mode-finding prefix sweep, "
            "or conditional='full' to silence this.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
        return "full", None
    if order == "random":
        raise ValueError(
            "`order='random'` needs conditional='full': the prefix "
            "sweep must visit the patches in coordinate order."
        )
    return "prefix", kind


def _tempered_note(why_no_prefix, reference: str, why_not_prior: str | None) -> str:
    """The one line that names the tempered route ``"auto"`` takes, and what it costs."""
    if reference == "prior":
        laws = "likelihood powers from exact prior draws"
    else:
        laws = f"powers from a Gaussian reference fitted in warmup ({why_not_prior})"
    return (
        f"ChainedLangevin: no exact prefix conditionals ({why_no_prefix}): running "
        f"conditional='tempered', replica exchange over {laws}, whole-vector MALA at every "
        "power (exact; finds modes the start missed, docs/posteriors.md; a transition costs "
        "about 3 gradients per power and 7 at the posterior, 37 at 8 powers). "
        "conditional='full' runs the patch sweep alone."
    )


def check_adaptation_and_patches(adapt_mass_matrix, *, adapt_step_size, explicit_sigmas, patches):
    """A mass matrix needs the step sizes re-adapted after it and no explicit levels;
    ``patches`` must be a non-empty list."""
    if adapt_mass_matrix and not adapt_step_size:
        raise ValueError(
            "`adapt_mass_matrix=True` needs adjust=True and adapt_step_size=True: the "
            "step sizes are re-adapted after each new mass matrix."
        )
    if adapt_mass_matrix and explicit_sigmas:
        raise ValueError(
            "`adapt_mass_matrix=True` cannot be used with explicit `sigmas`: the smoothed "
            "levels differ in scale (their step sizes adapt per level instead)."
        )
    if patches is not None and (
        isinstance(patches, (str, bytes)) or not hasattr(patches, "__len__") or len(patches) == 0
    ):
        raise TypeError(
            "`patches` must be a non-empty list of site names or of integer index groups."
        )


def check_smoothed_prefix(kind: str) -> None:
    """Noise levels need a smoothed prefix conditional: a closed form (``"gaussian"``) or a
    user source, not masked exact marginals or a prefix potential."""
    if kind in ("masked", "potential"):
        what = (
            "this model's prefix marginals are exact only unsmoothed"
            if kind == "masked"
            else "`prefix_potential` has no smoothed score"
        )
        raise ValueError(
            "`sigmas` needs a smoothed prefix conditional, available in closed form for a "
            "single Gaussian or Gaussian-mixture site (or from a `prefix_source`); "
            f"{what}. Drop `sigmas`."
        )


def mass_with_levels(sigmas, adapt_mass_matrix):
    """``adapt_mass_matrix`` once the levels are known (``sigmas="auto"`` anneals some
    models and not others)."""
    if sigmas is None:
        return adapt_mass_matrix  # None: the sampler's default for this sweep
    if adapt_mass_matrix:
        raise ValueError(
            "`adapt_mass_matrix=True`: this model's prefix sweep is annealed "
            "(sigmas='auto'), and the smoothed levels differ in scale; pass sigmas=None "
            "for an unannealed sweep with a mass matrix."
        )
    return False
