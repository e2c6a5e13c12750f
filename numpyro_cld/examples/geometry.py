"""A family of hard-geometry posteriors with known answers, on which the defaults of
:class:`~numpyro_cld.Langevin` (and the local moves the chained kernel shares with it) are
measured per gradient against NUTS (``benchmarks/bench_geometry.py``, ``docs/defaults.md``).
Every model takes no arguments; its data are simulated from a fixed seed or shipped with
scikit-learn.

- **Rotated Gaussians** ``gauss-d{d}-c{cond}``: ``N(m, R diag(l) R^T)`` with a random rotation
  ``R``, eigenvalues ``l`` log-spaced over the condition number, a random mean. Closed form.
- **Curved** ``banana-d2`` and ``banana-d20``: pairs ``x1 ~ N(0, a^2)``,
  ``x2 | x1 ~ N(b (x1^2 - a^2), 1)`` (independent pairs, ``a``, ``b`` drawn per pair in the
  20-d one). Closed form: ``E x2 = 0``, ``sd x2 = sqrt(1 + 2 b^2 a^4)``.
- **Latent time series** ``ar1-latent-d100``: AR(1) states (``phi = 0.95``) seen with noise,
  a Gaussian posterior in closed form; ``sv-d102``: stochastic volatility as NumPyro's example
  writes it (a Gaussian random walk of log-volatilities with unknown scale, an unknown mean
  level, simulated returns). Reference: a long NUTS run.
- **Hierarchical** ``hier-centred-d22`` and ``hier-noncentred-d22``: 20 groups with known
  noise scales, a normal population (``mu``, ``tau``); both compared on ``mu, tau, theta``
  against one long NUTS run of the non-centred model.
- **Regression on real data** ``logistic-digits``: logistic regression of the digits 3 vs 8
  (scikit-learn's ``load_digits``, the non-constant pixels standardised, N(0, 1) priors).
  Reference: a long NUTS run.

>>> m = member("banana-d2")
>>> (m.dim, m.truth is not None, m.sites)
(2, True, ('x',))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

__all__ = ["GeometryMember", "NAMES", "geometry_family", "member"]

SEED = 20261207


@dataclass(frozen=True, eq=False)
class GeometryMember:
    """One hard-geometry posterior.

    :param name: e.g. ``"gauss-d100-c1e4"``.
    :param kind: ``"gaussian"``, ``"curved"``, ``"latent"``, ``"hierarchical"`` or
        ``"regression"``.
    :param model: a NumPyro model taking no arguments.
    :param dim: number of unconstrained latent coordinates.
    :param description: one line.
    :param sites: the sites compared with the truth (constrained, raveled in this order).
    :param truth: ``(mean, sd)`` flat arrays over ``sites`` in closed form, or None where a
        long NUTS run of ``reference_model`` gives them.
    :param reference_model: the model of the reference run (recording every site of
        ``sites``); None for ``model``.
    :param reference_key: cache key of that run (shared by members with one reference).
    """

    name: str
    kind: str
    model: Callable[[], None]
    dim: int
    description: str
    sites: tuple[str, ...]
    truth: tuple[np.ndarray, np.ndarray] | None = None
    reference_model: Callable[[], None] | None = None
    reference_key: str | None = None


def _rotated_gaussian(d: int, cond: float, seed: int) -> GeometryMember:
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    rot = q * np.sign(np.diag(r))
    eig = np.logspace(0.0, np.log10(cond), d)
    cov = (rot * eig) @ rot.T
    cov = 0.5 * (cov + cov.T)
    mean = rng.normal(size=d)
    loc, tril = jnp.asarray(mean, jnp.float32), jnp.asarray(np.linalg.cholesky(cov), jnp.float32)

    def model() -> None:
        numpyro.sample("x", dist.MultivariateNormal(loc, scale_tril=tril))

    name = f"gauss-d{d}-c1e{int(round(np.log10(cond)))}"
    desc = f"Gaussian, random rotation, covariance eigenvalues 1 to {cond:g}"
    return GeometryMember(name, "gaussian", model, d, desc, ("x",), (mean, np.sqrt(np.diag(cov))))


def _banana(pairs: int, seed: int) -> GeometryMember:
    rng = np.random.default_rng(seed)
    a = np.full(pairs, 3.0) if pairs == 1 else rng.uniform(1.5, 3.0, pairs)
    b = np.full(pairs, 0.3) if pairs == 1 else rng.uniform(0.1, 0.4, pairs)
    a_, b_ = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)

    def model() -> None:
        x = numpyro.sample("x", dist.ImproperUniform(constraints.real_vector, (), (2 * pairs,)))
        x1, x2 = x[0::2], x[1::2]  # the pairs interleaved
        logp = dist.Normal(0.0, a_).log_prob(x1) + dist.Normal(b_ * (x1**2 - a_**2)).log_prob(x2)
        numpyro.factor("banana", jnp.sum(logp))

    mean = np.zeros(2 * pairs)
    sd = np.ravel(np.stack([a, np.sqrt(1 + 2 * b**2 * a**4)], -1))
    desc = f"{pairs} banana pair(s) x2 | x1 ~ N(b (x1^2 - a^2), 1), a in [1.5, 3], b in [0.1, 0.4]"
    return GeometryMember(f"banana-d{2 * pairs}", "curved", model, 2 * pairs, desc, ("x",),
                          (mean, sd))  # fmt: skip


def _ar1_latent(t: int = 100, phi: float = 0.95, scale: float = 0.3, noise: float = 1.0):
    rng = np.random.default_rng(SEED + 2)
    x = np.zeros(t)
    x[0] = rng.normal() * scale / np.sqrt(1 - phi**2)
    for i in range(1, t):
        x[i] = phi * x[i - 1] + scale * rng.normal()
    y = x + noise * rng.normal(size=t)
    # stationary AR(1) precision: tridiagonal, (1, 1 + phi^2, ..., 1 + phi^2, 1) / scale^2
    prior = np.diag(np.r_[1.0, np.full(t - 2, 1 + phi**2), 1.0]) - phi * (
        np.eye(t, k=1) + np.eye(t, k=-1)
    )
    prior /= scale**2
    post = prior + np.eye(t) / noise**2
    cov = np.linalg.inv(post)
    mean = cov @ (y / noise**2)
    prec, y_ = jnp.asarray(prior, jnp.float32), jnp.asarray(y, jnp.float32)

    def model() -> None:
        z = numpyro.sample("x", dist.MultivariateNormal(jnp.zeros(t), precision_matrix=prec))
        numpyro.sample("y", dist.Normal(z, noise), obs=y_)

    desc = f"AR(1) states (phi {phi}, scale {scale}) seen with noise {noise}, T = {t}"
    return GeometryMember(f"ar1-latent-d{t}", "latent", model, t, desc, ("x",),
                          (mean, np.sqrt(np.diag(cov))))  # fmt: skip


def _stochastic_volatility(t: int = 100) -> GeometryMember:
    rng = np.random.default_rng(SEED + 3)
    h = -1.0 + np.cumsum(0.15 * rng.normal(size=t))
    y = jnp.asarray(np.exp(h / 2) * rng.normal(size=t), jnp.float32)

    def model() -> None:
        mu = numpyro.sample("mu", dist.Normal(0.0, 2.0))
        s = numpyro.sample("sigma", dist.Exponential(10.0))
        log_vol = numpyro.sample("log_vol", dist.GaussianRandomWalk(scale=s, num_steps=t))
        numpyro.sample("y", dist.Normal(0.0, jnp.exp((mu + log_vol) / 2)), obs=y)

    desc = f"stochastic volatility, Gaussian random walk of log-volatilities, T = {t} returns"
    return GeometryMember(f"sv-d{t + 2}", "latent", model, t + 2, desc,
                          ("mu", "sigma", "log_vol"))  # fmt: skip


def _hierarchical(noncentred: bool, groups: int = 20) -> GeometryMember:
    rng = np.random.default_rng(SEED + 4)
    sigma = rng.uniform(0.5, 3.0, groups)
    y = jnp.asarray(2.0 + 1.0 * rng.normal(size=groups) + sigma * rng.normal(size=groups))
    sigma_ = jnp.asarray(sigma, jnp.float32)

    def make(noncentred: bool, record: bool) -> Callable[[], None]:
        def model() -> None:
            mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
            tau = numpyro.sample("tau", dist.HalfCauchy(2.0))
            with numpyro.plate("groups", groups):
                if noncentred:
                    eta = numpyro.sample("eta", dist.Normal(0.0, 1.0))
                    theta = numpyro.deterministic("theta", mu + tau * eta)
                else:
                    theta = numpyro.sample("theta", dist.Normal(mu, tau))
                    if record:
                        numpyro.deterministic("eta", (theta - mu) / tau)
                numpyro.sample("y", dist.Normal(theta, sigma_), obs=y)

        return model

    name = f"hier-{'non' if noncentred else ''}centred-d{groups + 2}"
    sites = ("mu", "tau", "eta" if noncentred else "theta")
    desc = f"normal hierarchical model, {groups} groups, {'non-' if noncentred else ''}centred"
    return GeometryMember(name, "hierarchical", make(noncentred, False), groups + 2, desc, sites,
                          reference_model=make(True, True), reference_key="hier-d22")  # fmt: skip


def _logistic_digits() -> GeometryMember:
    from sklearn.datasets import load_digits

    from .real_data import _standardised, logistic_model

    data = load_digits()
    keep = np.isin(data.target, (3, 8))
    xs = data.data[keep]
    xs = xs[:, xs.std(0) > 0]
    xs = _standardised(xs)
    y = jnp.asarray(data.target[keep] == 8, jnp.float32)
    p = xs.shape[1]
    model = logistic_model(xs, y, alpha_scale=1.0)

    desc = f"logistic regression, digits 3 vs 8 ({xs.shape[0]} images, {p} pixels)"
    return GeometryMember(f"logistic-digits-d{p + 1}", "regression", model, p + 1, desc,
                          ("alpha", "beta"))  # fmt: skip


_BUILDERS: dict[str, Callable[[], GeometryMember]] = {
    "gauss-d10-c1e2": lambda: _rotated_gaussian(10, 1e2, SEED),
    "gauss-d100-c1e3": lambda: _rotated_gaussian(100, 1e3, SEED + 10),
    "gauss-d100-c1e4": lambda: _rotated_gaussian(100, 1e4, SEED + 11),
    "gauss-d1000-c1e2": lambda: _rotated_gaussian(1000, 1e2, SEED + 12),
    "banana-d2": lambda: _banana(1, SEED + 20),
    "banana-d20": lambda: _banana(10, SEED + 21),
    "ar1-latent-d100": _ar1_latent,
    "sv-d102": _stochastic_volatility,
    "hier-centred-d22": lambda: _hierarchical(False),
    "hier-noncentred-d22": lambda: _hierarchical(True),
    "logistic-digits-d55": _logistic_digits,
}
NAMES: tuple[str, ...] = tuple(_BUILDERS)


def member(name: str) -> GeometryMember:
    """The member called ``name`` (one of :data:`NAMES`)."""
    if name not in _BUILDERS:
        raise ValueError(f"`name` must be one of {', '.join(NAMES)}; got {name!r}.")
    return _BUILDERS[name]()


def geometry_family(names: list[str] | tuple[str, ...] | None = None) -> list[GeometryMember]:
    """The members called ``names`` (default: all of :data:`NAMES`), built in that order."""
    return [member(n) for n in (NAMES if names is None else names)]
