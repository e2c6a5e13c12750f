"""Simulation-based calibration of the exact kernels on eight schools (non-centred).

Power: with B = 10 bins, a sampler whose posterior variance is 10% too large (or small) gives
ranks u = Phi(z / sqrt(1.1)); the chi-square non-centrality per replication is
lambda_1 = B * sum_b (p_b - 1/B)^2 = 1.5e-3, so R = 8000 replications reject at level 0.01
with probability 0.88 (0.90 for a 10% too small variance). ``test_chi2_power`` checks this
power claim on synthetic ranks; the kernel tests use R = 8000 and level 0.01 per coordinate.
Posterior draws are thinned so that the 99 kept draws are close to independent (correlated
draws would also distort the rank histogram).
"""

import jax.numpy as jnp
import numpy as np
import pytest
from jax import random

import numpyro
import numpyro.distributions as dist

from numpyro_cld import Langevin
from numpyro_cld.calibration import rank_uniformity_test, sbc_ranks

SIG = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
R, L, LEVEL = 8000, 99, 0.01


def schools(y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfNormal(5.0))
    with numpyro.plate("J", 8):
        theta_raw = numpyro.sample("theta_raw", dist.Normal(0.0, 1.0))
        numpyro.sample("y", dist.Normal(mu + tau * theta_raw, SIG), obs=y)


def test_chi2_power_detects_10_percent_variance_error():
    rng = np.random.default_rng(0)
    rejections = 0
    for _ in range(50):
        truth = rng.normal(size=R)
        draws = rng.normal(scale=np.sqrt(1.1), size=(R, L))  # variance 10% too large
        ranks = (draws < truth[:, None]).sum(1)
        rejections += rank_uniformity_test(ranks, L)[1] < LEVEL
    # 0.88 expected; 50 trials -> sd 0.046, so >= 0.7 fails only if the power claim is wrong
    assert rejections / 50 >= 0.7


def test_rank_test_bad_inputs():
    with pytest.raises(ValueError, match="num_bins"):
        rank_uniformity_test(np.zeros(10, int), 98, num_bins=10)
    with pytest.raises(ValueError, match="ranks"):
        rank_uniformity_test(np.full(10, 200), 99)


@pytest.mark.slow
def test_sbc_mala():
    res = sbc_ranks(Langevin(schools, adjust=True, num_steps=10), random.key(0),
                    data_site="y", num_replications=R, num_warmup=200, num_draws=L, thin=2)
    for name, ranks in res.ranks.items():
        stat, p = rank_uniformity_test(ranks, L)
        assert p > LEVEL, (name, stat, p)


def test_sbc_rejects_biased_ula():
    # ULA with a large step is biased: SBC must see it (a check that SBC can fail)
    res = sbc_ranks(Langevin(schools, step_size=0.3, num_steps=10), random.key(0),
                    data_site="y", num_replications=1000, num_warmup=100, num_draws=L,
                    thin=1)
    assert min(rank_uniformity_test(r, L)[1] for r in res.ranks.values()) < 1e-6
