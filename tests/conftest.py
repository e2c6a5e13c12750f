import contextlib
import logging
import os
import re

os.environ.setdefault("MPLBACKEND", "Agg")

import jax
import numpy as np
import pytest
from numpyro.diagnostics import effective_sample_size

from numpyro_cld import notes

# a script the multi-process test starts (it reads its command line at import), not a module
collect_ignore = ["_multiprocess_worker.py"]

#: The suite runs where the hardware is. CI is a CPU; on a GPU or TPU two things change:
ON_CPU = jax.default_backend() == "cpu"
if not ON_CPU:
    # float32 matmuls there default to TF32 / bf16 passes (10-bit mantissas), which the
    # tolerances of the float32 tests do not allow for: the suite asks for full precision
    jax.config.update("jax_default_matmul_precision", "highest")


@pytest.fixture(autouse=True)
def _notes_said_afresh():
    """Each test hears the package's once-per-process notes (:mod:`numpyro_cld.notes`)."""
    notes.reset()


@contextlib.contextmanager
def says(caplog, pattern):
    """Assert that the block logs a note matching ``pattern`` on the ``numpyro_cld`` logger."""
    with caplog.at_level(logging.INFO, logger="numpyro_cld"):
        yield
    said = [r.getMessage() for r in caplog.records if r.name == "numpyro_cld"]
    assert any(re.search(pattern, m) for m in said), f"no note matching {pattern!r}: {said}"


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module. Every XLA:CPU executable keeps
    memory mappings, and a pytest worker that runs a third of this suite reaches Linux's
    default limit of 65,530 mappings per process (vm.max_map_count), where the next
    compilation crashes the worker (measured 2026-12-07: 40,000 mappings after 19 minutes;
    segfaults and aborts in XLA's compiler, always at the same test). Modules share no compiled
    program worth keeping."""
    yield
    jax.clear_caches()


def assert_same_draws(a, b):
    """Draws of two programs that compute the same thing (a kernel in ``MCMC`` and its
    functional core in a user's loop, vectorized and sequential chains): bit-identical on a
    CPU; on an accelerator XLA fuses the two programs differently, so they agree to float32
    round-off (amplified a little along the chain), not bit for bit."""
    if ON_CPU:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


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
