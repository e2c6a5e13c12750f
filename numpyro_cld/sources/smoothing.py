"""Exact Gaussian smoothing of a NumPyro model, as an effect handler.

:class:`smooth` swaps every latent Normal / MultivariateNormal site (and
``MixtureSameFamily`` / ``MixtureGeneral`` mixtures of them) for its smoothed version:
``N(m, S)`` becomes ``N(m, S + sigma^2 I)`` on the ``"ve"`` path and
``N(sqrt(lam) m, lam S + (1 - lam) c^2 I)`` on the ``"vp"`` path with base ``N(0, c^2 I)``;
mixtures smooth component-wise with the same weights (``docs/convention.md``).
:func:`exact_smoothing_problems` says why a model cannot be smoothed this way. The sources
built on it are in :mod:`.levels`.
"""

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax import random
from jax.flatten_util import ravel_pytree
from numpyro.distributions.distribution import ExpandedDistribution
from numpyro.handlers import seed, trace
from numpyro.infer.util import potential_energy
from numpyro.primitives import Messenger

from ..schedules import GaussianBase, vp_coefficients

__all__ = [
    "SMOOTHING_OPTIONS",
    "UnsupportedSiteError",
    "exact_smoothing_problems",
    "smooth",
    "smooth_distribution",
]

SMOOTHING_OPTIONS = (
    "smoothing='mc' (Monte-Carlo Tweedie smoothing of the potential, with "
    "`num_mc_samples` draws per score), path='tempered' (the geometric path "
    "p^lam nu^(1-lam), exact from the potential), or a learned noise-conditional "
    "`score_fn(x, level)`"
)


class UnsupportedSiteError(ValueError):
    """A model site that exact smoothing cannot handle."""


def _smoothing_coefficients(path, level, base):
    """``(a, v)``: a Gaussian ``N(m, S)`` smooths to ``N(a m, a^2 S + v I)``."""
    if path == "ve":
        return 1.0, jnp.square(level)
    if path == "vp":
        if not isinstance(base, GaussianBase):
            raise UnsupportedSiteError(
                f"exact smoothing on the vp path needs a Gaussian base, got {base!r}: a "
                "Student-t base has no closed-form convolution with a Gaussian. Use "
                + SMOOTHING_OPTIONS
                + "."
            )
        a, tau = vp_coefficients(level)
        return a, jnp.square(tau * base.scale)
    raise ValueError(f"exact smoothing is defined for path 've' or 'vp', got {path!r}.")


class _SmoothedNormal(dist.Normal):
    """``Normal`` whose density multiplies by ``1 / scale``. The noise level is a loop
    variable of the annealed sweep, so XLA cannot turn the divisions by ``scale`` into
    multiplications as it does for constants: a paper-gmm step was 2.3x slower."""

    def log_prob(self, value):
        inv_scale = jnp.reciprocal(self.scale)
        z = (value - self.loc) * inv_scale
        return -0.5 * jnp.square(z) + jnp.log(inv_scale) - 0.5 * math.log(2 * math.pi)


def _smooth(fn, a, v, site):
    kind = type(fn)
    if kind in (dist.Normal, _SmoothedNormal):
        return _SmoothedNormal(a * fn.loc, jnp.sqrt(jnp.square(a * fn.scale) + v))
    if kind is dist.MultivariateNormal:
        eye = jnp.eye(fn.event_shape[-1], dtype=jnp.result_type(fn.loc))
        cov = jnp.square(a) * fn.covariance_matrix + v * eye
        return dist.MultivariateNormal(a * fn.loc, covariance_matrix=cov)
    if kind is dist.Independent:
        return dist.Independent(_smooth(fn.base_dist, a, v, site), fn.reinterpreted_batch_ndims)
    if kind is ExpandedDistribution:
        return _smooth(fn.base_dist, a, v, site).expand(fn.batch_shape)
    if kind is dist.MixtureSameFamily:
        return dist.MixtureSameFamily(
            fn.mixing_distribution, _smooth(fn.component_distribution, a, v, site)
        )
    if kind is dist.MixtureGeneral:
        return dist.MixtureGeneral(
            fn.mixing_distribution,
            [_smooth(c, a, v, site) for c in fn.component_distributions],
            support=fn.support,
        )
    raise UnsupportedSiteError(
        f"site '{site}' has distribution {kind.__name__}; exact smoothing supports Normal, "
        "MultivariateNormal, and MixtureSameFamily / MixtureGeneral of those."
    )


