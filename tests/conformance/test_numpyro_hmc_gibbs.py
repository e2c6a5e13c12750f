# Adapted from NumPyro's ``test/infer/test_hmc_gibbs.py`` (Copyright Contributors to the Pyro
# project, SPDX-License-Identifier: Apache-2.0), https://github.com/pyro-ppl/numpyro.
"""NumPyro's ``HMCGibbs`` tests, with our kernels in the place of HMC/NUTS.

``HMCGibbs(inner, gibbs_fn, gibbs_sites)`` accepts only HMC/NUTS as ``inner``, but it is
``Gibbs([(CustomGibbs(gibbs_fn), gibbs_sites), (inner, None)])`` underneath, and that
composite takes any :class:`~numpyro.infer.mcmc.MCMCKernel`: these tests build it with our
kernels. Models, ``gibbs_fn``, budgets, assertions and tolerances are NumPyro's, verbatim.
The discrete-Gibbs, MixedHMC and HMCECS tests are not brought over: their inner kernel must be
HMC/NUTS (they use its trajectory or energy), which ours are not.
"""

from functools import partial

import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from jax import numpy as jnp
from jax import random, vmap
from jax.scipy.linalg import cho_factor, cho_solve, inv, solve_triangular
from numpy.testing import assert_allclose
from numpyro.infer import MCMC
from numpyro.infer.gibbs import CustomGibbs, Gibbs

from .test_numpyro_mcmc import CI_MALA, KERNELS, make_kernel

# the chained kernels warn that models with observed data run the full-conditional sweep
pytestmark = pytest.mark.filterwarnings("ignore:.*full-conditional:UserWarning")


def hmc_gibbs(inner_kernel, gibbs_fn, gibbs_sites):
    return Gibbs([(CustomGibbs(gibbs_fn), gibbs_sites), (inner_kernel, None)])


def _linear_regression_gibbs_fn(X, XX, XY, Y, rng_key, gibbs_sites, hmc_sites):
    N, P = X.shape
    sigma = jnp.exp(hmc_sites["log_sigma"]) if "log_sigma" in hmc_sites else hmc_sites["sigma"]
    sigma_sq = jnp.square(sigma)
    covar_inv = XX / sigma_sq + jnp.eye(P)
    L = cho_factor(covar_inv, lower=True)[0]
    L_inv = solve_triangular(L, jnp.eye(P), lower=True)
    loc = cho_solve((L, True), XY) / sigma_sq
    beta_proposal = dist.MultivariateNormal(loc=loc, scale_tril=L_inv).sample(rng_key)
    return {"beta": beta_proposal}


def _linear_data(N, P, sigma, seed):
    np.random.seed(seed)
    X = np.random.randn(N * P).reshape((N, P))
    XX = np.matmul(np.transpose(X), X)
    Y = X[:, 0] + sigma * np.random.randn(N)
    XY = np.sum(X * Y[:, None], axis=0)
    return X, XX, Y, XY


def _run_and_check(kernel, X, Y, num_warmup, num_samples, sigma, site):
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, progress_bar=False)
    mcmc.run(random.key(0), X, Y)
    beta_mean = np.mean(mcmc.get_samples()["beta"], axis=0)
    assert_allclose(beta_mean, np.array([1.0] + [0.0] * (X.shape[1] - 1)), atol=0.05)
    s = mcmc.get_samples()[site]
    sigma_mean = np.exp(np.mean(s, axis=0)) if site == "log_sigma" else np.mean(s, axis=0)
    assert_allclose(sigma_mean, sigma, atol=0.25)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KERNELS)
def test_linear_model_log_sigma(kind, N=100, P=50, sigma=0.11, num_warmup=500, num_samples=500):
    X, XX, Y, XY = _linear_data(N, P, sigma, seed=0)

    def model(X, Y):
        N, P = X.shape
        log_sigma = numpyro.sample("log_sigma", dist.Normal(1.0))
        sigma = jnp.exp(log_sigma)
        beta = numpyro.sample("beta", dist.Normal(jnp.zeros(P), jnp.ones(P)))
        mean = jnp.sum(beta * X, axis=-1)
        numpyro.deterministic("mean", mean)
        numpyro.sample("obs", dist.Normal(mean, sigma), obs=Y)

    gibbs_fn = partial(_linear_regression_gibbs_fn, X, XX, XY, Y)
    kernel = hmc_gibbs(make_kernel(kind, model), gibbs_fn=gibbs_fn, gibbs_sites=["beta"])
    _run_and_check(kernel, X, Y, num_warmup, num_samples, sigma, "log_sigma")


