"""The bad-input table of ``tests/test_bad_inputs.py``, split by area: each module holds a
list ``CASES`` of ``(area, description, call, exception, match)``; the calls run in a
namespace built from ``SETUP`` (shown at the top of ``docs/bad_inputs.md``), and ``match``
must name the parameter."""

from . import (
    coverage,
    data_sources,
    kernels,
    modes,
    net_files,
    nets,
    plots,
    runs,
    scales,
    schedules,
    targets,
    training,
)

SETUP = """\
import json, pathlib, tempfile
import jax, jax.numpy as jnp, numpy as np, xarray as xr
from jax import random
import numpyro, numpyro.distributions as dist
from flax import nnx, serialization
from numpyro.infer import MCMC
from numpyro_cld import AnnealedLangevin, ChainedLangevin, Langevin, TemperedLangevin
from numpyro_cld.blocks import StepState, langevin_step
from numpyro_cld.blocks.adaptation import patch_da_update
from numpyro_cld.calibration import rank_uniformity_test, sbc_ranks
from numpyro_cld.data import digits_flip, flip_images, is_inverted, mnist5k_flip
from numpyro_cld.diagnostics import (assign_modes, attach_coverage, compare_kernels,
                                     frequencies_by_draw, mode_coverage, mode_rule)
from numpyro_cld.diagnostics import log_evidence, swap_summary
from numpyro_cld.diagnostics.arviz_compat import from_arrays
from numpyro_cld.nets import (PatchLSTM, ScoreConv, ScoreMLP, ScoreUNet, as_prefix_source,
                              as_score_fn, load, save, train)
from numpyro_cld.parallel import sharded_chains
from numpyro_cld.plots import plot_frequency_vs_steps, plot_image_grid, plot_mode_frequencies
from numpyro_cld.schedules import (GaussianBase, StudentTBase, annealed_sigmas,
                                   annealed_step_size, as_base,
                                   chained_sigmas, check_lambdas, check_sigmas, ncsn_sigmas,
                                   ncsn_step_sizes, noise_ratio, vp_lambdas)
from numpyro_cld.sources import GaussianMixturePrefix, PotentialPrefix
from numpyro_cld.targets import GaussianMixtureTarget, balanced_gmm, paper_gmm, song_ermon_toy

def model():                        # 4 continuous latent coordinates
    numpyro.sample("x", dist.Normal(0.0, 1.0).expand([4]))

def observed_model(y=1.0):          # one latent, one observed site
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

def improper_model():               # a latent the model cannot draw forward
    mu = numpyro.sample("mu", dist.ImproperUniform(dist.constraints.real, (), ()))
    numpyro.sample("y", dist.Normal(mu, 1.0), obs=1.0)

def discrete_model():
    numpyro.sample("k", dist.Bernoulli(0.5))

def subsampled_model():             # 100 observations, 10 per likelihood evaluation
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("data", 100, subsample_size=10):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=jnp.zeros(10))

def U(x):                           # a potential on a flat vector
    return 0.5 * jnp.sum(x ** 2)

def run(kernel, **kwargs):          # init + a single transition
    MCMC(kernel, num_warmup=0, num_samples=1, progress_bar=False).run(random.key(0), **kwargs)

def resume(kernel, made_by):        # run `kernel` from the last state of a run of `made_by`
    first = MCMC(made_by, num_warmup=2, num_samples=1, progress_bar=False)
    first.run(random.key(0))
    mcmc = MCMC(kernel, num_warmup=2, num_samples=1, progress_bar=False)
    mcmc.post_warmup_state = first.last_state
    mcmc.run(random.key(1))

def resume_chains(made_by, chains, kernel, num_chains):  # resume a run of `chains` chains
    first = MCMC(made_by, num_warmup=2, num_samples=1, num_chains=chains,
                 chain_method="vectorized", progress_bar=False)
    first.run(random.key(0))
    mcmc = MCMC(kernel, num_warmup=2, num_samples=1, num_chains=num_chains,
                chain_method="vectorized", progress_bar=False)
    mcmc.post_warmup_state = first.last_state
    mcmc.run(random.key(1))

def sized_model(n):                 # an argument that sets a shape
    numpyro.sample("x", dist.Normal(0.0, 1.0).expand([n]))

class OneScorePrefix:               # a prefix source whose score has shape (1,) on any patch
    has_density = True
    def init_context(self, level): return jnp.zeros(())
    def advance(self, context, i, x_patch, level): return context
    def potential_and_score(self, context, i, x_patch, level):
        return 0.5 * jnp.sum(x_patch ** 2), -jnp.sum(x_patch, keepdims=True)

start = StepState(jnp.zeros(2), jnp.zeros(()), jnp.zeros(2))   # a 2-d Langevin state
da = (0.0, 0.0, 0.0, 0, 0.0)        # a dual-averaging state (patch_da_update)

mlp = ScoreMLP(2, sigmas=[1.0, 0.1], hidden=8, depth=1, rngs=nnx.Rngs(0))
lstm = PatchLSTM(4, patch_size=2, sigmas=[1.0], hidden=8, rngs=nnx.Rngs(0))
lstm6 = PatchLSTM(6, patch_size=2, sigmas=[1.0], hidden=8, rngs=nnx.Rngs(0))
data2 = np.random.default_rng(0).normal(size=(20, 2))
draws = np.random.default_rng(0).normal(size=(2, 10, 2))   # (chain, draw, 2)
centres = np.array([[1.0, 1.0], [-1.0, -1.0]])              # two modes in 2-d
cov = mode_coverage(draws, centres)                         # a coverage Dataset, 2 modes
cov3 = mode_coverage(labels=[[0, 1, 2]], num_modes=3)       # one with 3 modes
idata = from_arrays({"x": draws})                           # ArviZ InferenceData
two_vars = xr.Dataset({"x": (("chain", "draw", "d"), draws),
                       "y": (("chain", "draw", "d"), draws)})
gmm6 = GaussianMixturePrefix(jnp.zeros(1), jnp.zeros((1, 6)), jnp.ones((1, 6)), patch_size=2)

tmp = pathlib.Path(tempfile.mkdtemp())                      # files for save / load
save(mlp, tmp / "mlp.msgpack")
good = (tmp / "mlp.msgpack").read_bytes()

def write(name, content):           # a file in tmp
    path = tmp / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path

def flip(content, i):               # content with the lowest bit of byte i flipped
    return content[:i] + bytes([content[i] ^ 1]) + content[i + 1:]

def variant(name, **fields):        # the saved mlp with fields replaced (None: dropped)
    payload = {**serialization.msgpack_restore(good), **fields}
    payload = {k: v for k, v in payload.items() if v is not None}
    return write(name, serialization.msgpack_serialize(payload))

wide_config = json.dumps({"dim": 2, "sigmas": [1.0, 0.1], "hidden": 16, "depth": 1})
"""

CASES = (
    kernels.CASES
    + runs.CASES
    + schedules.CASES
    + scales.CASES
    + targets.CASES
    + data_sources.CASES
    + modes.CASES
    + coverage.CASES
    + plots.CASES
    + nets.CASES
    + training.CASES
    + net_files.CASES
)
