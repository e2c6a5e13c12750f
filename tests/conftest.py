import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
from numpyro.diagnostics import effective_sample_size


def within_mc_error(draws, true_mean, true_var, z=4.0):
    """Check per-coordinate mean and variance of ``draws`` (chains, samples, d) against the
    truth, with tolerances from the Monte-Carlo standard error ``sd / sqrt(ESS)`` (mean) and
    ``var * sqrt(2 / ESS)`` (variance, Gaussian approximation), at ``z`` standard errors."""
    draws = np.asarray(draws)
    if draws.ndim == 2:
        draws = draws[..., None]
    ess = np.asarray(effective_sample_size(draws))
    mean = draws.mean((0, 1))
    var = draws.var((0, 1))
    true_mean = np.broadcast_to(true_mean, mean.shape)
    true_var = np.broadcast_to(true_var, var.shape)
    mean_tol = z * np.sqrt(true_var / ess)
    # variance-of-variance uses the kurtosis of the draws (exact for non-Gaussian targets too)
    kurt = ((draws - mean) ** 4).mean((0, 1)) / var**2
    var_tol = z * true_var * np.sqrt((kurt - 1) / ess)
    assert np.all(np.abs(mean - true_mean) < mean_tol), (mean, true_mean, mean_tol, ess)
    assert np.all(np.abs(var - true_var) < var_tol), (var, true_var, var_tol, ess)
    return ess


@pytest.fixture
def mc_check():
    return within_mc_error
