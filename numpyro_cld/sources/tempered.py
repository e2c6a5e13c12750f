"""A NumPyro model split into prior and likelihood, for tempering the likelihood: the laws
``p_b(z) ~ p0(z) L(z)^b`` on the unconstrained latent vector, the log-likelihood, and exact
draws from the prior by running the model forward.

The likelihood is every observed ``sample`` site (``numpyro.factor`` terms included): its
log-density is multiplied by ``b`` with the same ``scale`` mechanism as
:class:`numpyro.handlers.scale`, so subsampled plates keep their own scaling. The
log-Jacobians of the transforms to unconstrained space, which NumPyro adds as factors too,
belong to the prior and are not tempered.

Discrete sites marked ``infer={"enumerate": "parallel"}`` are summed out, as NUTS does
(NumPyro's enumerated potential, which needs ``funsor``): the laws are then the geometric path
``p_b ~ p0^(1 - b) p^b`` between the marginal prior ``p0`` and the marginal joint ``p`` of the
continuous sites (tempering inside the sum would not be linear in ``b``, which the swaps and
the evidence need), and a prior draw runs the model forward and drops the discrete draws.
"""

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from numpyro.distributions.transforms import biject_to
from numpyro.handlers import Messenger, seed, substitute, trace
from numpyro.infer.util import _guess_max_plate_nesting, _unconstrain_reparam, potential_energy

from .potential import traced_once

__all__ = [
    "TemperedModel",
    "TemperingPath",
    "enumerated_sites",
    "tempered_model",
    "prior_sample_error",
]


class TemperingPath(NamedTuple):
    """The laws ``p_b ~ q^(1 - b) pi^b``, ``0 <= b <= 1``, from a reference ``q`` that can be
    drawn exactly to the target ``pi``, as :func:`~numpyro_cld.samplers.replica_exchange`
    reads them (flat unconstrained ``z``; ``ref`` is the reference's parameters, ``()`` for a
    fixed one).

    - **potential_and_score** - ``(z, beta, ref) -> (U_b(z), -grad U_b(z))``.
    - **log_ratio** - ``(z, ref) -> log pi(z) - log q(z)`` (the log-likelihood when ``q`` is
      the prior): ``U_b = U_q - b log_ratio``, so a swap and the evidence need only it.
    - **reference_sample** - ``(rng_key, ref) -> z``, an exact draw from ``q``.
    - **init_reference** - ``z -> ref`` at a chain's start.
    - **fit_reference** - ``(ref, mean, var) -> ref`` refitted to the moments of the replicas
      in warmup, or None for a fixed reference (the prior).
    - **name** - what ``q`` is, for the plan's line.
    """

    potential_and_score: Callable
    log_ratio: Callable
    reference_sample: Callable
    init_reference: Callable
    fit_reference: Callable | None
    name: str


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

    @property
    def path(self) -> TemperingPath:
        """The path from the prior (a fixed reference, exact draws by running the model)."""
        return TemperingPath(
            lambda z, beta, ref: self.potential_and_score(z, beta),
            lambda z, ref: self.log_likelihood(z),
            lambda key, ref: self.prior_sample(key),
            lambda z: (),
            None,
            "prior",
        )


def enumerated_sites(tr) -> list[str]:
    """The discrete latent sites of trace ``tr`` that NumPyro sums out
    (``infer={"enumerate": "parallel"}``)."""
    return [
        k
        for k, s in tr.items()
        if s["type"] == "sample"
        and not s["is_observed"]
        and getattr(s["fn"], "is_discrete", False)
        and s["infer"].get("enumerate") == "parallel"
    ]


def _latent_values(tr) -> dict:
    return {
        k: s["value"]
        for k, s in tr.items()
        if s["type"] == "sample"
        and not s["is_observed"]
        and not getattr(s["fn"], "is_discrete", False)
    }


def prior_sample_error(model_trace: dict) -> str | None:
    """Why the prior of the model traced in ``model_trace`` cannot be drawn by running the
    model forward, or None. A latent site whose distribution cannot sample
    (``ImproperUniform``, as ``param``-like priors and some reparametrisations use) leaves no
    exact prior draw. Read off the trace's distributions: the model is not run again."""
    for name, site in model_trace.items():
        if site["type"] != "sample" or site["is_observed"]:
            continue
        if type(site["fn"]).__name__ == "ImproperUniform":
            return f"site {name!r} has an improper prior (ImproperUniform)"
        if site["fn"].is_discrete:
            if site["infer"].get("enumerate") == "parallel":
                continue  # summed out of the potential; its forward draws are dropped
            return f"site {name!r} is discrete"
        try:
            jax.eval_shape(site["fn"].sample, jax.random.key(0))
        except NotImplementedError as e:
            return f"site {name!r}: its distribution cannot be sampled ({type(e).__name__}: {e})"
    return None


