"""The race's methods: our kernels and NUTS in a common chunked driver, BlackJAX adaptive
tempered SMC and TFP replica exchange; see ``bench_alternatives.py``."""

import functools
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from _race_targets import LEAPFROG, NUM_CHAINS, SMC_MUTATIONS
from jax import lax, random
from numpyro.infer import NUTS

from numpyro_cld import AnnealedLangevin, ChainedLangevin, Langevin


# -- a common driver for MCMC kernels: chunks of a jitted lax.scan -------------------------
def _chunked(step, state, assign, num_warmup, num_samples, chunk, cache):
    """Run ``num_warmup + num_samples`` transitions of ``step(state, key) -> (state, grads)``
    as jitted scans of ``chunk`` transitions; return labels of the sampling phase
    ``(num_samples, C)``, gradients a transition ``(T,)`` (all chains), seconds a chunk, the
    compile time and the final state. ``cache`` keeps the compiled chunk for later seeds."""

    def body(s, _):
        s, grads, x = step(s)
        return s, (assign(x).astype(jnp.int32), grads)

    if "compiled" not in cache:
        fn = jax.jit(lambda s: lax.scan(body, s, None, length=chunk))
        t0 = time.perf_counter()
        cache["compiled"] = fn.lower(state).compile()
        cache["compile_s"] = time.perf_counter() - t0
    compiled, compile_s = cache["compiled"], cache["compile_s"]
    labels, grads, secs = [], [], []
    for _ in range((num_warmup + num_samples) // chunk):
        t0 = time.perf_counter()
        state, (lab, g) = compiled(state)
        jax.block_until_ready((state, lab, g))
        secs.append(time.perf_counter() - t0)
        labels.append(np.asarray(lab))
        grads.append(np.asarray(g, np.float64))
    labels, grads = np.concatenate(labels), np.concatenate(grads)
    return labels[num_warmup:], grads, np.array(secs), compile_s, state


def ours_or_nuts(target, method, seed, sz, cache):
    """One seed of one of our kernels or NUTS; ``cache`` keeps the compiled chunk per
    (target, method) so that the later seeds reuse it."""
    model, C = target.model, NUM_CHAINS
    key_init, key_run = random.split(random.key(seed))
    init = {target.site: target.init(key_init, C)}
    if method == "chained":
        kernel = ChainedLangevin(model, patch_size=target.patch_size)
    elif method == "chained-ula":
        kernel = ChainedLangevin(model, patch_size=target.patch_size, adjust=False)
    elif method == "mala":
        kernel = Langevin(model, adjust=True)
    elif method == "annealed":
        kernel = AnnealedLangevin(model)
    else:
        kernel = NUTS(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        state = kernel.init(random.split(key_run, C), sz["num_warmup"], init_params=init)
    full, raw = per_transition_grads(kernel, method, target)

    def step(s):
        s = kernel.sample(s, (), {})
        counted = method in ("nuts", "mala")  # the `num_steps` field: steps a transition
        g = jnp.sum(s.num_steps).astype(jnp.float32) if counted else jnp.float32(full)
        return s, g, s.z[target.site]

    W, N, chunk = sz["num_warmup"], sz["num_samples"], sz["chunk"]
    labels, grads, secs, compile_s, _ = _chunked(step, state, target.assign, W, N, chunk, cache)
    out = dict(labels=labels, grads=grads, secs=secs, compile_s=compile_s)
    if method != "nuts":
        grads_raw = grads if method == "mala" else np.full_like(grads, raw)
        out["grads_raw"] = grads_raw
    out["settings"] = describe(kernel, method)
    return out


def per_transition_grads(kernel, method, target):
    """(full-gradient equivalents, raw evaluations) per transition, summed over chains."""
    C, d = NUM_CHAINS, target.dim
    if method == "annealed":
        n = len(kernel._levels) * (kernel._steps_per_level + 1)
        return C * n, C * n
    if method in ("nuts", "mala"):  # counted from the state's `num_steps`
        return 0, 0
    plan = kernel.plan
    spp = plan.steps_per_patch
    if plan.route == "tempered":  # the plan's own count, in full-model gradients
        n = plan.gradients_per_transition
        return C * n, C * n
    levels = 1 if plan.sigmas is None else len(plan.sigmas)
    raw = kernel.num_patches * spp * levels
    if kernel.conditional == "prefix":
        full = raw * target.patch_size / d + 1
    else:
        full = raw + 1
    return C * full, C * (raw + 1)


def describe(kernel, method):
    if method == "nuts":
        return "NUTS defaults (dual averaging to 0.8, diagonal mass matrix)"
    if method in ("chained", "chained-ula"):
        levels = 0 if kernel.plan.sigmas is None else len(kernel.plan.sigmas)
        return (
            f"{kernel.conditional} sweep, {kernel.num_patches} patches x {levels} levels x "
            f"{kernel.plan.steps_per_patch} steps, adjust={kernel._adjust}"
        )
    if method == "annealed":
        return f"{len(kernel._levels)} levels x {kernel._steps_per_level} steps, adjust=False"
    steps = kernel._num_steps or "1-20 (chosen in warmup)"
    return f"{steps} MALA steps a transition, adapted step size"


# -- BlackJAX adaptive tempered SMC ---------------------------------------------------------
def smc(target, seed, sz, cache):
    import blackjax
    from blackjax.smc import resampling
    from blackjax.smc.tuning.from_particles import particles_stds

    C, d = NUM_CHAINS, target.dim
    hmc_step = functools.partial(blackjax.hmc.build_kernel(), num_integration_steps=LEAPFROG)

    def loglik(x):
        return target.log_target(x) - target.log_ref(x)

    def one_run(key):
        k0, k1 = random.split(key)
        x0 = target.ref_loc + target.ref_scale * random.normal(k0, (C, d))

        def param_update(key, state, info, old):
            acc = jnp.mean(info.update_info.acceptance_rate)
            step = old["step_size"] * jnp.exp(acc - 0.65)
            imm = particles_stds(state.particles) ** 2
            return dict(step_size=step, inverse_mass_matrix=imm[None])

        def make(params):
            return blackjax.adaptive_tempered_smc(
                target.log_ref,
                loglik,
                hmc_step,
                blackjax.hmc.init,
                params,
                resampling.systematic,
                0.5,
                num_mcmc_steps=SMC_MUTATIONS,
            )

        params0 = dict(
            step_size=jnp.full((1,), 1.0 / d**0.25),
            inverse_mass_matrix=(target.ref_scale**2)[None],
        )
        state0 = make(params0).init(x0)

        def cond(c):
            return c[0].tempering_param < 1.0

        def body(c):
            state, params, n, k = c
            k, ks = random.split(k)
            state, info = make(params).step(ks, state)
            new = param_update(ks, state, info, params)
            return state, new, n + 1, k

        state, params, n, _ = lax.while_loop(cond, body, (state0, params0, 0, k1))
        lab = target.assign(state.particles)
        freq = jnp.zeros(len(target.weights)).at[lab].add(state.weights)
        return freq, n

    nruns = sz["smc_runs"]
    keys = random.split(random.key(1000 + seed), nruns)
    fn = jax.jit(lambda ks: lax.map(one_run, ks))
    if "smc" not in cache:
        t0 = time.perf_counter()
        cache["smc"] = fn.lower(keys).compile()
        cache["smc_compile"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    freq, n = jax.block_until_ready(cache["smc"](keys))
    total = time.perf_counter() - t0
    freq, n = np.asarray(freq, np.float64), np.asarray(n)
    grads = C * SMC_MUTATIONS * LEAPFROG * n.astype(np.float64)
    return dict(
        freq=freq,
        grads=grads,
        total=total,
        steps=n.tolist(),
        compile_s=cache["smc_compile"],
        settings=(
            f"{C} particles, ESS 0.5, {SMC_MUTATIONS} HMC x {LEAPFROG} leapfrog per step, "
            f"reference {target.ref_text}; tempering steps {n.tolist()}"
        ),
    )


# -- TFP replica exchange -------------------------------------------------------------------
def pt(target, seed, sz, cache):
    from tensorflow_probability.substrates import jax as tfp

    C, W, N, chunk, R = NUM_CHAINS, sz["num_warmup"], sz["num_samples"], sz["chunk"], sz["replicas"]
    betas = jnp.asarray(np.geomspace(1.0, 1e-3, R), jnp.float32)

    def log_ref(x):
        return target.log_ref(x)

    def log_tempered(x):
        return jax.vmap(target.log_target)(x.reshape(-1, x.shape[-1])).reshape(
            x.shape[:-1]
        ) - log_ref(x)

    def make_kernel_fn(tlp):
        hmc = tfp.mcmc.HamiltonianMonteCarlo(
            tlp, step_size=jnp.full((R, 1, 1), 0.1), num_leapfrog_steps=LEAPFROG
        )
        return tfp.mcmc.DualAveragingStepSizeAdaptation(
            hmc, num_adaptation_steps=W, target_accept_prob=0.65
        )

    remc = tfp.mcmc.ReplicaExchangeMC(
        None,
        betas,
        make_kernel_fn,
        untempered_log_prob_fn=log_ref,
        tempered_log_prob_fn=log_tempered,
    )
    key_init, key_run = random.split(random.key(seed))
    x0 = target.init(key_init, C)
    results = remc.bootstrap_results(x0)

    def step(c):
        x, res, k, acc = c
        k, ks = random.split(k)
        x, res = remc.one_step(x, res, seed=ks)
        acc = acc + jnp.mean(res.is_swap_accepted_adjacent.astype(jnp.float32), -1)
        return (x, res, k, acc), jnp.float32(R * C * LEAPFROG), x

    carry = (x0, results, key_run, jnp.zeros(R - 1))
    labels, grads, secs, compile_s, final = _chunked(step, carry, target.assign, W, N, chunk, cache)
    swap = np.asarray(final[3]) / (W + N)
    return dict(
        labels=labels,
        grads=grads,
        secs=secs,
        compile_s=compile_s,
        settings=(
            f"{R} replicas, geometric 1 -> 1e-3, HMC x {LEAPFROG} leapfrog, dual averaging "
            f"to 0.65 per replica in warmup, reference {target.ref_text}; adjacent swap "
            f"acceptance min {swap.min():.3f}, mean {swap.mean():.3f}"
        ),
        swap=swap.round(4).tolist(),
    )
