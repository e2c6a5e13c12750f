"""Targets shared by several test files."""

import numpy as np
import numpyro
import numpyro.distributions as dist

COV5 = np.array(
    [
        [1.0, 0.5, 0.2, 0.0, 0.1],
        [0.5, 2.0, 0.3, 0.1, 0.0],
        [0.2, 0.3, 1.5, -0.4, 0.0],
        [0.0, 0.1, -0.4, 0.8, 0.2],
        [0.1, 0.0, 0.0, 0.2, 1.2],
    ],
    np.float32,
)
MEAN5 = np.array([1.0, -2.0, 0.5, 0.0, 3.0], np.float32)


def gaussian5():
    """A correlated 5-d Gaussian with known moments."""
    numpyro.sample("x", dist.MultivariateNormal(MEAN5, COV5))


def sign_model(y=None):
    """y ~ N(theta^2, sigma): two modes of unequal mass (theta > 0 and < 0), a positive site."""
    theta = numpyro.sample("theta", dist.Normal(0.5, 1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    numpyro.sample("y", dist.Normal(theta**2, sigma).expand([3]).to_event(1), obs=y)


def sign_model_bounded_noise(y=None):
    """``sign_model`` with ``sigma ~ LogNormal(-0.7, 0.3)``: the same two modes and a positive
    site, without the funnel that ``sigma -> 0`` makes (``theta``'s width is ``sigma``)."""
    theta = numpyro.sample("theta", dist.Normal(0.5, 1.0))
    sigma = numpyro.sample("sigma", dist.LogNormal(-0.7, 0.3))
    numpyro.sample("y", dist.Normal(theta**2, sigma).expand([3]).to_event(1), obs=y)
