"""The number of Langevin steps per draw chosen in warmup (numpyro_cld.blocks.thinning)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC

from numpyro_cld import Langevin
from numpyro_cld.blocks.thinning import (
    MAX_STEPS,
    TARGET_AUTOCORR,
    WARMUP_STEPS,
    thinning_end,
    thinning_init,
    thinning_update,
)


def _chosen(draws):
    """Steps per draw chosen from ``draws`` ``(chains, n + 1, d)`` (vmapped over chains)."""
    n = draws.shape[1] - 1
    window = (0, n - 1)

    def one(x):
        def body(state, i):
            return thinning_update(state, i, window, x[i], x[i + 1]), None

        state = jax.lax.scan(body, thinning_init(x[0][:-1], WARMUP_STEPS), jnp.arange(n))[0]
        return thinning_end(state, window, WARMUP_STEPS).steps_per_draw

    return np.asarray(jax.vmap(one)(jnp.asarray(draws, jnp.float32)))


def _ar1(rho, chains, n, d, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    x = np.empty((chains, n, d))
    x[:, 0] = rng.normal(size=(chains, d))
    for t in range(1, n):
        x[:, t] = rho * x[:, t - 1] + math.sqrt(1 - rho**2) * rng.normal(size=(chains, d))
    return x + shift * np.arange(chains)[:, None, None] + 1e3  # far from 0: float32 digits


@pytest.mark.parametrize("rho", [0.3, 0.6])
def test_steps_from_a_known_autocorrelation(rho):
    """An AR(1) series of draws with lag-1 autocorrelation ``rho`` at WARMUP_STEPS steps:
    the steps that make it TARGET_AUTOCORR, rounded up. 4 x 20000 draws estimate ``rho``
    to +-0.004 (sd), which moves neither expected count across an integer."""
    k = _chosen(_ar1(rho, 4, 20001, 3))
    want = math.ceil(WARMUP_STEPS * math.log(TARGET_AUTOCORR) / math.log(rho))
    assert np.all(k == want), (k, want)


def test_independent_draws_take_few_steps_and_slow_ones_the_most():
    # a 50-draw window as in NumPyro's schedule: the sampling noise of 11 autocorrelations
    # (sd 0.07 each at 4 x 49 pairs) reads as a rho of about 0.2: fewer steps than warmup's
    k_fast = _chosen(_ar1(0.0, 4, 50, 10))
    assert np.all(k_fast == k_fast[0]) and 1 <= k_fast[0] < WARMUP_STEPS
    assert np.all(_chosen(_ar1(0.99, 4, 50, 10)) == MAX_STEPS)


def test_chains_that_disagree_read_as_slow():
    """Each chain mixes fast around its own mean, but the means differ by 3 sd: Stan's
    cross-chain autocorrelation is near 1, so the most steps."""
    assert np.all(_chosen(_ar1(0.0, 4, 200, 2, shift=3.0)) == MAX_STEPS)


def test_a_chain_that_never_moves_takes_the_most_steps():
    assert np.all(_chosen(np.ones((2, 60, 3))) == MAX_STEPS)


def test_a_constant_coordinate_is_left_out():
    """A coordinate no chain moves (the potential of a score without a density is 0) does
    not make the others read as slow."""
    x = _ar1(0.0, 4, 50, 3)
    x[..., -1] = 0.0
    assert np.all(_chosen(x) < WARMUP_STEPS)


def test_ula_on_a_score_alone_chooses_its_steps():
    mcmc = MCMC(Langevin(score_fn=lambda z: -z, step_size=0.1), num_warmup=300,
                num_samples=50, progress_bar=False)  # fmt: skip
    mcmc.run(jax.random.key(2), init_params=jnp.zeros(3), extra_fields=("num_steps",))
    assert np.all(mcmc.get_extra_fields()["num_steps"] < MAX_STEPS)


def test_langevin_reports_its_steps_and_samples_right():
    """``Langevin(model)`` on N(0, I_10): warmup transitions of WARMUP_STEPS steps, then
    fewer (the adapted chain mixes in a few), the same in every chain, read from
    ``extra_fields``; the draws' variances within 5 sd of 1 (sd of a variance estimate from
    the run's ESS: sqrt(2 / ESS))."""

    def model():
        numpyro.sample("x", dist.Normal(0.0, 1.0).expand([10]))

    mcmc = MCMC(Langevin(model), num_warmup=500, num_samples=1000, num_chains=2,
                chain_method="vectorized", progress_bar=False)  # fmt: skip
    mcmc.warmup(jax.random.key(0), extra_fields=("num_steps",), collect_warmup=True)
    assert np.all(mcmc.get_extra_fields()["num_steps"] == WARMUP_STEPS)
    mcmc.run(mcmc.post_warmup_state.rng_key, extra_fields=("num_steps",))
    steps = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["num_steps"])
    assert np.all(steps == steps[0, 0]) and 1 <= steps[0, 0] < WARMUP_STEPS
    x = mcmc.get_samples(group_by_chain=True)["x"]
    ess = numpyro.diagnostics.effective_sample_size(np.asarray(x) ** 2)
    var = np.asarray(x).var((0, 1))
    assert np.all(np.abs(var - 1.0) < 5 * np.sqrt(2.0 / ess)), (var, ess)


def test_a_fixed_number_and_no_warmup_keep_their_steps():
    def model():
        numpyro.sample("x", dist.Normal(0.0, 1.0))

    for kernel, warmup, want in ((Langevin(model, num_steps=7), 50, 7),
                                 (Langevin(model), 0, MAX_STEPS)):  # fmt: skip
        mcmc = MCMC(kernel, num_warmup=warmup, num_samples=20, progress_bar=False)
        mcmc.run(jax.random.key(1), extra_fields=("num_steps",))
        assert np.all(mcmc.get_extra_fields()["num_steps"] == want)
