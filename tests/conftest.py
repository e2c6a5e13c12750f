import os

os.environ.setdefault("MPLBACKEND", "Agg")

import jax
import numpy as np
import pytest
from numpyro.diagnostics import effective_sample_size

# a script the multi-process test starts (it reads its command line at import), not a module
collect_ignore = ["_multiprocess_worker.py"]

#: The suite runs where the hardware is. CI is a CPU; on a GPU or TPU two things change:
ON_CPU = jax.default_backend() == "cpu"
if not ON_CPU:
    # float32 matmuls there default to TF32 / bf16 passes (10-bit mantissas), which the
    # tolerances of the float32 tests do not allow for: the suite asks for full precision
    jax.config.update("jax_default_matmul_precision", "highest")


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


# CI budget (15 minutes on 2 cores, install included): these CI-length tests run in the slow
# suite only. Each has a cheaper sibling in CI that exercises the same code path (another
# kernel or parameter of the same test, or a test of the same property), measured with
# `--durations` at 10-56 s each.
CI_BUDGET_SLOW = {
    "tests/test_tempered.py::test_mode_masses_from_a_start_in_one_mode[sign-d2-unequal]",
    "tests/test_tempered.py::test_exact_on_a_constrained_conjugate_posterior",
    "tests/test_tempered.py::test_a_non_finite_prior_draw_is_never_swapped_in",
    "tests/conformance/test_numpyro_api.py::test_model_with_lift_handler[chained]",
    "tests/conformance/test_numpyro_api.py::test_compile_warmup_run[2-chained]",
    "tests/conformance/test_supports_handlers.py::test_handler_is_honoured[mask-chained]",
    "tests/test_chained.py::test_prefix_sweep_one_dim_patches_matches_mixture_frequencies[model]",
    "tests/test_chained.py::test_prefix_sweep_hierarchical_without_observations",
    "tests/test_smoothing.py::test_mc_tweedie_converges_to_exact[vp-0.5]",
    "tests/test_smoothing.py::test_mc_student_t_vp_score_matches_quadrature",
    "tests/test_smoothing.py::test_tempered_source[base0]",
    "tests/test_smoothing.py::test_exact_smoothed_potential_is_the_closed_form_mixture",
    "tests/test_unet.py::test_output_is_divided_by_sigma",
    "tests/test_reliability.py::test_same_key_bit_identical[mala]",
    "tests/test_reliability.py::test_warmup_then_run_equals_one_long_run[mala]",
    "tests/test_reliability.py::test_step_size_traced_by_the_users_jit[ChainedLangevin]",
    "tests/test_reliability.py::test_step_size_traced_by_the_users_jit[AnnealedLangevin]",
    "tests/test_reliability.py::test_pickle_roundtrip[chained-full-mh]",
    "tests/test_reliability.py::test_pickle_roundtrip[annealed]",
    "tests/test_diagnostics.py::test_from_numpyro_on_other_kernels[model-AnnealedLangevin]",
    "tests/test_diagnostics.py::test_from_numpyro_on_langevin_runs[potential_fn]",
    "tests/test_langevin.py::test_resume_from_last_state_equals_one_long_run[True]",
    "tests/test_langevin.py::test_dense_and_diag_mass_adapt_to_scales",
    "tests/test_annealed.py::test_start_from_base_forgets_the_initial_state",
    "tests/test_annealed.py::test_potential_fn_needs_an_explicit_smoothing_choice",
    "tests/test_annealed.py::test_mala_sweep_samples_last_smoothed_level_exactly",
    "tests/test_nets.py::test_dsm_loss_decreases[<lambda>1]",
    "tests/test_runs.py::test_odd_chain_count_with_every_chain_method[chained-vectorized]",
    "tests/test_docs.py::test_functional_page_examples_run",
    "tests/test_diagnostics.py::test_mcmc_idata_dataset_array_give_the_same_coverage",
    "tests/test_smoothing.py::test_handler_on_plates_independent_expanded_and_mixture_general",
    "tests/test_langevin.py::test_mala_banana_non_gaussian",
    "tests/test_reliability.py::test_same_key_bit_identical[chained-full-mh]",
    "tests/test_reliability.py::test_same_key_bit_identical[annealed]",
    "tests/test_reliability.py::test_warmup_then_run_equals_one_long_run[chained-full-mh]",
    "tests/test_reliability.py::test_warmup_then_run_equals_one_long_run[ula]",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid in CI_BUDGET_SLOW:
            item.add_marker(pytest.mark.slow)