def smooth_distribution(
    fn: dist.Distribution, path: str, level: Any, base: Any = None, site: str = "?"
) -> dist.Distribution:
    """The distribution of ``fn`` smoothed to ``level`` on ``path`` (see module docstring).

    :raises UnsupportedSiteError: for any other distribution, naming ``site``.
    """
    a, v = _smoothing_coefficients(path, level, GaussianBase() if base is None else base)
    return _smooth(fn, a, v, site)


class smooth(Messenger):
    """Effect handler: every latent sample site's distribution becomes its smoothed version
    at ``level`` on ``path`` (``"ve"``: ``p * N(0, sigma^2 I)``; ``"vp"``: the law of
    ``sqrt(lam) X + sqrt(1 - lam) Z`` with ``Z ~ base``, Gaussian). An observed site or an
    unsupported distribution raises :class:`UnsupportedSiteError` naming the site.

    The joint is the product of the smoothed sites only when the sites are independent
    (no site's parameters depend on another latent); :func:`exact_smoothing_problems`
    checks that.

    **Example**

    .. doctest::

        >>> import jax.numpy as jnp, numpyro, numpyro.distributions as dist
        >>> from numpyro.handlers import trace, seed
        >>> from numpyro_cld.sources import smooth
        >>> def model():
        ...     numpyro.sample("x", dist.Normal(1.0, 2.0))
        >>> tr = trace(seed(smooth(model, path="ve", level=1.5), 0)).get_trace()
        >>> float(tr["x"]["fn"].scale)  # sqrt(2^2 + 1.5^2)
        2.5
    """

    def __init__(
        self, fn: Callable | None = None, *, path: str = "ve", level: Any = None, base: Any = None
    ):
        if level is None:
            raise ValueError("`level` is required (sigma for path 've', lambda for 'vp').")
        self.path, self.level = path, level
        self.base = GaussianBase() if base is None else base
        super().__init__(fn)

    def process_message(self, msg):
        if msg["type"] != "sample":
            return
        if msg["is_observed"]:
            raise UnsupportedSiteError(
                f"site '{msg['name']}' is observed (a likelihood or factor); exact smoothing "
                "needs a model whose sites are all latent Gaussians or Gaussian mixtures."
            )
        msg["fn"] = smooth_distribution(
            msg["fn"], self.path, self.level, self.base, site=msg["name"]
        )


def exact_smoothing_problems(
    model: Callable,
    model_args: tuple = (),
    model_kwargs: dict | None = None,
    path: str = "ve",
    base: Any = None,
) -> list[str]:
    """Why exact smoothing of ``model`` is impossible: a list of messages (empty if it is
    possible). Checks every site's distribution, observed sites, a non-Gaussian base, and
    that the latent sites are independent (the cross second derivatives of ``log p``
    between sites vanish at two random points)."""
    model_kwargs = {} if model_kwargs is None else model_kwargs
    base = GaussianBase() if base is None else base
    if path == "vp" and not isinstance(base, GaussianBase):
        return [
            f"the vp path has a {type(base).__name__} base, which has no closed-form "
            "convolution with a Gaussian"
        ]
    problems, latent = [], {}
    tr = trace(seed(model, random.key(0))).get_trace(*model_args, **model_kwargs)
    for name, site in tr.items():
        if site["type"] != "sample":
            continue
        if site["is_observed"]:
            problems.append(f"site '{name}' is observed (a likelihood or factor)")
            continue
        try:
            _smooth(site["fn"], 1.0, 1.0, name)
        except UnsupportedSiteError as e:
            problems.append(str(e).split(";")[0])
            continue
        latent[name] = site["value"]
    if problems or len(latent) < 2:
        return problems

    names = list(latent)
    flat0, unravel = ravel_pytree(latent)
    sizes = [int(np.size(latent[n])) for n in names]
    bounds = np.cumsum([0] + sizes)

    def log_p(x):
        return -potential_energy(model, model_args, model_kwargs, unravel(x))

    hessian = jax.jit(jax.hessian(log_p))
    tr1 = trace(seed(model, random.key(1))).get_trace(*model_args, **model_kwargs)
    flat1 = ravel_pytree({n: tr1[n]["value"] for n in names})[0]
    dependent = set()
    for x in (flat0, flat1):
        h = np.asarray(hessian(x))
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                block = h[bounds[i] : bounds[i + 1], bounds[j] : bounds[j + 1]]
                if np.any(np.abs(block) > 1e-6):
                    dependent.add((names[i], names[j]))
    return [
        f"sites '{i}' and '{j}' are dependent (the distribution of one depends on the "
        "other), so the joint is not the product of the smoothed sites"
        for i, j in sorted(dependent)
    ]
