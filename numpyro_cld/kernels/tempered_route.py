"""The tempered route of :class:`~numpyro_cld.ChainedLangevin` on a model with data: its
checks, and :func:`~numpyro_cld.samplers.replica_exchange` bound to the model
(``docs/posteriors.md``)."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import random

from ..samplers.tempering import refreshed, replica_exchange
from ..sources.model_prefix import model_trace
from ..sources.tempered import prior_sample_error, tempered_model

__all__ = [
    "check_betas",
    "tempered_refresh",
    "tempered_sampler",
    "tempered_unavailable",
]


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


def tempered_sampler(
    model, model_args, model_kwargs, make_local, ladder, *, make_target, num_warmup
):
    """:func:`~numpyro_cld.samplers.tempering.replica_exchange` bound to ``model``."""
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
    tm = tempered_model(model, random.key(0), model_args, model_kwargs)
    a = state.adapt_state
    hot = [] if a.hot is None else [a.hot.z]
    z = jnp.concatenate([a.prior_z[None], *hot, state.z[None]])
    state = state._replace(adapt_state=a._replace(log_likelihood=jax.vmap(tm.log_likelihood)(z)))
    return refreshed(state, z, lambda b: lambda x, key=None: tm.potential_and_score(x, b, key))
