"""Smoothed scores: the exact effect handler against brute-force Monte-Carlo convolution,
the Monte-Carlo Tweedie estimator's convergence, the tempered path, unsupported models."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
import scipy.stats
from jax import random
from jax.flatten_util import ravel_pytree
from numpyro.distributions import constraints
from numpyro.handlers import seed, trace

from numpyro_cld.schedules import GaussianBase, StudentTBase
from numpyro_cld.sources import (
    UnsupportedSiteError,
    exact_level_source,
    exact_smoothing_problems,
    mc_level_source,
    smooth,
    smooth_distribution,
    tempered_level_source,
)

# a 2-d mixture with correlated, unequal components (exercises MVN and MixtureSameFamily)
LOCS = jnp.array([[-2.0, 1.0], [1.5, -0.5], [2.0, 2.5]])
COVS = jnp.array([[[1.0, 0.6], [0.6, 0.8]], [[0.5, -0.2], [-0.2, 0.7]], [[0.3, 0.0], [0.0, 1.2]]])
WEIGHTS = jnp.array([0.5, 0.3, 0.2])
POINTS = jnp.array([[0.0, 0.0], [-2.5, 1.5], [2.0, 1.0], [1.0, -2.0]])


def mixture():
    return dist.MixtureSameFamily(
        dist.Categorical(WEIGHTS), dist.MultivariateNormal(LOCS, covariance_matrix=COVS)
    )


def model():
    numpyro.sample("x", mixture())


def unravel(x):
    return {"x": x}


def _mixture_density_and_grad(y):
    """The unsmoothed mixture's density and its gradient, in float64 numpy (independent of
    the NumPyro distribution code under test)."""
    dens, grad = np.zeros(len(y)), np.zeros_like(y)
    for w, m, c in zip(
        np.asarray(WEIGHTS, np.float64),
        np.asarray(LOCS, np.float64),
        np.asarray(COVS, np.float64),
        strict=True,
    ):
        prec = np.linalg.inv(c)
        r = y - m
        q = np.einsum("ni,ij,nj->n", r, prec, r)
        dk = w * np.exp(-0.5 * q) / (2 * np.pi * np.sqrt(np.linalg.det(c)))
        dens += dk
        grad -= dk[:, None] * r @ prec
    return dens, grad


def brute_force_score(xs, path, level, seed, num_batches=10, batch=20_000):
    """``grad log (p * k)(x)`` by differentiating the convolution under the integral:
    ``E_z[grad_x p((x - tau z)/a)] / E_z[p((x - tau z)/a)]`` with z ~ N(0, I) -- a different
    identity from the Tweedie estimator under test. Returns the estimates and their
    standard errors from the spread of per-batch ratios."""
    a, tau = (1.0, level) if path == "ve" else (np.sqrt(level), np.sqrt(1 - level))
    rng = np.random.default_rng(seed)
    xs = np.asarray(xs, np.float64)
    ratios = np.zeros((len(xs), num_batches, 2))
    for i, x in enumerate(xs):
        for b in range(num_batches):
            y = (x - tau * rng.standard_normal((batch, 2))) / a
            dens, grad = _mixture_density_and_grad(y)
            ratios[i, b] = (grad / a).mean(0) / dens.mean()  # chain rule: dy/dx = 1/a
    return ratios.mean(1), ratios.std(1, ddof=1) / np.sqrt(num_batches)


@pytest.mark.parametrize("path, level", [("ve", 0.5), ("ve", 2.0), ("vp", 0.3), ("vp", 0.8)])
def test_exact_smoothed_score_matches_brute_force_convolution(path, level):
    source = jax.jit(
        jax.vmap(exact_level_source(model, (), {}, path, GaussianBase(), unravel), (0, None))
    )
    _, exact = source(POINTS, jnp.float32(level))
    ref, se = brute_force_score(POINTS, path, level, seed=0)
    # 5 Monte-Carlo standard errors of the brute force + float32 rounding
    np.testing.assert_array_less(np.abs(np.asarray(exact) - ref), 5 * se + 1e-3)
    assert np.all(se < 0.02), se  # the reference is sharp enough to catch errors


@pytest.mark.slow  # CI budget: test_exact_smoothed_score_matches_brute_force... is CI's
def test_exact_smoothed_potential_is_the_closed_form_mixture():
    sigma = 0.7
    source = jax.jit(
        jax.vmap(exact_level_source(model, (), {}, "ve", GaussianBase(), unravel), (0, None))
    )
    closed = dist.MixtureSameFamily(
        dist.Categorical(WEIGHTS),
        dist.MultivariateNormal(LOCS, covariance_matrix=COVS + sigma**2 * jnp.eye(2)),
    )
    pe, score = source(POINTS, jnp.float32(sigma))
    np.testing.assert_allclose(pe, -closed.log_prob(POINTS), rtol=1e-5)
    np.testing.assert_allclose(
        score, jax.vmap(jax.grad(closed.log_prob))(POINTS), rtol=1e-4, atol=1e-5
    )
    # vp with base N(0, c^2 I): N(sqrt(lam) m, lam S + (1 - lam) c^2 I)
    lam, c = 0.4, 2.0
    source = jax.jit(
        jax.vmap(exact_level_source(model, (), {}, "vp", GaussianBase(c), unravel), (0, None))
    )
    closed = dist.MixtureSameFamily(
        dist.Categorical(WEIGHTS),
        dist.MultivariateNormal(
            jnp.sqrt(lam) * LOCS, covariance_matrix=lam * COVS + (1 - lam) * c**2 * jnp.eye(2)
        ),
    )
    pe, _ = source(POINTS, jnp.float32(lam))
    np.testing.assert_allclose(pe, -closed.log_prob(POINTS), rtol=1e-5)


def multi_site_model():
    with numpyro.plate("p", 3):
        numpyro.sample("a", dist.Normal(jnp.array([0.0, 1.0, 2.0]), 0.5))
    numpyro.sample(
        "b",
        dist.MixtureGeneral(
            dist.Categorical(jnp.array([0.3, 0.7])),
            [
                dist.Normal(jnp.array([1.0, -1.0]), 2.0).to_event(1),
                dist.MultivariateNormal(jnp.zeros(2), jnp.array([[1.0, 0.3], [0.3, 1.0]])),
            ],
            support=constraints.real_vector,
        ),
    )
    numpyro.sample("c", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
    numpyro.deterministic("ignored", 1.0)


@pytest.mark.slow  # CI budget: test_smooth_distribution_normal_closed_forms is CI's sibling
def test_handler_on_plates_independent_expanded_and_mixture_general():
    sigma = 1.3
    tr = trace(seed(multi_site_model, 0)).get_trace()
    params = {k: tr[k]["value"] for k in ("a", "b", "c")}
    x, unravel_fn = ravel_pytree(params)
    pe, _ = jax.jit(exact_level_source(multi_site_model, (), {}, "ve", GaussianBase(), unravel_fn))(
        x, jnp.float32(sigma)
    )
    v = sigma**2
    expected = (
        dist.Normal(jnp.array([0.0, 1.0, 2.0]), jnp.sqrt(0.25 + v)).log_prob(params["a"]).sum()
        + dist.MixtureGeneral(
            dist.Categorical(jnp.array([0.3, 0.7])),
            [
                dist.Normal(jnp.array([1.0, -1.0]), jnp.sqrt(4.0 + v)).to_event(1),
                dist.MultivariateNormal(jnp.zeros(2), jnp.array([[1 + v, 0.3], [0.3, 1 + v]])),
            ],
            support=constraints.real_vector,
        ).log_prob(params["b"])
        + dist.Normal(0.0, jnp.sqrt(1 + v)).log_prob(params["c"]).sum()
    )
    np.testing.assert_allclose(pe, -expected, rtol=1e-5)
    assert exact_smoothing_problems(multi_site_model) == []


def test_smooth_distribution_normal_closed_forms():
    d = smooth_distribution(dist.Normal(3.0, 2.0), "vp", 0.25, GaussianBase(1.0))
    np.testing.assert_allclose([d.loc, d.scale], [1.5, np.sqrt(0.25 * 4 + 0.75)], rtol=1e-6)
    d = smooth_distribution(dist.Normal(3.0, 2.0), "ve", 1.5)
    np.testing.assert_allclose([d.loc, d.scale], [3.0, 2.5], rtol=1e-6)


@pytest.mark.slow  # CI budget: test_mc_at_lambda_one_is_the_exact_score is CI's sibling
@pytest.mark.parametrize("path, level", [("ve", 1.0), ("vp", 0.5)])
def test_mc_tweedie_converges_to_exact(path, level):
    exact_src = exact_level_source(model, (), {}, path, GaussianBase(), unravel)
    x = jnp.array([0.5, 0.5])
    _, exact = exact_src(x, jnp.float32(level))
    keys = random.split(random.key(0), 400)
    rmse, bias, se = {}, {}, {}
    for n in (8, 64, 512, 4096):
        src = mc_level_source(lambda y: -mixture().log_prob(y), path, GaussianBase(), n)
        est = np.asarray(
            jax.jit(jax.vmap(lambda k, src=src: src(x, jnp.float32(level), k)[1]))(keys)
        )
        err = est - np.asarray(exact)
        rmse[n] = np.sqrt((err**2).sum(-1).mean())
        bias[n] = err.mean(0)
        se[n] = est.std(0) / np.sqrt(len(keys))
    # RMSE ~ n^{-1/2}: 512x more draws must cut it by well over 8 (sqrt(512) = 22.6)
    assert rmse[8] > rmse[64] > rmse[512] > rmse[4096], rmse
    assert rmse[8] / rmse[4096] > 8, rmse
    # self-normalisation bias is O(1/n): invisible at n = 4096 within 4 standard errors
    np.testing.assert_array_less(np.abs(bias[4096]), 4 * se[4096] + 1e-3)


@pytest.mark.slow  # CI budget: test_mc_at_lambda_one_is_the_exact_score is CI's sibling
def test_mc_student_t_vp_score_matches_quadrature():
    """Student-t base on the vp path (no closed form): the Monte-Carlo score against a 1-d
    quadrature of the convolution ``p_lam(x) = int p(y) nu_tau(x - a y) dy``."""
    base = StudentTBase(3.0)
    lam = 0.5
    a, tau = np.sqrt(lam), np.sqrt(1 - lam)
    target = dist.MixtureSameFamily(
        dist.Categorical(jnp.array([0.3, 0.7])),
        dist.Normal(jnp.array([-2.0, 1.0]), jnp.array([0.5, 1.0])),
    )
    y = np.linspace(-12, 12, 20001)
    p_y = np.exp(np.asarray(target.log_prob(jnp.asarray(y))))
    nu = StudentTBase(3.0, scale=tau)  # law of tau Z

    def quad_score(x):
        u = jnp.asarray((x - a * y)[:, None], jnp.float32)
        dens = np.exp(np.asarray(nu.log_prob(u)))
        grad = np.asarray(nu.score(u))[:, 0] * dens
        return np.trapezoid(p_y * grad, y) / np.trapezoid(p_y * dens, y)

    src = mc_level_source(lambda v: -target.log_prob(v[0]), "vp", base, 2048)
    keys = random.split(random.key(3), 200)
    estimate = jax.jit(jax.vmap(lambda x, k: src(x, jnp.float32(lam), k)[1], (None, 0)))
    for x in (-2.0, 0.0, 1.5, 6.0):
        est = np.asarray(estimate(jnp.array([x]), keys))
        se = est.std() / np.sqrt(len(keys))
        assert abs(est.mean() - quad_score(x)) < 4 * se + 2e-3, (x, est.mean(), quad_score(x), se)


def test_mc_at_lambda_one_is_the_exact_score():
    src = mc_level_source(lambda v: -mixture().log_prob(v), "vp", GaussianBase(), 16)
    x = jnp.array([0.2, -0.4])
    pe, score = jax.jit(src)(x, jnp.float32(1.0), random.key(0))
    np.testing.assert_allclose(pe, -mixture().log_prob(x), rtol=1e-5)
    np.testing.assert_allclose(score, jax.grad(mixture().log_prob)(x), rtol=1e-5)


def _base_log_density(base, x):
    """``log nu(x)`` of the base, from scipy in float64 (not the base's own code)."""
    x = np.asarray(x, np.float64)
    if isinstance(base, GaussianBase):
        return scipy.stats.norm(0.0, base.scale).logpdf(x).sum(-1)
    cov = base.scale**2 * np.eye(x.shape[-1])
    return scipy.stats.multivariate_t(np.zeros(x.shape[-1]), cov, df=base.alpha).logpdf(x)


def _numerical_grad(f, x, h=1e-5):
    """Central differences of ``f`` (float64, rows of ``x`` are points)."""
    x = np.asarray(x, np.float64)
    eye = h * np.eye(x.shape[-1])
    return np.stack([(f(x + e) - f(x - e)) / (2 * h) for e in eye], -1)


@pytest.mark.parametrize(
    "base",  # CI budget: the Student-t base runs in CI, the Gaussian one in the slow suite
    [pytest.param(GaussianBase(2.0), marks=pytest.mark.slow), StudentTBase(4.0)],
)
def test_tempered_source(base):
    """The path ``p^lam nu^(1 - lam)`` against float64 references: the mixture's density
    (numpy), the base's (scipy) and central differences for the scores."""
    src = jax.jit(
        jax.vmap(tempered_level_source(lambda v: -mixture().log_prob(v), base), (0, None))
    )

    def ref_log_path(x, lam):
        x = np.asarray(x, np.float64)
        return lam * np.log(_mixture_density_and_grad(x)[0]) + (1 - lam) * _base_log_density(
            base, x
        )

    for lam in (0.0, 0.3, 1.0):
        pe, score = src(POINTS, jnp.float32(lam))
        np.testing.assert_allclose(pe, -ref_log_path(POINTS, lam), rtol=1e-5, atol=1e-5)
        ref_score = _numerical_grad(lambda x, lam=lam: ref_log_path(x, lam), POINTS)
        np.testing.assert_allclose(score, ref_score, rtol=1e-4, atol=1e-5)


def test_tempered_source_gaussian_closed_form():
    """A Gaussian target N(m, S) and base N(0, c^2 I): the path at lam is the Gaussian with
    precision ``P = lam S^-1 + (1 - lam) / c^2 I`` and mean ``P^-1 lam S^-1 m``."""
    m, cov, c = np.asarray(LOCS[0], np.float64), np.asarray(COVS[0], np.float64), 2.0
    target = dist.MultivariateNormal(LOCS[0], covariance_matrix=COVS[0])
    src = jax.jit(
        jax.vmap(tempered_level_source(lambda v: -target.log_prob(v), GaussianBase(c)), (0, None))
    )
    x = np.asarray(POINTS, np.float64)
    for lam in (0.0, 0.3, 0.8, 1.0):
        prec = lam * np.linalg.inv(cov) + (1 - lam) / c**2 * np.eye(2)
        mean = np.linalg.solve(prec, lam * np.linalg.solve(cov, m))
        r = x - mean
        quad = 0.5 * np.einsum("ni,ij,nj->n", r, prec, r)
        pe, score = src(POINTS, jnp.float32(lam))
        np.testing.assert_allclose(score, -r @ prec, rtol=1e-4, atol=1e-5)
        # the normalising constants cancel in differences of the potential
        np.testing.assert_allclose(pe - pe[0], quad - quad[0], rtol=1e-4, atol=1e-4)


# -- unsupported models: clear errors naming the site -----------------------------------
def observed_model():
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    numpyro.sample("obs", dist.Normal(mu, 1.0), obs=jnp.array(0.3))


def gamma_model():
    numpyro.sample("x", dist.Normal(0.0, 1.0))
    numpyro.sample("tau", dist.Gamma(2.0, 1.0))


def dependent_model():
    x = numpyro.sample("x", dist.Normal(0.0, 1.0))
    numpyro.sample("y", dist.Normal(x, 1.0))


def factor_model():
    numpyro.sample("x", dist.Normal(0.0, 1.0))
    numpyro.factor("extra", -1.0)


@pytest.mark.parametrize(
    "bad, site", [(observed_model, "obs"), (gamma_model, "tau"), (factor_model, "extra")]
)
def test_unsupported_site_named(bad, site):
    problems = exact_smoothing_problems(bad)
    assert len(problems) == 1 and f"'{site}'" in problems[0]
    with pytest.raises(UnsupportedSiteError, match=f"'{site}'"):
        trace(seed(smooth(bad, path="ve", level=1.0), 0)).get_trace()


def test_gamma_site_names_distribution():
    assert "Gamma" in exact_smoothing_problems(gamma_model)[0]


def test_dependent_sites_detected():
    problems = exact_smoothing_problems(dependent_model)
    assert len(problems) == 1 and "'x' and 'y'" in problems[0]


def test_student_t_vp_has_no_exact_smoothing():
    assert "StudentTBase" in exact_smoothing_problems(model, path="vp", base=StudentTBase(3.0))[0]
    with pytest.raises(UnsupportedSiteError, match="Student-t"):
        smooth_distribution(dist.Normal(0.0, 1.0), "vp", 0.5, StudentTBase(3.0))


def test_smooth_handler_needs_level_and_known_path():
    with pytest.raises(ValueError, match="level"):
        smooth(model, path="ve")
    with pytest.raises(ValueError, match="path"):
        smooth_distribution(dist.Normal(0.0, 1.0), "tempered", 0.5)
