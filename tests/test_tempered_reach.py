"""The tempered route on the targets it used to refuse (issue: modes on any model): discrete
sites summed out, an improper prior with ``numpyro.factor`` terms, a ``potential_fn``; and the
log evidence it estimates.

Statistical tolerances: a mode's mass within 4 Monte-Carlo standard errors,
``sqrt(p (1 - p) / ESS)`` with the ESS of the mode indicator over the chains (numpyro's
``effective_sample_size``); the log evidence within 4 of its standard errors (the spread
of independent chains' estimates, :func:`numpyro_cld.diagnostics.log_evidence`), which
the pooled estimate must also beat in absolute terms (below 0.1 nats) to be useful.
"""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from conftest import says
from jax import random
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import MCMC
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, norm

from numpyro_cld import ChainedLangevin, TemperedLangevin
from numpyro_cld.diagnostics import log_evidence

CHAINS = 8


def _run(kernel, *args, init_params=None, warmup=400, samples=1000, seed=0):
    mcmc = MCMC(kernel, num_warmup=warmup, num_samples=samples, num_chains=CHAINS,
                chain_method="vectorized", progress_bar=False)  # fmt: skip
    mcmc.run(random.key(seed), *args, init_params=init_params)
    return mcmc


def _mass_check(indicator, mass):
    """indicator (chains, draws) of one mode: its frequency within 4 MCSE of ``mass``."""
    ind = np.asarray(indicator, np.float64)
    ess = float(effective_sample_size(ind))
    assert ess > 50, ess  # the ladder must mix for the test to mean anything
    se = np.sqrt(mass * (1 - mass) / ess)
    assert abs(ind.mean() - mass) < 4 * se, (ind.mean(), mass, ess)


def two_bumps(x, centre, scale, minor):
    """log density of ``(1 - minor) N(centre, scale^2 I) + minor N(-centre, scale^2 I)``."""
    d = x.shape[-1]
    norm_ = -0.5 * d * jnp.log(2 * jnp.pi * scale**2)
    a = jnp.log(1 - minor) - 0.5 * jnp.sum((x - centre) ** 2) / scale**2
    b = jnp.log(minor) - 0.5 * jnp.sum((x + centre) ** 2) / scale**2
    return norm_ + jnp.logaddexp(a, b)


def improper_bimodal():
    x = numpyro.sample("x", dist.ImproperUniform(dist.constraints.real, (), (2,)))
    numpyro.factor("density", two_bumps(x, 3.0, 1.0, 0.3))


def test_an_improper_prior_with_a_factor_runs_the_route_and_gets_the_masses(caplog):
    # no prior to draw: the default one-liner takes the tempered route from a fitted
    # Gaussian; all chains start in the minor mode (mass 0.3)
    kernel = ChainedLangevin(improper_bimodal, patch_size=2)
    with says(caplog, "Gaussian reference fitted in warmup"):
        mcmc = _run(kernel, init_params={"x": jnp.full((CHAINS, 2), -3.0)})
    assert kernel.plan.reference == "gaussian"
    x = mcmc.get_samples(group_by_chain=True)["x"]
    _mass_check(np.asarray(x).mean(-1) > 0, 0.7)
    # the density is normalised, so its log evidence is 0
    ev = log_evidence(mcmc)
    assert abs(ev.estimate) < max(4 * ev.mcse, 1e-3) and abs(ev.estimate) < 0.1, ev


def test_a_potential_fn_target_runs_the_route_from_its_minor_mode():
    d = 6

    def potential(z):
        return -two_bumps(z["x"], 2.5, 0.5, 0.3) + 1.0  # normalising constant exp(-1)

    kernel = TemperedLangevin(potential_fn=potential)
    mcmc = _run(kernel, init_params={"x": jnp.full((CHAINS, d), -2.5)}, seed=1)
    assert kernel.reference == "gaussian"
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"])
    _mass_check(x.mean(-1) > 0, 0.7)
    ev = log_evidence(mcmc)
    assert abs(ev.estimate + 1.0) < max(4 * ev.mcse, 1e-3) and abs(ev.estimate + 1.0) < 0.1, ev


Y_MIX = np.array([-2.3, -1.9, -2.6, 1.8, 2.4, 2.1, 1.7, -2.0, 2.2, 1.9])


