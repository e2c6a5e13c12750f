"""A generated family of targets (NumPyro models) on which the kernels' defaults are measured
(``benchmarks/bench_defaults.py``, ``docs/defaults.md``). Every model takes no arguments.

- **Mixtures** (``kind="mixture"``): one site ``x`` with a ``MixtureSameFamily`` of ``K``
  Gaussians in ``d`` dimensions, diagonal or dense covariances, component scales in
  ``[0.5, 3]``, weights from a Dirichlet, means well separated or overlapping; all drawn from a
  fixed seed. Chains start in the *widest* component (:meth:`FamilyMember.init_params`).
- **Posteriors** (``kind="posterior"``): eight schools (centred and non-centred), Neal's funnel,
  a logistic regression, a hierarchical Dirichlet-multinomial model and a robust regression
  written with ``numpyro.factor``, their data generated from a fixed seed and closed over; and
  three regressions on real data sets that scikit-learn ships (``examples.real_data``).

>>> import jax, numpy as np
>>> m = member("mix-d10-k2-diag-sep")
>>> (m.kind, m.dim, m.num_components, round(float(m.weights.sum()), 6))
('mixture', 10, 2, 1.0)
>>> x = m.init_params(jax.random.key(0), 4)["x"]
>>> bool((np.asarray(m.assign(x)) == m.widest).all())
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.typing import ArrayLike
from numpyro.handlers import reparam
from numpyro.infer.reparam import LocScaleReparam

from .real_data import breast_cancer_logistic, diabetes_linear, wine_softmax

__all__ = ["FamilyMember", "Reference", "family", "member", "NAMES"]


@dataclass(frozen=True)
class Reference:
    """How the reference means of a posterior are obtained (a long NUTS run).

    :param sites: the sites compared (the member's latent sites, constrained).
    :param noncentred: whether the reference run uses a non-centred reparametrisation.
    :param model: the model of the reference run, recording every site of ``sites``; None
        for the member's own model.
    :param key: cache key, shared by members with the same reference run; None for the
        member's name.
    """

    sites: tuple[str, ...]
    noncentred: bool = False
    model: Callable[[], None] | None = None
    key: str | None = None


@dataclass(frozen=True, eq=False)
class FamilyMember:
    """One target of the family.

    :param name: member name, e.g. ``"mix-d60-k3-dense-sep"``.
    :param kind: ``"mixture"`` or ``"posterior"``.
    :param model: a NumPyro model taking no arguments.
    :param dim: number of unconstrained latent coordinates.
    :param description: one line.
    :param weights: mixtures: ``(K,)`` exact weights.
    :param locs: mixtures: ``(K, d)`` component means.
    :param scales: diagonal mixtures: ``(K, d)`` component standard deviations.
    :param scale_tril: dense mixtures: ``(K, d, d)`` Cholesky factors of the covariances.
    :param reference_params: posteriors: the :class:`Reference` hint.
    """

    name: str
    kind: str
    model: Callable[[], None]
    dim: int
    description: str
    weights: np.ndarray | None = None
    locs: np.ndarray | None = None
    scales: np.ndarray | None = None
    scale_tril: np.ndarray | None = None
    reference_params: Reference | None = None
    site: str = "x"

    @property
    def num_components(self) -> int | None:
        """``K`` for a mixture, else None."""
        return None if self.weights is None else len(self.weights)

    @property
    def covariance(self) -> str | None:
        """``"diag"`` or ``"dense"`` for a mixture, else None."""
        return None if self.kind != "mixture" else "diag" if self.scale_tril is None else "dense"

    @property
    def widest(self) -> int | None:
        """The component of largest covariance determinant (where chains start)."""
        if self.kind != "mixture":
            return None
        sd = self.scales if self.scale_tril is None else np.diagonal(self.scale_tril, 0, -2, -1)
        return int(np.argmax(np.log(sd).sum(-1)))

    def components(self) -> dist.Distribution:
        """The ``K`` components as one batched distribution over ``(d,)``."""
        if self.scale_tril is not None:
            return dist.MultivariateNormal(jnp.asarray(self.locs), scale_tril=self.scale_tril)
        return dist.Normal(jnp.asarray(self.locs), jnp.asarray(self.scales)).to_event(1)

    def distribution(self) -> dist.MixtureSameFamily:
        """The mixture as a ``MixtureSameFamily``."""
        mix = dist.Categorical(probs=jnp.asarray(self.weights))
        return dist.MixtureSameFamily(mix, self.components())

    def assign(self, draws: ArrayLike) -> jax.Array:
        """The component of largest responsibility ``w_k N(x; k)`` for draws ``(..., d)``.

        :param draws: draws of shape ``(..., d)``.
        :return: integer labels of shape ``(...)``.
        """
        x = jnp.asarray(draws)[..., None, :]
        logits = jnp.log(jnp.asarray(self.weights)) + self.components().log_prob(x)
        return jnp.argmax(logits, axis=-1)

    def init_params(self, rng_key: jax.Array, num_chains: int) -> dict[str, jax.Array]:
        """Starts ``{"x": (num_chains, d)}`` drawn from the widest component (the hard start).

        :param rng_key: PRNG key.
        :param num_chains: number of chains.
        """
        k, eps = self.widest, jax.random.normal(rng_key, (num_chains, self.dim))
        if self.scale_tril is not None:
            return {self.site: jnp.asarray(self.locs[k]) + eps @ jnp.asarray(self.scale_tril[k]).T}
        return {self.site: jnp.asarray(self.locs[k]) + jnp.asarray(self.scales[k]) * eps}


def _mixture_name(d: int, k: int, dense: bool, sep: float) -> str:
    return f"mix-d{d}-k{k}-{'dense' if dense else 'diag'}-{'sep' if sep >= 5 else 'overlap'}"


def _mixture(d: int, k: int, dense: bool, sep: float, seed: int) -> FamilyMember:
    rng, f32 = np.random.default_rng(seed), np.float32
    weights = rng.dirichlet(np.full(k, 2.0)).astype(f32)
    # component scales spread over [0.5, 3], in random order
    s = rng.permutation(np.geomspace(0.5, 3.0, k + 1)[1:]) * rng.uniform(0.9, 1.0)
    # random means: pairwise distances close to sep x (mean scale)
    locs = (rng.normal(size=(k, d)) * sep * s.mean() / np.sqrt(2 * d)).astype(f32)
    scales = tril = None
    if dense:  # a random correlation matrix per component (rank 2 + diagonal), times s_k^2
        w = rng.normal(scale=0.8, size=(k, d, 2))
        cov = w @ w.swapaxes(-1, -2) + rng.uniform(0.5, 1.5, (k, d, 1)) * np.eye(d)
        sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
        corr = cov / sd[..., None] / sd[..., None, :]
        tril = (s[:, None, None] * np.linalg.cholesky(corr)).astype(f32)
    else:
        scales = np.clip(s[:, None] * rng.uniform(0.8, 1.25, (k, d)), 0.5, 3.0).astype(f32)

    def model() -> None:
        numpyro.sample("x", m.distribution())

    desc = f"{k} Gaussians, {'dense' if dense else 'diagonal'} covariances, means ~{sep:g} sd apart"
    name = _mixture_name(d, k, dense, sep)
    m = FamilyMember(name, "mixture", model, d, desc, weights, locs, scales, tril)
    return m


_Y8 = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0], np.float32)
_S8 = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0], np.float32)


def _eight_schools(noncentred: bool) -> Callable[[], None]:
    def model() -> None:
        mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
        tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
        with numpyro.plate("J", 8):
            if noncentred:
                tt = numpyro.sample("theta_tilde", dist.Normal(0.0, 1.0))
                theta = numpyro.deterministic("theta", mu + tau * tt)
            else:
                theta = numpyro.sample("theta", dist.Normal(mu, tau))
            numpyro.sample("obs", dist.Normal(theta, _S8), obs=_Y8)

    return model


def _funnel() -> None:
    v = numpyro.sample("v", dist.Normal(0.0, 3.0))
    with numpyro.plate("i", 9):
        numpyro.sample("x", dist.Normal(0.0, jnp.exp(v / 2)))


def _posterior(name: str, model: Callable, dim: int, desc: str, ref: Reference) -> FamilyMember:
    return FamilyMember(name, "posterior", model, dim, desc, reference_params=ref)


def _funnel_member() -> FamilyMember:
    desc = "Neal's funnel: v ~ N(0, 3), x_i ~ N(0, exp(v/2)), 9 x's"
    ref = Reference(("v", "x"), True, reparam(_funnel, {"x": LocScaleReparam(0)}))
    return _posterior("funnel-d10", _funnel, 10, desc, ref)


def _schools(noncentred: bool) -> FamilyMember:
    name = "eight-schools-" + ("noncentred" if noncentred else "centred")
    sites = ("mu", "tau", "theta_tilde" if noncentred else "theta")
    desc = f"eight schools, {'non-' if noncentred else ''}centred, tau ~ HalfCauchy(5)"
    ref = Reference(sites, True, _eight_schools(True), "eight-schools-noncentred")  # shared
    return _posterior(name, _eight_schools(noncentred), 10, desc, ref)


def _logistic() -> FamilyMember:
    rng = np.random.default_rng(3)
    n, p = 200, 10
    corr = 0.7 ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    xs = (rng.normal(size=(n, p)) @ np.linalg.cholesky(corr).T).astype(np.float32)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(0.5 - xs @ rng.normal(size=p)))).astype(np.float32)

    def model() -> None:
        a = numpyro.sample("alpha", dist.Normal(0.0, 5.0))
        b = numpyro.sample("beta", dist.Normal(0.0, 2.5).expand([p]).to_event(1))
        numpyro.sample("y", dist.Bernoulli(logits=a + xs @ b), obs=y)

    desc = "logistic regression, 10 correlated features (AR 0.7), n = 200"
    return _posterior("logistic-d11", model, 11, desc, Reference(("alpha", "beta")))


def _dirichlet_multinomial() -> FamilyMember:
    rng = np.random.default_rng(4)
    groups, cats, n = 6, 4, 50
    theta = rng.dirichlet(20.0 * rng.dirichlet(np.ones(cats)), size=groups)
    counts = np.stack([rng.multinomial(n, t) for t in theta]).astype(np.float32)

    def model() -> None:
        kappa = numpyro.sample("kappa", dist.HalfNormal(50.0))
        phi = numpyro.sample("phi", dist.Dirichlet(jnp.ones(cats)))
        with numpyro.plate("group", groups):
            theta = numpyro.sample("theta", dist.Dirichlet(kappa * phi))
            numpyro.sample("counts", dist.Multinomial(n, theta), obs=counts)

    desc = "kappa ~ HalfNormal(50), phi ~ Dirichlet(1), theta_g ~ Dirichlet(kappa phi), 6 groups"
    ref = Reference(("kappa", "phi", "theta"))
    return _posterior("dirichlet-multinomial", model, 22, desc, ref)


def _robust_factor() -> FamilyMember:
    rng = np.random.default_rng(5)
    xs = rng.normal(size=(100, 3)).astype(np.float32)
    y = xs @ np.array([1.0, -2.0, 0.5]) + 1.0 + 0.5 * rng.standard_t(3, size=100)
    y = (y + 15.0 * (np.arange(100) < 5)).astype(np.float32)  # 5 outliers

    def model() -> None:
        a = numpyro.sample("alpha", dist.Normal(0.0, 10.0))
        b = numpyro.sample("beta", dist.Normal(0.0, 5.0).expand([3]).to_event(1))
        sigma = numpyro.sample("sigma", dist.HalfNormal(2.0))
        numpyro.factor("loglik", dist.StudentT(3.0, a + xs @ b, sigma).log_prob(y).sum())

    desc = "Student-t regression with 5 outliers, likelihood as a numpyro.factor"
    ref = Reference(("alpha", "beta", "sigma"))
    return _posterior("robust-regression-factor", model, 5, desc, ref)


def _real(name: str, build: Callable) -> FamilyMember:
    model, dim, desc, sites = build()  # numpyro_cld.examples.real_data
    return _posterior(name, model, dim, desc, Reference(sites))


# mixtures: (d, K, dense, separation in units of the mean scale, seed)
_MIXTURES = [
    (10, 2, False, 8.0, 10),
    (10, 4, True, 8.0, 11),
    (24, 3, False, 3.0, 12),
    (24, 5, True, 8.0, 13),
    (60, 3, True, 3.0, 14),
    (60, 5, False, 8.0, 15),
    (200, 2, False, 3.0, 16),
    (200, 4, True, 8.0, 17),
    (1000, 3, False, 8.0, 18),
]
_BUILDERS: dict[str, Callable[[], FamilyMember]] = {
    **{_mixture_name(*a[:4]): (lambda a=a: _mixture(*a)) for a in _MIXTURES},
    "eight-schools-centred": lambda: _schools(False),
    "eight-schools-noncentred": lambda: _schools(True),
    "funnel-d10": _funnel_member,
    "logistic-d11": _logistic,
    "dirichlet-multinomial": _dirichlet_multinomial,
    "robust-regression-factor": _robust_factor,
    "logistic-cancer-d31": lambda: _real("logistic-cancer-d31", breast_cancer_logistic),
    "linear-diabetes-d12": lambda: _real("linear-diabetes-d12", diabetes_linear),
    "softmax-wine-d28": lambda: _real("softmax-wine-d28", wine_softmax),
}
NAMES: tuple[str, ...] = tuple(_BUILDERS)
"""The names of the members, mixtures first."""


def member(name: str) -> FamilyMember:
    """The member called ``name`` (built on each call; cheap).

    :param name: one of :data:`NAMES`.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown family member {name!r}; choose from {', '.join(NAMES)}.")
    return _BUILDERS[name]()


def family(names: list[str] | tuple[str, ...] | None = None) -> list[FamilyMember]:
    """The family, or the members named in ``names`` (in that order).

    :param names: member names; None for all of :data:`NAMES`.
    """
    return [member(n) for n in (NAMES if names is None else names)]
