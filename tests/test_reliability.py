"""What trusted samplers promise, for every kernel: same key -> bit-identical draws;
warmup + run (resumed from ``last_state``) equals one long run; kernels and MCMC objects
pickle; faults are flagged and never reach the samples."""

import ast
import os
import pickle
import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from jax import random
from numpyro.infer import MCMC

from numpyro_cld import AnnealedLangevin, ChainedLangevin, Langevin
from numpyro_cld.schedules import ncsn_sigmas


def mixture4():
    mix = dist.Categorical(probs=jnp.array([0.3, 0.7]))
    comp = dist.Normal(jnp.array([[-1.0] * 4, [1.0] * 4]), 0.7).to_event(1)
    numpyro.sample("x", dist.MixtureSameFamily(mix, comp))


KERNELS = {
    "ula": lambda: Langevin(mixture4, step_size=0.05, num_steps=3, adjust=False),
    "mala": lambda: Langevin(mixture4, adjust=True, num_steps=3),
    "annealed": lambda: AnnealedLangevin(
        mixture4, sigmas=ncsn_sigmas(1.0, 0.1, 3), steps_per_level=3, step_size=0.01
    ),
    "chained-prefix": lambda: ChainedLangevin(
        mixture4,
        patch_size=2,
        conditional="prefix",
        steps_per_patch=3,
        step_size=0.05,
        adjust=False,
    ),
    "chained-full-mh": lambda: ChainedLangevin(
        mixture4, patch_size=2, conditional="full", adjust=True, steps_per_patch=3
    ),
}


def draws(mcmc):
    return np.asarray(mcmc.get_samples(group_by_chain=True)["x"])


def _ci_kernels(in_ci=("chained-prefix",)):
    # CI budget: the chained prefix sweep (the package's default route) in CI, the other
    # kernels in the slow suite; they share kernels/base.py's MCMC plumbing with it
    return [k if k in in_ci else pytest.param(k, marks=pytest.mark.slow) for k in KERNELS]


@pytest.mark.parametrize("name", _ci_kernels())
def test_same_key_bit_identical(name):
    out = []
    for _ in range(2):
        mcmc = MCMC(
            KERNELS[name](),
            num_warmup=20,
            num_samples=30,
            num_chains=2,
            chain_method="vectorized",
            progress_bar=False,
        )
        mcmc.run(random.key(7))
        out.append(draws(mcmc))
    np.testing.assert_array_equal(out[0], out[1])
    assert np.all(np.isfinite(out[0]))


@pytest.mark.parametrize("name", _ci_kernels())
def test_warmup_then_run_equals_one_long_run(name):
    kernel = KERNELS[name]()
    long = MCMC(kernel, num_warmup=20, num_samples=40, progress_bar=False)
    long.run(random.key(3))
    split = MCMC(kernel, num_warmup=20, num_samples=20, progress_bar=False)
    split.warmup(random.key(3))
    split.run(split.post_warmup_state.rng_key)
    first = draws(split)
    split.post_warmup_state = split.last_state
    split.run(split.post_warmup_state.rng_key)
    np.testing.assert_allclose(
        np.concatenate([first, draws(split)], 1), draws(long), rtol=1e-6, atol=1e-6
    )


@pytest.mark.parametrize("name", _ci_kernels(("ula", "mala", "chained-prefix")))
def test_pickle_roundtrip(name):
    """An MCMC unpickled after a run (its kernel with it) resumes from its last state as the
    original does. (An unpickled kernel in a new MCMC: test_langevin, test_annealed.)"""
    mcmc = MCMC(KERNELS[name](), num_warmup=5, num_samples=5, progress_bar=False)
    mcmc.run(random.key(0))
    first = draws(mcmc)
    clone = pickle.loads(pickle.dumps(mcmc))
    resumed = []
    for m in (mcmc, clone):
        m.post_warmup_state = m.last_state
        m.run(m.last_state.rng_key)
        resumed.append(draws(m))
    np.testing.assert_array_equal(resumed[1], resumed[0])
    assert not np.array_equal(resumed[0], first)  # the resumed run drew new values


def nan_beyond_two(x):
    # potential of N(0, I) that is NaN where any coordinate exceeds 2
    return jnp.sum(0.5 * x**2) + jnp.where(jnp.any(x > 2.0), jnp.nan, 0.0)


