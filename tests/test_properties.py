"""Property-based tests (hypothesis) of the three kernels over shapes, patch sizes, dtypes,
chain counts and step sizes.

For every drawn configuration a short MCMC run must give: samples of the right shape and
dtype; no non-finite sample (a fault is never sampled); ``diverging`` only where
``num_diverging > 0`` (a flagged transition had a divergent proposal, and a block that could
not move), with ``0 <= num_diverging <=`` the steps of one transition; acceptance
probabilities in ``[0, 1]``; and a ``RuntimeWarning`` exactly when a transition after warmup
was flagged. Step sizes span 1e-3..1e2, so overflow and faults are
part of the draw; with a NaN region in the target (``numpyro.factor``) no sample may enter
the region.

float64 is drawn as well and run under ``jax.enable_x64(True)`` (a context manager, so the
rest of the suite stays float32) for every kernel; this file found that fault counts summed
under x64 became int64 and broke NumPyro's sampling loop (now summed as int32 everywhere).
Examples are derandomised, so CI sees the same ones.
"""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from jax import random
from numpyro.infer import MCMC

from numpyro_cld import AnnealedLangevin, ChainedLangevin, Langevin
from numpyro_cld.schedules import ncsn_sigmas

# no shrink phase: every example compiles a kernel, so shrinking a failure takes minutes;
# the failing example is printed as drawn
SETTINGS = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
NUM_SAMPLES = 4
BOUND = 2.5  # edge of the NaN region of the faulty targets


def make_model(shape, faulty):
    def model():
        # two modes; Normal components keep exact smoothing and exact prefix marginals
        mix = dist.Categorical(probs=jnp.array([0.4, 0.6]))
        loc = jnp.stack([-jnp.ones(shape), jnp.ones(shape)])
        x = numpyro.sample(
            "x", dist.MixtureSameFamily(mix, dist.Normal(loc, 0.8).to_event(len(shape)))
        )
        if faulty:
            numpyro.factor("nan_region", jnp.where(jnp.any(jnp.abs(x) > BOUND), jnp.nan, 0.0))

    return model


shapes = st.lists(st.integers(1, 3), min_size=1, max_size=2).map(tuple)
step_sizes = st.floats(-3.0, 2.0).map(lambda e: float(10.0**e))
chains = st.integers(1, 3)


