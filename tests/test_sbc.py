"""Simulation-based calibration of the exact kernels on eight schools (non-centred).

Power: with B = 10 bins, a sampler whose posterior variance is 10% too large (or small) gives
ranks u = Phi(z / sqrt(1.1)); the chi-square non-centrality per replication is
lambda_1 = B * sum_b (p_b - 1/B)^2 = 1.5e-3, so R = 8000 replications reject at level 0.01
with probability 0.88 (0.90 for a 10% too small variance). ``test_chi2_power`` checks this
power claim on synthetic ranks; the kernel tests use R = 8000 and level 0.01 per coordinate.
Posterior draws are thinned so that the 99 kept draws are close to independent (correlated
draws would also distort the rank histogram: simulated AR(1) draws with R = 8000, L = 99 are
rejected at level 0.01 with rate 0.01 for ESS/L >= 0.54, 0.04 at 0.43 and 0.12 at 0.33).

Which kernels are exact, hence calibrated here (read off ``numpyro_cld/kernels``):

- ``Langevin(adjust=True)`` (MALA): exact.
- ``ChainedLangevin(conditional="full", adjust=True)``: every patch step is a MALA step on
  ``p(x_i | x_-i)`` computed from the full potential (``_sweep``), i.e. Metropolis-within-
  Gibbs, exact for any model and any patch partition or order.

Excluded, because they are not exact:

- ``AnnealedLangevin`` (any path, with or without ``adjust``): one transition runs the
  levels ``p_1, ..., p_L`` in turn; each MH-adjusted level leaves its *own* smoothed or
  tempered ``p_l`` invariant, and a composition of kernels invariant for different laws is
  not invariant for ``p``. On path ``"ve"`` even the last level is ``p * N(0, sigma_L^2)``,
  not ``p``. The one exact configuration is degenerate: ``path="tempered"``,
  ``lambdas=[1.0]``, ``adjust=True`` is a single level ``U_1 = U``, i.e. MALA with a fixed,
  unadapted step (already covered by the MALA test; no separate SBC).
- ``ChainedLangevin(conditional="prefix")`` even with ``adjust=True``: patch ``i`` is moved
  by ``steps_per_patch`` MH steps on ``p(x_i | x_<i)``, which leaves that conditional
  invariant but does not *reach* it from the old ``x_i``, which was drawn against the old
  ``x_<i``; the sweep is exact only in the limit of infinitely many steps per patch (or
  with a single patch, ``patch_size = d``, i.e. MALA). Besides, eight schools has an
  observed site, so the model has no exact prefix marginals and ``conditional="prefix"``
  is refused for it.
- Any ``adjust=False`` (ULA) configuration: biased for every step size
  (``test_sbc_rejects_biased_ula`` shows SBC catching it).
"""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from jax import random

from numpyro_cld import ChainedLangevin, Langevin
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
    res = sbc_ranks(
        Langevin(schools, adjust=True, num_steps=10),
        random.key(0),
        data_site="y",
        num_replications=R,
        num_warmup=200,
        num_draws=L,
        thin=2,
    )
    for name, ranks in res.ranks.items():
        stat, p = rank_uniformity_test(ranks, L)
        assert p > LEVEL, (name, stat, p)


@pytest.mark.slow
def test_sbc_chained_full_conditional_mh():
    # One patch per site (mu | tau | theta_raw), 3 MALA steps per patch, step sizes adapted
    # per patch during warmup. ESS per kept draw over 12 prior-predictive data sets (4
    # chains x 1000 draws each, numpyro's effective_sample_size) at thin=3: min 0.87 /
    # 0.31 / 0.84, median 0.95 / 0.56 / 0.91 (mu / tau / theta_raw). thin=4 moves tau
    # towards the ESS/L >= 0.5 regime of the docstring (MALA at thin=2 for comparison:
    # min 0.80 / 0.03 / 0.74, median 0.86 / 0.82 / 0.83).
    kernel = ChainedLangevin(
        schools,
        conditional="full",
        adjust=True,
        patches=["mu", "tau", "theta_raw"],
        steps_per_patch=3,
    )
    res = sbc_ranks(
        kernel,
        random.key(1),
        data_site="y",
        num_replications=R,
        num_warmup=200,
        num_draws=L,
        thin=4,
    )
    for name, ranks in res.ranks.items():
        stat, p = rank_uniformity_test(ranks, L)
        assert p > LEVEL, (name, stat, p)


def test_sbc_rejects_biased_ula():
    # ULA with a large step is biased: SBC must see it (a check that SBC can fail)
    res = sbc_ranks(
        Langevin(schools, step_size=0.3, num_steps=10, adjust=False),
        random.key(0),
        data_site="y",
        num_replications=1000,
        num_warmup=100,
        num_draws=L,
        thin=1,
    )
    assert min(rank_uniformity_test(r, L)[1] for r in res.ranks.values()) < 1e-6
