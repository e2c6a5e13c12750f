"""Multimodal targets of the kinds the tempered route must reach (``docs/posteriors.md``),
each with exact mode masses, in the :class:`~.posteriors.MultimodalPosterior` format:

- :func:`iris_label_switching`: a mixture of petal lengths (scikit-learn's iris data) whose
  assignments are an *enumerated* discrete site, as NumPyro's examples write mixtures; the
  ``K!`` orderings of the means have equal mass by exchangeability.
- :func:`factor_sign`: a one-factor model of scikit-learn's diabetes features, loadings and
  scores in one ``d = p + n`` vector; ``(lambda, eta) -> (-lambda, -eta)`` leaves the
  posterior unchanged, so each sign has mass 1/2.
- :func:`two_bumps`: two Gaussian bumps of unequal mass, off-centre and anisotropic, written
  as an ``ImproperUniform`` latent plus ``numpyro.factor`` (no prior to draw), or given as a
  ``potential_fn`` (``as_potential=True``).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax import random
from jax.typing import ArrayLike

from ..checks import positive_int
from .posteriors import MultimodalPosterior, permuted_starts

__all__ = ["iris_label_switching", "factor_sign", "two_bumps", "reach_family"]


def _ordering_assign(k: int):
    table = jnp.asarray(np.array(list(itertools.permutations(range(k)))))

    def assign(draws: ArrayLike) -> jax.Array:
        order = jnp.argsort(jnp.asarray(draws), -1)
        return jnp.argmax(jnp.all(order[..., None, :] == table, -1), -1)

    return assign


def iris_label_switching(num_components: int = 3, per_class: int = 10, seed: int = 0):
    """Means ``mu_k ~ N(m, (2 s)^2)`` (``m``, ``s``: the data's mean and standard deviation)
    of ``y_i ~ N(mu_{z_i}, 0.5)``, ``z_i ~ Categorical(1/K)`` summed out
    (``infer={"enumerate": "parallel"}``), ``y``: the petal lengths (cm) of ``per_class``
    irises of each species drawn with ``seed``. ``assign``: the index of the ordering of the
    means among the permutations in lexicographic order (mass ``1/K!`` each)."""
    from sklearn.datasets import load_iris  # shipped with scikit-learn, no download

    k = positive_int("num_components", num_components)
    data = load_iris()
    rng = np.random.default_rng(seed)
    rows = [
        rng.choice(np.flatnonzero(data.target == c), per_class, replace=False) for c in (0, 1, 2)
    ]
    y_np = data.data[np.concatenate(rows), 2]
    y = jnp.asarray(y_np, jnp.float32)
    loc, scale = float(y_np.mean()), 2.0 * float(y_np.std())

    def model() -> None:
        mu = numpyro.sample("mu", dist.Normal(loc, scale).expand([k]).to_event(1))
        with numpyro.plate("data", y.shape[0]):
            z = numpyro.sample(
                "z", dist.Categorical(jnp.ones(k) / k), infer={"enumerate": "parallel"}
            )
            numpyro.sample("y", dist.Normal(mu[z], 0.5), obs=y)

    means = np.sort([y_np[i * per_class : (i + 1) * per_class].mean() for i in range(3)])
    means = np.interp(np.linspace(0, 2, k), np.arange(3), means)  # k class-like centres
    perms = list(itertools.permutations(range(k)))
    starts = permuted_starts(means, perms)
    return MultimodalPosterior(
        name=f"iris-enumerated-k{k}",
        model=model,
        site="mu",
        dim=k,
        weights=np.full(len(perms), 1.0 / len(perms)),
        assign=_ordering_assign(k),
        starts=starts,
        sample=None,
        description=f"iris petal lengths, {k} components, assignments enumerated",
        prior=(np.ones(1), np.full((1, k), loc), np.full((1, k), scale)),
    )


def factor_sign(num_rows: int = 40, noise: float = 0.6):
    """``y_ij ~ N(lambda_j eta_i, noise^2)`` with ``lambda ~ N(0, I_p)``, ``eta ~ N(0, I_n)``
    in one site ``theta = (lambda, eta)`` (``d = 10 + num_rows``), ``y``: the first
    ``num_rows`` rows of scikit-learn's diabetes features, standardised. The posterior is
    symmetric under ``theta -> -theta``; ``assign`` is ``1[lambda . v > 0]`` with ``v`` the
    first principal direction, so each mode has mass 1/2 exactly."""
    from sklearn.datasets import load_diabetes

    n = positive_int("num_rows", num_rows)
    x = load_diabetes().data[:n]
    x = (x - x.mean(0)) / x.std(0)
    p = x.shape[1]
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    lam, eta = s[0] * vt[0] / np.sqrt(n), u[:, 0] * np.sqrt(n)
    v = jnp.asarray(vt[0], jnp.float32)
    y = jnp.asarray(x, jnp.float32)

    def model() -> None:
        theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([p + n]).to_event(1))
        mean = theta[p:, None] * theta[None, :p]
        numpyro.sample("y", dist.Normal(mean, noise).to_event(2), obs=y)

    def assign(draws: ArrayLike) -> jax.Array:
        return (jnp.asarray(draws)[..., :p] @ v > 0).astype(jnp.int32)

    start = np.concatenate([lam, eta])
    return MultimodalPosterior(
        name=f"factor-sign-d{p + n}",
        model=model,
        site="theta",
        dim=p + n,
        weights=np.array([0.5, 0.5]),
        assign=assign,
        starts=np.stack([-start, start]),
        sample=None,
        description=f"one-factor model of {n} diabetes rows (10 features), sign symmetry",
        prior=(np.ones(1), np.zeros((1, p + n)), np.ones((1, p + n))),
    )


def two_bumps(dim: int = 20, minor: float = 0.3, offset: float = 1.0, as_potential=False):
    """``(1 - minor) N(c_+, D) + minor N(c_-, D)`` with ``c_+- = offset +- 1.5`` in every
    coordinate and scales ``D^(1/2)`` from 0.5 to 1.5: written as an ``ImproperUniform``
    site plus ``numpyro.factor`` (``as_potential=False``) or carried as ``potential_fn``.
    Mode 0 is the minor bump. The Mahalanobis distance between the centres is at least
    ``2 sqrt(dim)``, so ``assign`` (the likelier bump) misplaces a mass below 1e-4."""
    d = positive_int("dim", dim)
    scales = jnp.linspace(0.5, 1.5, d)
    centres = jnp.stack([jnp.full(d, offset - 1.5), jnp.full(d, offset + 1.5)])
    log_w = jnp.log(jnp.array([minor, 1.0 - minor]))

    def log_bumps(x):
        z = (x[..., None, :] - centres) / scales
        comp = -0.5 * jnp.sum(z**2, -1) - jnp.sum(jnp.log(scales)) - 0.5 * d * jnp.log(2 * jnp.pi)
        return log_w + comp

    def model() -> None:
        x = numpyro.sample("x", dist.ImproperUniform(dist.constraints.real, (), (d,)))
        numpyro.factor("density", jax.nn.logsumexp(log_bumps(x), -1))

    def sample(key, num):
        k1, k2 = random.split(key)
        which = random.bernoulli(k1, 1.0 - minor, (num,)).astype(jnp.int32)
        return centres[which] + scales * random.normal(k2, (num, d))

    kind = "potential" if as_potential else "improper"
    return MultimodalPosterior(
        name=f"bumps-d{d}-{kind}",
        model=model,
        site="x",
        dim=d,
        weights=np.array([minor, 1.0 - minor]),
        assign=lambda draws: jnp.argmax(log_bumps(jnp.asarray(draws)), -1),
        starts=np.asarray(centres, np.float64),
        sample=sample,
        description=f"two bumps, masses {minor:g}/{1 - minor:g}, "
        + ("a potential_fn" if as_potential else "ImproperUniform + factor"),
        potential_fn=(lambda params: -jax.nn.logsumexp(log_bumps(params["x"]), -1))
        if as_potential
        else None,
    )


def reach_family() -> list[MultimodalPosterior]:
    """The members of :func:`~.posteriors.posterior_family` that need the route's reach."""
    return [
        iris_label_switching(3),
        factor_sign(40),
        two_bumps(20, minor=0.3, offset=1.0),
        two_bumps(24, minor=0.25, offset=-0.5, as_potential=True),
    ]
