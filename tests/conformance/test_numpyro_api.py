# Adapted from NumPyro's ``test/infer/test_mcmc.py`` (Copyright Contributors to the Pyro
# project, SPDX-License-Identifier: Apache-2.0), https://github.com/pyro-ppl/numpyro.
"""NumPyro's kernel-generic API tests (shapes, empty models, handlers, warnings, reruns) on
our kernels, with NumPyro's assertions and budgets; see ``test_numpyro_mcmc.py`` for the
kernels and the moment tests."""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from jax import random
from numpy.testing import assert_allclose
from numpyro.infer import MCMC

from .test_numpyro_mcmc import CI_KERNELS, CI_MALA, KERNELS, make_kernel

pytestmark = pytest.mark.filterwarnings("ignore:There are not enough devices:UserWarning")


@pytest.mark.parametrize("kind", CI_KERNELS)
@pytest.mark.parametrize("num_chains", [1, 2])
@pytest.mark.parametrize("chain_method", ["sequential", "vectorized"])
def test_empty_model(kind, num_chains, chain_method):
    def model():
        pass

    mcmc = MCMC(make_kernel(kind, model), num_warmup=10, num_samples=10,
                num_chains=num_chains, chain_method=chain_method, progress_bar=False)  # fmt: skip
    mcmc.run(random.key(0))
    assert mcmc.get_samples() == {}
    mcmc.print_summary()


@pytest.mark.parametrize("kind", CI_KERNELS)
def test_all_deterministic(kind):
    def model1():
        numpyro.deterministic("x", 1.0)

    def model2():
        numpyro.deterministic("x", jnp.array([1.0, 2.0]))

    num_samples = 10
    for model, shape in {model1: (), model2: (2,)}.items():
        mcmc = MCMC(make_kernel(kind, model), num_warmup=10, num_samples=num_samples,
                    progress_bar=False)  # fmt: skip
        mcmc.run(random.key(0))
        assert mcmc.get_samples()["x"].shape == (num_samples,) + shape


@pytest.mark.parametrize("kind", CI_MALA)
def test_prior_with_sample_shape(kind):
    data = {
        "J": 8,
        "y": jnp.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]),
        "sigma": jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]),
    }

    def schools_model():
        mu = numpyro.sample("mu", dist.Normal(0, 5))
        tau = numpyro.sample("tau", dist.HalfCauchy(5))
        theta = numpyro.sample("theta", dist.Normal(mu, tau), sample_shape=(data["J"],))
        numpyro.sample("obs", dist.Normal(theta, data["sigma"]), obs=data["y"])

    # NumPyro runs 500 + 500; the shapes are what is tested, so 20 + 50 here
    num_samples = 50
    mcmc = MCMC(make_kernel(kind, schools_model), num_warmup=20, num_samples=num_samples,
                progress_bar=False)  # fmt: skip
    mcmc.run(random.key(0))
    assert mcmc.get_samples()["theta"].shape == (num_samples, data["J"])


@pytest.mark.parametrize("kind", CI_KERNELS)
@pytest.mark.parametrize("batch_shape", [(), (4,)])
def test_trivial_dirichlet(kind, batch_shape):
    def model():
        x = numpyro.sample("x", dist.Dirichlet(jnp.ones(1)).expand(batch_shape))
        return numpyro.sample("y", dist.Normal(x, 1), obs=2)

    num_samples = 10
    mcmc = MCMC(make_kernel(kind, model), num_warmup=10, num_samples=num_samples,
                progress_bar=False)  # fmt: skip
    mcmc.run(random.key(0))
    assert_allclose(mcmc.get_samples()["x"], jnp.ones((num_samples,) + batch_shape + (1,)))


@pytest.mark.slow  # CI budget: test_empty_model runs the same warmup/run plumbing in CI
@pytest.mark.parametrize("kind", KERNELS)
@pytest.mark.parametrize("num_chains", [1, 2])
def test_compile_warmup_run(kind, num_chains):
    def model():
        numpyro.sample("x", dist.Normal(0, 1))

    rng_key = random.key(0)
    num_samples = 10
    kw = dict(num_warmup=10, num_samples=num_samples, num_chains=num_chains,
              chain_method="vectorized", progress_bar=False)  # fmt: skip
    mcmc = MCMC(make_kernel(kind, model), **kw)
    mcmc.run(rng_key)
    expected_samples = mcmc.get_samples()["x"]

    mcmc._compile(rng_key)
    mcmc.warmup(rng_key)
    mcmc.run(mcmc.last_state.rng_key)
    actual_samples = mcmc.get_samples()["x"]
    assert_allclose(actual_samples, expected_samples)


