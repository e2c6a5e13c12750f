"""ChainedLangevin: prefix sources, exactness of both sweeps, NumPyro integration, bad inputs."""

import dataclasses
import logging
import math
import pickle
import warnings

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from conftest import says
from jax import random
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import MCMC, NUTS, Gibbs
from scipy import stats

from numpyro_cld import ChainedLangevin, Langevin, notes
from numpyro_cld.blocks import patch_layout
from numpyro_cld.samplers import chained
from numpyro_cld.schedules import chained_sigmas
from numpyro_cld.sources import GaussianMixturePrefix, NotExactError, PrefixSource, model_prefix
from numpyro_cld.targets import paper_gmm

from _models import COV5, MEAN5, gaussian5  # noqa: E402


def two_mixture(weights=(0.3, 0.7), d=4, sep=1.5, scale=0.6):
    locs = jnp.stack([-sep * jnp.ones(d), sep * jnp.ones(d)])

    def model():
        numpyro.sample(
            "x",
            dist.MixtureSameFamily(
                dist.Categorical(probs=jnp.asarray(weights)), dist.Normal(locs, scale).to_event(1)
            ),
        )

    return model, locs


def hier_obs(y):
    # mu ~ N(0, 1), theta_j ~ N(mu, 1), y_j ~ N(theta_j, 1): a Gaussian posterior
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("j", y.shape[0]):
        theta = numpyro.sample("theta", dist.Normal(mu, 1.0))
        numpyro.sample("y", dist.Normal(theta, 1.0), obs=y)


def hier_exact_posterior(y):
    j = y.shape[0]
    # joint Gaussian of (mu, theta, y); condition on y
    cov = np.zeros((1 + 2 * j, 1 + 2 * j))
    cov[0, 0] = 1.0
    cov[0, 1:] = 1.0
    cov[1:, 0] = 1.0
    cov[1:, 1:] = 1.0
    cov[1 : 1 + j, 1 : 1 + j] += np.eye(j)
    cov[1 + j :, 1 + j :] += 2 * np.eye(j)
    cov[1 : 1 + j, 1 + j :] += np.eye(j)
    cov[1 + j :, 1 : 1 + j] += np.eye(j)
    a, b = slice(0, 1 + j), slice(1 + j, None)
    gain = cov[a, b] @ np.linalg.inv(cov[b, b])
    return gain @ y, cov[a, a] - gain @ cov[b, a]


# -- prefix sources ----------------------------------------------------------------------
def test_gaussian_prefix_matches_exact_dense_conditional_with_smoothing():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    cov = a @ a.T + 6 * np.eye(6)
    loc = rng.normal(size=6)
    x = rng.normal(size=6)
    src = GaussianMixturePrefix(
        jnp.zeros(1), loc[None], scale_tril=np.linalg.cholesky(cov)[None], patch_size=2
    )
    assert isinstance(src, PrefixSource)
    for sigma in (0.0, 0.7):
        ctx = src.init_context(sigma)
        for i in range(3):
            s = slice(2 * i, 2 * i + 2)
            u, score = src.potential_and_score(ctx, i, jnp.asarray(x[s], jnp.float32), sigma)
            p = slice(0, 2 * i)
            gain = cov[s, p] @ np.linalg.inv(cov[p, p]) if i else np.zeros((2, 0))
            m = loc[s] + gain @ (x[p] - loc[p])
            c = cov[s, s] - gain @ cov[p, s] + sigma**2 * np.eye(2)
            want = -stats.multivariate_normal(m, c).logpdf(x[s])
            np.testing.assert_allclose(u, want, rtol=1e-4)
            np.testing.assert_allclose(score, -np.linalg.solve(c, x[s] - m), rtol=1e-3, atol=1e-4)
            ctx = src.advance(ctx, i, jnp.asarray(x[s], jnp.float32), sigma)


