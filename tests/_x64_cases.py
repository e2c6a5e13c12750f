"""The dtype cases of ``tests/test_x64.py``: every kernel on the package's targets, and user
inputs (``init_params``, ``sigmas``, ``inverse_mass_matrix``, data, functional starts) in
the *other* float type: float32 under ``jax_enable_x64``, float64 (NumPy) without it.

Each case returns the run's draws and state; the chains must run in the default float type
(``jnp.result_type(float)``) and stay finite. x64 is process-global, so the x64 cases run
in a subprocess: ``JAX_ENABLE_X64=1 python tests/_x64_cases.py [CASE ...]`` prints one JSON
line per case, ``{"case", "dtypes", "finite"}`` or ``{"case", "error"}``.
"""

import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC

import numpyro_cld as cld
from numpyro_cld import targets
from numpyro_cld.blocks.patches import patch_layout
from numpyro_cld.samplers import on_pytrees
from numpyro_cld.sources.prefix import GaussianMixturePrefix


def other_float():
    """The float type a user's input must be cast from: float32 under x64, else float64."""
    return np.float32 if jax.config.jax_enable_x64 else np.float64


TARGETS = {
    "paper_gmm": lambda: targets.paper_gmm(3),
    "balanced_gmm": lambda: targets.balanced_gmm(3),
    "song_ermon_toy": targets.song_ermon_toy,
}

# small budgets: the cases check dtypes and finiteness, not the draws' law
KERNELS = {
    "Langevin": lambda model, **kw: cld.Langevin(model, adjust=True, num_steps=2, **kw),
    "ChainedLangevin": lambda model, **kw: cld.ChainedLangevin(model, steps_per_patch=2, **kw),
    "AnnealedLangevin": lambda model, **kw: cld.AnnealedLangevin(model, steps_per_level=2, **kw),
    "TemperedLangevin": lambda model, **kw: cld.TemperedLangevin(model, betas=3, **kw),
}


def _run(kernel, *args, init_params=None, **kwargs):
    mcmc = MCMC(kernel, num_warmup=5, num_samples=5, num_chains=2, progress_bar=False,
                chain_method="vectorized")  # fmt: skip
    mcmc.run(jax.random.key(0), *args, init_params=init_params, **kwargs)
    state = mcmc.last_state
    return mcmc.get_samples(group_by_chain=True), (state.z, state.potential_energy, state.z_grad)


def _regression(x, y=None):
    w = numpyro.sample("w", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
    s = numpyro.sample("s", dist.HalfNormal(1.0))
    numpyro.sample("y", dist.Normal(x @ w, s), obs=y)


def _target_case(kernel, target):
    return lambda: _run(KERNELS[kernel](TARGETS[target]().model))


def _init_params_case(kernel):
    def case():
        t = targets.song_ermon_toy()
        start = t.init_params(jax.random.key(1), 2)
        return _run(
            KERNELS[kernel](t.model), init_params={"x": np.asarray(start["x"], other_float())}
        )

    return case


def _sigmas_case(kernel):
    sigmas = np.array([2.0, 1.0, 0.5])
    return lambda: _run(
        KERNELS[kernel](targets.paper_gmm(3).model, sigmas=sigmas.astype(other_float()))
    )


def _inverse_mass_case():
    kernel = cld.Langevin(targets.song_ermon_toy().model, adjust=True,
                          inverse_mass_matrix=np.ones(2, other_float()))  # fmt: skip
    return _run(kernel)


def _data_case():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 2)).astype(other_float())
    y = (x @ np.array([1.0, -0.5]) + 0.3 * rng.normal(size=20)).astype(other_float())
    return _run(KERNELS["TemperedLangevin"](_regression), x, y=y)


def _potential(x, rng_key=None):
    return 0.5 * jnp.sum(x**2), -x


def _steps(init, step, start):
    state = init(start, jax.random.key(0))
    for i in range(2):
        state = jax.jit(step)(jax.random.key(i + 1), state)
    return state.z, (state.potential_energy, state.z_grad, state.adapt_state)


def _functional_langevin():
    f = other_float()
    init, step = cld.langevin(_potential, step_size=0.1, num_steps=2, adjust=True, num_warmup=1,
                              inverse_mass_matrix=np.ones(3, f))  # fmt: skip
    return _steps(init, step, np.zeros(3, f))


def _functional_chained():
    f = other_float()
    locs = np.array([[-1.0, -1.0], [1.0, 1.0]], f)
    source = GaussianMixturePrefix(np.log(np.array([0.5, 0.5], f)), locs, np.ones((2, 2), f),
                                   patch_size=1)  # fmt: skip
    init, step = cld.chained(patch_layout(2, patch_size=1), _potential, prefix_source=source,
                             step_size=0.1, sigmas=np.array([1.0, 0.5], f),
                             steps_per_patch=2)  # fmt: skip
    return _steps(init, step, np.zeros(2, f))


def _functional_pytrees():
    def potential(z, rng_key=None):
        return 0.5 * jnp.sum(z["a"] ** 2), {"a": -z["a"]}

    start = {"a": np.zeros(2, other_float())}
    build = lambda f: cld.langevin(f, step_size=0.1, adjust=True, num_warmup=1)  # noqa: E731
    return _steps(*on_pytrees(build, potential, start), start)


CASES = {f"{k}-{t}": _target_case(k, t) for k in KERNELS for t in TARGETS}
CASES |= {f"{k}-init_params": _init_params_case(k) for k in KERNELS}
CASES |= {f"{k}-sigmas": _sigmas_case(k) for k in ("ChainedLangevin", "AnnealedLangevin")}
CASES |= {
    "Langevin-inverse_mass_matrix": _inverse_mass_case,
    "TemperedLangevin-data": _data_case,
    "langevin-functional": _functional_langevin,
    "chained-functional": _functional_chained,
    "on_pytrees-functional": _functional_pytrees,
}
#: the cases with an input in the other float type (without x64 the defaults are the suite's)
INPUT_CASES = [c for c in CASES if not c.endswith(tuple(TARGETS))]


def check(name):
    """``{"case", "dtypes", "finite"}`` of a case's floating outputs, or ``{"case", "error"}``."""
    try:
        out = CASES[name]()
    except Exception as e:  # noqa: BLE001 - reported to the test, which names the case
        return {"case": name, "error": f"{type(e).__name__}: {e}"[:2000]}
    floats = [np.asarray(a) for a in jax.tree.leaves(out) if jnp.issubdtype(a.dtype, jnp.floating)]
    return {
        "case": name,
        "dtypes": sorted({a.dtype.name for a in floats}),
        "finite": bool(all(np.all(np.isfinite(a)) for a in floats)),
    }


if __name__ == "__main__":
    for name in sys.argv[1:] or CASES:
        start = time.perf_counter()
        result = check(name)
        print(json.dumps(result | {"seconds": round(time.perf_counter() - start, 1)}), flush=True)
