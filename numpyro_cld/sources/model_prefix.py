"""Exact prefix sources straight from a NumPyro model, and the model's latent layout.

:func:`model_prefix` gives the fast :class:`~.prefix.GaussianMixturePrefix` for a single
Gaussian or Gaussian-mixture site; otherwise a model whose latent sites are factorised
(``event_shape == ()``, ``Independent``, plates), ``MultivariateNormal`` or mixtures of those,
with elementwise constraining transforms and no observed sites, gives the exact masked prefix
potential ``sum_sites logsumexp_k[log w_k + partial sums]`` (a
:class:`~.prefix.PotentialPrefix`). Anything else raises :class:`NotExactError` naming the
reason. :func:`latent_sites` and :func:`site_permutation` describe the *site order* that the
chained sampler's patches follow.
"""

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.scipy.linalg import solve_triangular
from jax.scipy.special import logsumexp
from numpyro.distributions.transforms import IdentityTransform, IndependentTransform, biject_to
from numpyro.handlers import seed, substitute, trace
from numpyro.infer.initialization import init_to_uniform

from .prefix import GaussianMixturePrefix, PotentialPrefix

__all__ = [
    "NotExactError",
    "SiteInfo",
    "latent_sites",
    "model_draws",
    "model_prefix",
    "model_trace",
    "site_permutation",
]

_LOG_2PI = math.log(2 * math.pi)


class NotExactError(ValueError):
    """The model has no exact prefix marginals that this module can compute."""


class SiteInfo(NamedTuple):
    name: str
    shape: tuple  # unconstrained shape
    size: int
    offset: int  # first coordinate in site order


def latent_sites(model_trace: dict) -> list[SiteInfo]:
    """Latent sample sites of a trace in order, with their unconstrained sizes."""
    sites, offset = [], 0
    for name, site in model_trace.items():
        if site["type"] != "sample" or site["is_observed"]:
            continue
        if site["infer"].get("enumerate") == "parallel":
            continue
        shape = tuple(biject_to(site["fn"].support).inverse_shape(jnp.shape(site["value"])))
        size = int(np.prod(shape, dtype=int))
        sites.append(SiteInfo(name, shape, size, offset))
        offset += size
    return sites


def _elementwise_logdet(name, fn, u, y):
    """Per-coordinate ``log|dy/du|`` of the constraining transform (must be elementwise)."""
    t = biject_to(fn.support)
    if isinstance(t, IdentityTransform):
        return jnp.zeros(jnp.shape(y))
    while isinstance(t, IndependentTransform):
        t = t.base_transform
    if isinstance(t, IdentityTransform):
        return jnp.zeros(jnp.shape(y))
    if t.domain.event_dim != 0 or t.codomain.event_dim != 0:
        raise NotExactError(
            f"site '{name}': its support {fn.support} is reached through a transform that "
            "mixes coordinates, so its prefix marginals are not available in closed form"
        )
    return jnp.broadcast_to(t.log_abs_det_jacobian(u, y), jnp.shape(y))


def _component_terms(name, fn, y):
    """Per-coordinate prefix log-density increments ``c_j`` with
    ``log p(x_{<n}) = sum_{j<n} c_j`` for every ``n``; shape ``fn.batch_shape + (n,)`` (the
    batch of a mixture's components, broadcast against the value ``y``)."""
    if fn.event_shape == ():
        return jnp.reshape(jnp.broadcast_to(fn.log_prob(y), jnp.shape(y)), (-1,))
    batch, event = fn.batch_shape, fn.event_shape
    base = fn
    while isinstance(base, dist.Independent):
        base = base.base_dist
    if isinstance(base, dist.ExpandedDistribution):  # plates: parameters broadcast below
        base = base.base_dist
    if base.event_shape == ():
        lp = jnp.broadcast_to(base.log_prob(y), batch + event)
        return jnp.reshape(lp, batch + (-1,))
    if isinstance(base, dist.MultivariateNormal) and len(event) == 1:
        # x = loc + L z: z_j depends on x_<=j only, so sum_{j<n} c_j is the leading block
        tril = jnp.broadcast_to(base.scale_tril, batch + 2 * event)
        loc = jnp.broadcast_to(base.loc, batch + event)
        z = solve_triangular(tril, (y - loc)[..., None], lower=True)[..., 0]
        return -0.5 * z**2 - jnp.log(jnp.diagonal(tril, axis1=-2, axis2=-1)) - 0.5 * _LOG_2PI
    raise NotExactError(
        f"site '{name}': {type(fn).__name__} with event shape {fn.event_shape} is neither "
        "factorised over its coordinates nor a MultivariateNormal, so its prefix marginals "
        "are not available in closed form"
    )


