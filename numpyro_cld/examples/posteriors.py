"""Multimodal posteriors with known mode masses: NumPyro models *with observed data* on which
mode coverage can be measured, each with its mode-assignment rule.

- :func:`mixture_prior_linear` (a): a Gaussian-mixture prior and a linear-Gaussian
  likelihood. The posterior is a Gaussian mixture whose components and masses follow by
  conjugacy, so exact draws are available.
- :func:`label_switching` (b): the means of a ``K``-component mixture model under an
  exchangeable prior; the ``K!`` relabellings have equal mass by symmetry.
- :func:`sign_ambiguity` (c and d): ``y_j ~ N(theta_j^2, s)``; each coordinate has a
  positive and a negative mode. With a prior centred at 0 the ``2^d`` sign patterns have equal
  mass; with a shifted prior the masses differ and the modes are not Gaussian (masses and exact
  draws by quadrature, coordinate by coordinate).

Each builder returns a :class:`MultimodalPosterior` whose ``model`` has its data bound, so
``MCMC(kernel, ...).run(key)`` needs no arguments, and whose ``assign`` maps draws of the
latent site to mode indices for :func:`numpyro_cld.diagnostics.mode_coverage`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax import random
from jax.typing import ArrayLike

from ..checks import positive_int

__all__ = [
    "MultimodalPosterior",
    "mixture_prior_linear",
    "label_switching",
    "sign_ambiguity",
    "posterior_family",
]


@dataclass(frozen=True, eq=False)
class MultimodalPosterior:
    """A posterior of a NumPyro model with data, with known mode masses.

    :param str name: member name.
    :param model: the NumPyro model, data bound (no arguments).
    :param str site: the latent site whose draws ``assign`` reads.
    :param int dim: size of that site.
    :param weights: ``(K,)`` exact posterior mass of each mode.
    :param assign: ``draws (..., dim) -> (...)`` integer mode indices.
    :param starts: ``(K, dim)`` a point in each mode (chains start there, plus small noise).
    :param sample: ``(key, n) -> (n, dim)`` exact posterior draws, or None.
    :param str description: one line for tables.
    :param exact: the posterior of ``site`` as a distribution, where it is closed form.
    :param prior: the prior of ``site`` as a diagonal Gaussian mixture ``(weights (K,),
        locs (K, dim), scales (K, dim))``, for moves that draw from the prior.
    :param potential_fn: where the target is given as a ``potential_fn`` on ``{site: x}``
        (the ``model`` then states the same density, for kernels that need one).
    """

    name: str
    model: Callable[[], None]
    site: str
    dim: int
    weights: np.ndarray
    assign: Callable[[ArrayLike], jax.Array]
    starts: np.ndarray
    sample: Callable[[jax.Array, int], jax.Array] | None
    description: str
    exact: dist.Distribution | None = None
    prior: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    potential_fn: Callable | None = None

    @property
    def num_modes(self) -> int:
        """Number of modes ``K``."""
        return int(np.shape(self.weights)[0])

    def init_params(
        self, rng_key: jax.Array, num_chains: int, mode: int = 0, noise: float = 0.1
    ) -> dict[str, jax.Array]:
        """Starts ``{site: (num_chains, dim)}`` in one mode: ``starts[mode]`` plus Gaussian
        noise of scale ``noise``, the hard start of a mode-coverage benchmark."""
        num_chains = positive_int("num_chains", num_chains)
        if not 0 <= mode < self.num_modes:
            raise ValueError(f"`mode` must be in 0..{self.num_modes - 1}, got {mode}.")
        eps = random.normal(rng_key, (num_chains, self.dim))
        return {self.site: jnp.asarray(self.starts[mode]) + noise * eps}


def _separated_means(rng: np.random.Generator, k: int, d: int, sep: float) -> np.ndarray:
    """``k`` means in ``d`` dimensions, pairwise at least ``sep`` apart (rejection)."""
    while True:
        m = rng.normal(size=(k, d)) * sep / np.sqrt(2.0)
        dists = np.linalg.norm(m[:, None] - m[None], axis=-1) + np.eye(k) * 1e9
        if dists.min() >= sep:
            return m


def mixture_prior_linear(
    dim: int = 16, num_components: int = 3, num_obs: int = 4, seed: int = 0
) -> MultimodalPosterior:
    """(a) ``x ~ sum_k w_k N(mu_k, diag(s_k^2))``, ``y ~ N(A x, 0.5^2 I)`` with ``num_obs``
    observations: the posterior is ``sum_k w'_k N(m_k, C_k)`` with
    ``C_k = (S_k^-1 + A^T A / 0.25)^-1``, ``m_k = C_k (S_k^-1 mu_k + A^T y / 0.25)`` and
    ``w'_k`` proportional to ``w_k N(y; A mu_k, 0.25 I + A S_k A^T)``. ``A`` is Gaussian,
    projected orthogonally to the differences of the means (so ``A mu_k`` is the same for every
    ``k`` and the modes stay apart), and ``y`` is simulated from the prior's widest
    component: the likelihood moves the masses away from the prior weights through the
    components' spreads without deciding them (a few observations: with many, the spreads'
    determinants would decide the masses)."""
    dim = positive_int("dim", dim)
    k = positive_int("num_components", num_components)
    m = positive_int("num_obs", num_obs)
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(2.0 * np.ones(k))
    mu = _separated_means(rng, k, dim, sep=8.0)
    s = rng.uniform(0.5, 2.0, size=(k, 1)) * np.ones((k, dim))
    # observe x only across the directions that separate the means: every component
    # predicts the same mean of y, and the masses move with the components' spreads
    q = np.linalg.qr((mu[1:] - mu[0]).T)[0] if k > 1 else np.zeros((dim, 0))
    a = rng.normal(size=(m, dim)) @ (np.eye(dim) - q @ q.T) / np.sqrt(dim)
    noise = 0.5
    widest = int(np.argmax(s[:, 0]))
    x_true = mu[widest] + s[widest] * rng.normal(size=dim)
    y = a @ x_true + noise * rng.normal(size=m)

    prec = [np.diag(1 / s[i] ** 2) + a.T @ a / noise**2 for i in range(k)]
    cov = np.stack([np.linalg.inv(p) for p in prec])
    loc = np.stack([cov[i] @ (mu[i] / s[i] ** 2 + a.T @ y / noise**2) for i in range(k)])
    log_ev = np.array(
        [
            dist.MultivariateNormal(
                a @ mu[i], noise**2 * np.eye(m) + a @ np.diag(s[i] ** 2) @ a.T
            ).log_prob(y)
            for i in range(k)
        ]
    )
    logw = np.log(w) + log_ev
    post_w = np.exp(logw - np.logaddexp.reduce(logw))
    post = dist.MixtureSameFamily(
        dist.Categorical(probs=jnp.asarray(post_w)),
        dist.MultivariateNormal(jnp.asarray(loc), covariance_matrix=jnp.asarray(cov)),
    )
    prior = dist.MixtureSameFamily(
        dist.Categorical(probs=jnp.asarray(w)),
        dist.Normal(jnp.asarray(mu), jnp.asarray(s)).to_event(1),
    )
    a_j, y_j = jnp.asarray(a, jnp.float32), jnp.asarray(y, jnp.float32)

    def model() -> None:
        x = numpyro.sample("x", prior)
        numpyro.sample("y", dist.Normal(a_j @ x, noise).to_event(1), obs=y_j)

    def assign(draws: ArrayLike) -> jax.Array:
        return jnp.argmax(post.component_log_probs(jnp.asarray(draws)), -1)

    return MultimodalPosterior(
        name=f"mixprior-linear-d{dim}-k{k}",
        model=model,
        site="x",
        dim=dim,
        weights=post_w,
        assign=assign,
        starts=loc,
        sample=lambda key, n: post.sample(key, (n,)),
        description=f"{k}-component Gaussian-mixture prior, {m} linear-Gaussian observations",
        exact=post,
        prior=(w, mu, s),
    )


def permuted_starts(centres: np.ndarray, perms: list) -> np.ndarray:
    """A point in each labelling's mode: ``centres`` (ascending) placed so that ``argsort`` of
    row ``i`` is ``perms[i]``."""
    starts = np.empty((len(perms), len(centres)))
    for i, p in enumerate(perms):
        starts[i, list(p)] = centres
    return starts


def label_switching(num_components: int = 3, per_component: int = 30, seed: int = 0):
    """(b) The means of ``y_i ~ (1/K) sum_k N(mu_k, 1)`` with ``mu_k ~ N(0, 10^2)``
    independently (an exchangeable prior), data from well separated true means ``4 (k - (K-1)/2)``:
    the posterior has ``K!`` modes, one per ordering of the means, of equal mass ``1/K!``
    by symmetry. ``assign`` is the index of the ordering (``argsort`` of the means) among the
    permutations in lexicographic order."""
    k = positive_int("num_components", num_components)
    n = positive_int("per_component", per_component)
    rng = np.random.default_rng(seed)
    true = 4.0 * (np.arange(k) - (k - 1) / 2)
    y = jnp.asarray((true[:, None] + rng.normal(size=(k, n))).ravel(), jnp.float32)
    perms = np.array(list(itertools.permutations(range(k))))

    def model() -> None:
        mu = numpyro.sample("mu", dist.Normal(0.0, 10.0).expand([k]).to_event(1))
        comp = dist.Normal(mu, 1.0)
        mix = dist.MixtureSameFamily(dist.Categorical(probs=jnp.ones(k) / k), comp)
        with numpyro.plate("data", y.shape[0]):
            numpyro.sample("y", mix, obs=y)

    table = jnp.asarray(perms)

    def assign(draws: ArrayLike) -> jax.Array:
        order = jnp.argsort(jnp.asarray(draws), -1)
        return jnp.argmax(jnp.all(order[..., None, :] == table, -1), -1)

    # a point in each mode: the true means relabelled so that argsort gives that permutation
    starts = permuted_starts(np.sort(true), perms)
    return MultimodalPosterior(
        name=f"label-switching-k{k}",
        model=model,
        site="mu",
        dim=k,
        weights=np.full(len(perms), 1.0 / len(perms)),
        assign=assign,
        starts=starts,
        sample=None,
        description=f"means of a {k}-component mixture, {k * n} points, exchangeable prior",
        prior=(np.ones(1), np.zeros((1, k)), np.full((1, k), 10.0)),
    )


def _sign_grid(y: np.ndarray, noise: float, prior_loc: float, half_width: float = 6.0):
    """Posterior density of one ``theta`` on a fine grid (normalised), for quadrature."""
    grid = np.linspace(-half_width, half_width, 24001)
    logp = -0.5 * (grid - prior_loc) ** 2 - 0.5 * np.sum((y[:, None] - grid**2) ** 2, 0) / noise**2
    p = np.exp(logp - logp.max())
    return grid, p / p.sum()


def sign_ambiguity(
    dim: int = 3,
    prior_loc: float = 0.0,
    noise: float = 0.5,
    obs_per_coordinate: int = 5,
    seed: int = 0,
) -> MultimodalPosterior:
    """(c, d) ``theta_j ~ N(prior_loc, 1)`` and ``y_jr ~ N(theta_j^2, noise^2)``, ``r = 1..``
    ``obs_per_coordinate``, data from ``|theta_j| = 1.5``: each ``theta_j`` has a positive
    and a negative mode, so the posterior has ``2^dim`` modes (sign patterns; ``assign`` reads
    the bits ``theta_j > 0``). With ``prior_loc = 0`` they have equal mass by symmetry; with
    ``prior_loc != 0`` the masses differ and a larger ``noise`` makes the modes skewed. The
    masses and exact draws come from quadrature of each coordinate's posterior on a grid of
    24,001 points over ``[-6, 6]``."""
    dim = positive_int("dim", dim)
    n = positive_int("obs_per_coordinate", obs_per_coordinate)
    rng = np.random.default_rng(seed)
    y = 2.25 + noise * rng.normal(size=(dim, n))
    grids = [_sign_grid(y[j], noise, prior_loc) for j in range(dim)]
    p_pos = np.array([p[g > 0].sum() for g, p in grids])
    bits = (np.arange(2**dim)[:, None] >> np.arange(dim)) & 1  # (2^dim, dim)
    weights = np.prod(np.where(bits == 1, p_pos, 1 - p_pos), -1)
    y_j = jnp.asarray(y, jnp.float32)
    cdfs = [(g, np.cumsum(p)) for g, p in grids]

    def model() -> None:
        theta = numpyro.sample("theta", dist.Normal(prior_loc, 1.0).expand([dim]).to_event(1))
        numpyro.sample("y", dist.Normal(theta[:, None] ** 2, noise).to_event(2), obs=y_j)

    def assign(draws: ArrayLike) -> jax.Array:
        pos = (jnp.asarray(draws) > 0).astype(jnp.int32)
        return jnp.sum(pos * (2 ** jnp.arange(dim)), -1)

    def sample(key: jax.Array, num: int) -> jax.Array:
        u = np.asarray(random.uniform(key, (num, dim)), np.float64)
        return jnp.stack(
            [jnp.asarray(np.interp(u[:, j], c, g)) for j, (g, c) in enumerate(cdfs)], -1
        )

    kind = "equal" if prior_loc == 0 else "unequal"
    return MultimodalPosterior(
        name=f"sign-d{dim}-{kind}",
        model=model,
        site="theta",
        dim=dim,
        weights=weights,
        assign=assign,
        starts=np.where(bits == 1, 1.5, -1.5).astype(np.float64),
        sample=sample,
        description=f"y ~ N(theta^2, {noise}) in {dim} coordinates, prior N({prior_loc}, 1)",
        prior=(np.ones(1), np.full((1, dim), float(prior_loc)), np.ones((1, dim))),
    )


def posterior_family() -> list[MultimodalPosterior]:
    """The members measured in ``docs/posteriors.md``: (a) at d = 8, 16, 50, 200; (b) with
    K = 2, 3; (c) equal masses in d = 3; (d) unequal masses, skewed modes, in d = 3; and the
    members of :func:`~numpyro_cld.examples.reach.reach_family` (an enumerated mixture of
    iris data, a 50-d factor model of diabetes data, an ``ImproperUniform`` + ``factor``
    density and a ``potential_fn``)."""
    from .reach import reach_family

    return [
        mixture_prior_linear(8, 2, seed=1),
        mixture_prior_linear(16, 3, seed=0),
        mixture_prior_linear(50, 3, seed=2),
        mixture_prior_linear(200, 4, seed=3),
        label_switching(2),
        label_switching(3),
        sign_ambiguity(3),
        sign_ambiguity(3, prior_loc=0.5, noise=1.0, obs_per_coordinate=2),
        *reach_family(),
    ]
