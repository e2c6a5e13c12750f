"""The multimodal posteriors with known mode masses (``numpyro_cld.examples.posteriors``): the
masses and exact draws agree with the models' own densities, and each start lies in its mode."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import random
from numpyro.infer.util import log_density

from numpyro_cld.examples.posteriors import (
    label_switching,
    mixture_prior_linear,
    posterior_family,
    sign_ambiguity,
)

FAMILY = posterior_family()


def log_joint(m, x):
    """The model's unnormalised log posterior at latent values ``x`` (``(n, dim)``)."""
    return jax.jit(jax.vmap(lambda v: log_density(m.model, (), {}, {m.site: v})[0]))(x)


@pytest.mark.parametrize("m", FAMILY, ids=[m.name for m in FAMILY])
def test_masses_form_a_distribution_and_starts_lie_in_their_modes(m):
    assert m.weights.shape == (m.num_modes,)
    assert np.all(m.weights >= 0) and abs(m.weights.sum() - 1) < 1e-9
    np.testing.assert_array_equal(np.asarray(m.assign(m.starts)), np.arange(m.num_modes))
    x = m.init_params(random.key(0), 5, mode=m.num_modes - 1)[m.site]
    assert x.shape == (5, m.dim)


@pytest.mark.parametrize(
    "m",
    # CI budget: the large conjugate members (d >= 50) are in the slow suite
    [pytest.param(f, marks=[pytest.mark.slow] if f.dim >= 50 else []) for f in FAMILY if f.sample],
    ids=lambda m: m.name,
)
def test_exact_draws_hit_the_masses(m):
    # 20,000 independent draws: each frequency is within 4 binomial standard errors
    n = 20_000
    labels = np.asarray(m.assign(m.sample(random.key(1), n)))
    f = np.bincount(labels, minlength=m.num_modes) / n
    se = np.sqrt(m.weights * (1 - m.weights) / n)
    assert np.all(np.abs(f - m.weights) <= 4 * se + 1e-12), (f, m.weights)


@pytest.mark.parametrize(
    "dim, k, seed", [(8, 2, 1), pytest.param(16, 3, 0, marks=pytest.mark.slow)]
)
def test_conjugate_mixture_posterior_is_the_models(dim, k, seed):
    # the closed-form posterior (a Gaussian mixture) and the model's unnormalised log joint
    # differ by a constant (the log evidence) at any point
    m = mixture_prior_linear(dim, k, seed=seed)
    x = m.sample(random.key(2), 50)
    joint = np.asarray(log_joint(m, x), np.float64)
    diff = joint - np.asarray(m.exact.log_prob(x), np.float64)
    # float32 draws and closed form: the spread of the constant is rounding, not structure
    assert np.ptp(diff) < 1e-3 * max(1.0, np.abs(diff).mean()), np.ptp(diff)


@pytest.mark.parametrize("k", [2, 3])
def test_label_switching_is_symmetric(k):
    # every relabelling of a point has the same density: the K! modes have equal mass
    m = label_switching(k)
    x = np.asarray(m.starts[0]) + 0.3 * np.asarray(random.normal(random.key(3), (k,)))
    perms = [list(p) for p in itertools.permutations(range(k))]
    values = np.asarray(log_joint(m, jnp.asarray(np.stack([x[p] for p in perms]))))
    np.testing.assert_allclose(values, values[0], rtol=1e-6)


def test_sign_patterns_symmetric_with_a_centred_prior_only():
    x = jnp.array([1.4, -1.6, 1.5])
    pair = jnp.stack([x, x * jnp.array([-1.0, 1.0, -1.0])])
    equal = np.asarray(log_joint(sign_ambiguity(3), pair))
    assert abs(equal[0] - equal[1]) < 1e-4
    unequal = sign_ambiguity(3, prior_loc=0.5)
    assert abs(np.diff(np.asarray(log_joint(unequal, pair)))[0]) > 0.1
    assert np.ptp(unequal.weights) > 0.1


def test_a_member_is_a_mode_rule_for_mode_coverage():
    from numpyro_cld.diagnostics import mode_coverage

    m = sign_ambiguity(3)
    draws = np.asarray(m.sample(random.key(4), 4000)).reshape(4, 1000, 3)
    cov = mode_coverage(draws, m)
    np.testing.assert_allclose(cov["target_weight"], m.weights)
    # 4000 exact draws over 8 equal modes: TV's expected size is about 0.02
    assert float(cov["tv"]) < 0.05 and int(cov["modes_found"]) == 8
