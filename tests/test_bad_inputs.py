"""Every bad input the library rejects, with the exception and message a user sees.

One source of truth: ``CASES`` below is parametrised into tests (each call must raise the
listed exception with a message matching ``match``, which names the parameter), and
``docs/bad_inputs.md`` is generated from it by running the calls::

    python tests/test_bad_inputs.py > docs/bad_inputs.md

``test_doc_in_sync`` regenerates the page and compares it with the file.
"""

import os
import pathlib
import re
import sys
import warnings

import pytest

# The calls run in this namespace; SETUP is shown in the generated page.
SETUP = """\
import jax.numpy as jnp, numpy as np
from jax import random
import numpyro, numpyro.distributions as dist
from flax import nnx
from numpyro.infer import MCMC
from numpyro_cld import AnnealedLangevin, ChainedLangevin, Langevin
from numpyro_cld.calibration import rank_uniformity_test
from numpyro_cld.data import digits_flip, flip_images
from numpyro_cld.diagnostics import assign_modes, compare_kernels, mode_coverage, mode_rule
from numpyro_cld.nets import (PatchLSTM, ScoreConv, ScoreMLP, as_prefix_source,
                              as_score_fn, train)
from numpyro_cld.parallel import sharded_chains
from numpyro_cld.schedules import annealed_sigmas, chained_sigmas, ncsn_sigmas, vp_lambdas
from numpyro_cld.targets import paper_gmm

def model():                        # 4 continuous latent coordinates
    numpyro.sample("x", dist.Normal(0.0, 1.0).expand([4]))

def observed_model(y=1.0):          # one latent, one observed site
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

def discrete_model():
    numpyro.sample("k", dist.Bernoulli(0.5))

def U(x):                           # a potential on a flat vector
    return 0.5 * jnp.sum(x ** 2)

def run(kernel, **kwargs):          # init + a single transition
    MCMC(kernel, num_warmup=0, num_samples=1, progress_bar=False).run(random.key(0), **kwargs)

mlp = ScoreMLP(2, sigmas=[1.0, 0.1], hidden=8, depth=1, rngs=nnx.Rngs(0))
lstm = PatchLSTM(4, patch_size=2, sigmas=[1.0], hidden=8, rngs=nnx.Rngs(0))
data2 = np.random.default_rng(0).normal(size=(20, 2))
"""

