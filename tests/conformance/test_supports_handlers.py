"""Every constrained support NumPyro has and every handler it ships, on every kernel with a
density: draws are finite, inside the support, and their means agree with the exact means.

Tolerances come from the Monte-Carlo error: ``|mean - exact| < 5 sd / sqrt(ESS)`` per
coordinate, with ``sd`` the exact standard deviation (or the draws' own where no closed form
is used) and ESS NumPyro's (over the 4 chains); fixed seeds.
"""

import warnings

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from jax import random
from numpyro.diagnostics import effective_sample_size
from numpyro.distributions import constraints
from numpyro.distributions.transforms import OrderedTransform
from numpyro.infer import MCMC, init_to_uniform
from numpyro.infer.reparam import LocScaleReparam, ProjectedNormalReparam

from .test_numpyro_mcmc import CI_KERNELS, KERNELS, make_kernel

CHAINS, WARMUP, DRAWS = 4, 300, 300


def run(kind, model, *args, **kw):
    mcmc = MCMC(make_kernel(kind, model), num_warmup=WARMUP, num_samples=DRAWS,
                num_chains=CHAINS, chain_method="vectorized", progress_bar=False)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the fallback to the full sweep
        mcmc.run(random.key(0), *args, **kw)
    return mcmc.get_samples(group_by_chain=True)


def assert_mean(draws, exact, sd=None, z=5.0):
    """Per-coordinate mean within ``z`` Monte-Carlo standard errors of ``exact``."""
    draws = np.asarray(draws, np.float64).reshape(CHAINS, DRAWS, -1)
    err = np.abs(draws.mean((0, 1)) - np.broadcast_to(exact, draws.shape[-1:]))
    fixed = draws.std((0, 1)) < 1e-6  # e.g. the unit diagonal of a correlation matrix
    assert np.all(err[fixed] < 1e-5), (draws.mean((0, 1)), exact)
    draws, err = draws[..., ~fixed], err[~fixed]
    ess = np.asarray(effective_sample_size(draws))
    sd = draws.std((0, 1)) if sd is None else np.broadcast_to(sd, ess.shape)
    assert np.all(err < z * sd / np.sqrt(ess)), (draws.mean((0, 1)), exact, sd, ess)


def supports_model():
    numpyro.sample("simplex", dist.Dirichlet(jnp.array([1.0, 2.0, 3.0])))
    numpyro.sample("positive", dist.Gamma(2.0, 1.0))
    numpyro.sample("unit", dist.Beta(2.0, 3.0))
    numpyro.sample("interval", dist.Uniform(-1.0, 3.0))
    numpyro.sample("greater", dist.Pareto(1.0, 5.0))
    numpyro.sample("circular", dist.VonMises(0.0, 4.0))
    base = dist.Normal(jnp.zeros(3), 1.0)
    numpyro.sample("ordered", dist.TransformedDistribution(base, OrderedTransform()))
    numpyro.sample("corr_cholesky", dist.LKJCholesky(3, 2.0))
    numpyro.sample("corr_matrix", dist.LKJ(3, 2.0))
    numpyro.sample("pos_def", dist.Wishart(5.0, scale_tril=jnp.eye(2)))
    # NumPyro's kernels refuse a bare sphere site and ask for this reparameterisation
    sphere = dist.ProjectedNormal(jnp.array([0.0, 0.0, 4.0]))
    with numpyro.handlers.reparam(config={"sphere": ProjectedNormalReparam()}):
        numpyro.sample("sphere", sphere)
    numpyro.sample("real_vector", dist.MultivariateNormal(jnp.ones(2), jnp.eye(2)))
    numpyro.factor("factor", -0.5 * numpyro.sample("f", dist.ImproperUniform(
        constraints.real, (), ())) ** 2)  # fmt: skip