def enumerated_mixture(y):
    # two components with known offsets and a shared unknown shift (conjugate in mu given
    # the labels); the labels are summed out, as NUTS does
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("n", len(y)):
        z = numpyro.sample("z", dist.Bernoulli(0.4), infer={"enumerate": "parallel"})
        numpyro.sample("y", dist.Normal(mu + jnp.where(z == 1, 2.0, -2.0), 0.7), obs=y)


def _mixture_log_evidence():
    # p(y) = int N(mu; 0, 1) prod_i sum_k w_k N(y_i; mu + c_k, 0.7) dmu by quadrature
    mu = np.linspace(-8, 8, 40001)
    comp = np.stack([np.log(0.6) + norm.logpdf(Y_MIX[:, None], mu - 2.0, 0.7),
                     np.log(0.4) + norm.logpdf(Y_MIX[:, None], mu + 2.0, 0.7)])  # fmt: skip
    log_f = norm.logpdf(mu) + logsumexp(comp, axis=0).sum(0)
    return logsumexp(log_f) + np.log(mu[1] - mu[0])


def test_enumerated_discrete_sites_run_on_the_marginal_potential(caplog):
    pytest.importorskip("funsor")  # NumPyro's enumeration, as for NUTS
    kernel = ChainedLangevin(enumerated_mixture)
    with says(caplog, "likelihood powers from exact prior draws"):
        mcmc = _run(kernel, Y_MIX, warmup=300, samples=800)
    assert kernel.plan.reference == "prior" and set(mcmc.get_samples()) == {"mu"}
    ev = log_evidence(mcmc)
    exact = _mixture_log_evidence()
    assert abs(ev.estimate - exact) < max(4 * ev.mcse, 1e-3) and abs(ev.estimate - exact) < 0.1
    # the posterior of mu by the same quadrature
    mu_grid = np.linspace(-8, 8, 40001)
    comp = np.stack([np.log(0.6) + norm.logpdf(Y_MIX[:, None], mu_grid - 2.0, 0.7),
                     np.log(0.4) + norm.logpdf(Y_MIX[:, None], mu_grid + 2.0, 0.7)])  # fmt: skip
    log_f = norm.logpdf(mu_grid) + logsumexp(comp, axis=0).sum(0)
    w = np.exp(log_f - log_f.max())
    w /= w.sum()
    mean = float((w * mu_grid).sum())
    var = float((w * mu_grid**2).sum()) - mean**2
    draws = np.asarray(mcmc.get_samples(group_by_chain=True)["mu"])
    ess = float(effective_sample_size(draws))
    assert abs(draws.mean() - mean) < 4 * np.sqrt(var / ess), (draws.mean(), mean, ess)


def conjugate(y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 2.0))
    numpyro.sample("y", dist.Normal(mu, 1.0).expand([5]).to_event(1), obs=y)


def test_log_evidence_of_a_conjugate_model_from_the_prior():
    y = np.array([1.2, 0.4, 2.1, 1.7, 0.9])
    exact = multivariate_normal(np.zeros(5), np.eye(5) + 4.0).logpdf(y)
    ev = log_evidence(_run(TemperedLangevin(conjugate), y, warmup=200))
    assert abs(ev.estimate - exact) < 4 * ev.mcse and abs(ev.estimate - exact) < 0.1, ev
    assert ev.per_chain.shape == (CHAINS,)


def test_log_evidence_refuses_a_run_that_is_not_tempered_or_has_no_draws():
    y = np.array([1.2, 0.4, 2.1, 1.7, 0.9])
    mcmc = MCMC(ChainedLangevin(conjugate, conditional="full"), num_warmup=5, num_samples=5,
                progress_bar=False)  # fmt: skip
    mcmc.run(random.key(0), y)
    with pytest.raises(ValueError, match="must have run a tempered kernel"):
        log_evidence(mcmc)
    # NumPyro runs at least one draw: a run stopped at the end of warmup (its last state
    # after `warmup`) has none
    mcmc = MCMC(TemperedLangevin(conjugate), num_warmup=5, num_samples=1, progress_bar=False)
    mcmc.warmup(random.key(0), y)
    with pytest.raises(ValueError, match="no draws after warmup"):
        log_evidence(mcmc)


def test_reference_prior_is_refused_where_there_is_no_prior_to_draw():
    with pytest.raises(ValueError, match="reference='prior' cannot be used: site 'x' has an"):
        TemperedLangevin(improper_bimodal, reference="prior").init(random.key(0), 5, None)
    with pytest.raises(ValueError, match="`reference` must be one of"):
        TemperedLangevin(conjugate, reference="variational")
