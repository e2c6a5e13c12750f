"""Inputs that are accepted (with the right answer) rather than refused, and the guards that
must stay out of the way of valid and traced inputs (issue 31, item 4). The refusals
themselves are rows of ``tests/test_bad_inputs.py``."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from flax import nnx
from jax import random
from numpyro.infer import MCMC

from numpyro_cld import AnnealedLangevin, ChainedLangevin, Langevin
from numpyro_cld.blocks import StepState, langevin_step, langevin_steps
from numpyro_cld.blocks.adaptation import _da_init, patch_da_update
from numpyro_cld.checks import positive_float
from numpyro_cld.data import digits_flip, flip_images
from numpyro_cld.nets import ScoreMLP, as_score_fn
from numpyro_cld.sources import model_prefix


def _potential(x, key=None):
    return 0.5 * jnp.sum(x**2), -x


def test_seed_none_is_fresh_entropy():
    x = np.full((8, 2, 2), 0.25)
    a, _ = flip_images(x, seed=None)
    b, _ = flip_images(x, seed=None)
    assert a.shape == x.shape and not np.array_equal(a, b)  # a fresh draw each call
    assert digits_flip(seed=None).images.shape[0] == 1797


@pytest.mark.parametrize("plated", [False, True])
def test_batches_of_normals_have_the_closed_form_prefix(plated):
    # an iid batch of Normals (expand or plate, no to_event) is one diagonal Gaussian over the
    # raveled site: the fast prefix, equal to the masked (general) one of the same law
    loc, scale = jnp.arange(3.0), jnp.array([0.5, 1.0, 2.0])

    def model():
        if plated:
            with numpyro.plate("r", 2, dim=-2), numpyro.plate("c", 3, dim=-1):
                numpyro.sample("x", dist.Normal(loc, scale))
        else:
            numpyro.sample("x", dist.Normal(loc, scale).expand([2, 3]))

    def model2():  # a second site forces the general masked prefix
        model()
        numpyro.sample("z", dist.Normal(0.0, 1.0))

    fast, kind = model_prefix(model, (), {}, patch_size=2)
    masked, kind2 = model_prefix(model2, (), {}, patch_size=2)
    assert (kind, kind2) == ("gaussian", "masked")
    np.testing.assert_allclose(fast.locs[0], np.tile(loc, 2))
    np.testing.assert_allclose(fast.scales[0], np.tile(scale, 2))
    x = random.normal(random.key(0), (7,))
    cf, cm = fast.init_context(0.0), masked.init_context(0.0)
    for i in range(3):
        xp = x[2 * i : 2 * i + 2]
        sf = fast.potential_and_score(cf, i, xp, 0.0)[1]
        sm = masked.potential_and_score(cm, i, xp, 0.0)[1]
        np.testing.assert_allclose(sf, sm, rtol=1e-4, atol=1e-4)
        cf, cm = fast.advance(cf, i, xp, 0.0), masked.advance(cm, i, xp, 0.0)


def test_sigmas_on_an_expanded_normal_runs_the_smoothed_prefix_sweep():
    def model():
        numpyro.sample("x", dist.Normal(0.0, 1.0).expand([4]))

    kernel = ChainedLangevin(model, sigmas=[1.0, 0.5], patch_size=2)
    MCMC(kernel, num_warmup=0, num_samples=1, progress_bar=False).run(random.key(0))
    assert kernel.plan.route == "prefix" and kernel.plan.prefix_kind == "gaussian"


def test_as_score_fn_carries_the_trained_levels_to_the_kernel():
    net = ScoreMLP(2, sigmas=[0.1, 1.0, 0.5], hidden=8, depth=1, rngs=nnx.Rngs(0))
    fn = as_score_fn(net)
    # sigmas="auto": the network's own levels, largest first
    np.testing.assert_allclose(AnnealedLangevin(score_fn=fn).levels, [1.0, 0.5, 0.1])
    np.testing.assert_allclose(AnnealedLangevin(score_fn=fn, sigmas=[1.0, 0.1]).levels, [1, 0.1])
    # a plain score_fn still gets the paper's default levels
    assert len(AnnealedLangevin(score_fn=lambda x, s: -x).levels) == 10


def test_traced_values_pass_the_checks():
    start = StepState(jnp.zeros(2), jnp.zeros(()), jnp.zeros(2))

    @jax.jit
    def moved(eta, acc, target):
        st, _ = langevin_step(random.key(0), start, _potential, eta)
        st2, _ = langevin_steps(random.key(0), start, _potential, eta, num_steps=2)
        da = patch_da_update(_da_init(jnp.ones(())), acc, target, True)
        return st.x, st2.x, da[0], positive_float("step_size", eta)

    x, x2, log_scale, eta = moved(0.1, 0.5, 0.8)
    assert np.all(np.isfinite(x)) and np.all(np.isfinite(x2)) and np.isfinite(log_scale)
    assert float(eta) == pytest.approx(0.1)


def model4():
    numpyro.sample("x", dist.Normal(0.0, 1.0).expand([4]))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the generic divergence count
def test_small_step_size_is_refused_only_when_it_cannot_move():
    # adapted in warmup: the start value of the step size does not matter
    mcmc = MCMC(
        Langevin(model4, step_size=1e-30, adjust=True), num_warmup=20, num_samples=5,
        progress_bar=False,
    )  # fmt: skip
    mcmc.run(random.key(0))
    assert np.unique(np.asarray(mcmc.get_samples()["x"][:, 0])).size > 1
    # tiny but still able to move float32 positions of order 1: runs (and moves)
    mcmc = MCMC(
        Langevin(model4, step_size=1e-12, adjust=False), num_warmup=0, num_samples=5,
        progress_bar=False,
    )  # fmt: skip
    mcmc.run(random.key(0))
    assert np.unique(np.asarray(mcmc.get_samples()["x"][:, 0])).size > 1
    with pytest.raises(ValueError, match="`step_size` 1e-30 cannot move the chain"):
        MCMC(
            ChainedLangevin(model4, step_size=1e-30, adjust=False, sigmas=None), num_warmup=0,
            num_samples=1, progress_bar=False,
        ).run(random.key(0))  # fmt: skip


def test_jit_model_args_still_runs_a_model_whose_arguments_set_no_shape():
    def model(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    mcmc = MCMC(Langevin(model), num_warmup=5, num_samples=5, progress_bar=False,
                jit_model_args=True)  # fmt: skip
    mcmc.run(random.key(0), 1.0)
    assert mcmc.get_samples()["mu"].shape == (5,)


def test_unstable_fixed_step_size_of_ula_is_reported_with_its_name():
    def run(step_size):
        kernel = Langevin(model4, step_size=step_size, adjust=False)
        MCMC(kernel, num_warmup=0, num_samples=2, progress_bar=False).run(random.key(0))

    # curvature 1: ULA's drift is stable below a step of 2, explodes above it
    with pytest.warns(RuntimeWarning, match=r"`step_size` 1e\+03 is unstable for ULA"):
        run(1e3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(1.9)


def test_a_model_without_latent_sites_gives_empty_samples_on_the_annealed_kernel():
    # as Langevin, ChainedLangevin and TemperedLangevin (and NumPyro's kernels) do
    def model():
        numpyro.sample("y", dist.Normal(0.0, 1.0), obs=1.0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the fallback to path='tempered'
        mcmc = MCMC(AnnealedLangevin(model, steps_per_level=2), num_warmup=0, num_samples=2,
                    progress_bar=False)  # fmt: skip
        mcmc.run(random.key(0))
    assert mcmc.get_samples() == {}


def test_flags_take_numpy_bools_and_keys_of_both_kinds():
    kernel = Langevin(model4, adjust=np.bool_(True), dense_mass=0)
    assert kernel._adjust is True and kernel._dense_mass is False
    # the old uint32 key: split into a (2, 2) uint32 batch for vectorised chains
    for key in (random.PRNGKey(0), random.key(0)):
        mcmc = MCMC(Langevin(model4), num_warmup=0, num_samples=1, num_chains=2,
                    chain_method="vectorized", progress_bar=False)  # fmt: skip
        mcmc.run(key)
        assert mcmc.get_samples(group_by_chain=True)["x"].shape == (2, 1, 4)
