"""The AnnealedLangevin kernel: correctness per level, the benchmark claims, bad inputs."""

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from conftest import says, within_mc_error
from jax import random
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import MCMC

from numpyro_cld import AnnealedLangevin, Langevin
from numpyro_cld.schedules import ncsn_sigmas, vp_lambdas
from numpyro_cld.targets import paper_gmm, song_ermon_toy


def run(kernel, num_chains, num_samples, init_params=None, seed=0, extra_fields=()):
    mcmc = MCMC(
        kernel,
        num_warmup=0,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(random.key(seed), init_params=init_params, extra_fields=extra_fields)
    return mcmc


def gaussian_model():
    numpyro.sample("x", dist.Normal(jnp.array([1.0, -1.0]), 0.5).to_event(1))


# -- correctness of a sweep ------------------------------------------------------------
@pytest.mark.slow  # CI budget: test_vp_exact_path_final_level_is_target is its CI sibling
def test_mala_sweep_samples_last_smoothed_level_exactly():
    """With MALA at every level the sweep leaves the last level's law invariant: for
    N(m, 0.25 I) on the ve path the draws follow N(m, (0.25 + sigma_L^2) I)."""
    sigmas = jnp.array([1.0, 0.5, 0.3])
    kernel = AnnealedLangevin(
        gaussian_model, sigmas=sigmas, steps_per_level=20, step_size=0.02, adjust=True
    )
    mcmc = run(kernel, 200, 20, extra_fields=("accept_prob",))
    draws = mcmc.get_samples(group_by_chain=True)["x"]
    # tolerances from the Monte-Carlo error (ESS) of the draws, see conftest
    within_mc_error(draws, np.array([1.0, -1.0]), 0.25 + 0.3**2)
    acc = mcmc.get_extra_fields()["accept_prob"]
    assert 0.3 < float(acc.mean()) < 1.0


def test_score_fn_path_ula_stationary_law():
    """A learned-score stand-in ``score_fn(x, sigma)`` for N(0, I) smoothed to sigma: the
    last level is N(0, v I), v = 1 + sigma_L^2, and ULA's stationary variance there is
    v / (1 - eta_L / (2 v)) (the ULA bias of docs/convention.md)."""

    def score_fn(x, sigma):
        return -x / (1.0 + sigma**2)

    sigmas = jnp.array([2.0, 1.0])
    eps = 0.2  # eta_L = eps, eta_1 = 0.8
    kernel = AnnealedLangevin(score_fn=score_fn, sigmas=sigmas, steps_per_level=150, step_size=eps)
    x0 = random.normal(random.key(5), (500, 2)) * 3
    draws = run(kernel, 500, 6, init_params=x0).get_samples(group_by_chain=True)
    v = 2.0
    within_mc_error(draws, 0.0, v / (1 - eps / (2 * v)))


def test_tempered_path_mala_targets_model():
    kernel = AnnealedLangevin(
        gaussian_model,
        path="tempered",
        lambdas=[0.0, 0.5, 1.0],
        steps_per_level=15,
        step_size=0.05,
        adjust=True,
    )
    draws = run(kernel, 200, 20).get_samples(group_by_chain=True)["x"]
    within_mc_error(draws, np.array([1.0, -1.0]), 0.25)


def test_vp_exact_path_final_level_is_target():
    # lambda_L = 1: the last level is the model itself
    kernel = AnnealedLangevin(
        gaussian_model,
        path="vp",
        lambdas=vp_lambdas(5, "cosine"),
        steps_per_level=15,
        step_size=0.05,
        adjust=True,
    )
    draws = run(kernel, 200, 20).get_samples(group_by_chain=True)["x"]
    within_mc_error(draws, np.array([1.0, -1.0]), 0.25)


@pytest.mark.slow  # CI budget: test_vp_exact_path_final_level_is_target is its CI sibling
def test_start_from_base_forgets_the_initial_state():
    kernel = AnnealedLangevin(
        gaussian_model,
        sigmas=ncsn_sigmas(3.0, 0.05, 6),
        steps_per_level=30,
        step_size=2e-4,
        start_from_base=True,
    )
    far = {"x": jnp.full((64, 2), 1e3)}
    draws = run(kernel, 64, 2, init_params=far).get_samples()["x"]
    assert np.all(np.isfinite(draws))
    # every draw is near the target N((1,-1), 0.25 I); starting at 1e3 it could not be
    assert np.max(np.abs(np.asarray(draws) - np.array([1.0, -1.0]))) < 3.0


def test_one_compiled_sweep_nested_scans():
    """One transition is two nested scans (levels x steps): the traced program does not
    grow with L or steps_per_level (no Python loop over levels or steps)."""

    def sample_jaxpr(num_levels, steps):
        kernel = AnnealedLangevin(
            gaussian_model,
            sigmas=ncsn_sigmas(1.0, 0.1, num_levels),
            steps_per_level=steps,
            step_size=1e-3,
        )
        state = kernel.init(random.key(0), 0, {"x": jnp.zeros(2)}, (), {})
        return jax.make_jaxpr(lambda s: kernel.sample(s, (), {}))(state).jaxpr

    def scans(jaxpr):
        out = []
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "scan":
                out.append((eqn.params["length"], scans(eqn.params["jaxpr"].jaxpr)))
        return out

    small, big = sample_jaxpr(3, 5), sample_jaxpr(30, 50)
    assert scans(small) == [(3, [(5, [])])]
    assert scans(big) == [(30, [(50, [])])]
    assert len(small.eqns) == len(big.eqns)


def test_extra_fields_and_store_levels():
    kernel = AnnealedLangevin(
        gaussian_model, sigmas=[1.0, 0.5, 0.1], steps_per_level=4, step_size=0.01, store_levels=True
    )
    mcmc = run(kernel, 3, 5, extra_fields=("accept_prob", "diverging", "num_diverging", "level_z"))
    extra = mcmc.get_extra_fields(group_by_chain=True)
    assert extra["accept_prob"].shape == (3, 5) and np.all(extra["accept_prob"] == 1.0)
    assert extra["diverging"].shape == (3, 5) and not extra["diverging"].any()
    assert extra["level_z"].shape == (3, 5, 3, 2)
    # the last stored level is the returned draw
    np.testing.assert_allclose(
        extra["level_z"][:, :, -1], mcmc.get_samples(group_by_chain=True)["x"]
    )


def test_faulty_score_is_flagged_not_propagated():
    def score_fn(x, sigma):
        return jnp.where(x > 0.5, jnp.nan, -x / (1 + sigma**2))

    kernel = AnnealedLangevin(
        score_fn=score_fn, sigmas=[1.0, 0.5], steps_per_level=50, step_size=0.1
    )
    with pytest.warns(RuntimeWarning, match="AnnealedLangevin.*non-finite"):
        mcmc = run(kernel, 16, 3, init_params=jnp.zeros((16, 1)), extra_fields=("diverging",))
    assert np.all(np.isfinite(mcmc.get_samples()))
    assert mcmc.get_extra_fields()["diverging"].any()


def test_kernel_pickles_after_run():
    # the unpickled kernel draws what the original draws for the same key and start
    kernel = AnnealedLangevin(score_fn=_unit_score, sigmas=[1.0, 0.5], steps_per_level=2)
    before = run(kernel, 2, 3, init_params=jnp.zeros((2, 3))).get_samples()
    clone = pickle.loads(pickle.dumps(kernel))
    np.testing.assert_allclose(clone.levels, [1.0, 0.5])
    after = run(clone, 2, 3, init_params=jnp.zeros((2, 3))).get_samples()
    np.testing.assert_array_equal(after, before)
    assert np.all(np.isfinite(before)) and np.ptp(before) > 0  # real draws, not the start


def _unit_score(x, sigma):
    return -x / (1 + sigma**2)


# -- Student-t path --------------------------------------------------------------------
def two_mode_model():
    numpyro.sample(
        "x",
        dist.MixtureSameFamily(
            dist.Categorical(jnp.array([0.3, 0.7])),
            dist.Normal(jnp.array([[-2.0, -2.0], [2.0, 2.0]]), 0.5).to_event(1),
        ),
    )


@pytest.mark.slow
def test_student_t_path_finite_with_heavy_tails_early():
    """vp path with a Student-t base (alpha = 3), Monte-Carlo scores, every sweep started from
    the base: draws are finite, the first level shows the base's heavy tails (a Gaussian base
    gives none at the same settings), and the last level has found the target's modes."""
    lambdas = vp_lambdas(6, "exponential", lambda_min=1e-3)

    def level_draws(base):
        kernel = AnnealedLangevin(
            two_mode_model,
            path="vp",
            lambdas=lambdas,
            base=base,
            smoothing="mc",
            num_mc_samples=16,
            steps_per_level=30,
            step_size=0.02,
            start_from_base=True,
            store_levels=True,
        )
        mcmc = run(kernel, 300, 1, extra_fields=("level_z",))
        return np.asarray(mcmc.get_extra_fields()["level_z"])  # (draws, L, 2)

    t_levels, g_levels = level_draws(("student_t", 3.0)), level_draws("gaussian")
    assert np.all(np.isfinite(t_levels)) and np.all(np.isfinite(g_levels))
    first_t, first_g = np.abs(t_levels[:, 0]), np.abs(g_levels[:, 0])
    # 600 coordinates at lambda = 1e-3 (about the base): a t_3 marginal has P(|T| > 3) = 0.058
    # (35 expected; P(Poisson(35) < 18) ~ 2e-3). The Gaussian level is not exactly N(0, 1): the
    # 16-sample Monte-Carlo score adds noise, measured 1-12 coordinates beyond 3 over 12 runs
    # (mean 6.3, as N(0, 1.18^2)); t_3 must give at least twice as many
    assert np.mean(first_t > 3) > 0.03, np.mean(first_t > 3)
    assert np.sum(first_t > 3) > 2 * np.sum(first_g > 3), (np.sum(first_t > 3), np.sum(first_g > 3))
    # beyond 5: t_3 has P = 0.0154 (9.2 expected; P(Poisson(9.2) < 3) ~ 6e-3), N(0, 1) 5.7e-7
    assert np.sum(first_t > 5) >= 3 and np.sum(first_g > 5) == 0, (
        np.sum(first_t > 5),
        np.sum(first_g > 5),
    )
    # last level (lambda = 1) is the target: most draws within 1.5 of a mode
    last = t_levels[:, -1]
    near = np.minimum(np.abs(last - 2).max(-1), np.abs(last + 2).max(-1)) < 1.5
    assert near.mean() > 0.9, near.mean()


# -- benchmark claims (docs/convention.md, "Benchmark targets") ----------------------------
@pytest.mark.slow
def test_song_ermon_toy_annealed_recovers_weights_vanilla_does_not():
    """NCSN toy: sigma geometric 20 -> 1, L = 10, step_size = 0.05, 300 steps per level (the
    NCSN toy's 100 per level gives ~0.76-0.78: mass freezes while the modes separate)."""
    target = song_ermon_toy()
    num_chains, sweeps = 512, 4
    x0 = target.init_params(random.key(1), num_chains)
    kernel = AnnealedLangevin(
        target.model, sigmas=ncsn_sigmas(20.0, 1.0, 10), steps_per_level=300, step_size=0.05
    )
    draws = run(kernel, num_chains, sweeps, init_params=x0).get_samples()["x"]
    frac = float((target.assign(draws) == 1).mean())
    # sweeps restart at sigma = 20, where the chain forgets its start: 2048 near-independent
    # draws, sd of the fraction sqrt(0.16 / 2048) = 0.009; the tolerance is 0.03
    assert abs(frac - 0.8) < 0.03, frac

    vanilla = Langevin(target.model, step_size=0.05, num_steps=3000, adjust=False)
    draws = run(vanilla, num_chains, 1, init_params=x0).get_samples()["x"]
    frac_vanilla = float((target.assign(draws) == 1).mean())
    # started uniformly, vanilla keeps each chain in its start basin: ~0.5, not 0.8
    assert abs(frac_vanilla - 0.5) < 0.06 and abs(frac_vanilla - 0.8) > 0.2, frac_vanilla


@pytest.mark.slow
def test_paper_gmm_annealed_small_sigma_stays_in_mode_0():
    """The paper's negative result: annealed Langevin with sigma_1 = 1 started in mode 0 of
    paper-gmm (d = 100) stays (almost entirely) in mode 0, far from the weights 0.2/0.4/0.4.
    Not *exactly* never: the smoothed level sigma = 1 overlaps enough that about 1% of the
    chains per sweep leak to modes 1/2 (measured: 7.7% of draws over 10 sweeps, 1000 chains)."""
    target = paper_gmm()
    num_chains = 300
    kernel = AnnealedLangevin(
        target.model, sigmas=ncsn_sigmas(1.0, 0.01, 10), steps_per_level=100, step_size=2e-5
    )
    x0 = target.init_params(random.key(2), num_chains, "mode0")
    draws = run(kernel, num_chains, 3, init_params=x0).get_samples()["x"]
    freq = np.bincount(np.asarray(target.assign(draws)), minlength=3) / (3 * num_chains)
    assert freq[0] > 0.85, freq  # target weight of mode 0 is 0.2
    assert 0.5 * np.abs(freq - np.array([0.2, 0.4, 0.4])).sum() > 0.6, freq


# -- bad inputs ------------------------------------------------------------------------
def gamma_model():
    numpyro.sample("x", dist.Normal(0.0, 1.0))
    numpyro.sample("tau", dist.Gamma(2.0, 1.0))


def observed_model():
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    numpyro.sample("obs", dist.Normal(mu, 1.0), obs=jnp.array(0.3))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sigmas=[1.0, 1.0, 0.1]), "sigmas.*strictly decreasing"),
        (dict(sigmas=[0.1, 1.0]), "sigmas.*strictly decreasing"),
        (dict(sigmas=[1.0, 0.0]), "sigmas.*positive"),
        (dict(sigmas=[1.0, -0.1]), "sigmas.*positive"),
        (dict(sigmas=[]), "sigmas.*L = 0"),
        (dict(path="vp", lambdas=[]), "lambdas.*L = 0"),
        (dict(path="vp", lambdas=[0.5, 0.2]), "lambdas.*increasing"),
        (dict(path="vp", base=("student_t", 2.0)), "alpha"),
        (dict(path="vp", base=("student_t", 1.0)), "alpha"),
        (dict(path="tempered", base=("student_t", 2.0)), "alpha"),
        (dict(steps_per_level=0), "steps_per_level"),
        (dict(step_size=0.0), "step_size"),
        (dict(step_size=-1e-3), "step_size"),
        (dict(path="diffusion"), "path"),
        (dict(smoothing="quadrature"), "smoothing"),
        (dict(num_mc_samples=0, smoothing="mc"), "num_mc_samples"),
        (dict(path="vp", sigmas=[1.0, 0.5]), "sigmas.*lambdas"),
        (dict(lambdas=[0.5, 1.0]), "lambdas.*sigmas"),
        (dict(base=("student_t", 3.0)), "base"),
        (dict(path="vp", base=("student_t", 3.0), smoothing="exact"), "Student-t"),
        (dict(path="tempered", smoothing="mc"), "smoothing"),
        (dict(smoothing="mc", adjust=True), "adjust"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AnnealedLangevin(gaussian_model, **kwargs)


def test_steps_per_level_type():
    with pytest.raises(TypeError, match="steps_per_level"):
        AnnealedLangevin(gaussian_model, steps_per_level=2.5)


def test_score_fn_without_sigma_argument():
    with pytest.raises(TypeError, match=r"score_fn.*\(x, sigma\)"):
        AnnealedLangevin(score_fn=lambda x: -x)


def test_score_fn_bad_combinations():
    with pytest.raises(ValueError, match="adjust"):
        AnnealedLangevin(score_fn=_unit_score, adjust=True)
    with pytest.raises(ValueError, match="smoothing"):
        AnnealedLangevin(score_fn=_unit_score, smoothing="exact")
    kernel = AnnealedLangevin(score_fn=lambda x, s: x[:1], sigmas=[1.0, 0.5])
    with pytest.raises(ValueError, match="score_fn.*shape"):
        run(kernel, 2, 1, init_params=jnp.zeros((2, 3)))


@pytest.mark.slow  # CI budget: test_score_fn_bad_combinations checks the same constructor
def test_potential_fn_needs_an_explicit_smoothing_choice():
    with pytest.raises(ValueError, match="smoothing='mc'.*tempered.*score_fn"):
        AnnealedLangevin(potential_fn=lambda z: jnp.sum(z**2))
    with pytest.raises(ValueError, match="smoothing='mc'.*tempered.*score_fn"):
        AnnealedLangevin(potential_fn=lambda z: jnp.sum(z**2), smoothing="exact")
    # the explicit choices work
    for kw in (dict(smoothing="mc"), dict(path="tempered", lambdas=[0.0, 1.0])):
        k = AnnealedLangevin(
            potential_fn=lambda z: 0.5 * jnp.sum(z**2), steps_per_level=5, step_size=0.01, **kw
        )
        assert np.all(np.isfinite(run(k, 2, 1, init_params=jnp.zeros((2, 2))).get_samples()))


@pytest.mark.parametrize("smoothing", ["auto", "exact"])
@pytest.mark.parametrize("bad, site", [(gamma_model, "tau"), (observed_model, "obs")])
def test_unsupported_model_for_exact_smoothing(bad, smoothing, site):
    kernel = AnnealedLangevin(bad, sigmas=[1.0, 0.1], steps_per_level=2, smoothing=smoothing)
    # names the site and lists the alternatives; never falls back silently
    with pytest.raises(ValueError, match=f"'{site}'.*smoothing='mc'.*tempered.*score_fn"):
        run(kernel, 2, 1)


def test_student_t_auto_smoothing_lists_options():
    with pytest.raises(ValueError, match="smoothing='mc'.*tempered.*score_fn"):
        AnnealedLangevin(gaussian_model, path="vp", base=("student_t", 3.0))


@pytest.mark.slow  # CI budget: the refusal tests above run in CI
def test_unsupported_model_works_with_mc_and_tempered():
    for kw in (dict(smoothing="mc", sigmas=[1.0, 0.1]), dict(path="tempered")):
        kernel = AnnealedLangevin(gamma_model, steps_per_level=5, step_size=0.01, **kw)
        samples = run(kernel, 2, 2).get_samples()
        assert np.all(np.isfinite(samples["tau"])) and np.all(samples["tau"] > 0)


@pytest.mark.slow
def test_auto_sigmas_come_from_the_model_and_reach_every_mode():
    """sigma_1 is the largest distance between the model's draws (Song & Ermon 2020): from a
    start in one mode of a two-mode mixture 13 standard deviations apart, every chain visits
    both modes within 100 sweeps (measured: about 47 mode changes per chain; with the paper's
    sigma_1 = 1 a chain changes mode about 5 times in 100 sweeps on this family)."""
    from numpyro_cld.examples.families import member
    from numpyro_cld.schedules import annealed_sigmas
    from numpyro_cld.sources import model_draws

    m = member("mix-d10-k2-diag-sep")
    kernel = AnnealedLangevin(m.model)
    mcmc = run(kernel, 4, 100, init_params=m.init_params(random.key(1), 4))
    expected = annealed_sigmas(model_draws(m.model))
    np.testing.assert_allclose(np.asarray(kernel.levels), expected, rtol=1e-6)
    assert float(kernel.levels[0]) > 10.0  # not the paper's sigma_1 = 1
    labels = np.asarray(m.assign(mcmc.get_samples(group_by_chain=True)["x"]))
    assert all(set(np.unique(chain)) == {0, 1} for chain in labels), labels
    # without a model there is nothing to measure: the paper's schedule
    k = AnnealedLangevin(potential_fn=lambda z: 0.5 * jnp.sum(z**2), path="tempered")
    assert k.levels.shape == (10,)
    k = AnnealedLangevin(potential_fn=lambda z: 0.5 * jnp.sum(z**2), smoothing="mc")
    np.testing.assert_allclose(np.asarray(k.levels), np.asarray(ncsn_sigmas()))


def test_sigmas_none_warns_that_it_means_auto():
    # None means "no annealing" in ChainedLangevin; here it still means "auto" for one
    # release, said with a FutureWarning, and gives the same levels as sigmas="auto"
    def model():
        numpyro.sample("x", dist.Normal(0.0, 1.0))

    with pytest.warns(FutureWarning, match="`sigmas=None` means sigmas='auto' here"):
        old = AnnealedLangevin(model, sigmas=None)
    new = AnnealedLangevin(model, sigmas="auto")
    np.testing.assert_array_equal(old.levels, new.levels)


def test_a_model_with_data_runs_the_tempered_path_by_default(caplog):
    # exact smoothing cannot treat an observed site: with path and levels left out the kernel
    # runs the tempered path (exact from the potential) and says so, instead of refusing
    y = np.random.default_rng(0).normal(2.0, 1.0, 50)

    def model(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    kernel = AnnealedLangevin(model, steps_per_level=20)
    with says(caplog, "running path='tempered'"):
        mcmc = MCMC(kernel, num_warmup=20, num_samples=300, progress_bar=False)
        mcmc.run(random.key(0), y)
    assert kernel.levels[-1] == 1.0  # the last level is the posterior itself
    mu = np.asarray(mcmc.get_samples()["mu"])
    # posterior N(mean(y) 50/50.01, 1/50.01): sd 0.141; ULA at step 1e-2 is 0.5% wide;
    # the ESS of 300 draws of 20 x 10 levels is in the hundreds: 5 standard errors
    ess = float(effective_sample_size(mu[None]))
    assert abs(mu.mean() - y.mean() * 50 / 50.01) < 5 * 0.141 / np.sqrt(ess)
    with pytest.raises(ValueError, match="Exact smoothing"):
        MCMC(AnnealedLangevin(model, path="ve"), num_warmup=1, num_samples=1,
             progress_bar=False).run(random.key(0), y)  # fmt: skip
