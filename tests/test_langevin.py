"""The Langevin kernel (ULA and MALA): correctness, NumPyro integration, bad inputs."""

import pickle
import warnings

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from conftest import assert_same_draws
from jax import random
from numpyro.infer import MCMC, NUTS, Gibbs

from numpyro_cld import Langevin

from _models import COV5, MEAN5, gaussian5  # noqa: E402


def banana():
    # x1 ~ N(0, 1), x2 | x1 ~ N(b x1^2, 1): E[x2] = b, Var[x2] = 1 + 2 b^2
    x1 = numpyro.sample("x1", dist.Normal(0.0, 1.0))
    numpyro.sample("x2", dist.Normal(0.5 * x1**2, 1.0))


def gamma_model():
    numpyro.sample("s", dist.Gamma(3.0, 2.0))  # mean 1.5, var 0.75; sampled as log s


def std_normal_potential(x):
    return 0.5 * jnp.sum(x**2)


def run(kernel, num_chains=4, num_warmup=500, num_samples=2000, key=0, **kw):
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(random.key(key), **kw)
    return mcmc


def test_mala_correlated_gaussian(mc_check):
    mcmc = run(Langevin(gaussian5, adjust=True, num_steps=5, dense_mass=True))
    draws = mcmc.get_samples(group_by_chain=True)["x"]
    mc_check(draws, MEAN5, np.diag(COV5))
    assert 0.4 < float(mcmc.last_state.mean_accept_prob.mean()) < 0.75


@pytest.mark.slow  # CI budget: test_mala_correlated_gaussian is its CI sibling
def test_mala_banana_non_gaussian(mc_check):
    mcmc = run(Langevin(banana, adjust=True, num_steps=5), num_samples=3000)
    s = mcmc.get_samples(group_by_chain=True)
    mc_check(s["x1"], 0.0, 1.0)
    mc_check(s["x2"], 0.5, 1.5)


def test_constrained_model_in_unconstrained_space(mc_check):
    mcmc = run(Langevin(gamma_model, adjust=True, num_steps=5))
    draws = mcmc.get_samples(group_by_chain=True)["s"]
    assert np.all(draws > 0)
    mc_check(draws, 1.5, 0.75)