@pytest.mark.slow
@pytest.mark.parametrize("kind", KERNELS)
def test_linear_model_sigma(kind, N=90, P=40, sigma=0.07, num_warmup=500, num_samples=500):
    X, XX, Y, XY = _linear_data(N, P, sigma, seed=1)

    def model(X, Y):
        N, P = X.shape
        sigma = numpyro.sample("sigma", dist.HalfCauchy(1.0))
        beta = numpyro.sample("beta", dist.Normal(jnp.zeros(P), jnp.ones(P)))
        mean = jnp.sum(beta * X, axis=-1)
        numpyro.sample("obs", dist.Normal(mean, sigma), obs=Y)

    gibbs_fn = partial(_linear_regression_gibbs_fn, X, XX, XY, Y)
    kernel = hmc_gibbs(make_kernel(kind, model), gibbs_fn=gibbs_fn, gibbs_sites=["beta"])
    _run_and_check(kernel, X, Y, num_warmup, num_samples, sigma, "sigma")


@pytest.mark.slow
@pytest.mark.parametrize("kind", KERNELS)
def test_gaussian_model(kind, D=2, num_warmup=5000, num_samples=5000):
    np.random.seed(0)
    cov = np.random.randn(4 * D * D).reshape((2 * D, 2 * D))
    cov = jnp.matmul(jnp.transpose(cov), cov) + 0.25 * jnp.eye(2 * D)
    cov00, cov01 = cov[:D, :D], cov[:D, D:]
    cov10, cov11 = cov[D:, :D], cov[D:, D:]
    cov_01_cov11_inv = jnp.matmul(cov01, inv(cov11))
    cov_10_cov00_inv = jnp.matmul(cov10, inv(cov00))
    posterior_cov0 = cov00 - jnp.matmul(cov_01_cov11_inv, cov10)
    posterior_cov1 = cov11 - jnp.matmul(cov_10_cov00_inv, cov01)

    # we consider a model in which (x0, x1) ~ MVN(0, cov)
    def gaussian_gibbs_fn(rng_key, hmc_sites, gibbs_sites):
        x1 = hmc_sites["x1"]
        posterior_loc0 = jnp.matmul(cov_01_cov11_inv, x1)
        x0_proposal = dist.MultivariateNormal(
            loc=posterior_loc0, covariance_matrix=posterior_cov0
        ).sample(rng_key)
        return {"x0": x0_proposal}

    def model():
        x0 = numpyro.sample(
            "x0", dist.MultivariateNormal(loc=jnp.zeros(D), covariance_matrix=cov00)
        )
        posterior_loc1 = jnp.matmul(cov_10_cov00_inv, x0)
        numpyro.sample(
            "x1", dist.MultivariateNormal(loc=posterior_loc1, covariance_matrix=posterior_cov1)
        )

    # NumPyro passes dense_mass=True; the chained kernels adapt a per-patch diagonal mass, and
    # their patches of this 2-d site are single coordinates, so a dense mass would be diagonal
    inner = make_kernel(kind, model, dense_mass=kind == "mala")
    kernel = hmc_gibbs(inner, gibbs_fn=gaussian_gibbs_fn, gibbs_sites=["x0"])
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, progress_bar=False)
    mcmc.run(random.key(0))

    x0_mean = np.mean(mcmc.get_samples()["x0"], axis=0)
    x1_mean = np.mean(mcmc.get_samples()["x1"], axis=0)
    x0_std = np.std(mcmc.get_samples()["x0"], axis=0)
    x1_std = np.std(mcmc.get_samples()["x1"], axis=0)
    assert_allclose(x0_mean, np.zeros(D), atol=0.25)
    assert_allclose(x1_mean, np.zeros(D), atol=0.25)
    assert_allclose(x0_std, np.sqrt(np.diagonal(cov00)), rtol=0.05)
    assert_allclose(x1_std, np.sqrt(np.diagonal(cov11)), rtol=0.1)


@pytest.mark.parametrize("kind", CI_MALA)
def test_callable_chain_method(kind):
    def model():
        x = numpyro.sample("x", dist.Normal(0.0, 2.0))
        y = numpyro.sample("y", dist.Normal(0.0, 2.0))
        numpyro.sample("obs", dist.Normal(x + y, 1.0), obs=jnp.array([1.0]))

    def gibbs_fn(rng_key, gibbs_sites, hmc_sites):
        y = hmc_sites["y"]
        new_x = dist.Normal(0.8 * (1 - y), jnp.sqrt(0.8)).sample(rng_key)
        return {"x": new_x}

    kernel = hmc_gibbs(make_kernel(kind, model), gibbs_fn=gibbs_fn, gibbs_sites=["x"])
    mcmc = MCMC(
        kernel, num_warmup=100, num_chains=2, num_samples=100, chain_method=vmap, progress_bar=False
    )
    mcmc.run(random.key(0))
    samples = mcmc.get_samples()
    assert set(samples.keys()) == {"x", "y"}