FAULTY = {
    "ula": lambda: Langevin(potential_fn=nan_beyond_two, step_size=0.8, num_steps=2, adjust=False),
    "mala": lambda: Langevin(
        potential_fn=nan_beyond_two, step_size=0.8, num_steps=2, adjust=True, adapt_step_size=False
    ),
    "annealed-tempered": lambda: AnnealedLangevin(
        potential_fn=nan_beyond_two, path="tempered", steps_per_level=2, step_size=0.8
    ),
    "chained-full": lambda: ChainedLangevin(
        potential_fn=nan_beyond_two,
        patch_size=1,
        conditional="full",
        step_size=0.8,
        steps_per_patch=2,
        adjust=False,
    ),
    "chained-full-mh": lambda: ChainedLangevin(
        potential_fn=nan_beyond_two,
        patch_size=1,
        conditional="full",
        adjust=True,
        step_size=0.8,
        adapt_step_size=False,
        steps_per_patch=2,
    ),
}


@pytest.mark.parametrize("name", list(FAULTY))
def test_nan_region_is_flagged_and_never_sampled(name):
    mcmc = MCMC(
        FAULTY[name](),
        num_warmup=0,
        num_samples=200,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(random.key(0), init_params=jnp.zeros((2, 2)), extra_fields=("num_diverging",))
    x = np.asarray(mcmc.get_samples())
    extra = mcmc.get_extra_fields()
    assert np.all(np.isfinite(x)) and np.all(x <= 2.0)
    assert extra["num_diverging"].sum() > 0
    assert np.all(extra["num_diverging"][extra["diverging"]] > 0)


@pytest.mark.parametrize("adjust", [False, True])
def test_overflow_at_huge_step_size_is_contained(adjust):
    mcmc = MCMC(
        Langevin(
            num_steps=1,
            potential_fn=lambda x: jnp.sum(x**4),
            step_size=1e30,
            adjust=adjust,
            adapt_step_size=False,
        ),
        num_warmup=0,
        num_samples=50,
        progress_bar=False,
    )
    mcmc.run(random.key(0), init_params=jnp.ones(3))
    x = np.asarray(mcmc.get_samples())
    assert np.all(np.isfinite(x))
    assert mcmc.get_extra_fields()["diverging"].all()


def test_score_fn_returning_nan_now_and_then():
    def flaky_score(x):
        # NaN whenever the first coordinate's third decimal digit is 7 (about 10% of calls)
        bad = jnp.floor(jnp.abs(x[0]) * 1000) % 10 == 7
        return jnp.where(bad, jnp.nan, -x)

    mcmc = MCMC(
        Langevin(score_fn=flaky_score, step_size=0.1, num_steps=5),
        num_warmup=0,
        num_samples=300,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(random.key(0), init_params=jnp.zeros((2, 3)), extra_fields=("num_diverging",))
    x = np.asarray(mcmc.get_samples())
    n = mcmc.get_extra_fields()["num_diverging"]
    assert np.all(np.isfinite(x))
    # ~10% of the 3000 proposals are faults: the count is in that range, not 0 or all
    assert 0.05 * 3000 < n.sum() < 0.2 * 3000


@pytest.mark.parametrize("chain_method", ["vectorized", "sequential", jax.vmap])
def test_faults_raise_one_warning_and_are_counted(chain_method):
    kernel = Langevin(potential_fn=nan_beyond_two, step_size=0.8, num_steps=2, adjust=False)
    mcmc = MCMC(
        kernel,
        num_warmup=0,
        num_samples=200,
        num_chains=2,
        chain_method=chain_method,
        progress_bar=False,
    )
    with pytest.warns(RuntimeWarning, match="non-finite") as record:
        mcmc.run(random.key(0), init_params=jnp.zeros((2, 2)), extra_fields=("num_diverging",))
    reports = [str(w.message) for w in record if "diverged" in str(w.message)]
    extra = mcmc.get_extra_fields()
    # one report for the run, with the count print_summary gives (ULA: every fault flags)
    assert len(reports) == 1 and f" {int(extra['diverging'].sum())} of 400 " in reports[0]
    assert kernel.num_faults == int(extra["num_diverging"].sum()) > 0


def test_warmup_divergences_are_counted_not_reported():
    # a narrow target (sd 1e-3) and the default first step size: dual averaging's first
    # proposals are rejected by far more than max_delta_energy, as NumPyro's HMC's are; they
    # count in num_faults but, as in NumPyro, only divergences after warmup are reported
    kernel = Langevin(potential_fn=lambda x: 0.5 * jnp.sum((x / 1e-3) ** 2), num_steps=1)
    mcmc = MCMC(kernel, num_warmup=300, num_samples=300, progress_bar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        mcmc.run(random.key(0), init_params=jnp.full(2, 1e-3), extra_fields=("num_diverging",))
    assert kernel.num_faults > 0
    assert mcmc.get_extra_fields()["num_diverging"].sum() == 0


@pytest.mark.parametrize("chain_method", ["vectorized", jax.vmap])
def test_clean_run_calls_the_host_once(monkeypatch, chain_method):
    # under an outer vmap a plain lax.cond becomes a select and would call the host on every
    # transition (3x slower); the custom batching rule keeps it to faulty transitions and
    # the run's last one (its report), one call for all chains
    calls = []
    monkeypatch.setattr(Langevin, "_report_faults", lambda self, n: calls.append(int(n.sum())))
    mcmc = MCMC(
        Langevin(num_steps=1, potential_fn=lambda x: jnp.sum(x**2), step_size=0.1, adjust=False),
        num_warmup=0,
        num_samples=30,
        num_chains=2,
        chain_method=chain_method,
        progress_bar=False,
    )
    mcmc.run(random.key(0), init_params=jnp.zeros((2, 2)))
    assert len(calls) == 1  # the end of the run, with nothing to report


def test_no_fault_no_warning():
    import warnings

    mcmc = MCMC(
        Langevin(num_steps=1, potential_fn=lambda x: jnp.sum(x**2), step_size=0.1, adjust=False),
        num_warmup=0,
        num_samples=50,
        progress_bar=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mcmc.run(random.key(0), init_params=jnp.zeros(2))


@pytest.mark.parametrize(
    "cls",  # CI budget: Langevin in CI; the three kernels share the step size checks
    [
        Langevin,
        pytest.param(ChainedLangevin, marks=pytest.mark.slow),
        pytest.param(AnnealedLangevin, marks=pytest.mark.slow),
    ],
)
def test_step_size_traced_by_the_users_jit(cls):
    """NumPyro lets an MCMC run inside jax.jit with a traced step size; our checks must not
    demand a concrete float (they raised TypeError), and the run must equal the eager one."""

    def model():
        numpyro.sample("x", dist.Normal(0.0, 1.0).expand([2]))

    # the chained default anneals this model over 40 levels, whose step sizes the trace scales
    # in float32 and the eager run in float64: the chains part after a few hundred steps by
    # round-off, so that run is only checked to be finite; the unannealed sweep must be equal
    kw = {"sigmas": None} if cls is ChainedLangevin else {}

    def draws(step_size, **kw):
        mcmc = MCMC(
            cls(model, step_size=step_size, **kw),  # (annealed: eta_L, as NCSN's eps)
            num_warmup=3,
            num_samples=4,
            progress_bar=False,
            jit_model_args=False,
        )
        mcmc.run(random.key(0))
        return mcmc.get_samples()["x"]

    step = 2e-5 if cls is AnnealedLangevin else 0.05
    traced = np.asarray(jax.jit(partial(draws, **kw))(jnp.float32(step)))
    np.testing.assert_allclose(traced, np.asarray(draws(step, **kw)), rtol=1e-4, atol=1e-5)
    if cls is ChainedLangevin:
        assert np.all(np.isfinite(np.asarray(jax.jit(draws)(jnp.float32(step)))))


def _compiles_on_second_run(make_kernel, num_chains):
    """Names of the programs XLA compiles during a second run (same shapes, new key)."""
    import logging

    names = []

    class Names(logging.Handler):
        def emit(self, record):
            if "Finished XLA compilation of" in record.getMessage():
                names.append(record.getMessage().split(" in ")[0])

    mcmc = MCMC(
        make_kernel(), num_warmup=3, num_samples=3, num_chains=num_chains,
        chain_method="vectorized", progress_bar=True,
    )  # fmt: skip
    mcmc.run(random.key(0))
    handler, logger = Names(), logging.getLogger("jax")
    logger.addHandler(handler)
    try:
        with jax.log_compiles():
            mcmc.run(random.key(1))
    finally:
        logger.removeHandler(handler)
    return names


def _compiles_on_second_run_fresh(kernel: str, num_chains: int):
    """:func:`_compiles_on_second_run` in a fresh interpreter without the CI and
    PYTEST_XDIST_WORKER variables, under which NumPyro turns the progress bar off, and its
    progress_bar=False loop (fori_collect) is compiled again on every run, for NUTS too.
    ``kernel``: an expression in this module's names that makes the kernel."""
    import subprocess
    import sys

    code = (
        "import sys; sys.path.insert(0, 'tests'); from numpyro.infer import NUTS; "
        "from test_reliability import KERNELS, _compiles_on_second_run, mixture4; "
        f"print('COMPILED', _compiles_on_second_run(lambda: {kernel}, {num_chains}))"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_XDIST_WORKER")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    lines = [line for line in out.stdout.splitlines() if line.startswith("COMPILED")]
    assert lines, out.stderr[-2000:]
    return ast.literal_eval(lines[-1][len("COMPILED ") :])


def test_second_run_compiles_nothing_new():
    # Same shapes, new key: a second MCMC.run reuses every program of the kernel (one chain;
    # vectorized chains: the slow test below)
    assert _compiles_on_second_run_fresh("KERNELS['chained-prefix']()", 1) == []


@pytest.mark.slow
def test_second_run_compiles_no_more_than_nuts():
    # Vectorized chains recompile one program that is NumPyro's own (initialize_model maps
    # over the chain keys with an eager lax.map), as NUTS does, so the count is compared
    # with NUTS's. (progress_bar=False recompiles the sampling loop for every kernel, NUTS
    # included: numpyro.util.fori_collect jits a new closure per call; docs/benchmarks.md.)
    assert _compiles_on_second_run_fresh("KERNELS['mala']()", 1) == []
    assert len(_compiles_on_second_run_fresh("KERNELS['mala']()", 2)) <= len(
        _compiles_on_second_run_fresh("NUTS(mixture4)", 2)
    )


@pytest.mark.parametrize("chain_method", ["vectorized", "sequential"])
def test_run_report_gives_the_runs_total(chain_method):
    # hundreds of flagged transitions, unequal per chain: one warning, after the run, with
    # exactly the count print_summary shows and the per-chain split
    kernel = Langevin(
        potential_fn=lambda x: jnp.where(x[0] > 0, 1e6 * jnp.sum(x**2), jnp.sum(x**2)),
        step_size=1.0,
        adapt_step_size=False,
        adapt_mass_matrix=False,
        num_steps=4,
    )
    mcmc = MCMC(
        kernel,
        num_warmup=20,
        num_samples=300,
        num_chains=3,
        chain_method=chain_method,
        progress_bar=False,
    )
    init = jnp.array([[3.0, 0.0], [3.0, 0.0], [-3.0, 0.0]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mcmc.run(random.key(1), init_params=init)
    flagged = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["diverging"]).sum(1)
    reports = [str(w.message) for w in caught if "diverged" in str(w.message)]
    assert flagged.sum() >= 300 and len(set(flagged.tolist())) > 1
    assert len(reports) == 1
    assert f": {flagged.sum()} of 900 transitions after warmup diverged" in reports[0]
    assert "(per chain: " + ", ".join(str(int(c)) for c in flagged) + ")" in reports[0]


def test_run_report_names_frozen_chains():
    """ULA at a step above 2 / curvature explodes: every proposal after warmup is non-finite,
    every transition diverges, and the report says the chain is stuck, not only the count."""
    kernel = Langevin(potential_fn=lambda x: 0.5 * jnp.sum(x**2), step_size=3.0, adjust=False,
                      num_steps=2)  # fmt: skip
    mcmc = MCMC(kernel, num_warmup=100, num_samples=40, progress_bar=False)  # 2x a step: overflow
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mcmc.run(random.key(0), init_params=jnp.ones(2))
    reports = [
        str(w.message) for w in caught if "transitions after warmup diverged" in str(w.message)
    ]
    assert np.all(mcmc.get_extra_fields()["diverging"])
    assert len(reports) == 1 and "40 of 40 transitions" in reports[0]
    assert "In 1 of 1 chain(s) every transition diverged: those chains are stuck" in reports[0]
    # a run with some divergent transitions does not say so (the test above: 3 chains)


def test_run_report_after_separate_warmup():
    kernel = Langevin(
        potential_fn=lambda x: jnp.where(x[0] > 0, 1e6 * jnp.sum(x**2), jnp.sum(x**2)),
        step_size=1.0,
        adapt_step_size=False,
        adapt_mass_matrix=False,
    )
    mcmc = MCMC(kernel, num_warmup=50, num_samples=200, progress_bar=False)
    mcmc.warmup(random.key(0), init_params=jnp.array([3.0, 0.0]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mcmc.run(random.key(1))
    n = int(mcmc.get_extra_fields()["diverging"].sum())
    reports = [str(w.message) for w in caught if "diverged" in str(w.message)]
    assert n > 100 and len(reports) == 1 and f": {n} of 200 transitions" in reports[0]


def test_own_loop_reports_the_first_flagged_transition():
    # driven without MCMC the run's end is unknown: one warning, saying it is the first
    kernel = Langevin(
        potential_fn=lambda x: jnp.where(x[0] > 0, 1e6 * jnp.sum(x**2), jnp.sum(x**2)),
        step_size=1.0,
        adapt_step_size=False,
    )
    state = kernel.init(random.key(0), 0, jnp.array([3.0, 0.0]), (), {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(5):
            state = kernel.sample(state, (), {})
    reports = [str(w.message) for w in caught if "diverged" in str(w.message)]
    assert len(reports) == 1 and "Later ones are not reported" in reports[0]


def eight_schools(centred):
    y = np.array([28.0, 8, -3, 7, -1, 1, 18, 12])
    sigma = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])

    def model():
        mu = numpyro.sample("mu", dist.Normal(0, 5))
        tau = numpyro.sample("tau", dist.HalfCauchy(5))
        with numpyro.plate("J", 8):
            if centred:
                theta = numpyro.sample("theta", dist.Normal(mu, tau))
            else:
                theta = mu + tau * numpyro.sample("eta", dist.Normal(0, 1))
            numpyro.sample("obs", dist.Normal(theta, sigma), obs=y)

    return model


@pytest.mark.parametrize("centred", [False, True])
def test_divergences_mark_the_funnel_not_a_clean_run(centred):
    # measured (docs/reliability.md, seed 0, 4 x (500 + 1000)): non-centred 6 flagged
    # transitions of 4000 (1,047 before the stuck rule, whose transitions accepted 0.47 on
    # average), centred 311 (NUTS: 52), at a median log tau of the flagged ones below the
    # clean ones' as NUTS's are; the bounds are a factor 5 from the measurements
    mcmc = MCMC(
        Langevin(eight_schools(centred)),
        num_warmup=500,
        num_samples=1000,
        num_chains=4,
        chain_method="vectorized",
        progress_bar=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mcmc.run(random.key(0))
    flagged = np.asarray(mcmc.get_extra_fields()["diverging"])
    if centred:
        tau = np.asarray(mcmc.get_samples()["tau"])
        assert flagged.sum() > 60
        assert np.median(np.log(tau[flagged])) < np.median(np.log(tau[~flagged]))
    else:
        assert flagged.sum() < 30


def test_run_report_is_logged_where_warnings_are_errors(caplog):
    # NumPyro's suites turn warnings into errors; raised inside JAX's host callback the
    # report would abort the run with an XlaRuntimeError, so it goes to the log instead
    kernel = Langevin(
        potential_fn=lambda x: jnp.where(x[0] > 0, 1e6 * jnp.sum(x**2), jnp.sum(x**2)),
        step_size=1.0,
        adapt_step_size=False,
    )
    mcmc = MCMC(kernel, num_warmup=0, num_samples=50, progress_bar=False)
    with warnings.catch_warnings(), caplog.at_level("WARNING", logger="numpyro_cld"):
        warnings.simplefilter("error")
        mcmc.run(random.key(0), init_params=jnp.array([3.0, 0.0]))
    n = int(mcmc.get_extra_fields()["diverging"].sum())
    said = [r.getMessage() for r in caplog.records if r.name == "numpyro_cld"]
    assert n > 0 and any(f": {n} of 50 transitions after warmup diverged" in m for m in said)