@pytest.mark.parametrize("eta", [0.2, 0.5])
def test_ula_stationary_variance_is_biased(eta):
    # ULA on N(0, 1) is the AR(1) x' = (1 - eta) x + sqrt(2 eta) xi, stationary variance
    # 1 / (1 - eta / 2); the unbiased value 1 must be rejected.
    num_chains, num_samples = 1000, 200
    init = random.normal(random.key(1), (num_chains, 1))
    mcmc = MCMC(
        Langevin(num_steps=1, potential_fn=std_normal_potential, step_size=eta, adjust=False),
        num_warmup=50,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(random.key(0), init_params=init)
    draws = np.asarray(mcmc.get_samples(group_by_chain=True))[..., 0]
    rho = 1 - eta
    ess = num_chains * num_samples * (1 - rho) / (1 + rho)  # exact ESS of an AR(1)
    var, expected = draws.var(), 1 / (1 - eta / 2)
    tol = 4 * expected * np.sqrt(2 / ess)
    assert abs(var - expected) < tol, (var, expected, tol)
    assert abs(var - 1.0) > tol  # the O(eta) bias is real and measured


@pytest.mark.slow  # CI budget: test_reliability checks same-key draws for every kernel
def test_same_key_same_draws_and_vectorized_equals_sequential():
    k = Langevin(gaussian5, adjust=True, num_steps=3)
    a = run(k, num_chains=2, num_warmup=50, num_samples=100).get_samples()["x"]
    b = run(k, num_chains=2, num_warmup=50, num_samples=100).get_samples()["x"]
    np.testing.assert_array_equal(a, b)
    # Chain methods give identical draws without adaptation. With it, NumPyro's adapter
    # reduces in another order under vmap and the chain amplifies that float32 round-off
    # (adapted step sizes 7e-5 apart after 50 warmup steps), so adaptation is left out here.
    for kwargs in (dict(adjust=False), dict(adjust=True, adapt_step_size=False)):
        draws = []
        for method in ("vectorized", "sequential"):
            mcmc = MCMC(
                Langevin(gaussian5, num_steps=3, **kwargs),
                num_warmup=0,
                num_samples=100,
                num_chains=2,
                chain_method=method,
                progress_bar=False,
            )
            mcmc.run(random.key(0))
            draws.append(mcmc.get_samples()["x"])
        assert_same_draws(draws[0], draws[1])


@pytest.mark.parametrize(
    "adjust",  # CI budget: ULA in CI; MALA's resume is test_reliability's CI sibling
    [False, pytest.param(True, marks=pytest.mark.slow)],
)
def test_resume_from_last_state_equals_one_long_run(adjust):
    kernel = Langevin(banana, adjust=adjust, step_size=0.1, num_steps=2)
    long = MCMC(kernel, num_warmup=100, num_samples=200, progress_bar=False)
    long.run(random.key(3))
    first = MCMC(kernel, num_warmup=100, num_samples=100, progress_bar=False)
    first.run(random.key(3))
    first.post_warmup_state = first.last_state
    a = first.get_samples()["x1"]
    first.run(first.post_warmup_state.rng_key)
    b = first.get_samples()["x1"]
    np.testing.assert_allclose(np.concatenate([a, b]), long.get_samples()["x1"], rtol=1e-6)


def test_jit_model_args_and_arviz():
    az = pytest.importorskip("arviz")

    def model(data):
        mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
        numpyro.sample("obs", dist.Normal(mu, 1.0), obs=data)

    mcmc = MCMC(
        Langevin(model, adjust=True, num_steps=2),
        num_warmup=200,
        num_samples=500,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
        jit_model_args=True,
    )
    data = jnp.array([1.0, 2.0, 3.0, 2.0])
    mcmc.run(random.key(0), data)
    post_mean = data.sum() / (len(data) + 1e-2)
    assert abs(float(mcmc.get_samples()["mu"].mean()) - post_mean) < 0.25
    mcmc.run(random.key(1), data + 10.0)  # same compiled code, new data
    assert abs(float(mcmc.get_samples()["mu"].mean()) - (post_mean + 10.0)) < 0.25
    idata = az.from_numpyro(mcmc)
    assert idata.posterior["mu"].shape == (2, 500)
    assert "diverging" in idata.sample_stats


def test_potential_fn_and_score_fn_sources_agree():
    init = jnp.zeros((2, 3))
    a = MCMC(
        Langevin(num_steps=1, potential_fn=std_normal_potential, step_size=0.1, adjust=False),
        num_warmup=10,
        num_samples=50,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    a.run(random.key(0), init_params=init)
    b = MCMC(
        Langevin(num_steps=1, score_fn=lambda x: -x, step_size=0.1),
        num_warmup=10,
        num_samples=50,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    b.run(random.key(0), init_params=init)
    np.testing.assert_allclose(a.get_samples(), b.get_samples(), rtol=1e-5, atol=1e-6)


def test_as_gibbs_block(mc_check):
    def model():
        x = numpyro.sample("x", dist.Normal(0.0, 1.0))
        numpyro.sample("y", dist.Normal(x, 1.0))  # y ~ N(0, 2) marginally

    kernel = Gibbs([(Langevin(model, adjust=True, num_steps=3), ["x"]), (NUTS(model), None)])
    mcmc = MCMC(
        kernel,
        num_warmup=300,
        num_samples=1500,
        num_chains=2,
        chain_method="sequential",
        progress_bar=False,
    )
    mcmc.run(random.key(0))
    s = mcmc.get_samples(group_by_chain=True)
    mc_check(s["x"], 0.0, 1.0)
    mc_check(s["y"], 0.0, 2.0)


def test_pickle_kernel_and_mcmc():
    kernel = Langevin(banana, num_steps=1, adjust=True)
    # 50 warmup steps: after 20 the adapted step size rejected every proposal (constant draws)
    mcmc = MCMC(kernel, num_warmup=50, num_samples=20, progress_bar=False)
    mcmc.run(random.key(0))
    first = mcmc.get_samples()["x1"]
    assert np.ptp(first) > 0  # the chain moves, so equal draws below mean something
    # the unpickled MCMC carries the adapted state: resumed, it continues as the original does
    mcmc2 = pickle.loads(pickle.dumps(mcmc))
    for m in (mcmc, mcmc2):
        m.post_warmup_state = m.last_state
        m.run(m.last_state.rng_key)
    np.testing.assert_array_equal(mcmc2.get_samples()["x1"], mcmc.get_samples()["x1"])
    assert not np.array_equal(mcmc.get_samples()["x1"], first)
    # the unpickled kernel, in a new MCMC, draws what the original drew for the same key
    kernel2 = pickle.loads(pickle.dumps(kernel))
    mcmc3 = MCMC(kernel2, num_warmup=50, num_samples=20, progress_bar=False)
    mcmc3.run(random.key(0))
    np.testing.assert_array_equal(mcmc3.get_samples()["x1"], first)


def nan_region_potential(x):
    # finite for x < 2, NaN beyond: a model that breaks in a region
    return jnp.sum(0.5 * x**2 + jnp.where(x > 2.0, jnp.nan, 0.0))


@pytest.mark.parametrize("adjust", [False, True])
def test_faults_are_flagged_and_never_sampled(adjust):
    mcmc = MCMC(
        Langevin(
            potential_fn=nan_region_potential,
            step_size=1.0,
            adjust=adjust,
            adapt_step_size=False,
            num_steps=2,
        ),
        num_warmup=0,
        num_samples=500,
        num_chains=4,
        chain_method="vectorized",
        progress_bar=False,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mcmc.run(
            random.key(0),
            init_params=jnp.zeros((4, 1)),
            extra_fields=("accept_prob", "num_diverging"),
        )
    x = np.asarray(mcmc.get_samples())
    extra = mcmc.get_extra_fields()
    # ULA flags every fault; MALA rejects them and flags only blocks that could not move
    reported = any("diverged" in str(w.message) for w in caught)
    assert reported == bool(extra["diverging"].any())
    assert reported or adjust
    assert np.all(np.isfinite(x)) and np.all(x <= 2.0)
    assert extra["num_diverging"].sum() > 0
    assert np.all(extra["num_diverging"][extra["diverging"]] > 0)


@pytest.mark.slow  # CI budget: test_mala_correlated_gaussian adapts a mass matrix in CI
def test_dense_and_diag_mass_adapt_to_scales():
    mcmc = run(
        Langevin(gaussian5, adjust=True, num_steps=2, dense_mass=True),
        num_chains=2,
        num_warmup=1000,
        num_samples=10,
    )
    inv_mass = np.asarray(mcmc.last_state.adapt_state.inverse_mass_matrix[0])
    # the adapted inverse mass matrix estimates the target covariance (regularised, noisy)
    np.testing.assert_allclose(np.diag(inv_mass), np.diag(COV5), rtol=0.5)


# -- bad inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(), "Exactly one of"),
        (dict(model=banana, potential_fn=std_normal_potential), "Exactly one of"),
        (dict(potential_fn=std_normal_potential, score_fn=lambda x: -x), "Exactly one of"),
        (dict(model=banana, step_size=0.0), "step_size"),
        (dict(model=banana, step_size=-1.0), "step_size"),
        (dict(model=banana, step_size=float("nan")), "step_size"),
        (dict(model=banana, step_size=float("inf")), "step_size"),
        (dict(model=banana, num_steps=0), "num_steps"),
        (dict(model=banana, num_steps=2.5), "num_steps"),
        (dict(model=banana, target_accept_prob=1.0), "target_accept_prob"),
        (dict(model=banana, target_accept_prob=0.0), "target_accept_prob"),
        (dict(score_fn=lambda x: -x, adjust=True), "adjust"),
        (dict(model=3.0), "model"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    model = kwargs.pop("model", None)
    with pytest.raises((ValueError, TypeError), match=match):
        Langevin(model, **kwargs)


def test_discrete_latent_site_is_named():
    def model():
        c = numpyro.sample("cluster", dist.Bernoulli(0.5))
        numpyro.sample("x", dist.Normal(c, 1.0))

    with pytest.raises(ValueError, match="cluster"):
        MCMC(Langevin(model), num_warmup=1, num_samples=1, progress_bar=False).run(random.key(0))


def test_score_fn_with_wrong_output_shape():
    mcmc = MCMC(
        Langevin(score_fn=lambda x: jnp.sum(x)), num_warmup=1, num_samples=1, progress_bar=False
    )
    with pytest.raises(ValueError, match="score_fn"):
        mcmc.run(random.key(0), init_params=jnp.zeros(3))


def test_init_params_of_wrong_shape():
    mcmc = MCMC(Langevin(gaussian5), num_warmup=1, num_samples=1, progress_bar=False)
    with pytest.raises(ValueError, match="init_params"):
        mcmc.run(random.key(0), init_params={"x": jnp.zeros(4)})
    mcmc = MCMC(
        Langevin(potential_fn=lambda x: jnp.sum(x**2, -1)),
        num_warmup=1,
        num_samples=1,
        progress_bar=False,
    )
    with pytest.raises(ValueError, match="init_params"):
        mcmc.run(random.key(0), init_params=jnp.zeros((2, 3)))


def test_init_params_required_without_model():
    mcmc = MCMC(Langevin(score_fn=lambda x: -x), num_warmup=1, num_samples=1, progress_bar=False)
    with pytest.raises(ValueError, match="init_params"):
        mcmc.run(random.key(0))


@pytest.mark.parametrize(
    "kernel_cls", ["Langevin", pytest.param("ChainedLangevin", marks=pytest.mark.slow)]
)
def test_improper_uniform_site_as_in_numpyro(kernel_cls, mc_check):
    """An ImproperUniform latent cannot be sampled; NumPyro initialises it in unconstrained
    space, and so must our kernels (they used to raise NotImplementedError). Flat prior and
    y ~ N(x, 1): the posterior is N(y, 1)."""
    import numpyro_cld

    y = np.array([1.0, -1.0], np.float32)

    def model():
        x = numpyro.sample("x", dist.ImproperUniform(dist.constraints.real, (), (2,)))
        numpyro.sample("y", dist.Normal(x, 1.0), obs=y)

    kernel = getattr(numpyro_cld, kernel_cls)(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # chained: the full-sweep fallback
        mcmc = MCMC(kernel, num_warmup=300, num_samples=1000, num_chains=2, progress_bar=False)
        mcmc.run(random.key(0))
    mc_check(mcmc.get_samples(group_by_chain=True)["x"], y, 1.0)
