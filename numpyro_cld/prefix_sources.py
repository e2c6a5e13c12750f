"""Exact prefix sources (see :mod:`numpyro_cld.prefix`), built from a NumPyro model or a
user prefix potential.

Coordinates are in *site order*: the unconstrained values of the latent sites in the order
of their sample statements, each raveled row-major. ``x_{<n}`` denotes the first ``n``.

- :class:`GaussianMixturePrefix` - ``sum_k w_k N(loc_k, S_k)`` with diagonal or dense
  ``S_k`` (one component for a plain Normal / MultivariateNormal). The context keeps the
  per-component partial log-likelihoods of the finished patches (and, for dense ``S_k``, the
  whitened residuals), so a step costs ``O(patch_size x K)`` (diagonal) whatever ``d`` is.
  It smooths the current patch exactly:
  ``p_sigma(x_i | x_<i) = sum_k r_k(x_<i) N(x_i; mu_ki, S_ki + sigma^2 I)``.
- :class:`PotentialPrefix` - any ``prefix_potential(x, n) = -log p(x_{<n})``; ``O(d)`` a step.
- :func:`model_prefix` - either of the above straight from a model: a single Gaussian or
  Gaussian-mixture site gives the fast source; otherwise a model whose latent sites are
  factorised (``event_shape == ()``, ``Independent``, plates), ``MultivariateNormal`` or
  mixtures of those, with elementwise constraining transforms and no observed sites, gives
  the exact masked prefix potential ``sum_sites logsumexp_k[log w_k + partial sums]``.
  Anything else raises :class:`NotExactError` naming the reason.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.linalg import solve_triangular
from jax.scipy.special import logsumexp

import numpyro.distributions as dist
from numpyro.distributions.transforms import IdentityTransform, IndependentTransform, biject_to
from numpyro.handlers import seed, substitute, trace

__all__ = ["NotExactError", "GaussianMixturePrefix", "PotentialPrefix", "model_prefix",
           "SiteInfo", "latent_sites"]

_LOG_2PI = math.log(2 * math.pi)


class NotExactError(ValueError):
    """The model has no exact prefix marginals that this module can compute."""


def _starts(patch_size, starts):
    if starts is not None:
        return jnp.asarray(np.asarray(starts, np.int32))
    return None


class _PatchStarts:
    """``start(i)``: first coordinate of patch ``i`` (``i * patch_size`` or a table)."""

    def _init_starts(self, patch_size, starts):
        if (patch_size is None) == (starts is None):
            raise ValueError("Give exactly one of `patch_size` or `starts`.")
        self.patch_size = patch_size
        self._table = _starts(patch_size, starts)

    def start(self, i):
        return i * self.patch_size if self._table is None else self._table[i]


class GaussianMixturePrefix(_PatchStarts):
    """Exact prefix conditionals of ``sum_k w_k N(loc_k, S_k)`` in ``d`` dimensions.

    :param log_weights: ``(K,)`` log mixture weights (normalised here).
    :param locs: ``(K, d)`` component means.
    :param scales: ``(K, d)`` standard deviations (diagonal ``S_k``), or
    :param scale_tril: ``(K, d, d)`` lower Cholesky factors (dense ``S_k``).
    :param int patch_size: patch ``i`` starts at ``i * patch_size``; or
    :param starts: the start of each patch.
    """

    has_density = True

    def __init__(self, log_weights, locs, scales=None, scale_tril=None, *, patch_size=None,
                 starts=None):
        if (scales is None) == (scale_tril is None):
            raise ValueError("Give exactly one of `scales` or `scale_tril`.")
        self._init_starts(patch_size, starts)
        log_weights = jnp.asarray(log_weights)
        self.log_weights = log_weights - logsumexp(log_weights)
        self.locs = jnp.asarray(locs)
        self.scales = None if scales is None else jnp.broadcast_to(scales, self.locs.shape)
        self.scale_tril = None if scale_tril is None else jnp.asarray(scale_tril)

    @property
    def dense(self):
        return self.scale_tril is not None

    def init_context(self, sigma):
        k, d = self.locs.shape
        partial = jnp.zeros((k,), self.locs.dtype)
        if self.dense:
            return partial, jnp.zeros((k, d), self.locs.dtype)
        return partial

    def _patch(self, context, i, n):
        """Per-component conditional mean and covariance factor of patch ``i``."""
        s = self.start(i)
        mu = lax.dynamic_slice_in_dim(self.locs, s, n, axis=1)
        if not self.dense:
            return mu, lax.dynamic_slice_in_dim(self.scales, s, n, axis=1)
        k, d = self.locs.shape
        rows = lax.dynamic_slice(self.scale_tril, (0, s, 0), (k, n, d))
        # z beyond the finished patches is zero, so rows @ z = L[p, <s] z_<s
        mu = mu + jnp.einsum("knd,kd->kn", rows, context[1])
        return mu, lax.dynamic_slice(self.scale_tril, (0, s, s), (k, n, n))

    def _comp_logp(self, mu, fac, x_patch, sigma):
        if not self.dense:
            # times 1/var: var is sliced inside the sweep's loop, where XLA keeps divisions
            inv_var = jnp.reciprocal(fac**2 + sigma**2)
            return -0.5 * jnp.sum((x_patch - mu) ** 2 * inv_var - jnp.log(inv_var) + _LOG_2PI,
                                  -1)
        n = x_patch.shape[0]
        cov = fac @ jnp.swapaxes(fac, -1, -2) + sigma**2 * jnp.eye(n, dtype=fac.dtype)
        chol = jnp.linalg.cholesky(cov)
        z = solve_triangular(chol, (x_patch - mu)[..., None], lower=True)[..., 0]
        logdet = jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), -1)
        return -0.5 * jnp.sum(z**2, -1) - logdet - 0.5 * n * _LOG_2PI

    def potential_and_score(self, context, i, x_patch, sigma):
        partial = context[0] if self.dense else context
        mu, fac = self._patch(context, i, x_patch.shape[0])
        prior = self.log_weights + partial
        prior = prior - logsumexp(prior)  # r_k(x_<i): U is then -log p_sigma(x_i | x_<i)

        def potential(xp):
            return -logsumexp(prior + self._comp_logp(mu, fac, xp, sigma))

        if not self.dense:  # closed form: sum_k r_k (mu_k - x) / var_k
            logits = prior + self._comp_logp(mu, fac, x_patch, sigma)
            r = jax.nn.softmax(logits)
            score = jnp.sum(r[:, None] * (mu - x_patch) * jnp.reciprocal(fac**2 + sigma**2), 0)
            return -logsumexp(logits), score
        pe, grad = jax.value_and_grad(potential)(x_patch)
        return pe, -grad

    def advance(self, context, i, x_patch, sigma):
        mu, fac = self._patch(context, i, x_patch.shape[0])
        comp = self._comp_logp(mu, fac, x_patch, 0.0)
        if not self.dense:
            return context + comp
        z_patch = solve_triangular(fac, (x_patch - mu)[..., None], lower=True)[..., 0]
        z = lax.dynamic_update_slice(context[1], z_patch, (0, self.start(i)))
        return context[0] + comp, z


class PotentialPrefix(_PatchStarts):
    """Prefix source from ``prefix_potential(x, n) = -log p(x_{<n})`` on the flat vector
    ``x`` (site order); coordinates from ``n`` on are placeholders and must not change the
    value. The context is the vector of finished coordinates, so a step costs one
    evaluation of ``prefix_potential`` (``O(d)`` in general)."""

    has_density = True

    def __init__(self, prefix_potential, dim, *, patch_size=None, starts=None):
        self._init_starts(patch_size, starts)
        self.prefix_potential = prefix_potential
        self.dim = int(dim)

    def init_context(self, sigma):
        return jnp.zeros((self.dim,))

    def potential_and_score(self, context, i, x_patch, sigma):
        s = self.start(i)

        def potential(xp):
            x = lax.dynamic_update_slice(context, xp.astype(context.dtype), (s,))
            return self.prefix_potential(x, s + xp.shape[0])

        pe, grad = jax.value_and_grad(potential)(x_patch)
        return pe, -grad

    def advance(self, context, i, x_patch, sigma):
        return lax.dynamic_update_slice(context, x_patch.astype(context.dtype),
                                        (self.start(i),))


# -- from a NumPyro model ---------------------------------------------------------------
class SiteInfo(NamedTuple):
    name: str
    shape: tuple  # unconstrained shape
    size: int
    offset: int  # first coordinate in site order


def latent_sites(model_trace):
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
            "mixes coordinates, so its prefix marginals are not available in closed form")
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
        "are not available in closed form")


def _site_terms(name, fn, y):
    """``(log_w (K,), C (K, n))``: ``log p(x_{<n}) = logsumexp_k[log w_k + sum_{j<n} C_kj]``."""
    if fn.event_shape != () and isinstance(fn, (dist.MixtureSameFamily, dist.MixtureGeneral)):
        if fn.batch_shape != ():
            raise NotExactError(f"site '{name}': batched mixtures of multivariate components "
                                "are not supported for exact prefix marginals")
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
    if observed:
        raise NotExactError(
            f"the model has observed site(s) {observed}: a likelihood makes the marginal of "
            "the earlier latent coordinates depend on the later ones, so the prefix "
            "conditionals are not the product of the sites' own factors")


def _gaussian_params(fn):
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
            return loc.reshape(loc.shape[:len(c.batch_shape)] + (-1,)), jnp.broadcast_to(
                base.scale, shape).reshape(loc.shape[:len(c.batch_shape)] + (-1,)), None
        if isinstance(base, dist.MultivariateNormal) and len(c.event_shape) == 1:
            return jnp.broadcast_to(base.loc, c.batch_shape + c.event_shape), None, \
                jnp.broadcast_to(base.scale_tril, c.batch_shape + 2 * c.event_shape)
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
    if fn.batch_shape != () and not isinstance(fn, dist.Normal):
        return None
    p = one(fn)
    if p is None:
        return None
    loc, scale, tril = p
    if tril is None:
        return jnp.zeros((1,)), loc.reshape(1, -1), scale.reshape(1, -1), None
    return jnp.zeros((1,)), loc[None], None, tril[None]


def _prototype(model, model_args, model_kwargs):
    return trace(seed(model, jax.random.key(0))).get_trace(*model_args, **model_kwargs)


def model_prefix(model, model_args, model_kwargs, *, patch_size=None, starts=None):
    """Build the exact prefix source of ``model`` for these arguments.

    :return: ``(source, kind)`` with ``kind`` ``"gaussian"`` (fast, supports ``sigma > 0``)
        or ``"masked"`` (``O(d)`` a step, ``sigma = 0`` only).
    :raises NotExactError: with the reason when the prefix marginals are not exact.
    """
    model_kwargs = model_kwargs or {}
    tr = _prototype(model, model_args, model_kwargs)
    _check_no_observed(tr)
    sites = latent_sites(tr)
    dim = sum(s.size for s in sites)
    if len(sites) == 1:
        fn = tr[sites[0].name]["fn"]
        params = _gaussian_params(fn)
        if params is not None and isinstance(biject_to(fn.support), (IdentityTransform,
                                                                      IndependentTransform)):
            log_w, locs, scales, tril = params
            if locs.shape[-1] == dim:
                return GaussianMixturePrefix(log_w, locs, scales, tril, patch_size=patch_size,
                                             starts=starts), "gaussian"

    def log_prefix(x, n, check=False):
        values = {}
        for s in sites:
            u = jnp.reshape(x[s.offset:s.offset + s.size], s.shape)
            values[s.name] = biject_to(tr[s.name]["fn"].support)(u)
        run = trace(substitute(seed(model, jax.random.key(0)), data=values))
        run_tr = run.get_trace(*model_args, **model_kwargs)
        total = 0.0
        for s in sites:
            fn = run_tr[s.name]["fn"]
            y = values[s.name]
            u = jnp.reshape(x[s.offset:s.offset + s.size], s.shape)
            log_w, terms = _site_terms(s.name, fn, y)
            terms = terms + jnp.reshape(_elementwise_logdet(s.name, fn, u, y), (1, -1))
            mask = (s.offset + jnp.arange(s.size)) < n
            partial = jnp.sum(jnp.where(mask, terms, 0.0), -1)
            total = total + logsumexp(log_w + partial)
        return -total

    # run once on a prototype so that unsupported sites fail now, with their reason
    jax.eval_shape(log_prefix, jnp.zeros((dim,)), dim)
    return PotentialPrefix(log_prefix, dim, patch_size=patch_size, starts=starts), "masked"