def _site_terms(name, fn, y):
    """``(log_w (K,), C (K, n))``: ``log p(x_{<n}) = logsumexp_k[log w_k + sum_{j<n} C_kj]``."""
    if fn.event_shape != () and isinstance(fn, (dist.MixtureSameFamily, dist.MixtureGeneral)):
        if fn.batch_shape != ():
            raise NotExactError(
                f"site '{name}': batched mixtures of multivariate components "
                "are not supported for exact prefix marginals"
            )
        log_w = jax.nn.log_softmax(fn.mixing_distribution.logits)
        if isinstance(fn, dist.MixtureSameFamily):
            terms = _component_terms(name, fn.component_distribution, y)
        else:
            terms = jnp.stack([_component_terms(name, c, y) for c in fn.component_distributions])
        return log_w, terms
    # independent batch elements (plates) ravel row-major: one factorised vector
    return jnp.zeros((1,)), jnp.reshape(_component_terms(name, fn, y), (1, -1))


def _check_no_observed(model_trace):
    observed = [n for n, s in model_trace.items() if s["type"] == "sample" and s["is_observed"]]
    if not observed:
        return
    # numpyro.factor is an observed site of a Unit distribution: name it as the user wrote it
    factors = [n for n in observed if isinstance(model_trace[n]["fn"], dist.Unit)]
    data = [n for n in observed if n not in factors]
    kinds = ([f"observed site(s) {data}"] if data else []) + (
        [f"factor site(s) {factors}"] if factors else []
    )
    raise NotExactError(
        f"the model has {' and '.join(kinds)}: a likelihood (or a factor) makes the "
        "marginal of the earlier latent coordinates depend on the later ones, so the prefix "
        "conditionals are not the product of the sites' own factors"
    )


def _check_no_handler_effects(model_trace):
    """A ``scale`` handler multiplies a site's log density in the joint, which the prefix
    marginals (built from the sites' distributions) would silently ignore."""
    for name, site in model_trace.items():
        if site["type"] != "sample" or site["is_observed"]:
            continue
        scale = site.get("scale")
        if scale is not None and not np.all(np.asarray(scale) == 1):
            raise NotExactError(
                f"latent site '{name}' is under `numpyro.handlers.scale` (its log density is "
                "multiplied, which the prefix marginals of its distribution do not see)"
            )


def _unwrapped(fn):
    """``fn`` without its ``Independent`` / ``ExpandedDistribution`` wrappers."""
    while isinstance(fn, (dist.Independent, dist.ExpandedDistribution)):
        fn = fn.base_dist
    return fn


def _gaussian_components(fn):
    """``(log_w, locs, scales, scale_tril)`` when ``fn`` is a Gaussian or a mixture of
    Gaussians over a real vector, else None."""

    def one(c):
        base = c
        while isinstance(base, dist.Independent):
            base = base.base_dist
        if isinstance(base, dist.ExpandedDistribution):
            base = base.base_dist
        if isinstance(base, dist.Normal):
            shape = c.batch_shape + c.event_shape
            loc = jnp.broadcast_to(base.loc, shape)
            return (
                loc.reshape(loc.shape[: len(c.batch_shape)] + (-1,)),
                jnp.broadcast_to(base.scale, shape).reshape(
                    loc.shape[: len(c.batch_shape)] + (-1,)
                ),
                None,
            )
        if isinstance(base, dist.MultivariateNormal) and len(c.event_shape) == 1:
            return (
                jnp.broadcast_to(base.loc, c.batch_shape + c.event_shape),
                None,
                jnp.broadcast_to(base.scale_tril, c.batch_shape + 2 * c.event_shape),
            )
        return None

    if isinstance(fn, dist.MixtureSameFamily) and fn.batch_shape == ():
        log_w = jax.nn.log_softmax(fn.mixing_distribution.logits)
        p = one(fn.component_distribution)
        if p is None or len(fn.event_shape) != 1:
            return None
        return (log_w,) + p
    if isinstance(fn, dist.MixtureGeneral) and fn.batch_shape == ():
        ps = [one(c) for c in fn.component_distributions]
        if any(p is None for p in ps) or len(fn.event_shape) != 1:
            return None
        log_w = jax.nn.log_softmax(fn.mixing_distribution.logits)
        locs = jnp.stack([p[0] for p in ps])
        if all(p[2] is None for p in ps):
            return log_w, locs, jnp.stack([p[1] for p in ps]), None
        trils = jnp.stack([jnp.diag(p[1]) if p[2] is None else p[2] for p in ps])
        return log_w, locs, None, trils
    if fn.batch_shape != () and not isinstance(_unwrapped(fn), dist.Normal):
        # a batch of independent Normals (a plate, `.expand`) is one diagonal Gaussian over
        # the raveled site; a batch of MultivariateNormals is not handled here
        return None
    p = one(fn)
    if p is None:
        return None
    loc, scale, tril = p
    if tril is None:
        return jnp.zeros((1,)), loc.reshape(1, -1), scale.reshape(1, -1), None
    return jnp.zeros((1,)), loc[None], None, tril[None]


def model_trace(model: Callable, model_args: tuple = (), model_kwargs: dict | None = None) -> dict:
    """A trace of ``model`` under a fixed seed (the prototype of its sites). Latent values come
    from :func:`~numpyro.infer.initialization.init_to_uniform`, as in NumPyro's own
    initialisation, so that sites that cannot be sampled (``ImproperUniform``) trace too."""
    model_kwargs = model_kwargs or {}
    run = substitute(seed(model, jax.random.key(0)), substitute_fn=init_to_uniform)
    return trace(run).get_trace(*model_args, **model_kwargs)


