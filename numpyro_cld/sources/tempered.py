"""A NumPyro model split into prior and likelihood, for tempering the likelihood: the laws
``p_b(z) ~ p0(z) L(z)^b`` on the unconstrained latent vector, the log-likelihood, and exact
draws from the prior by running the model forward.

The likelihood is every observed ``sample`` site (``numpyro.factor`` terms included): its
log-density is multiplied by ``b`` with the same ``scale`` mechanism as
:class:`numpyro.handlers.scale`, so subsampled plates keep their own scaling. The
log-Jacobians of the transforms to unconstrained space, which NumPyro adds as factors too,
belong to the prior and are not tempered.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from numpyro.handlers import Messenger, seed, substitute, trace
from numpyro.infer.util import constrain_fn, potential_energy, unconstrain_fn

__all__ = ["TemperedModel", "tempered_model", "prior_sample_error"]


class _temper(Messenger):
    """Multiply the log-density of observed sites by ``beta`` (a traced value allowed)."""

    def __init__(self, fn=None, beta=1.0):
        self.beta = beta
        super().__init__(fn)

    def process_message(self, msg):
        if _observed(msg) and not _is_jacobian(msg["name"]):
            msg["scale"] = self.beta if msg["scale"] is None else self.beta * msg["scale"]


def _is_jacobian(name: str) -> bool:
    """The factor NumPyro's ``potential_energy`` adds for the log-Jacobian of a site's
    transform (``_<site>_log_det``): part of the prior in unconstrained space, never
    tempered."""
    return name.startswith("_") and name.endswith("_log_det")


class TemperedModel(NamedTuple):
    """The functions :func:`~numpyro_cld.samplers.tempering.replica_exchange` needs, on flat
    unconstrained vectors.

    - **potential_and_score** - ``(z, beta, rng_key) -> (U_b(z), -grad U_b(z))``,
      ``U_b = -log p0 - b log L`` (Jacobians of the transforms in ``p0``).
    - **log_likelihood** - ``z -> log L(z)``.
    - **prior_sample** - ``rng_key -> z``: the model run forward, its latent draws
      unconstrained and raveled.
    - **ravel** / **unravel** - between the dict of latent sites and the flat vector.
    """

    potential_and_score: Callable
    log_likelihood: Callable
    prior_sample: Callable
    ravel: Callable
    unravel: Callable


def _latent_values(tr) -> dict:
    return {k: s["value"] for k, s in tr.items() if s["type"] == "sample" and not s["is_observed"]}


def prior_sample_error(model, rng_key, model_args=(), model_kwargs=None) -> str | None:
    """Why the prior of ``model`` cannot be drawn from by running it forward, or None.

    A latent site whose distribution cannot sample (``ImproperUniform``, as ``param``-like
    priors and some reparametrisations use) leaves no exact prior draw.
    """
    from .model_prefix import model_trace  # traces improper sites too

    for name, site in model_trace(model, model_args, model_kwargs).items():
        if site["type"] == "sample" and not site["is_observed"]:
            if type(site["fn"]).__name__ == "ImproperUniform":
                return f"site {name!r} has an improper prior (ImproperUniform)"
            if site["fn"].is_discrete:
                return f"site {name!r} is discrete"
    try:
        trace(seed(model, rng_key)).get_trace(*model_args, **(model_kwargs or {}))
    except NotImplementedError as e:
        return f"a latent site's distribution cannot be sampled ({type(e).__name__}: {e})"
    return None


def tempered_model(model, rng_key, model_args=(), model_kwargs=None) -> TemperedModel:
    """Split ``model`` for tempering its likelihood (see the module docstring).

    :param model: a NumPyro model with observed sites.
    :param rng_key: PRNG key for the prototype trace that fixes the latent layout.
    :param tuple model_args: positional arguments of ``model``.
    :param dict model_kwargs: keyword arguments of ``model``.
    """
    kwargs = model_kwargs or {}
    proto = unconstrain_fn(
        model, model_args, kwargs, _latent_values(_trace(model, rng_key, model_args, kwargs))
    )
    flat, unravel = ravel_pytree(proto)

    def potential(z, beta):
        return potential_energy(_temper(model, beta), model_args, kwargs, unravel(z))

    value_and_grad = jax.value_and_grad(potential)

    def potential_and_score(z, beta, rng_key=None):
        pe, grad = value_and_grad(z, beta)
        return pe, -grad

    def log_likelihood(z):
        # summed directly: -U_1 + U_0 would cancel two large float32 numbers
        values = constrain_fn(model, model_args, kwargs, unravel(z))
        tr = trace(substitute(model, data=values)).get_trace(*model_args, **kwargs)
        return sum(_site_log_prob(s) for s in tr.values() if _observed(s))

    def prior_sample(key):
        values = _latent_values(_trace(model, key, model_args, kwargs))
        return ravel_pytree(unconstrain_fn(model, model_args, kwargs, values))[0].astype(flat.dtype)

    def ravel(tree):
        return ravel_pytree(tree)[0]

    return TemperedModel(potential_and_score, log_likelihood, prior_sample, ravel, unravel)


def _observed(site) -> bool:
    return site["type"] == "sample" and site["is_observed"]


def _site_log_prob(site):
    log_prob = jnp.sum(site["fn"].log_prob(site["value"]))
    return log_prob if site["scale"] is None else site["scale"] * log_prob


def _trace(model, key, model_args, kwargs):
    return trace(seed(model, key)).get_trace(*model_args, **kwargs)
