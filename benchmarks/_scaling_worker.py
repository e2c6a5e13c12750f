"""One configuration of ``bench_scaling.py``, in its own process (its own peak memory):
``python _scaling_worker.py '<json config>'`` prints ``RESULT <json>``."""

import json
import sys
import time

PATCH = 10


def _peak_memory():
    """``(kind, bytes)``: the device's peak bytes in use (GPU) or this process's peak RSS."""
    import resource

    import jax

    stats = None
    if jax.default_backend() != "cpu":
        try:
            stats = jax.devices()[0].memory_stats()
        except Exception:  # noqa: BLE001 - not every backend reports memory
            stats = None
    if stats and "peak_bytes_in_use" in stats:
        return "device_peak_bytes_in_use", int(stats["peak_bytes_in_use"])
    return "ru_maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _xla_buffers(compiled):
    try:
        m = compiled.memory_analysis()
        return {
            "argument_bytes": int(m.argument_size_in_bytes),
            "output_bytes": int(m.output_size_in_bytes),
            "temp_bytes": int(m.temp_size_in_bytes),
        }
    except Exception:  # noqa: BLE001 - optional
        return None


def _gmm_sampler(d, steps_per_patch, step_size):
    import jax.numpy as jnp

    from numpyro_cld.blocks import patch_layout
    from numpyro_cld.samplers import chained
    from numpyro_cld.sources import GaussianMixturePrefix, at_level, from_potential
    from numpyro_cld.targets import paper_gmm

    t = paper_gmm(d)
    mixture = t.distribution()
    target = at_level(from_potential(lambda x: -mixture.log_prob(x), lambda x: x), None)
    prefix = GaussianMixturePrefix(
        jnp.log(jnp.asarray(t.weights)), t.locs, t.scales, patch_size=PATCH
    )
    layout = patch_layout(d, patch_size=PATCH)
    init, step = chained(
        layout,
        target,
        prefix_source=prefix,
        step_size=step_size,
        steps_per_patch=steps_per_patch,
        adjust=True,
    )
    return t, layout.num_patches, init, step


def _lstm_sampler(hidden, num_layers):
    import jax.numpy as jnp
    from flax import nnx

    from numpyro_cld import nets
    from numpyro_cld.blocks import patch_layout
    from numpyro_cld.samplers import chained

    patch, dim, sigmas = 14, 28 * 28, [1.0]
    net = nets.PatchLSTM(
        (28, 28), patch, sigmas, hidden=hidden, num_layers=num_layers, rngs=nnx.Rngs(0)
    )
    source = nets.as_prefix_source(net, sigmas, patch_size=patch)

    def no_target(x, rng_key=None):  # a learned source has no density: nothing to evaluate
        return jnp.zeros((), x.dtype), jnp.zeros_like(x)

    init, step = chained(
        patch_layout(dim, patch_size=patch),
        no_target,
        prefix_source=source,
        sigmas=sigmas,
        step_size=1e-4,
        steps_per_patch=1,
        adjust=False,
    )
    return dim, dim // patch, init, step


def worker(cfg):
    """Build, compile, time and measure one configuration; return a dict of results."""
    import jax
    import jax.numpy as jnp
    from jax import lax, random

    jax.block_until_ready(jax.jit(lambda x: x + 1)(jnp.zeros(3)))  # runtime up: the baseline
    base_kind, base = _peak_memory()
    n, sweeps = cfg["chains"], cfg["sweeps"]
    if cfg["kind"] == "lstm":
        d, patches, init, step = _lstm_sampler(cfg["hidden"], cfg["num_layers"])
        x0 = 0.1 * random.normal(random.key(1), (n, d))
        steps_per_patch = 1
    else:
        d, steps_per_patch = cfg["d"], cfg["steps_per_patch"]
        t, patches, init, step = _gmm_sampler(d, steps_per_patch, cfg["step_size"])
        x0 = t.init_params(random.key(1), n, "mode0")[t.site]
    state = jax.jit(jax.vmap(init))(x0, random.split(random.key(2), n))

    def run(state, key):
        def body(carry, k):
            state, acc = carry
            state = jax.vmap(step)(random.split(k, n), state)
            return (state, acc + jnp.mean(state.accept_prob)), None

        (state, acc), _ = lax.scan(body, (state, jnp.zeros(())), random.split(key, sweeps))
        return state, acc / sweeps

    t0 = time.perf_counter()
    compiled = jax.jit(run).lower(state, random.key(3)).compile()
    compile_s = time.perf_counter() - t0
    state, acc = jax.block_until_ready(compiled(state, random.key(4)))  # warm-up call
    times = []
    for r in range(cfg["repeats"]):
        t0 = time.perf_counter()
        state, acc = jax.block_until_ready(compiled(state, random.key(5 + r)))
        times.append(time.perf_counter() - t0)
    kind, peak = _peak_memory()
    best = min(times)
    patch_steps = patches * steps_per_patch
    return {
        **cfg,
        "d": d,
        "num_patches": patches,
        "patch_steps_per_sweep": patch_steps,
        "times_s": [round(s, 5) for s in times],
        "best_s": best,
        "s_per_sweep": best / sweeps,
        "s_per_patch_step": best / (sweeps * patch_steps),
        "s_per_chain_patch_step": best / (sweeps * patch_steps * n),
        "compile_s": round(compile_s, 2),
        "accept_prob": float(acc),
        "finite": bool(jnp.all(jnp.isfinite(state.z))),
        "state_bytes": int(sum(x.nbytes for x in jax.tree.leaves(state))),
        "xla": _xla_buffers(compiled),
        "memory_kind": kind,
        "baseline_bytes": base if base_kind == kind else None,
        "peak_bytes": peak,
    }


if __name__ == "__main__":
    print("RESULT " + json.dumps(worker(json.loads(sys.argv[1]))), flush=True)
