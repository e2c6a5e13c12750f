"""Mode-coverage diagnostics: known answers on synthetic draws, every input type, ArviZ
round trips (including numpyro_cld runs built from potential_fn / score_fn), bad inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
import xarray as xr
from jax import random
from numpyro.infer import MCMC

import numpyro_cld
from numpyro_cld import Langevin
from numpyro_cld import diagnostics as D
from numpyro_cld.diagnostics.arviz_compat import arviz, from_arrays, get_group, plot_style
from numpyro_cld.targets import paper_gmm, song_ermon_toy

az = arviz()

CENTRES = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
W3 = np.array([0.2, 0.3, 0.5])


def mixture3():
    return dist.MixtureSameFamily(
        dist.Categorical(probs=jnp.asarray(W3)), dist.Normal(jnp.asarray(CENTRES), 1.0).to_event(1)
    )


def draws_from_labels(labels, seed=0, scale=1.0):
    """Draws (chain, draw, 2) near CENTRES[labels]; at scale 1 the modes are 10 sd apart,
    so the true component is also the nearest centre and the most responsible one."""
    rng = np.random.default_rng(seed)
    return CENTRES[labels] + scale * rng.standard_normal(labels.shape + (2,))


# -- known answers ---------------------------------------------------------------------
LABELS = np.array([[0, 0, 1, 1, 0, 0], [2, 2, 2, 2, 2, 2], [0, 1, 2, 0, 1, 2]])


def test_known_answers_from_labels():
    cov = D.mode_coverage(labels=LABELS, weights=W3)
    # counts by hand: mode 0: 4+0+2, mode 1: 2+0+2, mode 2: 0+6+2 out of 18
    np.testing.assert_allclose(cov["frequency"], [6 / 18, 4 / 18, 8 / 18])
    np.testing.assert_allclose(
        cov["chain_frequency"], [[4 / 6, 2 / 6, 0], [0, 0, 1], [2 / 6, 2 / 6, 2 / 6]]
    )
    tv = 0.5 * (abs(6 / 18 - 0.2) + abs(4 / 18 - 0.3) + abs(8 / 18 - 0.5))
    np.testing.assert_allclose(float(cov["tv"]), tv)
    np.testing.assert_allclose(
        cov["chain_tv"],
        [0.5 * (0.4667 + 0.0333 + 0.5), 0.5 * (0.2 + 0.3 + 0.5), 0.5 * (0.1333 + 0.0333 + 0.1667)],
        atol=1e-3,
    )
    assert int(cov["modes_found"]) == 3
    np.testing.assert_array_equal(cov["chain_modes_found"], [2, 1, 3])
    np.testing.assert_array_equal(cov["first_visit"], [[0, 2, -1], [-1, -1, 0], [0, 1, 2]])
    # switches: chain 0: 0|0,0|1,1|1,1|0,0|0 -> 2 of 5; chain 1: none; chain 2: all 5
    np.testing.assert_allclose(cov["switch_rate"], [2 / 5, 0, 1])
    np.testing.assert_array_equal(cov["target_weight"], W3)
    assert cov["assigned_mode"].dims == ("chain", "draw")


def test_modes_found_counts_only_visited_modes_and_no_weights_means_no_tv():
    cov = D.mode_coverage(labels=np.zeros((2, 5), int), num_modes=4)
    assert int(cov["modes_found"]) == 1
    np.testing.assert_array_equal(cov["frequency"], [1, 0, 0, 0])
    assert "tv" not in cov and "target_weight" not in cov
    np.testing.assert_array_equal(cov["first_visit"][:, 1:], -1)


def test_single_draw_switch_rate_is_nan():
    cov = D.mode_coverage(labels=np.array([[1], [0]]), num_modes=2)
    assert np.all(np.isnan(cov["switch_rate"]))


def test_frequencies_by_draw():
    cov = D.mode_coverage(labels=LABELS, num_modes=3)
    f = D.frequencies_by_draw(cov)
    assert f.dims == ("draw", "mode")
    np.testing.assert_allclose(f.sel(draw=0), [2 / 3, 0, 1 / 3])
    np.testing.assert_allclose(f.sel(draw=2), [0, 1 / 3, 2 / 3])
    fc = D.frequencies_by_draw(cov, cumulative=True)
    np.testing.assert_allclose(fc.isel(draw=-1), cov["frequency"])
    np.testing.assert_allclose(fc.isel(draw=1), [(2 + 1) / 6, 1 / 6, 2 / 6])


def test_iid_labels_frequencies_and_switch_rate_within_mc_error():
    # iid categorical labels: f_k has sd sqrt(w(1-w)/n); the switch indicators are
    # 1-dependent, so their mean has variance at most 3 p (1 - p) / n. 4 sd tolerances.
    rng = np.random.default_rng(1)
    C, N = 20, 500
    lab = rng.choice(3, size=(C, N), p=W3)
    cov = D.mode_coverage(labels=lab, weights=W3)
    n = C * N
    assert np.all(np.abs(cov["frequency"] - W3) < 4 * np.sqrt(W3 * (1 - W3) / n))
    p = 1 - np.sum(W3**2)
    tol = 4 * np.sqrt(3 * p * (1 - p) / (C * (N - 1)))
    assert abs(float(cov["switch_rate"].mean()) - p) < tol
    # E[TV] <= 1/2 sum sd_k; 4x that is far out in the tail
    assert float(cov["tv"]) < 2 * np.sum(np.sqrt(W3 * (1 - W3) / n))


def test_sticky_chain_switch_rate_and_first_visit():
    # two-mode Markov chain leaving its mode with prob q: switch rate q; started in mode 0,
    # the first visit of mode 1 is Geometric(q) - 1 (mean (1 - q)/q). 4 sd tolerances.
    rng = np.random.default_rng(2)
    C, N, q = 40, 400, 0.05
    flips = rng.random((C, N - 1)) < q
    lab = np.concatenate([np.zeros((C, 1), int), np.cumsum(flips, 1) % 2], 1)
    cov = D.mode_coverage(labels=lab, num_modes=2)
    tol = 4 * np.sqrt(q * (1 - q) / (C * (N - 1)))
    assert abs(float(cov["switch_rate"].mean()) - q) < tol
    fv = cov["first_visit"].values[:, 1]
    assert np.all(fv >= 1) and np.all(cov["first_visit"].values[:, 0] == 0)
    first_flip = flips.argmax(1) + 1
    np.testing.assert_array_equal(fv, first_flip)
    sd = np.sqrt((1 - q) / q**2 / C)
    assert abs(fv.mean() - (1 - q) / q) < 4 * sd


# -- mode rules ------------------------------------------------------------------------
def test_all_rules_agree_on_separated_draws():
    lab = np.random.default_rng(3).choice(3, size=(4, 50), p=W3)
    x = draws_from_labels(lab)
    rules = [mixture3(), CENTRES, lambda b: np.argmin(((b[:, None] - CENTRES) ** 2).sum(-1), 1)]
    for rule in rules:
        cov = D.mode_coverage(
            x,
            rule,
            num_modes=None if not callable(rule) or isinstance(rule, dist.Distribution) else 3,
        )
        np.testing.assert_array_equal(cov["assigned_mode"], lab)
    assert "tv" in D.mode_coverage(x, mixture3())  # weights come from the mixture
    assert "tv" not in D.mode_coverage(x, CENTRES)


def test_responsibility_differs_from_nearest_centre():
    # 0.5 N(0, 10^2) + 0.5 N(3, 1) at x = 6: log N(6; 0, 10) = -3.40 beats
    # log N(6; 3, 1) = -5.42, although 3 is the nearest centre.
    mix = dist.MixtureSameFamily(
        dist.Categorical(probs=jnp.array([0.5, 0.5])),
        dist.Normal(jnp.array([[0.0], [3.0]]), jnp.array([[10.0], [1.0]])).to_event(1),
    )
    x = np.array([[[6.0], [3.0]]])
    assert D.mode_coverage(x, mix)["assigned_mode"].values.tolist() == [[0, 1]]
    assert D.mode_coverage(x, [[0.0], [3.0]])["assigned_mode"].values.tolist() == [[1, 1]]
    mg = dist.MixtureGeneral(
        dist.Categorical(probs=jnp.array([0.5, 0.5])),
        [
            dist.Normal(jnp.array([0.0]), 10.0).to_event(1),
            dist.Normal(jnp.array([3.0]), 1.0).to_event(1),
        ],
    )
    assert D.mode_coverage(x, mg)["assigned_mode"].values.tolist() == [[0, 1]]


def test_target_rule_matches_its_distribution():
    t = paper_gmm(dim=10)
    x = np.asarray(
        dist.MixtureSameFamily(
            dist.Categorical(probs=jnp.asarray(t.weights)),
            dist.Normal(jnp.asarray(t.locs), jnp.asarray(t.scales)).to_event(1),
        ).sample(random.key(0), (3, 40))
    )
    a = D.mode_coverage(x, t)
    b = D.mode_coverage(x, t.distribution())
    np.testing.assert_array_equal(a["assigned_mode"], b["assigned_mode"])
    np.testing.assert_allclose(a["target_weight"], [0.2, 0.4, 0.4], rtol=1e-6)


def test_batch_size_and_image_callable():
    # a callable on image batches (n, 4, 4): "inverted" when the mean intensity > 0.5
    rng = np.random.default_rng(4)
    inv = rng.random((3, 7)) < 0.5
    imgs = rng.random((3, 7, 4, 4)) * 0.4
    imgs = np.where(inv[..., None, None], 1 - imgs, imgs)
    calls = []

    def classify(b):
        calls.append(len(b))
        return (b.mean((1, 2)) > 0.5).astype(int)

    cov = D.mode_coverage(imgs, classify, num_modes=2, batch_size=5)
    np.testing.assert_array_equal(cov["assigned_mode"], inv.astype(int))
    assert calls == [5, 5, 5, 5, 1]
    lab = D.assign_modes(imgs.reshape(21, 4, 4), classify, num_modes=2)
    np.testing.assert_array_equal(lab, inv.ravel().astype(int))


# -- input types and ArviZ -------------------------------------------------------------
@pytest.fixture(scope="module")
def toy_run():
    t = song_ermon_toy()
    mcmc = MCMC(
        Langevin(t.model, step_size=0.05, num_steps=5, adjust=False),
        num_warmup=0,
        num_samples=30,
        num_chains=6,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(
        random.key(0),
        init_params=t.init_params(random.key(1), 6),
        extra_fields=("potential_energy", "accept_prob", "adapt_state.step_size"),
    )
    return t, mcmc


@pytest.mark.slow  # CI budget: test_from_numpyro_on_langevin_model_run uses toy_run in CI
def test_mcmc_idata_dataset_array_give_the_same_coverage(toy_run):
    t, mcmc = toy_run
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"])
    idata = az.from_numpyro(mcmc)
    ref = D.mode_coverage(x, t)
    for data in (mcmc, idata, get_group(idata, "posterior"), get_group(idata, "posterior")["x"]):
        cov = D.mode_coverage(data, t)
        xr.testing.assert_equal(cov, ref)
    np.testing.assert_array_equal(ref["assigned_mode"], np.asarray(t.assign(x)))


def test_attach_coverage_to_inference_data(toy_run):
    t, mcmc = toy_run
    idata = az.from_numpyro(mcmc)
    cov = D.mode_coverage(idata, t)
    out = D.attach_coverage(idata, cov)
    assert out is idata
    xr.testing.assert_equal(get_group(idata, "mode_coverage"), cov)
    # the coverage shares chain/draw coordinates with the posterior
    post = get_group(idata, "posterior")
    np.testing.assert_array_equal(cov["draw"], post["draw"])
    with pytest.raises(TypeError, match="idata"):
        D.attach_coverage(cov, cov)


def std_normal_potential(z):
    return 0.5 * jnp.sum(z**2)


def check_from_numpyro(mcmc, t, num_chains, num_draws):
    idata = az.from_numpyro(mcmc)
    post = get_group(idata, "posterior")
    (name,) = post.data_vars
    assert post[name].shape == (num_chains, num_draws, t.dim)
    stats = get_group(idata, "sample_stats")
    assert {"lp", "acceptance_rate", "step_size", "diverging"} <= set(stats.data_vars)
    np.testing.assert_allclose(
        stats["lp"], -np.asarray(mcmc.get_extra_fields(group_by_chain=True)["potential_energy"])
    )
    cov = D.mode_coverage(idata, t)
    assert cov["assigned_mode"].shape == (num_chains, num_draws)
    np.testing.assert_allclose(cov["frequency"].sum(), 1.0)


def test_from_numpyro_on_langevin_model_run(toy_run):
    check_from_numpyro(toy_run[1], toy_run[0], 6, 30)


@pytest.mark.parametrize(
    "how",  # CI budget: score_fn and potential_dict in CI; potential_fn in the slow suite
    [pytest.param("potential_fn", marks=pytest.mark.slow), "score_fn", "potential_dict"],
)
def test_from_numpyro_on_langevin_runs(how):
    t = song_ermon_toy()
    init = t.init_params(random.key(1), 3)
    kw = {
        "potential_fn": (dict(potential_fn=lambda z: -t.distribution().log_prob(z)), init["x"]),
        "score_fn": (dict(score_fn=jax.grad(lambda z: t.distribution().log_prob(z))), init["x"]),
        "potential_dict": (dict(potential_fn=lambda z: -t.distribution().log_prob(z["x"])), init),
    }[how]
    mcmc = MCMC(
        Langevin(num_steps=1, **kw[0], step_size=0.05, adjust=False),
        num_warmup=5,
        num_samples=20,
        num_chains=3,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(
        random.key(0),
        init_params=kw[1],
        extra_fields=("potential_energy", "accept_prob", "adapt_state.step_size"),
    )
    check_from_numpyro(mcmc, t, 3, 20)


@pytest.mark.parametrize(
    "name",  # CI budget: ChainedLangevin in CI, AnnealedLangevin in the slow suite
    [pytest.param("AnnealedLangevin", marks=pytest.mark.slow), "ChainedLangevin"],
)
@pytest.mark.parametrize(
    "how",
    # CI budget: the model variant in CI, the two others in the slow suite
    ["model"] + [pytest.param(h, marks=pytest.mark.slow) for h in ("potential_fn", "score_fn")],
)
def test_from_numpyro_on_other_kernels(name, how):
    t = paper_gmm(dim=4)
    init = t.init_params(random.key(1), 2)
    logp = lambda z: t.distribution().log_prob(z)  # noqa: E731
    src = {
        "model": dict(model=t.model),
        "potential_fn": dict(potential_fn=lambda z: -logp(z)),
        "score_fn": dict(score_fn=jax.grad(logp)),
    }[how]
    if name == "AnnealedLangevin":
        if how == "potential_fn":
            src["path"] = "tempered"  # exact from a potential; 've' smooths a model only
        elif how == "score_fn":
            # the exact noise-conditional score of the Gaussian mixture: scales^2 + sigma^2
            src["score_fn"] = jax.grad(
                lambda z, s: dist.MixtureSameFamily(
                    dist.Categorical(probs=jnp.asarray(t.weights)),
                    dist.Normal(
                        jnp.asarray(t.locs), jnp.sqrt(jnp.asarray(t.scales) ** 2 + s**2)
                    ).to_event(1),
                ).log_prob(z)
            )
        levels = {"lambdas": [0.5, 1.0]} if how == "potential_fn" else {"sigmas": [1.0, 0.1]}
        kernel = numpyro_cld.AnnealedLangevin(**src, steps_per_level=2, **levels)
    else:
        # without a model the exact prefix conditionals are unknown: full conditionals
        kernel = numpyro_cld.ChainedLangevin(
            **src,
            patch_size=2,
            steps_per_patch=2,
            conditional="prefix" if how == "model" else "full",
        )
    mcmc = MCMC(
        kernel,
        num_warmup=0,
        num_samples=5,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(random.key(0), init_params=init if how == "model" else init["x"])
    idata = az.from_numpyro(mcmc)
    post = get_group(idata, "posterior")
    (var,) = post.data_vars
    assert post[var].shape == (2, 5, 4)
    assert D.mode_coverage(idata, t)["assigned_mode"].shape == (2, 5)


# -- kernel comparison -----------------------------------------------------------------
def test_compare_kernels_stuck_iid_and_split_runs():
    rng = np.random.default_rng(5)
    C, N = 8, 400
    stuck = np.zeros((C, N), int)  # every chain in mode 0
    iid = rng.choice(3, size=(C, N), p=W3)  # perfect mixing
    own = np.arange(C)[:, None] % 3  # each chain mostly in its own mode
    split = np.where(rng.random((C, N)) < 0.9, own, rng.choice(3, size=(C, N)))
    runs = {
        name: draws_from_labels(lab, seed=i)
        for i, (name, lab) in enumerate([("stuck", stuck), ("iid", iid), ("split", split)])
    }
    runs["iid_idata"] = from_arrays({"x": runs["iid"]})
    res = D.compare_kernels(runs, mixture3())
    f = res.frame
    assert list(f.index) == ["stuck", "iid", "split", "iid_idata"]
    assert f.loc["stuck", "modes_found"] == 1 and f.loc["iid", "modes_found"] == 3
    np.testing.assert_allclose(f.loc["stuck", "tv"], 0.8)
    np.testing.assert_allclose(f.loc["stuck", ["f0", "f1", "f2"]].astype(float), [1, 0, 0])
    assert f.loc["stuck", "all_modes"] == 0 and f.loc["iid", "all_modes"] == 1
    # every indicator of the stuck run is constant: R-hat cannot see the missing modes
    assert np.isnan(f.loc["stuck", "ind_rhat"]) and np.isnan(f.loc["stuck", "ind_ess_bulk"])
    # iid draws: rank R-hat is 1 up to O(1/sqrt(N)) noise, ESS about C*N for each
    # coordinate (sd of the ESS estimate ~ 10% here; 30% margin)
    assert f.loc["iid", "ind_rhat"] < 1.02 and f.loc["iid", "rhat"] < 1.02
    assert 0.7 * C * N < f.loc["iid", "ess_bulk"] and 0.7 * C * N < f.loc["iid", "ind_ess_bulk"]
    # chains sitting in different modes: the indicator R-hat is far above 1
    # (about sqrt(1 + B/W) with between-chain variance 0.19 and within 0.05: ~2.2)
    assert f.loc["split", "ind_rhat"] > 1.5 and f.loc["split", "rhat"] > 1.1
    # the same draws through InferenceData give the same row
    np.testing.assert_allclose(f.loc["iid"].astype(float), f.loc["iid_idata"].astype(float))
    text = str(res)
    assert "target weights: 0.2, 0.3, 0.5" in text and "split" in text and "ind_rhat" in text
    assert set(res.coverage) == set(runs)


@pytest.mark.parametrize("num_chains", [3, 4])
def test_indicator_rhat_of_chains_frozen_in_different_modes_is_not_nan(num_chains):
    # no within-chain variance, all of it between chains: R-hat = sqrt(1 + B/0), i.e. inf
    # (arviz gives NaN or ~1e15 depending on rounding; NaN would read as "no information")
    lab = np.repeat((np.arange(num_chains) % 2)[:, None], 20, 1)
    row = D.compare_kernels({"a": draws_from_labels(lab)}, mixture3()).frame.loc["a"]
    assert row["modes_found"] == 2 and row["ind_rhat"] > 1e6


def test_one_chain_gets_split_rhat_not_inf():
    # one well-mixed chain is as converged as it can show: R-hat over its two halves (split
    # R-hat), about 1; one chain that jumps between modes halfway is not
    rng = np.random.default_rng(8)
    iid = draws_from_labels(rng.choice(3, size=(1, 1000), p=W3), seed=9)
    row = D.compare_kernels({"a": iid}, mixture3()).frame.loc["a"]
    assert row["rhat"] < 1.02 and row["ind_rhat"] < 1.02 and row["ess_bulk"] > 700
    jump = draws_from_labels(np.repeat([[0, 2]], 500, 1), seed=9)
    row = D.compare_kernels({"b": jump}, mixture3()).frame.loc["b"]
    assert row["ind_rhat"] > 1.5


def test_compare_kernels_time_to_all_modes():
    # chain 0 has seen every mode at draw 2, chain 1 at draw 3, chain 2 never: median 3
    lab = np.array([[0, 1, 2, 0], [0, 0, 1, 2], [2, 2, 2, 2]])
    row = D.compare_kernels({"a": draws_from_labels(lab)}, mixture3()).frame.loc["a"]
    assert row["t_all_modes"] == 3 and row["all_modes"] == pytest.approx(2 / 3)
    assert row["switch_rate"] == pytest.approx((3 / 3 + 2 / 3 + 0) / 3)
    stuck = D.compare_kernels({"s": draws_from_labels(lab[2:])}, mixture3()).frame.loc["s"]
    assert stuck["t_all_modes"] == np.inf


def test_compare_kernels_draw_diagnostics_match_arviz():
    rng = np.random.default_rng(6)
    x = draws_from_labels(rng.choice(3, size=(4, 100), p=W3), seed=7)
    row = D.compare_kernels({"a": x}, CENTRES).frame.loc["a"]
    ds = xr.Dataset({"x": (("chain", "draw", "d"), x)})
    assert row["ess_bulk"] == pytest.approx(float(az.ess(ds, method="bulk")["x"].min()))
    assert row["ess_tail"] == pytest.approx(float(az.ess(ds, method="tail")["x"].min()))
    assert row["rhat"] == pytest.approx(float(az.rhat(ds, method="rank")["x"].max()))
    assert "tv" not in row.index  # centres carry no weights


# -- bad inputs ------------------------------------------------------------------------
def test_labels_out_of_range():
    with pytest.raises(ValueError, match="labels.*out of range"):
        D.mode_coverage(labels=np.array([[0, 3]]), num_modes=3)
    with pytest.raises(ValueError, match="labels.*out of range"):
        D.mode_coverage(labels=np.array([[0, -1]]), num_modes=3)
    with pytest.raises(TypeError, match="labels"):
        D.mode_coverage(labels=np.array([[0.0, 1.0]]), num_modes=3)


def test_callable_returning_out_of_range_or_wrong_shape():
    x = np.zeros((2, 3, 2))
    with pytest.raises(ValueError, match="assign.*out of range"):
        D.mode_coverage(x, lambda b: np.full(len(b), 5), num_modes=3)
    with pytest.raises(ValueError, match="assign.*one label per draw"):
        D.mode_coverage(x, lambda b: np.zeros((len(b), 3), int), num_modes=3)
    with pytest.raises(ValueError, match="assign.*one label per draw"):
        D.mode_coverage(x, lambda b: np.zeros(1, int), num_modes=3)
    with pytest.raises(TypeError, match="assign"):
        D.mode_coverage(x, lambda b: np.zeros(len(b)), num_modes=3)
    with pytest.raises(ValueError, match="num_modes"):
        D.mode_coverage(x, lambda b: np.zeros(len(b), int))


@pytest.mark.parametrize(
    "weights, match",
    [
        ([0.5, 0.4, 0.4], "sum to 1"),
        ([0.5, 0.5], r"shape \(3,\)"),
        ([[0.2, 0.3, 0.5]], r"shape \(3,\)"),
        ([1.2, -0.2, 0.0], "non-negative"),
        ([np.nan, 0.5, 0.5], "finite"),
    ],
)
def test_bad_weights(weights, match):
    with pytest.raises(ValueError, match="weights.*" + match):
        D.mode_coverage(labels=np.zeros((1, 4), int), num_modes=3, weights=weights)
    with pytest.raises(ValueError, match="weights"):
        D.mode_coverage(np.zeros((1, 4, 2)), CENTRES, weights=weights)


def test_draws_without_chain_dimension():
    with pytest.raises(ValueError, match="chain dimension"):
        D.mode_coverage(np.zeros((50, 2)), CENTRES)
    with pytest.raises(ValueError, match="chain dimension"):
        D.mode_coverage(np.zeros((50, 2)), mixture3())
    with pytest.raises(ValueError, match="chain dimension"):
        D.mode_coverage(np.zeros(50), lambda b: np.zeros(len(b), int), num_modes=2)
    with pytest.raises(ValueError, match="chain"):
        D.mode_coverage(xr.DataArray(np.zeros((50, 2)), dims=("draw", "d")), CENTRES)
    with pytest.raises(ValueError, match=r"labels.*\(chain, draw\)"):
        D.mode_coverage(labels=np.zeros(10, int), num_modes=2)
    with pytest.raises(ValueError, match="chain dimension"):
        D.compare_kernels({"a": np.zeros((50, 2))}, CENTRES)


def test_other_bad_inputs(toy_run):
    t, mcmc = toy_run
    with pytest.raises(ValueError, match="event shape"):
        D.mode_coverage(np.zeros((1, 4, 3)), CENTRES)
    with pytest.raises(ValueError, match="shape"):
        D.mode_coverage(np.zeros((1, 1, 4, 2)), CENTRES)
    with pytest.raises(ValueError, match="num_modes"):
        D.mode_coverage(np.zeros((1, 4, 2)), CENTRES, num_modes=2)
    with pytest.raises(ValueError, match="num_modes"):
        D.mode_coverage(labels=np.zeros((1, 4), int), num_modes=0)
    with pytest.raises(ValueError, match="num_modes"):
        D.mode_coverage(labels=np.zeros((1, 4), int))
    with pytest.raises(ValueError, match="labels"):
        D.mode_coverage(np.zeros((1, 4, 2)), CENTRES, labels=np.zeros((1, 4), int))
    with pytest.raises(ValueError, match="assign"):
        D.mode_coverage(np.zeros((1, 4, 2)))
    with pytest.raises(TypeError, match="assign"):
        D.mode_coverage(np.zeros((1, 4, 2)), "nearest")
    with pytest.raises(ValueError, match="assign.*centres"):
        D.mode_coverage(np.zeros((1, 4, 2)), [[0.0, np.nan], [1.0, 1.0]])
    with pytest.raises(ValueError, match="assign.*centres"):
        D.mode_coverage(np.zeros((1, 4, 2)), [1.0, 2.0])
    with pytest.raises(TypeError, match="assign.*mixture"):
        D.mode_coverage(np.zeros((1, 4, 2)), dist.Normal(0.0, 1.0))
    with pytest.raises(ValueError, match="assign.*batch"):
        D.mode_coverage(
            np.zeros((1, 4, 2)),
            dist.MixtureSameFamily(
                dist.Categorical(probs=jnp.full((5, 3), 1 / 3)),
                dist.Normal(jnp.zeros((5, 3, 2)), 1.0).to_event(1),
            ),
        )
    with pytest.raises(TypeError, match="data"):
        D.mode_coverage("draws", CENTRES)
    ds = xr.Dataset(
        {
            "a": (("chain", "draw", "d"), np.zeros((1, 4, 2))),
            "b": (("chain", "draw", "d"), np.zeros((1, 4, 2))),
        }
    )
    with pytest.raises(ValueError, match="var_name"):
        D.mode_coverage(ds, CENTRES)
    with pytest.raises(ValueError, match="var_name"):
        D.mode_coverage(ds, CENTRES, var_name="c")
    with pytest.raises(ValueError, match="var_name"):
        D.mode_coverage(mcmc, t, var_name="y")
    with pytest.raises(ValueError, match="group"):
        D.mode_coverage(az.from_numpyro(mcmc), t, group="prior")
    with pytest.raises(ValueError, match="runs"):
        D.compare_kernels({}, CENTRES)


def test_arviz_style_is_available():
    import matplotlib.pyplot as plt

    assert plot_style() in plt.style.available


def test_package_import_does_not_load_matplotlib_or_arviz():
    import subprocess
    import sys

    code = (
        "import sys, numpyro_cld; numpyro_cld.diagnostics.mode_coverage; "
        "print('matplotlib' in sys.modules, 'arviz' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(__import__("pathlib").Path(__file__).parents[1]),
    )
    assert out.stdout.split() == ["False", "False"]