def model_draws(
    model: Callable,
    model_args: tuple = (),
    model_kwargs: dict | None = None,
    num_draws: int = 256,
    trace_: dict | None = None,
) -> np.ndarray:
    """``(num_draws, d)`` draws of the model's latent sites from a fixed seed, unconstrained
    and raveled in site order: draws of the *prior* (observed sites keep their data but do
    not weigh the draws), the target itself for a model without observed sites. They set
    the scale of the noise levels of ``sigmas="auto"``:
    :func:`numpyro_cld.schedules.annealed_sigmas` of them for
    :class:`~numpyro_cld.AnnealedLangevin`, :func:`numpyro_cld.schedules.chained_sigmas` for
    :class:`~numpyro_cld.ChainedLangevin`.
    ``trace_``: a :func:`model_trace` for these arguments, if the caller has one."""
    model_kwargs = model_kwargs or {}
    tr = model_trace(model, model_args, model_kwargs) if trace_ is None else trace_
    sites = latent_sites(tr)

    def one(key):
        tr = trace(seed(model, key)).get_trace(*model_args, **model_kwargs)
        return jnp.concatenate(
            [jnp.ravel(biject_to(tr[s.name]["fn"].support).inv(tr[s.name]["value"])) for s in sites]
        )

    # constants (a fixed seed and the model's own arguments), so evaluated now also when the
    # kernel's `init` runs under the user's jit or vmap (an SBC harness)
    with jax.ensure_compile_time_eval():
        return np.asarray(jax.vmap(one)(jax.random.split(jax.random.key(0), num_draws)))


def site_permutation(sites: list[SiteInfo]) -> np.ndarray:
    """``perm[j]``: position in the raveled latent pytree of site-order coordinate ``j``
    (``ravel_pytree`` orders a dict's sites by name, the patches follow the model)."""
    ids = {s.name: s.offset + np.arange(s.size).reshape(s.shape) for s in sites}
    # the leaves in ravel_pytree's order, in NumPy: static, also when `init` runs under a jit
    order = np.concatenate([np.ravel(v) for v in jax.tree.leaves(ids)] or [np.zeros(0, int)])
    return np.argsort(order).astype(np.int32)


def model_prefix(
    model: Callable,
    model_args: tuple,
    model_kwargs: dict | None,
    *,
    patch_size: int | None = None,
    starts: Sequence[int] | None = None,
    trace_: dict | None = None,
) -> tuple[GaussianMixturePrefix | PotentialPrefix, str]:
    """Build the exact prefix source of ``model`` for these arguments.

    ``trace_``: a :func:`model_trace` of ``model`` for these arguments, if the caller has
    one (the model is then not run again here).

    :return: ``(source, kind)`` with ``kind`` ``"gaussian"`` (fast, supports ``sigma > 0``)
        or ``"masked"`` (``O(d)`` a step, ``sigma = 0`` only).
    :raises NotExactError: with the reason when the prefix marginals are not exact.
    """
    model_kwargs = model_kwargs or {}
    tr = model_trace(model, model_args, model_kwargs) if trace_ is None else trace_
    _check_no_observed(tr)
    _check_no_handler_effects(tr)
    sites = latent_sites(tr)
    dim = sum(s.size for s in sites)
    if len(sites) == 1:
        fn = tr[sites[0].name]["fn"]
        params = _gaussian_components(fn)
        if params is not None and isinstance(
            biject_to(fn.support), (IdentityTransform, IndependentTransform)
        ):
            log_w, locs, scales, tril = params
            if locs.shape[-1] == dim:
                return GaussianMixturePrefix(
                    log_w, locs, scales, tril, patch_size=patch_size, starts=starts
                ), "gaussian"

    def log_prefix(x, n, check=False):
        values = {}
        for s in sites:
            u = jnp.reshape(x[s.offset : s.offset + s.size], s.shape)
            values[s.name] = biject_to(tr[s.name]["fn"].support)(u)
        run = trace(substitute(seed(model, jax.random.key(0)), data=values))
        run_tr = run.get_trace(*model_args, **model_kwargs)
        total = 0.0
        for s in sites:
            fn = run_tr[s.name]["fn"]
            y = values[s.name]
            u = jnp.reshape(x[s.offset : s.offset + s.size], s.shape)
            log_w, terms = _site_terms(s.name, fn, y)
            terms = terms + jnp.reshape(_elementwise_logdet(s.name, fn, u, y), (1, -1))
            mask = (s.offset + jnp.arange(s.size)) < n
            partial = jnp.sum(jnp.where(mask, terms, 0.0), -1)
            total = total + logsumexp(log_w + partial)
        return -total

    # run once on a prototype so that unsupported sites fail now, with their reason
    jax.eval_shape(log_prefix, jnp.zeros((dim,)), dim)
    return PotentialPrefix(log_prefix, dim, patch_size=patch_size, starts=starts), "masked"
