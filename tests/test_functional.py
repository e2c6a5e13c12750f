"""The functional core (numpyro_cld.samplers) gives the draws of the kernel classes for the
same keys, runs in a user's own lax.scan, and the renamed argument ``eps`` still works with a
FutureWarning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_same_draws
from jax import random
from numpyro.infer import MCMC

from numpyro_cld import AnnealedLangevin, ChainedLangevin, Langevin
from numpyro_cld.blocks import patch_layout
from numpyro_cld.samplers import annealed, chained, langevin, on_pytrees
from numpyro_cld.schedules import (
    GaussianBase,
    annealed_sigmas,
    base_draw,
    check_sigmas,
    ncsn_step_sizes,
    path_step_sizes,
)
from numpyro_cld.sources import (
    GaussianMixturePrefix,
    at_level,
    exact_level_source,
    from_potential,
    model_draws,
    tempered_level_source,
)

LOCS = jnp.array([[-1.5] * 4, [1.5] * 4])


def potential(x):
    # a two-component mixture in 4-d, equal weights, unit scales
    comp = -0.5 * jnp.sum((x - LOCS) ** 2, -1)
    return -jax.scipy.special.logsumexp(comp)


def flat_source():
    return from_potential(potential, lambda x: x)


def run_kernel(kernel, key, x0, num_warmup, n):
    """The kernel driven as MCMC drives it: init, then `sample` ``n`` times in a compiled
    loop (so that both sides are compiled the same way: eager and fused float32 differ in
    the last bits)."""
    state = kernel.init(key, num_warmup, init_params=x0)

    def body(state, _):
        state = kernel.sample(state, (), {})
        return state, state.z

    state, zs = jax.lax.scan(body, state, None, length=n)
    return jax.tree.map(np.asarray, zs), state


def run_core(init, step, key, x0, n):
    """The same keys as the kernel classes derive them (``LangevinBase.init``)."""
    key, _ = random.split(key)  # the kernel's key for the model's initialisation
    key, key_init = random.split(key)
    state = init(x0, key_init)

    def body(carry, _):
        state, key = carry
        key, sub = random.split(key)
        state = step(sub, state)
        return (state, key), state.z

    (state, _), zs = jax.lax.scan(body, (state, key), None, length=n)
    return jax.tree.map(np.asarray, zs), state


X0 = jnp.array([0.3, -0.2, 0.1, 0.5])


@pytest.mark.parametrize("adjust", [False, True])
def test_langevin_core_equals_class(adjust):
    key = random.key(3)
    kernel = Langevin(potential_fn=potential, step_size=0.2, num_steps=3, adjust=adjust)
    want, kstate = run_kernel(kernel, key, X0, 5, 12)
    init, step = langevin(
        at_level(flat_source(), None), step_size=0.2, num_steps=3, adjust=adjust, num_warmup=5
    )
    got, cstate = run_core(init, step, key, X0, 12)
    assert_same_draws(got, want)
    assert_same_draws(cstate.adapt_state.step_size, kstate.adapt_state.step_size)


def test_langevin_core_equals_mcmc_draws():
    key = random.key(7)
    mcmc = MCMC(
        Langevin(potential_fn=potential, step_size=0.3, num_steps=2, adjust=True),
        num_warmup=20,
        num_samples=30,
        progress_bar=False,
    )
    mcmc.run(key, init_params=X0)
    init, step = langevin(
        at_level(flat_source(), None), step_size=0.3, num_steps=2, adjust=True, num_warmup=20
    )
    got, _ = run_core(init, step, key, X0, 50)
    assert_same_draws(got[20:], np.asarray(mcmc.get_samples()))


def test_annealed_core_equals_class():
    key = random.key(5)
    kernel = AnnealedLangevin(
        potential_fn=potential,
        path="tempered",
        lambdas=[0.2, 0.6, 1.0],
        steps_per_level=4,
        step_size=0.05,
        adjust=True,
    )
    want, _ = run_kernel(kernel, key, X0, 0, 6)
    src = tempered_level_source(potential, GaussianBase())
    init, step = annealed(
        src, jnp.array([0.2, 0.6, 1.0]), jnp.full((3,), 0.05), steps_per_level=4, adjust=True
    )
    got, _ = run_core(init, step, key, X0, 6)
    assert_same_draws(got, want)


@pytest.mark.parametrize("path", ["ve", "vp"])
def test_annealed_core_from_schedules_equals_class(path):
    """Everything ``AnnealedLangevin`` derives from its arguments, rebuilt from the public
    functions: ``sigmas="auto"`` (``model_draws`` + ``annealed_sigmas``), the step sizes of
    the path (``path_step_sizes``) and the base draw of ``start_from_base`` (``base_draw``)."""
    import numpyro
    import numpyro.distributions as dist

    def model():
        mix = dist.MixtureSameFamily(
            dist.Categorical(probs=jnp.array([0.3, 0.7])), dist.Normal(LOCS, 0.5).to_event(1)
        )
        numpyro.sample("x", mix)

    key = random.key(13)
    kwargs = {"lambdas": [0.3, 0.7, 1.0]} if path == "vp" else {}
    step_size = 0.02 if path == "vp" else 1e-4  # NCSN's rule: 1e-4 * sigma_i^2 / 0.01^2
    kernel = AnnealedLangevin(
        model, path=path, steps_per_level=3, step_size=step_size, start_from_base=True, **kwargs
    )
    want, _ = run_kernel(kernel, key, {"x": X0}, 0, 5)
    if path == "ve":
        levels = check_sigmas(annealed_sigmas(model_draws(model)))
    else:
        levels = jnp.array(kwargs["lambdas"])
    step_sizes = path_step_sizes(path, step_size, levels)
    np.testing.assert_array_equal(kernel.levels, levels)
    np.testing.assert_array_equal(kernel.step_sizes, step_sizes)
    src = exact_level_source(model, (), {}, path, GaussianBase(), lambda x: {"x": x})
    init, step = annealed(
        src, levels, step_sizes, steps_per_level=3, base_draw=base_draw(path, levels)
    )
    got, _ = run_core(init, step, key, X0, 5)
    assert_same_draws(got, want["x"])
    assert np.all(np.isfinite(got)) and np.unique(got[:, 0]).size == 5  # fresh sweeps


@pytest.mark.parametrize("use_sigmas", [False, True])
def test_chained_core_equals_class(use_sigmas):
    import numpyro
    import numpyro.distributions as dist

    def model():
        numpyro.sample(
            "x",
            dist.MixtureSameFamily(
                dist.Categorical(probs=jnp.array([0.5, 0.5])), dist.Normal(LOCS, 1.0).to_event(1)
            ),
        )

    key = random.key(11)
    sigmas = [1.0, 0.5] if use_sigmas else None
    kernel = ChainedLangevin(
        model,
        patch_size=2,
        steps_per_patch=5,
        adjust=True,
        sigmas=sigmas,
        step_size=0.05 if use_sigmas else 0.2,
    )
    want, _ = run_kernel(kernel, key, {"x": X0}, 4, 6)
    prefix = GaussianMixturePrefix(
        jnp.log(jnp.array([0.5, 0.5])), LOCS, jnp.ones((2, 4)), patch_size=2
    )
    init, step = chained(
        patch_layout(4, patch_size=2),
        at_level(flat_source(), None),
        prefix_source=prefix,
        sigmas=sigmas,
        steps_per_patch=5,
        adjust=True,
        step_size=0.05 if use_sigmas else 0.2,
        num_warmup=4,
    )
    got, _ = run_core(init, step, key, X0, 6)
    np.testing.assert_allclose(got, want["x"], rtol=1e-6, atol=1e-6)


def test_user_scan_loop_samples_the_target():
    """A BlackJAX-style loop with vmapped chains: MALA on N(m, diag(s^2)); the moments
    agree within 4 Monte-Carlo standard errors (ESS from NumPyro's estimator)."""
    from numpyro.diagnostics import effective_sample_size

    m, s = jnp.array([1.0, -2.0, 0.5]), jnp.array([0.5, 1.0, 2.0])

    def pas(x, rng_key=None):
        u = 0.5 * jnp.sum(((x - m) / s) ** 2)
        return u, -(x - m) / s**2

    init, step = langevin(pas, step_size=0.1, num_steps=5, adjust=True, num_warmup=300)
    keys = random.split(random.key(0), 4)
    state = jax.vmap(init)(jnp.zeros((4, 3)), keys)

    @jax.jit
    def run(state, key):
        def body(state, k):
            state = jax.vmap(step)(random.split(k, 4), state)
            return state, state.z

        return jax.lax.scan(body, state, random.split(key, 1300))

    _, zs = run(state, random.key(1))
    draws = np.asarray(jnp.swapaxes(zs[300:], 0, 1))  # (chains, draws, d)
    ess = np.asarray(effective_sample_size(draws))
    mean = draws.mean((0, 1))
    assert np.all(np.abs(mean - np.asarray(m)) < 4 * np.asarray(s) / np.sqrt(ess)), (mean, ess)


def test_eps_is_renamed_step_size():
    with pytest.warns(FutureWarning, match="`eps` is renamed `step_size`"):
        k = AnnealedLangevin(potential_fn=potential, smoothing="mc", sigmas=[1.0, 0.5], eps=0.01)
    np.testing.assert_allclose(k.step_sizes, ncsn_step_sizes(0.01, jnp.array([1.0, 0.5])))
    with pytest.warns(FutureWarning):
        ChainedLangevin(potential_fn=potential, conditional="full", eps=0.01)
    with pytest.raises(ValueError, match="`step_size` only"):
        AnnealedLangevin(potential_fn=potential, smoothing="mc", eps=0.01, step_size=0.01)


def test_on_pytrees_gives_the_flat_samplers_draws():
    # The same target on {"a": (3,), "b": ()} and on the flat (4,) vector (ravel order: a,
    # then b): the same keys must give the same draws, reshaped, for two samplers
    def tree_source(z, rng_key=None):
        pe, s = from_potential(potential, lambda x: x)(jnp.append(z["a"], z["b"]))
        return pe, {"a": s[:3], "b": s[3]}

    start = {"a": X0[:3], "b": X0[3]}
    layout = patch_layout(4, patch_size=2)
    builders = (
        lambda f: langevin(f, step_size=0.3, num_steps=3, adjust=True, num_warmup=20),
        lambda f: chained(layout, f, steps_per_patch=3, adjust=True, num_warmup=20),
    )
    for build in builders:
        init, step = on_pytrees(build, tree_source, start)
        tree_draws, state = run_core(init, step, random.key(3), start, 40)
        flat_init, flat_step = build(flat_source())
        flat_draws, _ = run_core(flat_init, flat_step, random.key(3), X0, 40)
        assert jax.tree.map(jnp.shape, state.z) == {"a": (3,), "b": ()}
        assert_same_draws(np.concatenate([tree_draws["a"], tree_draws["b"][:, None]], 1),
                          flat_draws)  # fmt: skip
        assert np.unique(flat_draws[:, 0]).size > 10  # the chains move