# (area, description, call, exception, match); `match` must name the parameter
CASES = [
    # -- kernels ------------------------------------------------------------------------
    ("kernels", "no target given", "Langevin()", ValueError, "Exactly one of `model`"),
    (
        "kernels",
        "two targets given",
        "Langevin(model, potential_fn=U)",
        ValueError,
        "Exactly one of `model`",
    ),
    ("kernels", "model is not callable", "Langevin(3)", TypeError, "`model` must be callable"),
    ("kernels", "negative step size", "Langevin(model, step_size=-0.1)", ValueError, "`step_size`"),
    (
        "kernels",
        "step size not a number",
        "Langevin(model, step_size='big')",
        TypeError,
        "`step_size`",
    ),
    ("kernels", "zero steps", "Langevin(model, num_steps=0)", ValueError, "`num_steps`"),
    ("kernels", "fractional steps", "Langevin(model, num_steps=2.5)", TypeError, "`num_steps`"),
    (
        "kernels",
        "MH test without a density",
        "Langevin(score_fn=lambda x: -x, adjust=True)",
        ValueError,
        "`adjust=True`",
    ),
    (
        "kernels",
        "target acceptance of 1",
        "Langevin(model, adjust=True, target_accept_prob=1.0)",
        ValueError,
        "`target_accept_prob`",
    ),
    (
        "kernels",
        "potential_fn without init_params",
        "run(Langevin(potential_fn=U))",
        ValueError,
        "`init_params`",
    ),
    (
        "kernels",
        "init_params of the wrong shape",
        "run(Langevin(model), init_params={'x': jnp.zeros(5)})",
        ValueError,
        "`init_params`",
    ),
    (
        "kernels",
        "potential_fn not scalar",
        "run(Langevin(potential_fn=lambda x: x ** 2), init_params=jnp.zeros(3))",
        ValueError,
        "`potential_fn` must return a scalar",
    ),
    (
        "kernels",
        "score_fn of the wrong shape",
        "run(Langevin(score_fn=lambda x: x[:2]), init_params=jnp.zeros(3))",
        ValueError,
        "`score_fn` must return",
    ),
    ("kernels", "discrete latent site", "run(Langevin(discrete_model))", ValueError, "discrete"),
    (
        "kernels",
        "wrap_model on a potential_fn kernel",
        "Langevin(potential_fn=U).wrap_model(lambda m: m)",
        ValueError,
        "`wrap_model`",
    ),
    (
        "kernels",
        "sigmas not decreasing",
        "AnnealedLangevin(model, sigmas=[0.1, 1.0])",
        ValueError,
        "`sigmas` must be strictly decreasing",
    ),
    (
        "kernels",
        "unknown annealing path",
        "AnnealedLangevin(model, path='diffusion')",
        ValueError,
        "`path`",
    ),
    (
        "kernels",
        "lambdas on the ve path",
        "AnnealedLangevin(model, lambdas=[0.5, 1.0])",
        ValueError,
        "`lambdas`",
    ),
    (
        "kernels",
        "lambdas not increasing",
        "AnnealedLangevin(model, path='tempered', lambdas=[0.5, 0.2])",
        ValueError,
        "`lambdas` must be strictly increasing",
    ),
    (
        "kernels",
        "score_fn not noise-conditional",
        "AnnealedLangevin(score_fn=lambda x: -x)",
        TypeError,
        "`score_fn` must be noise-conditional",
    ),
    (
        "kernels",
        "MH test with a learned score",
        "AnnealedLangevin(score_fn=lambda x, s: -x, adjust=True)",
        ValueError,
        "`adjust=True`",
    ),
    (
        "kernels",
        "exact smoothing of a potential_fn",
        "AnnealedLangevin(potential_fn=U)",
        ValueError,
        "`smoothing=",
    ),
    (
        "kernels",
        "Student-t base without a tail index",
        "AnnealedLangevin(model, path='vp', base='student_t')",
        ValueError,
        "`base=",
    ),
    (
        "kernels",
        "Student-t tail index <= 2",
        "AnnealedLangevin(model, path='vp', base=('student_t', 2.0), smoothing='mc')",
        ValueError,
        "`alpha`",
    ),
    (
        "kernels",
        "exact smoothing of a model with an observed site",
        "run(AnnealedLangevin(observed_model))",
        ValueError,
        "Exact smoothing",
    ),
    ("kernels", "patch size 0", "ChainedLangevin(model, patch_size=0)", ValueError, "`patch_size`"),
    (
        "kernels",
        "patch larger than the latent vector",
        "run(ChainedLangevin(model, patch_size=10, conditional='full'))",
        ValueError,
        "`patch_size`",
    ),
    (
        "kernels",
        "unknown conditional",
        "ChainedLangevin(model, conditional='partial')",
        ValueError,
        "`conditional`",
    ),
    (
        "kernels",
        "random order with the prefix sweep",
        "ChainedLangevin(model, conditional='prefix', order='random')",
        ValueError,
        "`order=",
    ),
    (
        "kernels",
        "sigmas with the full-conditional sweep",
        "ChainedLangevin(model, conditional='full', sigmas=ncsn_sigmas())",
        ValueError,
        "`sigmas`",
    ),
    (
        "kernels",
        "sigmas given as an unknown word",
        "ChainedLangevin(model, sigmas='geometric')",
        ValueError,
        "`sigmas` must be 'auto'",
    ),
    (
        "kernels",
        "a zero noise level before the last",
        "ChainedLangevin(model, sigmas=[1.0, 0.0, 0.0])",
        ValueError,
        "`sigmas` must be",
    ),
    (
        "kernels",
        "prefix_source of the wrong type",
        "ChainedLangevin(model, prefix_source=object())",
        TypeError,
        "`prefix_source`",
    ),
    (
        "kernels",
        "overlapping blocks",
        "run(ChainedLangevin(model, conditional='full', blocks=[[0, 1], [1, 2, 3]]))",
        ValueError,
        "`blocks` overlap",
    ),
    (
        "kernels",
        "prefix sweep without exact prefix marginals",
        "run(ChainedLangevin(observed_model, conditional='prefix'))",
        ValueError,
        "conditional='prefix'",
    ),
    # -- schedules, targets, calibration, parallel -----------------------------------------
    ("schedules", "zero noise levels", "ncsn_sigmas(num_levels=0)", ValueError, "`num_levels`"),
    (
        "kernels",
        "annealed sigmas given as an unknown word",
        "AnnealedLangevin(model, sigmas='geometric')",
        ValueError,
        "`sigmas` must be 'auto'",
    ),
    (
        "schedules",
        "automatic levels with a negative last level",
        "annealed_sigmas(data2, sigma_min=-0.1)",
        ValueError,
        "`sigma_min`",
    ),
    (
        "schedules",
        "Chained-ALD with one level",
        "chained_sigmas(data2, [0], num_levels=1)",
        ValueError,
        "`num_levels`",
    ),
    (
        "schedules",
        "Chained-ALD ratio outside (0, 1)",
        "chained_sigmas(data2, [0], ratio=2.0)",
        ValueError,
        "`ratio`",
    ),
    (
        "schedules",
        "Chained-ALD patches past the dimension",
        "chained_sigmas(data2, [0, 2])",
        ValueError,
        "`starts` must lie below",
    ),
    (
        "schedules",
        "Chained-ALD from one draw",
        "chained_sigmas(data2[:1], [0])",
        ValueError,
        "`draws`",
    ),
    (
        "schedules",
        "Chained-ALD from constant draws",
        "chained_sigmas(np.ones((5, 2)), [0, 1])",
        ValueError,
        "`draws` do not vary",
    ),
    (
        "schedules",
        "lambda_min outside (0, 1)",
        "vp_lambdas(lambda_min=1.5)",
        ValueError,
        "`lambda_min`",
    ),
    (
        "targets",
        "start in a mode that does not exist",
        "paper_gmm(4).init_params(random.key(0), 2, start='mode7')",
        ValueError,
        "`start`",
    ),
    (
        "calibration",
        "bins that do not divide the ranks",
        "rank_uniformity_test(np.zeros(10, int), 98, num_bins=10)",
        ValueError,
        "`num_bins`",
    ),
    ("parallel", "no devices", "sharded_chains(devices=[])", ValueError, "`devices`"),
    # -- diagnostics --------------------------------------------------------------------
    (
        "diagnostics",
        "labels without the number of modes",
        "mode_coverage(labels=[[0, 1]])",
        ValueError,
        "`num_modes`",
    ),
    (
        "diagnostics",
        "labels without a chain axis",
        "mode_coverage(labels=np.array([0, 1, 1]), num_modes=2)",
        ValueError,
        "`labels` must have shape",
    ),
    (
        "diagnostics",
        "label outside 0..K-1",
        "mode_coverage(labels=[[0, 3]], num_modes=2)",
        ValueError,
        "`labels` out of range",
    ),
    (
        "diagnostics",
        "float labels",
        "mode_coverage(labels=[[0.0, 1.0]], num_modes=2)",
        TypeError,
        "`labels` must be integer",
    ),
    (
        "diagnostics",
        "weights not summing to 1",
        "mode_coverage(labels=[[0, 1]], weights=[0.5, 0.6])",
        ValueError,
        "`weights` must sum to 1",
    ),
    (
        "diagnostics",
        "callable rule without the number of modes",
        "mode_rule(lambda x: x[:, 0] > 0)",
        ValueError,
        "`num_modes`",
    ),
    (
        "diagnostics",
        "rule of an unknown type",
        "mode_rule('nearest')",
        TypeError,
        "`assign` must be",
    ),
    (
        "diagnostics",
        "draws without a chain axis",
        "mode_coverage(np.zeros((10, 2)), np.array([[1.0, 1.0], [-1.0, -1.0]]))",
        ValueError,
        "chain",
    ),
    (
        "diagnostics",
        "draws of another event shape",
        "assign_modes(np.zeros((5, 3)), np.zeros((2, 2)))",
        ValueError,
        "`draws`",
    ),
    (
        "diagnostics",
        "no runs to compare",
        "compare_kernels({}, np.zeros((2, 2)))",
        ValueError,
        "`runs`",
    ),
    # -- nets ---------------------------------------------------------------------------
    (
        "nets",
        "network without noise levels",
        "ScoreMLP(2, sigmas=None, rngs=nnx.Rngs(0))",
        TypeError,
        "`sigmas` is required",
    ),
    (
        "nets",
        "negative noise level",
        "ScoreMLP(2, sigmas=[1.0, -0.1], rngs=nnx.Rngs(0))",
        ValueError,
        "`sigmas`",
    ),
    (
        "nets",
        "patch size that does not divide the input",
        "PatchLSTM(10, patch_size=3, sigmas=[1.0], rngs=nnx.Rngs(0))",
        ValueError,
        "`patch_size`",
    ),
    (
        "nets",
        "image shape that is not (H, W)",
        "ScoreConv((8,), sigmas=[1.0], rngs=nnx.Rngs(0))",
        ValueError,
        "`image_shape`",
    ),
    (
        "nets",
        "input of the wrong shape",
        "mlp(jnp.zeros((5, 3)), 0.1)",
        ValueError,
        "`x` has shape",
    ),
    (
        "nets",
        "sampler levels the net was not trained on",
        "as_score_fn(mlp, sigmas=[0.5])",
        ValueError,
        "`sigmas`",
    ),
    (
        "nets",
        "prefix network used as a plain score",
        "as_score_fn(lstm)",
        TypeError,
        "`net` is a PatchLSTM",
    ),
    (
        "nets",
        "plain score network used as a prefix source",
        "as_prefix_source(mlp)",
        TypeError,
        "`net` must be a PatchLSTM",
    ),
    ("nets", "training data with one sample", "train(mlp, np.zeros((1, 2)))", ValueError, "`data`"),
    (
        "nets",
        "training data with NaN",
        "train(mlp, np.full((4, 2), np.nan))",
        ValueError,
        "`data` contains NaN",
    ),
    (
        "nets",
        "training data of the wrong width",
        "train(mlp, np.zeros((4, 3)))",
        ValueError,
        "`data`",
    ),
    ("nets", "zero training steps", "train(mlp, data2, steps=0)", ValueError, "`steps`"),
    ("nets", "hold out everything", "train(mlp, data2, holdout=1.0)", ValueError, "`holdout`"),
    # -- data ---------------------------------------------------------------------------
    (
        "data",
        "images outside [0, 1]",
        "flip_images(np.full((2, 3, 3), 2.0))",
        ValueError,
        "`x01` must lie in",
    ),
    (
        "data",
        "images with NaN",
        "flip_images(np.full((2, 3, 3), np.nan))",
        ValueError,
        "`x01` contains NaN",
    ),
    (
        "data",
        "flip probability above 1",
        "flip_images(np.zeros((2, 3, 3)), flip_prob=1.5)",
        ValueError,
        "`flip_prob`",
    ),
    (
        "data",
        "negative flip probability for digits",
        "digits_flip(flip_prob=-0.1)",
        ValueError,
        "`flip_prob`",
    ),
]