def run_and_check(kernel, shape, num_chains, x64, steps_per_transition, faulty):
    init = random.uniform(random.key(1), (num_chains,) + shape, minval=-1.0, maxval=1.0)
    init = {"x": init if num_chains > 1 else init[0]}
    mcmc = MCMC(
        kernel,
        num_warmup=2,
        num_samples=NUM_SAMPLES,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mcmc.run(random.key(0), init_params=init, extra_fields=("num_diverging", "accept_prob"))
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"])
    extra = {k: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}

    assert x.shape == (num_chains, NUM_SAMPLES) + shape
    assert x.dtype == (np.float64 if x64 else np.float32)
    assert np.all(np.isfinite(x)), "a non-finite sample was returned"
    if faulty:
        assert np.all(np.abs(x) <= BOUND), "a sample entered the NaN region"
    ndiv = extra["num_diverging"]
    assert ndiv.shape == extra["diverging"].shape == (num_chains, NUM_SAMPLES)
    assert np.issubdtype(ndiv.dtype, np.integer)
    assert np.all(ndiv[extra["diverging"]] > 0)
    assert np.all((ndiv >= 0) & (ndiv <= steps_per_transition))
    acc = extra["accept_prob"]
    assert np.all(np.isfinite(acc) & (acc >= 0) & (acc <= 1))
    # divergent proposals are counted (warmup included) and a run is reported by a warning
    # exactly when a transition after warmup diverged (warmup ones are silent, as in NumPyro)
    assert kernel.num_faults >= ndiv.sum()
    warned = [
        str(w.message)
        for w in caught
        if issubclass(w.category, RuntimeWarning) and "diverged" in str(w.message)
    ]
    assert bool(warned) == bool(extra["diverging"].any())
    if warned:
        assert f" {int(extra['diverging'].sum())} of " in warned[0]


@pytest.mark.slow  # about a minute each on 2 cores: in `-m slow`, not the CI command
@SETTINGS
@given(
    shape=shapes,
    num_chains=chains,
    step_size=step_sizes,
    x64=st.booleans(),
    adjust=st.booleans(),
    num_steps=st.integers(1, 3),
    faulty=st.booleans(),
)
def test_langevin_properties(shape, num_chains, step_size, x64, adjust, num_steps, faulty):
    with jax.enable_x64(x64):
        kernel = Langevin(
            make_model(shape, faulty), step_size=step_size, num_steps=num_steps, adjust=adjust
        )
        run_and_check(kernel, shape, num_chains, x64, num_steps, faulty)


@pytest.mark.slow  # about a minute each on 2 cores: in `-m slow`, not the CI command
@SETTINGS
@given(
    shape=shapes,
    num_chains=chains,
    step_size=step_sizes,
    x64=st.booleans(),
    adjust=st.booleans(),
    num_levels=st.integers(1, 3),
    steps_per_level=st.integers(1, 2),
    path=st.sampled_from(["ve", "tempered"]),
    faulty=st.booleans(),
)
def test_annealed_properties(
    shape, num_chains, step_size, x64, adjust, num_levels, steps_per_level, path, faulty
):
    faulty = faulty and path == "tempered"  # exact smoothing ("ve") needs a factor-free model
    with jax.enable_x64(x64):
        if path == "ve":
            levels = dict(sigmas=ncsn_sigmas(1.0, 0.1, num_levels))
            step_size = step_size / 100  # eta_1 = step_size sigma_1^2 / sigma_L^2: up to 100x
        else:
            levels = dict(lambdas=np.linspace(1.0 / num_levels, 1.0, num_levels))
        kernel = AnnealedLangevin(
            make_model(shape, faulty),
            path=path,
            step_size=step_size,
            steps_per_level=steps_per_level,
            adjust=adjust,
            **levels,
        )
        run_and_check(kernel, shape, num_chains, x64, num_levels * steps_per_level, faulty)


@st.composite
def chained_configs(draw):
    shape = draw(shapes)
    dim = math.prod(shape)
    conditional = draw(st.sampled_from(["prefix", "full"]))
    return dict(
        shape=shape,
        patch_size=draw(st.integers(1, dim)),
        conditional=conditional,
        adjust=draw(st.booleans()),
        steps_per_patch=draw(st.integers(1, 2)),
        # Chained-ALD's smoothed prefix is closed-form for a site with one event dimension
        # (a (1, 3)-shaped mixture site is refused with a clear ValueError)
        num_levels=draw(st.integers(0, 2)) if conditional == "prefix" and len(shape) == 1 else 0,
        order=draw(st.sampled_from(["sequential", "random"]))
        if conditional == "full"
        else "sequential",
        faulty=draw(st.booleans()) if conditional == "full" else False,
    )


@pytest.mark.slow  # about a minute each on 2 cores: in `-m slow`, not the CI command
@SETTINGS
@given(cfg=chained_configs(), num_chains=chains, step_size=step_sizes, x64=st.booleans())
def test_chained_properties(cfg, num_chains, step_size, x64):
    shape, num_levels = cfg["shape"], cfg["num_levels"]
    dim = math.prod(shape)
    num_patches = -(-dim // cfg["patch_size"])
    with jax.enable_x64(x64):
        levels = dict(sigmas=ncsn_sigmas(1.0, 0.1, num_levels)) if num_levels else {}
        kernel = ChainedLangevin(
            make_model(shape, cfg["faulty"]),
            patch_size=cfg["patch_size"],
            conditional=cfg["conditional"],
            adjust=cfg["adjust"],
            steps_per_patch=cfg["steps_per_patch"],
            step_size=step_size / 100 if num_levels else step_size,
            order=cfg["order"],
            **levels,
        )
        steps = num_patches * cfg["steps_per_patch"] * max(num_levels, 1)
        run_and_check(kernel, shape, num_chains, x64, steps, cfg["faulty"])
        assert kernel.num_patches == num_patches


# random small models over NumPyro's constrained supports (a site each, 1-3 sites)
SUPPORT_SITES = {
    "simplex": lambda: dist.Dirichlet(jnp.array([1.0, 2.0, 0.5])),
    "positive": lambda: dist.Gamma(2.0, 1.0).expand([2]),
    "interval": lambda: dist.Uniform(-1.0, 3.0),
    "unit": lambda: dist.Beta(0.7, 2.0),
    "greater": lambda: dist.Pareto(1.0, 3.0),
    "ordered": lambda: dist.TransformedDistribution(
        dist.Normal(jnp.zeros(3), 1.0), dist.transforms.OrderedTransform()
    ),
    "corr_cholesky": lambda: dist.LKJCholesky(3, 1.5),
    "pos_def": lambda: dist.Wishart(4.0, scale_tril=jnp.eye(2)),
    "real": lambda: dist.Normal(0.0, 3.0).expand([2]),
}
# their unconstrained sizes: a patch may not be larger than the latent vector (an error)
UNCONSTRAINED = dict(simplex=2, positive=2, interval=1, unit=1, greater=1, ordered=3,
                     corr_cholesky=3, pos_def=3, real=2)  # fmt: skip


def support_model(names):
    def model():
        for name in names:
            numpyro.sample(name, SUPPORT_SITES[name]())

    return model


def support_kernel(kind, model, patch_size):
    if kind == "mala":
        return Langevin(model)
    if kind == "mwg":
        return ChainedLangevin(model, patch_size=patch_size, conditional="full")
    return ChainedLangevin(model, patch_size=patch_size)


@pytest.mark.slow  # every example compiles two runs: in `-m slow`, not the CI command
@SETTINGS
@given(
    names=st.lists(st.sampled_from(sorted(SUPPORT_SITES)), min_size=1, max_size=3, unique=True),
    kind=st.sampled_from(["mala", "mwg", "chained"]),
    patch_size=st.integers(1, 3),
    num_chains=chains,
)
def test_random_constrained_models(names, kind, patch_size, num_chains):
    """Finite draws inside every site's support, the right shapes, and the same draws for the
    same key (two runs), for every kernel's defaults on random constrained models."""
    model = support_model(names)
    patch_size = min(patch_size, sum(UNCONSTRAINED[n] for n in names))
    runs = []
    for _ in range(2):
        kernel = support_kernel(kind, model, patch_size)
        mcmc = MCMC(kernel, num_warmup=20, num_samples=10, num_chains=num_chains,
                    chain_method="vectorized", progress_bar=False)  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the fallback to the full sweep
            mcmc.run(random.key(0))
        runs.append({k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()})
    for name in names:
        fn = SUPPORT_SITES[name]()
        x = runs[0][name]
        assert x.shape == (num_chains, 10) + fn.batch_shape + fn.event_shape
        assert np.all(np.isfinite(x)), name
        assert bool(np.all(fn.support.check(x))), f"{name} left its support"
        np.testing.assert_array_equal(x, runs[1][name])