def test_masked_model_prefix_agrees_with_fast_mixture_prefix():
    model, locs = two_mixture(d=5)
    fast, kind = model_prefix(model, (), {}, patch_size=2)
    assert kind == "gaussian"

    # a second (independent) site forces the general masked path
    def model2():
        model()
        numpyro.sample("z", dist.Normal(0.0, 1.0))

    masked, kind2 = model_prefix(model2, (), {}, patch_size=2)
    assert kind2 == "masked"
    x = random.normal(random.key(0), (6,))
    cf, cm = fast.init_context(0.0), masked.init_context(0.0)
    for i, (s, n) in enumerate([(0, 2), (2, 2), (4, 1)]):
        xp = x[s : s + n]
        uf, sf = fast.potential_and_score(cf, i, xp, 0.0)
        um, sm = masked.potential_and_score(cm, i, xp, 0.0)
        # the masked potential is -log p(x_<=i); differences in x_i are what matter
        uf2 = fast.potential_and_score(cf, i, xp + 0.3, 0.0)[0]
        um2 = masked.potential_and_score(cm, i, xp + 0.3, 0.0)[0]
        np.testing.assert_allclose(uf2 - uf, um2 - um, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(sf, sm, rtol=1e-4, atol=1e-4)
        cf, cm = fast.advance(cf, i, xp, 0.0), masked.advance(cm, i, xp, 0.0)


def test_masked_prefix_is_the_exact_marginal_for_plates_of_mvn_and_a_constrained_site():
    cov = np.array([[1.0, 0.5], [0.5, 2.0]], np.float32)

    def model():
        with numpyro.plate("p", 3):
            numpyro.sample("v", dist.MultivariateNormal(jnp.zeros(2), cov))
        numpyro.sample("s", dist.HalfNormal(1.0))  # sampled as log s: Jacobian s

    src, kind = model_prefix(model, (), {}, patch_size=1)
    assert kind == "masked"
    x = np.asarray(random.normal(random.key(0), (7,)))
    v, log_s = x[:6].reshape(3, 2), x[6]
    mvn = stats.multivariate_normal(np.zeros(2), cov)
    want = {
        1: -stats.norm.logpdf(x[0]),  # leading block of the first MVN
        3: -(mvn.logpdf(v[0]) + stats.norm.logpdf(v[1, 0])),
        7: -(mvn.logpdf(v).sum() + stats.halfnorm.logpdf(np.exp(log_s)) + log_s),
    }
    for n, u in want.items():
        np.testing.assert_allclose(src.prefix_potential(jnp.asarray(x), n), u, rtol=1e-5)


def test_model_prefix_reasons():
    with pytest.raises(NotExactError, match="observed site"):
        model_prefix(hier_obs, (jnp.ones(3),), {}, patch_size=1)

    def factored():  # a numpyro.factor is an observed site underneath: named as a factor
        x = numpyro.sample("x", dist.Normal(0.0, 1.0).expand([2]))
        numpyro.factor("bump", -jnp.sum(x**4))

    with pytest.raises(NotExactError, match=r"has factor site\(s\) \['bump'\]: a likelihood"):
        model_prefix(factored, (), {}, patch_size=1)

    def simplex():
        numpyro.sample("p", dist.Dirichlet(jnp.ones(3)))

    with pytest.raises(NotExactError, match="mixes coordinates|not available"):
        model_prefix(simplex, (), {}, patch_size=1)


# -- exactness ---------------------------------------------------------------------------
def _full_sweep_run(model, key, *args):
    """2 chains x (300 + 1500) of the full sweep with MH, 3 steps per patch of 2."""
    kernel = ChainedLangevin(
        model, patch_size=2, conditional="full", adjust=True, steps_per_patch=3
    )
    mcmc = MCMC(
        kernel,
        num_warmup=300,
        num_samples=1500,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(random.key(key), *args)
    return mcmc.get_samples(group_by_chain=True)


@pytest.mark.slow
def test_full_sweep_mala_correlated_gaussian(mc_check):
    x = _full_sweep_run(gaussian5, 0)["x"]
    mc_check(x, MEAN5, np.diag(COV5))
    # the correlation is a moment too: E[(x0 - m0)(x1 - m1)] = 0.5
    prod = (x[..., 0] - MEAN5[0]) * (x[..., 1] - MEAN5[1])
    mc_check(prod, 0.5, COV5[0, 0] * COV5[1, 1] + COV5[0, 1] ** 2)


@pytest.mark.slow
def test_full_sweep_mala_hierarchical_with_observations(mc_check):
    y = jnp.array([1.5, -0.5, 2.0, 0.3])
    mean, cov = hier_exact_posterior(np.asarray(y, np.float64))
    s = _full_sweep_run(hier_obs, 1, y)
    draws = np.concatenate([s["mu"][..., None], s["theta"]], -1)
    mc_check(draws, mean, np.diag(cov))


def _indicator_check(hits, p, z=4.0):
    """Frequency of a (chains, draws) indicator against ``p`` within z MC standard errors
    (ESS of the indicator from NumPyro's estimator)."""
    hits = np.asarray(hits, np.float64)
    ess = float(effective_sample_size(hits[..., None])[0])
    tol = z * math.sqrt(p * (1 - p) / ess)
    assert abs(hits.mean() - p) < tol, (hits.mean(), p, tol, ess)


@pytest.mark.parametrize(
    "via",  # CI budget: the prefix_source run is CI's; the model's masked prefix is slow
    [pytest.param("model", marks=pytest.mark.slow), "prefix_source"],
)
def test_prefix_sweep_one_dim_patches_matches_mixture_frequencies(via):
    weights = (0.3, 0.7)
    model, locs = two_mixture(weights, d=4, sep=1.5, scale=0.6)
    if via == "model":
        kernel = ChainedLangevin(
            model, patch_size=1, adjust=True, steps_per_patch=30, step_size=0.3
        )
        args = {}
    else:
        src = GaussianMixturePrefix(
            jnp.log(jnp.asarray(weights)), locs, 0.6 * jnp.ones((2, 4)), patch_size=1
        )
        mix = dist.MixtureSameFamily(
            dist.Categorical(probs=jnp.asarray(weights)), dist.Normal(locs, 0.6).to_event(1)
        )
        kernel = ChainedLangevin(
            potential_fn=lambda x: -mix.log_prob(x),
            prefix_source=src,
            patch_size=1,
            adjust=True,
            steps_per_patch=30,
            step_size=0.3,
        )
        args = dict(init_params=jnp.full((4, 4), -1.5))
    mcmc = MCMC(
        kernel,
        num_warmup=100,
        num_samples=400,
        num_chains=4,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(random.key(2), **args)
    assert kernel.conditional == "prefix"
    x = np.asarray(
        mcmc.get_samples(group_by_chain=True)["x"]
        if via == "model"
        else mcmc.get_samples(group_by_chain=True)
    )
    _indicator_check(x.mean(-1) > 0, weights[1])


@pytest.mark.slow  # CI budget: test_masked_prefix_is_the_exact_marginal... is its CI sibling
def test_prefix_sweep_hierarchical_without_observations(mc_check):
    # sites depend on earlier ones: exact masked prefix marginals, in site order ("z" < "a")
    def model():
        z = numpyro.sample("z", dist.Normal(0.0, 1.0))
        numpyro.sample("a", dist.Normal(z * jnp.ones(3), 0.5))

    kernel = ChainedLangevin(
        model, patch_size=1, conditional="prefix", adjust=True, steps_per_patch=5, step_size=0.3
    )
    mcmc = MCMC(
        kernel,
        num_warmup=200,
        num_samples=1000,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(random.key(3))
    s = mcmc.get_samples(group_by_chain=True)
    mc_check(s["z"], 0.0, 1.0)
    mc_check(s["a"], 0.0, 1.25)


def test_user_prefix_potential_on_an_ar1_chain(mc_check):
    # x_0 ~ N(0, 1), x_j | x_{j-1} ~ N(0.8 x_{j-1}, 0.6^2): every x_j ~ N(0, 1)
    d = 6

    def terms(x):
        prev = jnp.concatenate([jnp.zeros(1), x[:-1]])
        sd = jnp.where(jnp.arange(d) == 0, 1.0, 0.6)
        return 0.5 * ((x - 0.8 * prev) / sd) ** 2

    def prefix_potential(x, n):
        return jnp.sum(jnp.where(jnp.arange(d) < n, terms(x), 0.0))

    kernel = ChainedLangevin(
        potential_fn=lambda x: jnp.sum(terms(x)),
        prefix_potential=prefix_potential,
        patch_size=2,
        adjust=True,
        steps_per_patch=20,
        step_size=0.2,
    )
    mcmc = MCMC(
        kernel,
        num_warmup=100,
        num_samples=600,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(random.key(12), init_params=jnp.zeros((2, d)))
    assert kernel.conditional == "prefix"
    mc_check(mcmc.get_samples(group_by_chain=True), 0.0, 1.0)


def test_per_patch_step_sizes_adapt_to_scales():
    def model():
        numpyro.sample("small", dist.Normal(0.0, 0.05))
        numpyro.sample("large", dist.Normal(0.0, 5.0))

    kernel = ChainedLangevin(
        model,
        patch_size=1,
        conditional="full",
        adjust=True,
        steps_per_patch=5,
        target_accept_prob=0.6,
        adapt_mass_matrix=False,  # the multipliers alone must absorb the scales
    )
    mcmc = MCMC(kernel, num_warmup=300, num_samples=200, progress_bar=False)
    mcmc.run(random.key(13))
    scale = np.asarray(mcmc.last_state.step_scale)  # site order: small, large
    # MALA's optimal step grows like the variance: a ratio of 1e4 here
    assert scale[1] / scale[0] > 100, scale
    assert abs(float(mcmc.last_state.mean_accept_prob) - 0.6) < 0.15


def test_per_patch_mass_matrix_mixes_every_scale(mc_check):
    # scales 0.05..20 inside one patch: one step size per patch cannot serve both (ESS 2 and
    # 18 of 1000 for the wide coordinates without a mass matrix, measured); the diagonal mass
    # estimated in warmup can. Moments within 4 MCSE (from ESS), and ESS >= 100 each.
    sd = np.array([0.05, 5.0, 1.0, 20.0])

    def model():
        numpyro.sample("x", dist.Normal(0.0, sd))

    kernel = ChainedLangevin(model, patch_size=2, conditional="full")
    mcmc = MCMC(kernel, num_warmup=300, num_samples=500, num_chains=2,
                chain_method="vectorized", progress_bar=False)  # fmt: skip
    mcmc.run(random.key(0))
    ess = mc_check(mcmc.get_samples(group_by_chain=True)["x"], 0.0, sd**2)
    assert np.all(ess >= 100), ess
    assert mcmc.last_state.adapt_state.mass_sqrt_inv.shape == (2, 4)


def test_chained_sigmas_start_at_the_largest_distance_within_a_patch():
    x = np.random.default_rng(0).normal(size=(30, 5)) * [1.0, 1.0, 3.0, 3.0, 3.0]
    patches = [(0, 2), (2, 5)]
    brute = max(
        np.linalg.norm(x[i, a:b] - x[j, a:b])
        for a, b in patches
        for i in range(30)
        for j in range(30)
    )
    s = chained_sigmas(x, [0, 2], num_levels=6, ratio=1e-2)
    assert s.shape == (6,) and s[-1] == 0.0 and np.all(np.diff(s) < 0)
    np.testing.assert_allclose([s[0], s[-2]], [brute, 1e-2 * brute], rtol=1e-9)
    np.testing.assert_allclose(s[1:-1] / s[:-2], (1e-2) ** (1 / 4), rtol=1e-9)  # geometric
    # one patch: the largest distance over all coordinates (the last patch counts too)
    whole = max(np.linalg.norm(a - b) for a in x for b in x)
    np.testing.assert_allclose(chained_sigmas(x, [0])[0], whole, rtol=1e-9)


def test_chained_sigmas_pruned_search_equals_every_patch():
    # the first level visits few patches (bound: twice the largest distance to the mean);
    # it must equal the maximum over every patch, here with many unequal patches and scales
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 300)) * rng.uniform(0.2, 3.0, 300)
    for starts in (np.arange(300), np.arange(0, 300, 7), np.unique(rng.integers(1, 300, 60))):
        starts = np.unique(np.append(0, starts))
        ends = np.append(starts[1:], 300)
        brute = max(
            np.max(np.linalg.norm(x[:, None, a:b] - x[None, :, a:b], axis=-1))
            for a, b in zip(starts, ends, strict=True)
        )
        np.testing.assert_allclose(chained_sigmas(x, starts)[0], brute, rtol=1e-9)


@pytest.mark.slow
def test_auto_sigmas_anneal_only_where_the_smoothed_prefix_is_exact(caplog):
    model, _ = two_mixture(d=4)
    kernel = ChainedLangevin(model, patch_size=2, steps_per_patch=2)
    mcmc = MCMC(kernel, num_warmup=3, num_samples=2, progress_bar=False)
    mcmc.run(random.key(0))
    sigmas = np.asarray(kernel.plan.sigmas)
    assert kernel.conditional == "prefix" and sigmas.shape == (40,) and sigmas[-1] == 0.0
    # one adapted multiplier per patch and level
    assert mcmc.last_state.step_scale.shape == (2, 40)
    assert np.all(np.isfinite(np.asarray(mcmc.get_samples()["x"])))
    # a model with data: the tempered route, unannealed, said in one line
    with says(caplog, "running conditional='tempered'"):
        observed = ChainedLangevin(hier_obs, patch_size=2, steps_per_patch=2)
        MCMC(observed, num_warmup=2, num_samples=2, progress_bar=False).run(
            random.key(0), jnp.zeros(3)
        )
    assert observed.conditional == "tempered" and observed.plan.sigmas is None

    # where the prior cannot be drawn forward: the tempered route from a fitted reference,
    # not annealed either, and the warning says which reference
    def improper(y=None):
        mu = numpyro.sample("mu", dist.ImproperUniform(dist.constraints.real, (), ()))
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    with says(caplog, "Gaussian reference fitted in warmup"):
        fitted = ChainedLangevin(improper)
        MCMC(fitted, num_warmup=2, num_samples=2, progress_bar=False).run(
            random.key(0), jnp.zeros(3)
        )
    assert fitted.conditional == "tempered" and fitted.plan.reference == "gaussian"
    assert fitted.plan.sigmas is None


def test_functional_chained_needs_step_sizes_for_a_zero_level():
    model, _ = two_mixture(d=4)
    src, _ = model_prefix(model, (), {}, patch_size=2)
    layout = patch_layout(4, patch_size=2)

    def f(x, k):
        return 0.5 * jnp.sum(x**2), -x

    with pytest.raises(ValueError, match="need explicit `step_sizes`"):
        chained(layout, f, prefix_source=src, sigmas=[1.0, 0.0])
    with pytest.raises(ValueError, match="`step_sizes` must hold 2"):
        chained(layout, f, prefix_source=src, sigmas=[1.0, 0.0], step_sizes=[0.1])


@pytest.mark.slow
def test_chained_ald_on_mixture_recovers_weights():
    """Chained-ALD is approximate (unadjusted steps, finite steps per level): with 20 steps
    per patch and level it gives mode 1 a frequency of 0.715 (mean of 6 seeds; 0.721 before
    the 0.2 key streams), 0.03 below its weight; 150 steps bring it to 0.741 (6 seeds), well
    inside the 4-standard-error band, which is what this test checks."""
    weights = (0.25, 0.75)
    model, _ = two_mixture(weights, d=6, sep=1.0, scale=0.5)
    kernel = ChainedLangevin(
        model,
        patch_size=2,
        sigmas=[1.0, 0.5, 0.25, 0.1],
        step_size=0.01,
        steps_per_patch=150,
        adjust=False,
    )
    init = {"x": jnp.full((8, 6), -1.0)}
    mcmc = MCMC(
        kernel,
        num_warmup=0,
        num_samples=300,
        num_chains=8,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(random.key(4), init_params=init)
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"])
    _indicator_check(x.mean(-1) > 0, weights[1])


# -- mode finding on paper-gmm (small versions; the full runs are in benchmarks/) -----
@pytest.mark.slow
def test_defaults_find_all_three_modes_of_paper_gmm():
    t = paper_gmm(100)

    def model():  # paper-gmm as a plain NumPyro model with a MixtureSameFamily site
        mix = dist.Categorical(probs=jnp.array([0.2, 0.4, 0.4]))
        comp = dist.Normal(jnp.asarray(t.locs), jnp.asarray(t.scales)).to_event(1)
        numpyro.sample("x", dist.MixtureSameFamily(mix, comp))

    mcmc = MCMC(
        ChainedLangevin(model, patch_size=2), num_warmup=20, num_samples=150, progress_bar=False
    )
    start = t.init_params(random.key(6), 1, "mode0")["x"][0]  # one chain started in mode 0
    mcmc.run(random.key(5), init_params={"x": start})
    freq = np.bincount(np.asarray(t.assign(mcmc.get_samples()["x"])), minlength=3)
    assert np.all(freq > 0), freq


@pytest.mark.slow
def test_prefix_finds_modes_where_vanilla_and_full_sweep_stay():
    t = paper_gmm(100)
    init = t.init_params(random.key(7), 40, "mode0")

    def freqs(kernel, n):
        m = MCMC(
            kernel,
            num_warmup=0,
            num_samples=n,
            num_chains=40,
            chain_method="vectorized",
            progress_bar=False,
        )
        m.run(random.key(8), init_params=init)
        a = np.asarray(t.assign(m.get_samples(group_by_chain=True)["x"][:, -1]))
        return np.bincount(a, minlength=3) / a.size

    # the same budget for all three: 10000 steps a chain
    pre = freqs(
        ChainedLangevin(t.model, patch_size=5, steps_per_patch=50, step_size=0.1, adjust=False), 10
    )
    full = freqs(
        ChainedLangevin(
            t.model,
            patch_size=5,
            conditional="full",
            steps_per_patch=50,
            step_size=0.1,
            adjust=False,
        ),
        10,
    )
    vanilla = freqs(Langevin(t.model, step_size=0.1, num_steps=1000, adjust=False), 10)
    # 40 chains: a mode of weight 0.4 gets fewer than 5 chains with probability < 1e-5
    assert pre[1] >= 5 / 40 and pre[2] >= 5 / 40, pre
    assert full[0] == 1.0 and vanilla[0] == 1.0, (full, vanilla)


# -- NumPyro integration -----------------------------------------------------------------
@pytest.mark.slow  # CI budget: resume is covered by test_reliability
def test_vectorized_resume_and_arviz():
    az = pytest.importorskip("arviz")
    model, _ = two_mixture(d=4)
    kernel = ChainedLangevin(model, patch_size=2, adjust=True, steps_per_patch=2)
    long = MCMC(
        kernel,
        num_warmup=20,
        num_samples=40,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    long.run(random.key(9))
    first = MCMC(
        kernel,
        num_warmup=20,
        num_samples=20,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    first.run(random.key(9))
    a = first.get_samples(group_by_chain=True)["x"]
    first.post_warmup_state = first.last_state
    first.run(first.post_warmup_state.rng_key)
    b = first.get_samples(group_by_chain=True)["x"]
    np.testing.assert_allclose(
        np.concatenate([a, b], 1), long.get_samples(group_by_chain=True)["x"], rtol=1e-5, atol=1e-6
    )
    idata = az.from_numpyro(long)
    assert idata.posterior["x"].shape == (2, 40, 4)
    assert "diverging" in idata.sample_stats


@pytest.mark.slow  # CI budget: Langevin's Gibbs block test runs in CI
def test_as_gibbs_block(mc_check, caplog):
    def model():
        x = numpyro.sample("x", dist.Normal(jnp.zeros(2), 1.0))
        numpyro.sample("y", dist.Normal(x.sum(), 1.0))  # y ~ N(0, 3) marginally

    # conditioned on y, the x block is a model with data: "auto" runs the tempered route
    with says(caplog, "no exact prefix conditionals"):
        kernel = Gibbs(
            [
                (ChainedLangevin(model, patch_size=1, adjust=True, steps_per_patch=3), ["x"]),
                (NUTS(model), None),
            ]
        )
        mcmc = MCMC(
            kernel,
            num_warmup=300,
            num_samples=1200,
            num_chains=2,
            chain_method="sequential",
            progress_bar=False,
        )
        mcmc.run(random.key(10))
    s = mcmc.get_samples(group_by_chain=True)
    mc_check(s["x"], 0.0, 1.0)
    mc_check(s["y"], 0.0, 3.0)


def two_sites():
    numpyro.sample("a", dist.Normal(1.0, 2.0))
    numpyro.sample("b", dist.Normal(jnp.zeros(3), 1.0))


def test_pickle_and_blocks_by_site_name_with_random_order(mc_check):
    kernel = ChainedLangevin(
        two_sites,
        patches=["b", "a"],
        conditional="full",
        order="random",
        adjust=True,
        steps_per_patch=3,
    )
    kernel = pickle.loads(pickle.dumps(kernel))
    mcmc = MCMC(
        kernel,
        num_warmup=200,
        num_samples=1000,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(random.key(11))
    s = mcmc.get_samples(group_by_chain=True)
    mc_check(s["a"], 1.0, 4.0)
    mc_check(s["b"], 0.0, 1.0)


@pytest.mark.parametrize("conditional", ["full", "prefix"])
def test_program_size_does_not_grow_with_the_number_of_blocks(conditional):
    # one lax.scan over the blocks: the traced step is the same size for 6 and 60 blocks
    # (unequal blocks of the full sweep are padded; equal ones need no padding)
    import jax

    def potential_and_score(x, key):
        return 0.5 * jnp.sum(x**2), -x

    def num_equations(num_blocks):
        if conditional == "full":
            sizes = [1 + (j % 3) for j in range(num_blocks)]
        else:
            sizes = [2] * num_blocks
        ends = np.cumsum(sizes)
        blocks = [np.arange(e - n, e) for n, e in zip(sizes, ends, strict=True)]
        layout = patch_layout(int(ends[-1]), patches=blocks)
        src = None
        if conditional == "prefix":
            src = GaussianMixturePrefix(
                jnp.zeros(1), jnp.zeros((1, layout.dim)), 1.0, starts=layout.starts
            )
        init, step = chained(layout, potential_and_score, prefix_source=src, adjust=True,
                             num_warmup=5, steps_per_patch=2)  # fmt: skip
        state = init(jnp.zeros(layout.dim), random.key(0))
        return len(jax.make_jaxpr(step)(random.key(1), state).jaxpr.eqns)

    assert num_equations(6) == num_equations(60)


def test_unequal_blocks_sample_their_full_conditionals_exactly():
    # padded blocks: a correlated Gaussian through blocks of sizes 1, 3, 1 with MALA; the
    # padding slots must not change the chain's target (mean and variance within MCSE)
    import jax

    cov = 0.5 * np.eye(5) + 0.5
    chol = jnp.asarray(np.linalg.cholesky(cov))
    prec = jnp.asarray(np.linalg.inv(cov))

    def potential_and_score(x, key):
        return 0.5 * x @ prec @ x, -prec @ x

    layout = patch_layout(5, patches=[[0], [1, 2, 3], [4]])
    init, step = chained(layout, potential_and_score, adjust=True, num_warmup=200,
                         steps_per_patch=3)  # fmt: skip

    def run(key):
        k0, k1 = random.split(key)
        state = init(chol @ random.normal(k0, (5,)), k0)

        def body(state, k):
            state = step(k, state)
            return state, state.z

        _, xs = jax.lax.scan(body, state, random.split(k1, 1200))
        return xs[200:]

    xs = np.asarray(jax.jit(jax.vmap(run))(random.split(random.key(3), 8)))
    ess = effective_sample_size(xs)
    mean, var = xs.mean((0, 1)), xs.var((0, 1))
    assert np.all(np.abs(mean) < 4 * np.sqrt(1.0 / ess)), (mean, ess)
    # Var of a sample variance of a unit-variance Gaussian: 2 / ESS
    assert np.all(np.abs(var - 1.0) < 4 * np.sqrt(2.0 / ess)), (var, ess)


def test_last_patch_may_be_smaller():
    model, _ = two_mixture(d=5)
    kernel = ChainedLangevin(model, patch_size=2)
    MCMC(kernel, num_warmup=1, num_samples=2, progress_bar=False).run(random.key(0))
    assert kernel.num_patches == 3


# -- bad inputs --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(patch_size=0), ValueError, "patch_size"),
        (dict(patch_size=-3), ValueError, "patch_size"),
        (dict(patch_size=2.5), TypeError, "patch_size"),
        (dict(conditional="marginal"), ValueError, "conditional"),
        (dict(order="backwards"), ValueError, "order"),
        (dict(steps_per_patch=0), ValueError, "steps_per_patch"),
        (dict(step_size=-1.0), ValueError, "step_size"),
        (dict(sigmas=[0.1, 1.0]), ValueError, "sigmas"),
        (dict(conditional="full", sigmas=[1.0, 0.1]), ValueError, "sigmas"),
        (dict(conditional="prefix", order="random"), ValueError, "order"),
        (dict(prefix_source=object()), TypeError, "prefix_source"),
        (dict(patches="x"), TypeError, "patches"),
    ],
)
def test_bad_constructor_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        ChainedLangevin(gaussian5, **kwargs)


def test_adjust_needs_density():
    with pytest.raises(ValueError, match="adjust"):
        ChainedLangevin(score_fn=lambda x: -x, adjust=True)


def _run(kernel, *args, **kw):
    MCMC(kernel, num_warmup=1, num_samples=1, progress_bar=False).run(random.key(0), *args, **kw)


def test_patch_size_larger_than_dimension_says_the_dimension():
    with pytest.raises(ValueError, match=r"patch_size.*dimension 5"):
        _run(ChainedLangevin(gaussian5, patch_size=6))


@pytest.mark.parametrize(
    "blocks, match",
    [
        ([[0, 1, 2], [2, 3, 4]], "overlap"),
        ([[0, 1], [3, 4]], "miss"),
        ([[0, 1, 2, 3, 4, 5]], "outside"),
    ],
)
def test_bad_blocks(blocks, match):
    with pytest.raises(ValueError, match=match):
        _run(ChainedLangevin(gaussian5, patches=blocks, conditional="full"))


def test_prefix_on_model_with_observed_sites_names_reason():
    with pytest.raises(ValueError, match=r"observed site.*conditional='full'"):
        _run(ChainedLangevin(hier_obs, conditional="prefix"), jnp.ones(3))


def test_prefix_needs_consecutive_blocks():
    with pytest.raises(ValueError, match="consecutive"):
        _run(ChainedLangevin(gaussian5, patches=[[0, 2], [1, 3, 4]], conditional="prefix"))


def test_discrete_latent_site_is_named():
    def model():
        c = numpyro.sample("cluster", dist.Bernoulli(0.5))
        numpyro.sample("x", dist.Normal(c, 1.0))

    with pytest.raises(ValueError, match="cluster"):
        _run(ChainedLangevin(model))


def test_prefix_source_built_for_another_patch_size():
    src = GaussianMixturePrefix(jnp.zeros(1), jnp.zeros((1, 4)), jnp.ones((1, 4)), patch_size=2)
    with pytest.raises(ValueError, match="patch_size"):
        _run(
            ChainedLangevin(potential_fn=lambda x: jnp.sum(x**2), prefix_source=src, patch_size=1),
            init_params=jnp.zeros(4),
        )


@pytest.mark.parametrize("conditional", ["auto", "prefix", "full", "tempered"])
def test_model_without_latent_sites_gives_empty_samples_as_nuts(conditional):
    def model(y=1.0):
        numpyro.deterministic("d", 2.0)
        numpyro.sample("y", dist.Normal(0.0, 1.0), obs=y)

    out = {}
    for name, kernel in [
        ("nuts", NUTS(model)),
        ("chained", ChainedLangevin(model, conditional=conditional)),
    ]:
        mcmc = MCMC(kernel, num_warmup=2, num_samples=3, progress_bar=False)
        mcmc.run(random.key(0))
        out[name] = {k: np.asarray(v) for k, v in mcmc.get_samples().items()}
    assert out["chained"].keys() == out["nuts"].keys() == {"d"}
    np.testing.assert_array_equal(out["chained"]["d"], out["nuts"]["d"])


def test_scale_handler_is_not_ignored_by_the_prefix_sweep(caplog):
    """A latent N(0, 1) under scale(4) has density N(0, 1/4): the prefix marginals of its
    distribution do not see the scale, so the kernel must not use them (it used to, and
    sampled sd 1.0 instead of 0.5)."""

    def base():
        numpyro.sample("x", dist.Normal(0.0, 1.0).expand([4]))

    model = numpyro.handlers.scale(base, scale=4.0)
    with pytest.raises(ValueError, match="handlers.scale"):
        _run(ChainedLangevin(model, patch_size=2, conditional="prefix"))
    kernel = ChainedLangevin(model, patch_size=2)
    with says(caplog, "handlers.scale"):
        mcmc = MCMC(kernel, num_warmup=200, num_samples=1000, progress_bar=False)
        mcmc.run(random.key(0))
    # no exact prefix, no data: the tempered route from a fitted Gaussian reference
    assert kernel.conditional == "tempered" and kernel.plan.reference == "gaussian"
    x = np.asarray(mcmc.get_samples()["x"])
    # sd 0.5, within 5 standard errors of the sample sd (se = 0.5 / sqrt(2 ESS), the ESS summed
    # over the 4 coordinates); the ignored scale would give 1.0
    ess = float(np.sum(effective_sample_size(x[None])))
    assert abs(x.std() - 0.5) < 5 * 0.5 / math.sqrt(2 * ess), (x.std(), ess)
    # a unit scale changes nothing: the exact prefix stays in use
    unit = ChainedLangevin(numpyro.handlers.scale(base, scale=1.0), patch_size=2, sigmas=None)
    _run(unit)
    assert unit.conditional == "prefix"


SCHOOLS_SIGMA = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])
SCHOOLS_Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])


def _counting(model_body):
    calls = [0]

    def model(*args, **kwargs):
        calls[0] += 1
        model_body(*args, **kwargs)

    return model, calls


def _schools(sigma, y=None):
    mu = numpyro.sample("mu", dist.Normal(0, 5))
    tau = numpyro.sample("tau", dist.HalfCauchy(5))
    with numpyro.plate("J", 8):
        theta = numpyro.sample("theta", dist.Normal(mu, tau))
        numpyro.sample("obs", dist.Normal(theta, sigma), obs=y)


def _gaussian4():
    numpyro.sample("x", dist.Normal(jnp.zeros(4), 1.0).to_event(1))


@pytest.mark.parametrize("body, args", [(_schools, (SCHOOLS_SIGMA, SCHOOLS_Y)), (_gaussian4, ())])
def test_the_model_is_run_at_most_twice_as_often_as_by_nuts(body, args):
    # Python calls of the model (traces) in one MCMC.run with 4 vectorized chains: the
    # kernel resolves its plan from one trace and builds its sampler once (issue: 29 calls
    # on eight schools, NUTS 3). Counted, not timed: the count is exact.
    counts = {}
    for name, make in (
        ("nuts", NUTS),
        ("langevin", Langevin),
        ("chained", lambda m: ChainedLangevin(m, patch_size=2, conditional="auto")),
    ):
        model, calls = _counting(body)
        mcmc = MCMC(make(model), num_warmup=3, num_samples=3, num_chains=4,
                    chain_method="vectorized", progress_bar=False)  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the route's note
            mcmc.run(random.key(0), *args)
        counts[name] = calls[0]
    assert counts["chained"] <= 2 * counts["nuts"], counts
    assert counts["langevin"] <= 2 * counts["nuts"], counts


def test_the_plan_is_frozen_and_says_what_runs(caplog):
    model, _ = two_mixture(d=4)
    kernel = ChainedLangevin(model, patch_size=2, steps_per_patch=2, sigmas=None)
    assert kernel.plan is None
    kernel.init(random.key(0), 5, None, (), {})
    plan = kernel.plan
    assert str(plan) == (
        "route: prefix (gaussian conditionals), sweep over 2 patches of 2, 2 steps each"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.route = "full"
    assert repr(kernel) == (
        "ChainedLangevin(patch_size=2, conditional='auto') <route: prefix (gaussian "
        "conditionals), sweep over 2 patches of 2, 2 steps each>"
    )
    with says(caplog, "running conditional='tempered'"):
        observed = ChainedLangevin(hier_obs, patch_size=2)
        observed.init(random.key(0), 100, None, (jnp.zeros(3),), {})
    text = str(observed.plan)
    assert text == (
        "route: tempered from the prior, 8 powers (adapted in warmup), hot replicas: MALA "
        "x 2; posterior: MALA x 6 (dense mass), patches not swept (sweep_posterior=False)"
    )
    # 7 hot replicas x (2 steps + 1 gradient after the swaps), the posterior's 6 + 1, and
    # one log-likelihood per replica of the 9 for the swaps
    assert observed.plan.gradients_per_transition == 7 * 3 + 6 + 1 + 9
    swept = ChainedLangevin(hier_obs, patch_size=2, conditional="tempered", sweep_posterior=True)
    swept.init(random.key(0), 100, None, (jnp.zeros(3),), {})
    assert str(swept.plan).endswith("posterior: full sweep over 2 patches of 2, 20 steps each")


def test_route_is_said_once_on_the_logger_and_never_warned(caplog):
    # the route a run picks is information, not a fault: said once per process on the
    # `numpyro_cld` logger, so that suites run with warnings as errors (NumPyro's) pass, and
    # not at all where the user chose it
    with warnings.catch_warnings(), caplog.at_level(logging.INFO, logger="numpyro_cld"):
        warnings.simplefilter("error")
        for _ in range(2):
            MCMC(ChainedLangevin(hier_obs, patch_size=2), num_warmup=2, num_samples=2,
                 progress_bar=False).run(random.key(0), jnp.zeros(3))  # fmt: skip
        notes.reset()
        MCMC(ChainedLangevin(hier_obs, conditional="tempered"), num_warmup=2, num_samples=2,
             progress_bar=False).run(random.key(0), jnp.zeros(3))  # fmt: skip
    said = [r.getMessage() for r in caplog.records if r.name == "numpyro_cld"]
    assert len(said) == 1 and "running conditional='tempered'" in said[0]


def test_blocks_is_the_former_name_of_patches():
    # `blocks` shared its name with the numpyro_cld.blocks package: renamed `patches`, the old
    # name kept for one release with a FutureWarning, the same layout either way
    with pytest.warns(FutureWarning, match="`blocks` is renamed `patches`"):
        old = patch_layout(5, blocks=[[0], [1, 2, 3], [4]])
    new = patch_layout(5, patches=[[0], [1, 2, 3], [4]])
    assert old.starts == new.starts == (0, 1, 4)
    assert all(np.array_equal(a, b) for a, b in zip(old.indices, new.indices, strict=True))
    with pytest.warns(FutureWarning, match="`blocks` is renamed `patches`"):
        kernel = ChainedLangevin(gaussian5, blocks=[[0, 1], [2, 3, 4]], conditional="full")
    kernel.init(random.key(0), 5, None, (), {})
    assert [len(i) for i in kernel.plan.layout.indices] == [2, 3]
    with pytest.raises(ValueError, match="Give `patches` only"):
        ChainedLangevin(gaussian5, patches=[[0]], blocks=[[0]])