# exact means (sd where the closed form is simple) of each site of `supports_model`
EXACT = {
    "simplex": (np.array([1, 2, 3]) / 6, None),
    "positive": (2.0, np.sqrt(2.0)),
    "unit": (0.4, 0.2),
    "interval": (1.0, 4 / np.sqrt(12)),
    "greater": (1.25, np.sqrt(5 / (16 * 3))),
    "circular": (0.0, None),
    "corr_matrix": (np.eye(3).ravel(), None),
    "pos_def": (5.0 * np.eye(2).ravel(), None),
    "real_vector": (1.0, 1.0),
    "f": (0.0, 1.0),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", KERNELS)
def test_every_support(kind):
    samples = run(kind, supports_model)
    seeded = numpyro.handlers.seed(supports_model, 0)
    d = numpyro.handlers.trace(
        numpyro.handlers.substitute(seeded, substitute_fn=init_to_uniform)
    ).get_trace()
    for name, x in samples.items():
        assert np.all(np.isfinite(x)), name
        if d[name]["type"] == "deterministic":  # the reparameterised sphere
            np.testing.assert_allclose(np.linalg.norm(x, axis=-1), 1.0, rtol=1e-5)
            continue
        support = d[name]["fn"].support
        assert bool(np.all(support.check(x))), f"{name} left its support {support}"
    for name, (mean, sd) in EXACT.items():
        assert_mean(samples[name], mean, sd)
    # x = OrderedTransform(y), y ~ N(0, I): x_0 = y_0, x_i = x_(i-1) + exp(y_i)
    half = np.exp(0.5)
    assert_mean(samples["ordered"], np.array([0.0, half, 2 * half]),
                np.sqrt([1.0, 1 + (np.e - 1) * np.e, 1 + 2 * (np.e - 1) * np.e]))  # fmt: skip


@pytest.mark.parametrize(
    "fn", [dist.Poisson(3.0), dist.ProjectedNormal(jnp.ones(3))], ids=["integer", "sphere"]
)
def test_integer_and_bare_sphere_supports_are_refused_by_name(fn):
    def model():
        numpyro.sample("site", fn)

    for kind in KERNELS:
        with pytest.raises(ValueError, match="site"):
            run(kind, model)


def latent4():
    numpyro.sample("x", dist.Normal(0.0, 1.0).expand([4]))


def masked_obs(y=None):
    x = numpyro.sample("x", dist.Normal(0.0, 1.0).expand([4]))
    with numpyro.handlers.mask(mask=False):  # the likelihood is switched off
        numpyro.sample("y", dist.Normal(x, 0.1), obs=y)


def with_param():
    c = numpyro.param("c", 0.0)
    numpyro.sample("y", dist.Normal(c, 1.0).expand([4]))


def latent_y():
    x = numpyro.sample("x", dist.Normal(0.0, 1.0).expand([4]))
    numpyro.sample("y", dist.Normal(x, 1.0))


def loc_scale():
    numpyro.sample("theta", dist.Normal(1.0, 2.0).expand([4]))


HANDLED = {
    # handler: (model, args, site, exact mean, exact sd)
    "scale": (numpyro.handlers.scale(latent4, scale=4.0), (), "x", 0.0, 0.5),
    "mask": (masked_obs, (jnp.full(4, 3.0),), "x", 0.0, 1.0),
    "condition": (
        numpyro.handlers.condition(latent_y, {"y": jnp.full(4, 2.0)}),
        (),
        "x",
        1.0,
        np.sqrt(0.5),
    ),  # fmt: skip
    # on a latent site substitute only sets the start (as for NUTS); on a param it holds
    "substitute": (numpyro.handlers.substitute(with_param, {"c": 2.0}), (), "y", 2.0, 1.0),
    "reparam": (
        numpyro.handlers.reparam(loc_scale, {"theta": LocScaleReparam(0)}),
        (),
        "theta",
        1.0,
        2.0,
    ),  # fmt: skip
}


@pytest.mark.parametrize("kind", CI_KERNELS)
@pytest.mark.parametrize(
    "handler",  # CI budget: `scale` (changes what the prefix sweep sees) in CI; others slow
    [h if h == "scale" else pytest.param(h, marks=pytest.mark.slow) for h in HANDLED],
)
def test_handler_is_honoured(kind, handler):
    model, args, site, mean, sd = HANDLED[handler]
    samples = run(kind, model, *args)
    assert np.all(np.isfinite(samples[site]))
    assert_mean(samples[site], mean, sd)
    if handler == "scale":  # the spread is what the handler changes: variance within 5 MCSE
        x = np.asarray(samples[site]).reshape(CHAINS, DRAWS, -1)
        ess = np.asarray(effective_sample_size(x))
        assert np.all(np.abs(x.var((0, 1)) - sd**2) < 5 * sd**2 * np.sqrt(2 / ess))