_NS = None


def namespace():
    global _NS
    if _NS is None:
        _NS = {}
        exec(SETUP, _NS)
    return _NS


def call(code):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return eval(code, namespace())


def outcome(code):
    """``(exception type name, message)`` of running ``code``; ``None`` if it did not raise."""
    try:
        call(code)
    except Exception as e:  # noqa: BLE001 - the table records whatever is raised
        return type(e).__name__, " ".join(str(e).split())
    return None


def _cell(text):
    return text.replace("|", "\\|")


def render():
    lines = [
        "# Bad inputs and their messages",
        "",
        "Every row is a call the library rejects, with the exception and the message it "
        "gives, generated by running the call (`python tests/test_bad_inputs.py > "
        "docs/bad_inputs.md`); each row is a test in `tests/test_bad_inputs.py`, which also "
        "checks that this page is up to date. The calls use these names:",
        "",
        "```python",
        SETUP.rstrip(),
        "```",
        "",
        "| # | area | input | call | exception | message |",
        "|---|------|-------|------|-----------|---------|",
    ]
    for i, (area, desc, code, _, _) in enumerate(CASES, 1):
        res = outcome(code)
        exc, msg = res if res is not None else ("(none)", "did not raise")
        lines.append(f"| {i} | {area} | {_cell(desc)} | `{_cell(code)}` | {exc} | {_cell(msg)} |")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "area, description, code, exception, match", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_bad_input(area, description, code, exception, match):
    with pytest.raises(exception, match=re.escape(match)):
        call(code)


def test_table_covers_every_area():
    areas = {c[0] for c in CASES}
    assert {"kernels", "diagnostics", "nets", "data"} <= areas
    assert len(CASES) >= 20


def test_doc_in_sync():
    path = pathlib.Path(__file__).resolve().parents[1] / "docs" / "bad_inputs.md"
    assert path.read_text() == render(), (
        "docs/bad_inputs.md is out of date: run `python tests/test_bad_inputs.py > "
        "docs/bad_inputs.md`"
    )


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    sys.stdout.write(render())