def tempered_model(
    model, model_args=(), model_kwargs=None, *, unravel=None, site_trace=None
) -> TemperedModel:
    """Split ``model`` for tempering its likelihood (see the module docstring).

    Each function is traced once (:func:`~.potential.traced_once`), so that a sampler that
    calls it at several places of its step runs the model once per function.

    :param model: a NumPyro model with observed sites.
    :param tuple model_args: positional arguments of ``model``.
    :param dict model_kwargs: keyword arguments of ``model``.
    :param unravel: flat unconstrained vector -> dict of the latent sites (as
        ``ravel_pytree`` of one chain's ``init_params`` gives it); by default from one trace
        of the model.
    :param dict site_trace: a trace of the model (its sites and plates; the kernel's own),
        to avoid running it once more.
    """
    from .model_prefix import model_trace  # traces improper sites too

    kwargs = model_kwargs or {}
    tr = model_trace(model, model_args, kwargs) if site_trace is None else site_trace
    potential = _enumerated_potential(model, tr, model_args, kwargs)
    if unravel is None:
        proto = {
            name: biject_to(tr[name]["fn"].support).inv(value)
            for name, value in _latent_values(tr).items()
        }
        unravel = ravel_pytree(proto)[1]

    if potential is None:

        def potential(z, beta):
            return potential_energy(_temper(model, beta), model_args, kwargs, unravel(z))

        log_likelihood = _log_likelihood(model, model_args, kwargs, unravel)
    else:
        u = potential

        def potential(z, beta):  # the geometric path between marginal prior and joint
            u0, u1 = u(unravel(z), 0.0), u(unravel(z), 1.0)
            return u0 + beta * (u1 - u0)

        def log_likelihood(z):
            return u(unravel(z), 0.0) - u(unravel(z), 1.0)

    log_likelihood = traced_once(log_likelihood)
    value_and_grad = traced_once(jax.value_and_grad(potential))

    def potential_and_score(z, beta, rng_key=None):
        # one dtype for the power, so that every call shares the jitted trace
        pe, grad = value_and_grad(z, jnp.asarray(beta, jnp.result_type(z)))
        return pe, -grad

    @traced_once
    def prior_sample(key):
        tr = _trace(model, key, model_args, kwargs)
        values = {
            name: biject_to(tr[name]["fn"].support).inv(value)
            for name, value in _latent_values(tr).items()
        }
        flat = ravel_pytree(values)[0]
        return flat.astype(jnp.result_type(float))

    def ravel(tree):
        return ravel_pytree(tree)[0]

    return TemperedModel(potential_and_score, log_likelihood, prior_sample, ravel, unravel)


def _log_likelihood(model, model_args, kwargs, unravel):
    def log_likelihood(z):
        # summed directly: -U_1 + U_0 would cancel two large float32 numbers; the model runs
        # once, on the unconstrained values, as NumPyro's `potential_energy` runs it
        run = substitute(model, substitute_fn=partial(_unconstrain_reparam, unravel(z)))
        tr = trace(run).get_trace(*model_args, **kwargs)
        likelihood = (s for n, s in tr.items() if _observed(s) and not _is_jacobian(n))
        return sum(_site_log_prob(s) for s in likelihood)

    return log_likelihood


def _enumerated_potential(model, tr, model_args, kwargs):
    """``(params, beta) -> U`` with the enumerated sites summed out and the likelihood scaled
    by ``beta``, as :func:`numpyro.infer.util.initialize_model` prepares the model, or None
    when ``tr`` has no enumerated site."""
    if not enumerated_sites(tr):
        return None
    from numpyro.contrib.funsor import config_enumerate, enum  # needs funsor, as NUTS does

    first = -_guess_max_plate_nesting(tr) - 1

    def u(params, beta):
        run = enum(config_enumerate(_temper(model, beta)), first)
        return potential_energy(run, model_args, kwargs, params, enum=True)

    return u


def _observed(site) -> bool:
    return site["type"] == "sample" and site["is_observed"]


def _site_log_prob(site):
    log_prob = jnp.sum(site["fn"].log_prob(site["value"]))
    return log_prob if site["scale"] is None else site["scale"] * log_prob


def _trace(model, key, model_args, kwargs):
    return trace(seed(model, key)).get_trace(*model_args, **kwargs)
