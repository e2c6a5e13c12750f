"""What an :class:`~numpyro_cld.AnnealedLangevin` anneals over: the levels of its path (given,
the paper's defaults, or ``sigmas="auto"`` from the model's draws). Their step sizes are
:func:`~numpyro_cld.schedules.path_step_sizes`."""

import warnings
from collections.abc import Callable

import jax

from ..checks import user_stacklevel
from ..schedules import (
    annealed_sigmas,
    check_lambdas,
    check_sigmas,
    ncsn_sigmas,
    vp_lambdas,
)
from ..sources.model_prefix import model_draws

__all__ = ["auto_sigmas", "path_levels"]


def path_levels(path: str, sigmas, lambdas, base) -> tuple[jax.Array, bool]:
    """``(levels, auto)``: the checked levels of ``path`` and whether ``sigmas`` is
    ``"auto"`` (then ``levels`` is its fallback, the paper's schedule, until
    :func:`auto_sigmas` replaces it at init)."""
    # constants, also when the kernel is built inside the user's jit
    with jax.ensure_compile_time_eval():
        if path == "ve":
            if lambdas is not None:
                raise ValueError(
                    "`lambdas` is for paths 'vp'/'tempered'; path 've' takes `sigmas`."
                )
            if sigmas is None:
                # one meaning per value across the kernels: None is "no annealing" in
                # ChainedLangevin, so here it is on its way out
                warnings.warn(
                    "AnnealedLangevin: `sigmas=None` means sigmas='auto' here (levels from "
                    "the target's scale) but 'no annealing' in ChainedLangevin; pass "
                    "sigmas='auto'. None will be refused on path 've' in version 0.3.0.",
                    FutureWarning,
                    stacklevel=user_stacklevel(),
                )
            auto = sigmas is None or (isinstance(sigmas, str) and sigmas == "auto")
            if isinstance(sigmas, str) and not auto:
                raise ValueError(
                    f"`sigmas` must be 'auto', None or a sequence of levels, got {sigmas!r}."
                )
            if not (isinstance(base, str) and base == "gaussian"):
                raise ValueError(
                    "`base` applies to paths 'vp'/'tempered'; path 've' adds Gaussian noise."
                )
            return (ncsn_sigmas() if auto else check_sigmas(sigmas)), auto
        if sigmas is not None and not (isinstance(sigmas, str) and sigmas == "auto"):
            raise ValueError(f"`sigmas` is for path 've'; path {path!r} takes `lambdas`.")
        tempered = path == "tempered"
        levels = vp_lambdas() if lambdas is None else check_lambdas(lambdas, allow_zero=tempered)
        return levels, False


def auto_sigmas(model: Callable, model_args: tuple, model_kwargs: dict) -> jax.Array | None:
    """``sigmas="auto"`` on a model: :func:`~numpyro_cld.schedules.annealed_sigmas` of 256
    draws of its latent sites (:func:`~numpyro_cld.sources.model_draws`); ``None`` (with a
    warning: the paper's schedule stays) when a latent site cannot be sampled."""
    try:
        with jax.ensure_compile_time_eval():  # init may run under jit/vmap
            draws = model_draws(model, model_args, model_kwargs)
    except NotImplementedError:  # a site with no sampler (ImproperUniform)
        warnings.warn(
            "AnnealedLangevin: sigmas='auto' cannot draw from this model (a latent site has "
            "no sampler, e.g. ImproperUniform); using the paper's ncsn_sigmas(1, 0.01, 10). "
            "Pass `sigmas` set to the target's scale.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
        return None
    with jax.ensure_compile_time_eval():
        return check_sigmas(annealed_sigmas(draws))
