"""What users do with runs, beyond one ``mcmc.run``: odd chain counts with every chain method,
pickling an MCMC between warmup and sampling, and a latent of 20,000 coordinates."""

import pickle

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from jax import random
from numpyro.infer import MCMC

from numpyro_cld import AnnealedLangevin, ChainedLangevin, Langevin


def model(n=4):
    numpyro.sample("x", dist.Normal(0.0, 1.0).expand([n]))


KERNELS = {
    "langevin": lambda m: Langevin(m),
    "chained": lambda m: ChainedLangevin(m, patch_size=2),
    "annealed": lambda m: AnnealedLangevin(m, sigmas=[1.0, 0.1]),
}
CHAIN_METHODS = ["sequential", "vectorized", "parallel", jax.vmap]


@pytest.mark.slow  # CI budget: test_reliability runs vectorized chains of the kernels in CI
@pytest.mark.filterwarnings("ignore:There are not enough devices:UserWarning")
@pytest.mark.parametrize("kind, chain_method", [(k, m) for k in KERNELS for m in CHAIN_METHODS])
def test_odd_chain_count_with_every_chain_method(kind, chain_method):
    # three chains: odd, so a method that pairs chains or shards them over an even device
    # count would show; "parallel" on one device falls back to sequential (NumPyro warns)
    mcmc = MCMC(
        KERNELS[kind](model),
        num_warmup=10,
        num_samples=7,
        num_chains=3,
        chain_method=chain_method,
        progress_bar=False,
    )
    mcmc.run(random.key(5), extra_fields=("diverging",))
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"])
    assert x.shape == (3, 7, 4)
    assert np.all(np.isfinite(x))
    assert len({float(v) for v in x[:, -1, 0]}) == 3, "chains are copies of each other"
    assert mcmc.get_extra_fields(group_by_chain=True)["diverging"].shape == (3, 7)


@pytest.mark.slow  # CI budget: test_reliability's pickle round trips run in CI
@pytest.mark.parametrize("kind", ["chained", "langevin"])
def test_pickled_between_warmup_and_sampling_resumes_identically(kind):
    mcmc = MCMC(
        KERNELS[kind](model),
        num_warmup=10,
        num_samples=5,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.warmup(random.key(3))
    clone = pickle.loads(pickle.dumps(mcmc))
    mcmc.run(random.key(4))
    clone.run(random.key(4))
    np.testing.assert_array_equal(clone.get_samples()["x"], mcmc.get_samples()["x"])


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            lambda m: ChainedLangevin(m, patch_size=1000), id="chained", marks=pytest.mark.slow
        ),
        pytest.param(lambda m: Langevin(m), id="langevin", marks=pytest.mark.slow),
        pytest.param(
            lambda m: ChainedLangevin(m, patch_size=1000, conditional="full"),
            id="full-sweep",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_twenty_thousand_coordinates(make):
    d = 20_000
    mcmc = MCMC(make(model), num_warmup=50, num_samples=2, progress_bar=False)
    mcmc.run(random.key(0), n=d)
    x = np.asarray(mcmc.get_samples()["x"][-1])
    assert x.shape == (d,) and np.all(np.isfinite(x))
    # one draw of 20,000 coordinates of N(0, 1): the coordinate mean has standard error
    # 1/sqrt(d) and the coordinate variance sqrt(2/d); 4 standard errors each
    assert abs(x.mean()) < 4 / np.sqrt(d)
    assert abs(x.var() - 1.0) < 4 * np.sqrt(2 / d)


@pytest.mark.parametrize("cls", [Langevin, ChainedLangevin])
def test_model_without_latents_under_x64(cls):
    # found by NumPyro's API tests under JAX_ENABLE_X64=1: the empty latent vector raveled to
    # float32 while the adapted step size was float64, and the scan carry changed dtype
    def empty():
        numpyro.deterministic("c", 1.0)

    with jax.enable_x64(True):
        mcmc = MCMC(cls(empty), num_warmup=3, num_samples=4, progress_bar=False)
        mcmc.run(random.key(0))
        assert mcmc.get_samples()["c"].shape == (4,)
