"""Noise schedules, vp lambda schedules and the Gaussian / Student-t bases."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from jax import random

from numpyro_cld.schedules import (
    GaussianBase,
    StudentTBase,
    annealed_sigmas,
    annealed_step_size,
    as_base,
    base_draw,
    chained_step_sizes,
    check_lambdas,
    check_sigmas,
    ncsn_sigmas,
    ncsn_step_sizes,
    noise_ratio,
    path_step_sizes,
    tempering_ladder,
    vp_lambdas,
)


def test_ncsn_sigmas_geometric_defaults():
    s = np.asarray(ncsn_sigmas())
    assert s.shape == (10,) and s.dtype == np.float32
    np.testing.assert_allclose([s[0], s[-1]], [1.0, 0.01], rtol=1e-6)
    ratios = s[1:] / s[:-1]
    np.testing.assert_allclose(ratios, 0.01 ** (1 / 9), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(ncsn_sigmas(20.0, 1.0, 3)), [20, 20**0.5, 1], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ncsn_sigmas(num_levels=1)), [0.01])


def test_ncsn_step_sizes_rule():
    sigmas = ncsn_sigmas(20.0, 1.0, 10)
    eta = np.asarray(ncsn_step_sizes(0.05, sigmas))
    np.testing.assert_allclose(eta, 0.05 * np.asarray(sigmas) ** 2, rtol=1e-6)
    np.testing.assert_allclose(eta[0], 20.0, rtol=1e-5)
    # the paper defaults: eta_1 = 2e-5 * 1 / 1e-4
    np.testing.assert_allclose(ncsn_step_sizes(2e-5, ncsn_sigmas())[0], 0.2, rtol=1e-5)


@pytest.mark.parametrize("schedule", ["linear", "cosine", "exponential"])
def test_vp_lambdas_increase_to_one(schedule):
    lam = np.asarray(vp_lambdas(8, schedule, lambda_min=1e-3))
    assert lam.shape == (8,)
    np.testing.assert_allclose([lam[0], lam[-1]], [1e-3, 1.0], rtol=1e-5)
    assert np.all(np.diff(lam) > 0)


def test_vp_lambdas_shapes_of_schedules():
    t = np.linspace(0, 1, 5)
    np.testing.assert_allclose(vp_lambdas(5, "linear", 0.2), 0.2 + 0.8 * t, rtol=1e-6)
    np.testing.assert_allclose(
        vp_lambdas(5, "cosine", 0.2), 0.2 + 0.8 * np.sin(np.pi * t / 2) ** 2, rtol=1e-6
    )
    # OU: lam_t = exp(-2 (T - t)) with T = -log(lambda_min)/2 on an even grid in t
    T = -math.log(0.2) / 2
    np.testing.assert_allclose(
        vp_lambdas(5, "exponential", 0.2), np.exp(-2 * (T - T * t)), rtol=1e-5
    )
    np.testing.assert_allclose(vp_lambdas(1), [1.0])


def test_path_step_sizes_ncsn_on_ve_constant_elsewhere():
    sigmas = jnp.array([4.0, 2.0, 1.0])
    np.testing.assert_allclose(path_step_sizes("ve", 0.1, sigmas), [1.6, 0.4, 0.1], rtol=1e-6)
    for path in ("vp", "tempered"):
        np.testing.assert_allclose(path_step_sizes(path, 0.1, [0.2, 1.0]), [0.1, 0.1], rtol=1e-7)
    # a step size traced by the user's jit; the levels stay constants
    eta = jax.jit(lambda e: path_step_sizes("ve", e, sigmas))(0.1)
    np.testing.assert_allclose(eta, [1.6, 0.4, 0.1], rtol=1e-6)
    with pytest.raises(ValueError, match="`path` must be one of"):
        path_step_sizes("vx", 0.1, sigmas)


def test_chained_step_sizes_only_when_the_levels_end_at_zero():
    assert chained_step_sizes(None, 0.1) is None
    assert chained_step_sizes([1.0, 0.5], 0.1) is None  # the sampler scales step_size
    np.testing.assert_allclose(chained_step_sizes([1.0, 0.5, 0.0], 0.1), [0.6, 0.225, 0.1])


def test_tempering_ladder_from_a_count_or_the_powers():
    betas, adapt = tempering_ladder(3)
    np.testing.assert_allclose(betas, [0.0, 1e-3, 10**-1.5, 1.0], rtol=1e-12)
    assert adapt
    betas, adapt = tempering_ladder([0.1, 0.5, 1.0])
    np.testing.assert_array_equal(betas, [0.0, 0.1, 0.5, 1.0])
    assert not adapt
    with pytest.raises(ValueError, match="`betas` must be a positive number of powers"):
        tempering_ladder(0)
    with pytest.raises(ValueError, match="`betas` must increase strictly within"):
        tempering_ladder([0.5, 0.9])
    with pytest.raises(ValueError, match="`betas` must be an int"):
        tempering_ladder(True)


def test_base_draw_of_each_path():
    x = jnp.zeros((20000, 2))
    ve = base_draw("ve", jnp.array([3.0, 1.0]))(random.key(0), x)
    assert ve.shape == x.shape and ve.dtype == x.dtype
    np.testing.assert_allclose(np.std(ve), 3.0, rtol=0.02)  # N(0, sigma_1^2 I)
    np.testing.assert_array_equal(ve, 3.0 * random.normal(random.key(0), x.shape))
    base = StudentTBase(5.0, 2.0)
    vp = base_draw("vp", [0.5, 1.0], base)(random.key(1), x)
    np.testing.assert_array_equal(vp, base.sample(random.key(1), x.shape))
    gauss = base_draw("tempered", [0.5, 1.0])(random.key(2), x)  # default: "gaussian"
    np.testing.assert_array_equal(gauss, GaussianBase().sample(random.key(2), x.shape))
    with pytest.raises(ValueError, match="`path` must be one of"):
        base_draw("vx", [1.0])


def test_gaussian_base_density_score_sample():
    base = GaussianBase(2.0)
    x = jnp.array([[0.3, -1.0, 2.0]])
    np.testing.assert_allclose(
        base.log_prob(x), scipy.stats.norm(0, 2).logpdf(np.asarray(x)).sum(-1), rtol=1e-5
    )
    np.testing.assert_allclose(
        base.score(x), jax.grad(lambda v: base.log_prob(v).sum())(x), rtol=1e-5
    )
    z = base.sample(random.key(0), (20000, 3))
    # sd of the sample sd with n = 60000 draws: 2 / sqrt(2 n) ~ 0.006
    assert abs(float(z.std()) - 2.0) < 0.03


def test_student_t_base_matches_scipy_and_has_heavy_tails():
    base = StudentTBase(3.0, scale=1.5)
    x = np.array([[0.3, -1.0], [4.0, 7.0]], np.float32)
    ref = scipy.stats.multivariate_t(np.zeros(2), 1.5**2 * np.eye(2), df=3.0).logpdf(x)
    np.testing.assert_allclose(base.log_prob(jnp.asarray(x)), ref, rtol=1e-5)
    np.testing.assert_allclose(
        base.score(jnp.asarray(x)),
        jax.grad(lambda v: base.log_prob(v).sum())(jnp.asarray(x)),
        rtol=1e-5,
    )
    z = np.asarray(base.sample(random.key(1), (40000, 2)))
    # each marginal of t(0, s^2 I, alpha) is a scaled t_alpha; KS test at a generous level
    ks = scipy.stats.kstest(z[:, 0] / 1.5, scipy.stats.t(3.0).cdf)
    assert ks.pvalue > 1e-3
    tail = np.mean(np.abs(z[:, 0]) > 4 * 1.5)
    assert tail > 0.02  # t_3: P(|T| > 4) = 0.028; a Gaussian gives 6e-5


def test_as_base():
    assert isinstance(as_base("gaussian"), GaussianBase)
    b = as_base(("student_t", 4.0, 2.0))
    assert isinstance(b, StudentTBase) and b.alpha == 4.0 and b.scale == 2.0


# -- bad inputs -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sigmas, match",
    [
        ([1.0, 1.0, 0.1], "strictly decreasing"),
        ([0.1, 1.0], "strictly decreasing"),
        ([1.0, 0.0], "finite and positive"),
        ([1.0, -0.5], "finite and positive"),
        ([1.0, float("nan")], "finite and positive"),
        ([], "L = 0"),
        ([[1.0, 0.1]], "1-d"),
    ],
)
def test_check_sigmas_rejects(sigmas, match):
    with pytest.raises(ValueError, match="sigmas.*" + match):
        check_sigmas(sigmas)


@pytest.mark.parametrize(
    "lambdas, match",
    [
        ([0.5, 0.2], "strictly increasing"),
        ([0.0, 0.5], r"\(0, 1\]"),
        ([0.5, 1.5], r"\(0, 1\]"),
        ([], "L = 0"),
    ],
)
def test_check_lambdas_rejects(lambdas, match):
    with pytest.raises(ValueError, match="lambdas.*" + match):
        check_lambdas(lambdas)


def test_check_lambdas_zero_allowed_for_tempering():
    np.testing.assert_allclose(check_lambdas([0.0, 1.0], allow_zero=True), [0.0, 1.0])


def test_schedule_bad_arguments():
    with pytest.raises(ValueError, match="num_levels"):
        ncsn_sigmas(num_levels=0)
    with pytest.raises(ValueError, match="sigma_min"):
        ncsn_sigmas(sigma_max=0.01, sigma_min=1.0)
    with pytest.raises(ValueError, match="sigma_max"):
        ncsn_sigmas(sigma_max=-1.0)
    with pytest.raises(ValueError, match="step_size"):
        ncsn_step_sizes(0.0, ncsn_sigmas())
    with pytest.raises(ValueError, match="step_size"):
        ncsn_step_sizes(-1e-3, ncsn_sigmas())
    # `eps`, the former name, still works for one release with a FutureWarning
    with pytest.warns(FutureWarning, match="`eps` is renamed `step_size`"):
        old = ncsn_step_sizes(eps=0.05, sigmas=[1.0, 0.5])
    np.testing.assert_array_equal(old, ncsn_step_sizes(0.05, [1.0, 0.5]))
    with pytest.raises(ValueError, match="sigmas"):
        ncsn_step_sizes(1e-3, [0.1, 1.0])
    with pytest.raises(ValueError, match="num_levels"):
        vp_lambdas(0)
    with pytest.raises(ValueError, match="schedule"):
        vp_lambdas(5, "quadratic")
    with pytest.raises(ValueError, match="lambda_min"):
        vp_lambdas(5, lambda_min=0.0)


@pytest.mark.parametrize("alpha", [2.0, 1.5, 0.0, -3.0])
def test_student_t_alpha_must_exceed_two(alpha):
    with pytest.raises(ValueError, match="alpha"):
        StudentTBase(alpha)


def test_as_base_rejects():
    with pytest.raises(ValueError, match="alpha"):
        as_base("student_t")
    with pytest.raises(ValueError, match="alpha"):
        as_base(("student_t", 2.0))
    with pytest.raises(ValueError, match="base"):
        as_base("laplace")
    with pytest.raises(ValueError, match="scale"):
        GaussianBase(0.0)


@pytest.mark.parametrize("dim", [5, 24, 100, 1000])
def test_noise_ratio_solves_song_ermon_technique_2(dim):
    g = noise_ratio(dim)
    a = math.sqrt(2 * dim)
    norm = scipy.stats.norm
    assert g > 1
    assert norm.cdf(a * (g - 1) + 3 * g) - norm.cdf(a * (g - 1) - 3 * g) == pytest.approx(0.5)


def test_noise_ratio_is_unconstrained_below_five_dimensions():
    assert noise_ratio(1) is None and noise_ratio(4) is None


@pytest.mark.parametrize(
    "sigma_1, levels, steps, best", [(50.0, 20, 100, 0.02), (5.0, 10, 30, 0.06)]
)
def test_annealed_step_size_solves_song_ermon_technique_3(sigma_1, levels, steps, best):
    # their setting: the level-i law is N(0, sigma_i^2), the level starts at the previous
    # level's variance sigma_{i-1}^2, and T unadjusted steps with eta_i = eps sigma_i^2 /
    # sigma_L^2 update the variance by v <- (1 - eta_i / sigma_i^2)^2 v + 2 eta_i. The eps
    # returned must bring v_T / sigma_i^2 closer to 1 than eps / 3 and 3 eps do (the search
    # found the optimum), and as close as the closed form allows (`best`: 1.02 with 100
    # steps a level at ratio 1.57, 1.06 with 30 at ratio 2.0)
    sigmas = np.geomspace(sigma_1, 0.01, levels)
    eps = annealed_step_size(sigmas, steps)

    def worst(e):
        out = []
        for prev, s in zip(sigmas[:-1], sigmas[1:], strict=True):
            v, eta = prev**2, e * s**2 / sigmas[-1] ** 2
            for _ in range(steps):
                v = (1 - eta / s**2) ** 2 * v + 2 * eta
            out.append(abs(v / s**2 - 1))
        return max(out)

    assert worst(eps) < best
    assert worst(eps) < min(worst(eps / 3), worst(3 * eps))


def test_annealed_sigmas_from_the_largest_distance_and_the_ratio():
    x = np.random.default_rng(1).normal(size=(40, 30)) * 2.0
    brute = max(np.linalg.norm(a - b) for a in x for b in x)
    s = annealed_sigmas(x, sigma_min=0.01, min_levels=3)
    np.testing.assert_allclose([s[0], s[-1]], [brute, 0.01], rtol=1e-9)
    ratios = s[:-1] / s[1:]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)  # geometric
    assert ratios[0] <= noise_ratio(30)  # at least as fine as technique 2 asks
    # below 5 dimensions technique 2 says nothing: min_levels levels
    assert annealed_sigmas(x[:, :3], min_levels=7).shape == (7,)
    with pytest.raises(ValueError, match="must exceed `sigma_min`"):
        annealed_sigmas(x * 1e-6, sigma_min=0.01)