@pytest.mark.parametrize("kind", CI_MALA)
@pytest.mark.parametrize("jit_args", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_model_with_multiple_exec_paths(kind, jit_args):
    def model(a=None, b=None, z=None):
        int_term = numpyro.sample("a", dist.Normal(0.0, 0.2))
        x_term, y_term = 0.0, 0.0
        if a is not None:
            x = numpyro.sample("x", dist.HalfNormal(0.5))
            x_term = a * x
        if b is not None:
            y = numpyro.sample("y", dist.HalfNormal(0.5))
            y_term = b * y
        sigma = numpyro.sample("sigma", dist.Exponential(1.0))
        mu = int_term + x_term + y_term
        numpyro.sample("obs", dist.Normal(mu, sigma), obs=z)

    rng = np.random.default_rng(0)
    a = jnp.exp(rng.normal(size=10))
    b = jnp.exp(rng.normal(size=10))
    z = rng.normal(size=10)
    mcmc = MCMC(make_kernel(kind, model), num_warmup=20, num_samples=10,
                jit_model_args=jit_args, progress_bar=False)  # fmt: skip
    mcmc.run(random.key(1), a, b=None, z=z)
    assert set(mcmc.get_samples()) == {"a", "x", "sigma"}
    mcmc.run(random.key(2), a=None, b=b, z=z)
    assert set(mcmc.get_samples()) == {"a", "y", "sigma"}
    mcmc.run(random.key(3), a=a, b=b, z=z)
    assert set(mcmc.get_samples()) == {"a", "x", "y", "sigma"}


@pytest.mark.slow  # CI budget: test_handler_is_honoured[scale-chained] runs a handler in CI
@pytest.mark.parametrize("kind", KERNELS)
def test_model_with_lift_handler(kind):
    def model(data):
        c = numpyro.param("c", jnp.array(1.0), constraint=dist.constraints.positive)
        return numpyro.sample("x", dist.LogNormal(c, 1.0), obs=data)

    lifted = numpyro.handlers.lift(model, prior={"c": dist.Gamma(0.01, 0.01)})
    mcmc = MCMC(make_kernel(kind, lifted), num_warmup=10, num_samples=10, progress_bar=False)
    mcmc.run(random.key(1), jnp.exp(random.normal(random.key(0), (1000,))))


@pytest.mark.parametrize("kind", CI_KERNELS)
def test_init_strategy_substituted_model(kind):
    def model():
        numpyro.sample("x", dist.Normal(0, 1))
        numpyro.sample("y", dist.Normal(0, 1))

    subs_model = numpyro.handlers.substitute(model, data={"x": 10.0})
    mcmc = MCMC(make_kernel(kind, subs_model), num_warmup=10, num_samples=10,
                progress_bar=False)  # fmt: skip
    with pytest.warns(UserWarning, match="skipping initialization"):
        mcmc.run(random.key(1))


@pytest.mark.parametrize("kind", CI_KERNELS)
def test_discrete_site_without_infer_enumerate(kind):
    def model():
        numpyro.sample("x", dist.Bernoulli(0.5))

    # NumPyro's gradient kernels warn and go on (HMC then fails on the discrete site later);
    # ours refuse at once, naming the site, since a Langevin step cannot move a discrete value.
    mcmc = MCMC(make_kernel(kind, model), num_warmup=10, num_samples=10, progress_bar=False)
    with pytest.raises(ValueError, match="x"):
        mcmc.run(random.key(0))


@pytest.mark.slow  # CI budget: models without latent coordinates run in CI (test_empty_model)
@pytest.mark.parametrize("kind", KERNELS)
def test_vectorized_sampling_zero_sized(kind):
    n = 0
    sigma = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])

    def eight_schools(J, sigma):
        mu = numpyro.sample("mu", dist.Normal(0, 5))
        tau = numpyro.sample("tau", dist.HalfCauchy(5))
        with numpyro.plate("J", J):
            theta = numpyro.sample("theta", dist.Normal(mu, tau))
            numpyro.sample("scores", dist.Normal(theta, sigma), sample_shape=(n,))

    mcmc = MCMC(make_kernel(kind, eight_schools), num_warmup=50, num_samples=100,
                num_chains=2, chain_method="vectorized", progress_bar=False)  # fmt: skip
    mcmc.run(random.key(0), 8, sigma, extra_fields=("potential_energy",))
    assert mcmc.get_samples()["scores"].shape == (200, 0, 8)


@pytest.mark.parametrize("kind", CI_KERNELS)
@pytest.mark.parametrize("remove_sites", [("~z.a", "~z.b"), ("~z.a", "~z.a")])
def test_remove_sites(kind, remove_sites):
    def model():
        numpyro.sample("a", dist.Normal())
        numpyro.sample("b", dist.Normal())

    mcmc = MCMC(make_kernel(kind, model), num_warmup=10, num_samples=10, progress_bar=False)
    mcmc.run(random.key(0), extra_fields=remove_sites)
    samps = mcmc.get_samples()
    assert all([site[3:] not in samps for site in remove_sites])


@pytest.mark.parametrize("kind", CI_KERNELS)
def test_extra_fields_include_unconstrained_samples(kind):
    def model():
        numpyro.sample("x", dist.HalfNormal(1))

    mcmc = MCMC(make_kernel(kind, model), num_warmup=10, num_samples=10, progress_bar=False)
    mcmc.run(random.key(0), extra_fields=("z.x",))
    assert_allclose(mcmc.get_samples()["x"], jnp.exp(mcmc.get_extra_fields()["z.x"]), rtol=1e-6)


@pytest.mark.parametrize("kind", CI_KERNELS)
def test_extra_fields(kind):
    def model():
        numpyro.sample("x", dist.Normal(0, 1), sample_shape=(5,))

    # NumPyro asks NUTS for ``num_steps`` and ``adapt_state.step_size``; the Langevin
    # equivalents are ``accept_prob`` and ``diverging``, and Langevin has ``num_steps`` too
    fields = ("accept_prob", "diverging") + (("num_steps",) if kind == "mala" else ())
    mcmc = MCMC(make_kernel(kind, model), num_warmup=100, num_samples=100, progress_bar=False)
    mcmc.run(random.key(0), extra_fields=fields)
    assert mcmc.get_samples(group_by_chain=True)["x"].shape == (1, 100, 5)
    stats = mcmc.get_extra_fields(group_by_chain=True)
    assert stats["accept_prob"].shape == (1, 100)
    assert stats["diverging"].shape == (1, 100)
    if kind == "mala":  # steps chosen in warmup: one number for every draw, 1 to 20
        steps = np.asarray(stats["num_steps"])
        assert steps.shape == (1, 100) and np.all(steps == steps[0, 0]) and 1 <= steps[0, 0] <= 20
