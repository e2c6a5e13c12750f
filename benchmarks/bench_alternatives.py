"""The race: what a user would run instead, per gradient evaluation and per second.

On multimodal targets with known mode masses, every chain started in one mode, each method's
mode frequencies are compared with the exact weights (total variation
``TV = 1/2 sum_k |f_k - w_k|``, modes by largest responsibility or the target's ``assign``) at a
geometric sequence of budgets, and the gradient evaluations and seconds needed to reach
``TV <= 0.05`` are reported (3 seeds: mean and min-max), or the TV at the largest budget when a
method never gets there. Methods, each with ``NUM_CHAINS`` chains / particles:

- ``chained``: ``ChainedLangevin(model, patch_size=p)`` with its defaults (prefix sweep, MH,
  annealed ``sigmas="auto"``; on a model with data the tempered route), ``p = min(10, d // 10)``
  for mixtures (the documented rule), ``min(2, d)`` for the posterior;
- ``chained-ula``: the same with ``adjust=False``;
- ``mala``: ``Langevin(model, adjust=True)``; ``annealed``: ``AnnealedLangevin(model)``;
- ``nuts``: NumPyro ``NUTS(model)`` (its step-size and mass-matrix adaptation);
- ``smc``: BlackJAX ``adaptive_tempered_smc`` (target ESS 0.5, systematic resampling) wrapped in
  ``inner_kernel_tuning``: HMC mutations (10 per tempering step, 5 leapfrog steps), diagonal
  inverse mass matrix = particle variances and step size scaled by the last acceptance rate
  (target 0.65) after each tempering step. Path ``(1 - beta) log ref + beta log target`` from a
  broad reference ``ref = N(0, s^2 I)`` (mixtures, ``s = 1.5 max_{k,j} sqrt(loc^2 + scale^2)``)
  or from the prior (posterior: tempering the likelihood); particles start as reference draws.
  Budgets: ``r`` independent runs of ``NUM_CHAINS`` particles pooled (their weighted mode
  frequencies averaged), ``r = 1, 2, 4, ...``;
- ``pt``: TensorFlow Probability (JAX substrate) ``ReplicaExchangeMC`` over the same reference
  path (``untempered_log_prob_fn = log ref``, ``tempered_log_prob_fn = log target - log ref``),
  a geometric ladder of inverse temperatures from 1 to 1e-3, HMC inner kernels (5 leapfrog
  steps) with ``DualAveragingStepSizeAdaptation`` per replica during warmup; chains start in
  mode 0 (every replica).

MCMC methods (ours, NUTS, PT) run ``num_warmup`` then ``num_samples`` transitions in jitted
``lax.scan`` chunks; the budgets are prefixes of the sampling phase (``1, 2, 4, ... num_samples``
draws of every chain, pooled), warmup always included. Gradients: ``mala`` ``num_steps`` a
transition; ``annealed`` ``levels x (steps_per_level + 1)``; the chained prefix sweep
``patches x levels x steps_per_patch`` *patch* gradients + 1 (raw), each worth ``patch_size / d``
of a full gradient (``full``, what the figure plots: the prefix score of a patch costs
``O(patch_size x K)``); the tempered route as in ``bench_defaults.grad_evals`` (full gradients);
NUTS ``num_steps`` of every transition, warmup included; SMC ``particles x mutations x leapfrog x
tempering steps``; PT ``replicas x leapfrog`` a transition. Seconds: compiled run time
(compilation excluded, reported apart), spread over a chunk's transitions in proportion to
their gradients. Writes ``benchmarks/results/alternatives.json`` and
``docs/figures/alternatives.png``; prints a markdown table::

    python benchmarks/bench_alternatives.py                     # full run, ~24 min CPU (2 cores)
    python benchmarks/bench_alternatives.py --quick             # smoke run (< 1 min), temp folder
    python benchmarks/bench_alternatives.py --targets paper-gmm,song-ermon-toy --seeds 0,1
    python benchmarks/bench_alternatives.py --methods chained,nuts,smc
    python benchmarks/bench_alternatives.py --targets song-ermon-toy --methods chained --merge
"""

import argparse
import functools
import json
import os
import platform
import tempfile
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax, random
from numpyro.infer import NUTS
from numpyro.infer.util import initialize_model

import numpyro_cld
from numpyro_cld import AnnealedLangevin, ChainedLangevin, Langevin
from numpyro_cld.kernels.chained import HOT_STEPS
from numpyro_cld.posteriors import label_switching
from numpyro_cld.targets import balanced_gmm, paper_gmm, song_ermon_toy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = ("chained", "chained-ula", "mala", "annealed", "nuts", "smc", "pt")
TARGETS = ("paper-gmm", "balanced-gmm", "song-ermon-toy", "paper-gmm-d1000", "label-switching-k3")
NUM_CHAINS = 64
TV_GOAL = 0.05
SMC_MUTATIONS, LEAPFROG = 10, 5


# -- targets --------------------------------------------------------------------------------
class Target:
    """A benchmark target: model, site, dim, exact weights, jax ``assign``, starts and the
    reference (diagonal Gaussian) of the tempered paths of SMC and PT."""

    def __init__(self, name, t, kind):
        self.name, self.t, self.kind = name, t, kind
        self.model, self.site, self.dim = t.model, t.site, t.dim
        self.weights = np.asarray(t.weights, np.float64)
        self.assign = t.assign
        if kind == "mixture":
            locs, scales = np.asarray(t.locs), np.asarray(t.scales)
            s = 1.5 * float(np.sqrt(np.max(locs**2 + scales**2)))
            self.ref_loc, self.ref_scale = np.zeros(self.dim), np.full(self.dim, s)
            self.ref_text = f"N(0, {s:.2f}^2 I)"
            self.patch_size = min(10, max(1, self.dim // 10))
        else:  # the prior (one diagonal Gaussian component): temper the likelihood
            w, locs, scales = t.prior
            assert len(w) == 1
            self.ref_loc, self.ref_scale = np.asarray(locs[0]), np.asarray(scales[0])
            self.ref_text = "the prior N(0, 10^2 I)"
            self.patch_size = min(2, self.dim)
        self.ref_loc = jnp.asarray(self.ref_loc, jnp.float32)
        self.ref_scale = jnp.asarray(self.ref_scale, jnp.float32)
        _, potential_fn, _, _ = initialize_model(random.key(0), self.model, dynamic_args=False)
        self.log_target = lambda x: -potential_fn({self.site: x})

    def init(self, key, n):
        if self.kind == "mixture":
            start = "mode0" if self.name != "song-ermon-toy" else None  # its uniform starts
            return self.t.init_params(key, n, start)[self.site]
        return self.t.init_params(key, n, mode=0)[self.site]

    def log_ref(self, x):
        z = (x - self.ref_loc) / self.ref_scale
        return -0.5 * jnp.sum(z**2, -1) - jnp.sum(jnp.log(self.ref_scale))

    def tv(self, freq):
        return float(0.5 * np.abs(freq - self.weights).sum())


def make_target(name):
    if name == "paper-gmm":
        return Target(name, paper_gmm(100), "mixture")
    if name == "balanced-gmm":
        return Target(name, balanced_gmm(100), "mixture")
    if name == "song-ermon-toy":
        return Target(name, song_ermon_toy(), "mixture")
    if name == "paper-gmm-d1000":
        return Target(name, paper_gmm(1000), "mixture")
    if name == "label-switching-k3":
        return Target(name, label_switching(3), "posterior")
    raise ValueError(f"unknown target {name!r}; choose from {TARGETS}")


# -- budgets (warmup, samples, chunk) per target and method --------------------------------
def sizes(target, method, quick):
    """Warmup and sampling transitions (budgets are prefixes of the sampling phase), SMC
    runs and PT replicas: chosen so that the full run fits ~15 minutes on 2 cores. The
    unadjusted kernels adapt nothing, so their warmup is one transition."""
    if quick:
        return dict(num_warmup=2, num_samples=4, chunk=2, smc_runs=2, replicas=4)
    d = target.dim
    big, small = d >= 1000, d <= 3
    table = {
        "chained": (2, 2) if big else ((8, 32) if small else (8, 16)),
        "chained-ula": (1, 2) if big else ((1, 32) if small else (1, 16)),
        "mala": (50, 50) if big else (50, 150),
        "annealed": (1, 2) if big else ((1, 15) if small else (1, 7)),
        "nuts": (50, 50) if big else (100, 100),
        "pt": (50, 100) if big else (100, 300),
    }
    if target.kind == "posterior":  # the tempered route adapts its ladder in >= 40 transitions
        table.update({m: (50, 150) for m in ("chained", "chained-ula", "mala", "nuts")})
    w, n = table.get(method, (0, 0))
    return dict(
        num_warmup=w,
        num_samples=n,
        chunk=int(np.gcd(w, n)) or 1,
        smc_runs=4 if big else 8,
        replicas=32 if big else (8 if small else 16),
    )


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


def _cum_seconds(grads, secs, chunk):
    """Cumulative seconds at the end of each transition: a chunk's time spread over its
    transitions in proportion to their gradients."""
    g = grads.reshape(-1, chunk)
    share = np.where(g.sum(1, keepdims=True) > 0, g / np.maximum(g.sum(1, keepdims=True), 1), 1)
    share = share / share.sum(1, keepdims=True)
    return np.cumsum((share * secs[:, None]).ravel())


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
        g = jnp.sum(s.num_steps).astype(jnp.float32) if method == "nuts" else jnp.float32(full)
        return s, g, s.z[target.site]

    W, N, chunk = sz["num_warmup"], sz["num_samples"], sz["chunk"]
    labels, grads, secs, compile_s, _ = _chunked(step, state, target.assign, W, N, chunk, cache)
    out = dict(labels=labels, grads=grads, secs=secs, compile_s=compile_s)
    if method != "nuts":
        grads_raw = np.full_like(grads, raw)
        out["grads_raw"] = grads_raw
    out["settings"] = describe(kernel, method)
    return out


def per_transition_grads(kernel, method, target):
    """(full-gradient equivalents, raw evaluations) per transition, summed over chains."""
    C, d = NUM_CHAINS, target.dim
    if method == "mala":
        n = kernel._num_steps
        return C * n, C * n
    if method == "annealed":
        n = len(kernel._levels) * (kernel._steps_per_level + 1)
        return C * n, C * n
    if method == "nuts":
        return 0, 0
    spp = kernel._steps_per_patch
    if kernel.conditional == "tempered":
        hot = (len(kernel._ladder[0]) - 2) * (HOT_STEPS + 1)
        n = kernel.num_patches * spp + 2 + hot  # full-model gradients per patch step
        return C * n, C * n
    levels = 1 if kernel._sigmas is None else len(kernel._sigmas)
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
        levels = 0 if kernel._sigmas is None else len(kernel._sigmas)
        return (
            f"{kernel.conditional} sweep, {kernel.num_patches} patches x {levels} levels x "
            f"{kernel._steps_per_patch} steps, adjust={kernel._adjust}"
        )
    if method == "annealed":
        return f"{len(kernel._levels)} levels x {kernel._steps_per_level} steps, adjust=False"
    return f"{kernel._num_steps} MALA steps a transition, adapted step size"


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


# -- curves ---------------------------------------------------------------------------------
def prefixes(n):
    out, p = [], 1
    while p < n:
        out.append(p)
        p *= 2
    return out + [n]


def curve_mcmc(target, r, W):
    """TV, full gradients, raw gradients and seconds at geometric prefixes of the draws."""
    labels, grads, secs = r["labels"], r["grads"], r["secs"]
    chunk = len(grads) // len(secs)
    cum_t = _cum_seconds(grads, secs, chunk)
    cum_g = np.cumsum(grads)
    cum_raw = np.cumsum(r.get("grads_raw", grads))
    K = len(target.weights)
    rows = []
    for n in prefixes(len(labels)):
        f = np.bincount(labels[:n].ravel(), minlength=K) / labels[:n].size
        i = W + n - 1
        rows.append(
            dict(
                draws=n,
                tv=target.tv(f),
                grads=float(cum_g[i]),
                grads_raw=float(cum_raw[i]),
                seconds=float(cum_t[i]),
            )
        )
    return rows


def curve_smc(target, r):
    freq, grads = r["freq"], r["grads"]
    cum_g = np.cumsum(grads)
    rows = []
    for n in prefixes(len(freq)):
        f = freq[:n].mean(0)
        t = r["total"] * cum_g[n - 1] / cum_g[-1]
        g = float(cum_g[n - 1])
        rows.append(dict(draws=n, tv=target.tv(f), grads=g, grads_raw=g, seconds=float(t)))
    return rows


def reach(rows):
    """The first budget from which TV stays <= TV_GOAL, or None."""
    hit = None
    for row in rows:
        if row["tv"] <= TV_GOAL:
            hit = row if hit is None else hit
        else:
            hit = None
    return hit


# -- summary, table, figure ------------------------------------------------------------------
def summarise(curves):
    """Per method over seeds: mean and min-max grads / raw grads / seconds to reach, or the
    TV at the largest budget."""
    hits = [reach(c) for c in curves]
    last = [c[-1] for c in curves]
    s = dict(
        reached=sum(h is not None for h in hits),
        seeds=len(curves),
        tv_final=[row["tv"] for row in last],
        grads_final=[row["grads"] for row in last],
        seconds_final=[row["seconds"] for row in last],
    )
    for k in ("grads", "grads_raw", "seconds"):
        s[f"{k}_to_goal"] = [None if h is None else h[k] for h in hits]
    return s


def _fmt(vals, fmt):
    v = np.asarray([x for x in vals if x is not None], np.float64)
    if v.size == 0:
        return "—"
    return f"{fmt(v.mean())} ({fmt(v.min())}–{fmt(v.max())})"


def _g(x):
    return f"{x:.2g}" if x < 1e3 else f"{x:.2e}".replace("e+0", "e").replace("e+", "e")


def table(results):
    out = [
        "| target | method | seeds reaching TV ≤ 0.05 | gradients to reach (full) "
        "| raw evaluations | seconds to reach | TV at largest budget | gradients at largest |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for tname, methods in results.items():
        for m, r in methods.items():
            if "error" in r:
                out.append(f"| {tname} | {m} | failed: {r['error'][:80]} | | | | | |")
                continue
            s = r["summary"]
            out.append(
                f"| {tname} | {m} | {s['reached']}/{s['seeds']} | "
                f"{_fmt(s['grads_to_goal'], _g)} | {_fmt(s['grads_raw_to_goal'], _g)} | "
                f"{_fmt(s['seconds_to_goal'], lambda x: f'{x:.2g}')} | "
                f"{_fmt(s['tv_final'], lambda x: f'{x:.3f}')} | "
                f"{_fmt(s['grads_final'], _g)} |"
            )
    return "\n".join(out) + "\n"


def figure(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(len(names), 2, figsize=(11, 2.8 * len(names)), squeeze=False)
    colors = dict(zip(METHODS, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for i, tname in enumerate(names):
        for m, r in results[tname].items():
            if "error" in r:
                continue
            curves = r["curves"]
            n = min(len(c) for c in curves)
            tv = np.array([[row["tv"] for row in c[:n]] for c in curves])
            for j, key in enumerate(("grads", "seconds")):
                x = np.array([[row[key] for row in c[:n]] for c in curves]).mean(0)
                ax = axes[i, j]
                ax.plot(x, tv.mean(0), "o-", ms=3, color=colors[m], label=m)
                ax.fill_between(x, tv.min(0), tv.max(0), color=colors[m], alpha=0.2)
        for j, lab in enumerate(("gradient evaluations (full-gradient equivalents)", "seconds")):
            ax = axes[i, j]
            ax.set_xscale("log")
            ax.axhline(TV_GOAL, color="k", lw=0.8, ls="--")
            ax.set_ylim(0, 1)
            ax.set_xlabel(lab)
            ax.set_ylabel(f"{tname}\nTV")
    axes[0, 0].legend(fontsize=7, ncol=2)
    fig.suptitle("TV of mode frequencies vs budget (mean over seeds, band min–max)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- main -----------------------------------------------------------------------------------
def run_method(target, method, seeds, quick):
    sz = sizes(target, method, quick)
    cache, curves, per_seed = {}, [], []
    for seed in seeds:
        if method == "smc":
            r = smc(target, seed, sz, cache)
            c = curve_smc(target, r)
        else:
            r = (
                pt(target, seed, sz, cache)
                if method == "pt"
                else ours_or_nuts(target, method, seed, sz, cache)
            )
            c = curve_mcmc(target, r, sz["num_warmup"])
        curves.append(c)
        per_seed.append(dict(seed=seed, compile_s=round(r["compile_s"], 2), settings=r["settings"]))
        print(
            f"  {target.name:20s} {method:12s} seed {seed}: TV {c[-1]['tv']:.3f} at "
            f"{_g(c[-1]['grads'])} grads, {c[-1]['seconds']:.1f} s "
            f"(+{r['compile_s']:.1f} s compile)",
            flush=True,
        )
    return dict(sizes=sz, curves=curves, runs=per_seed, summary=summarise(curves))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run (< 1 min), temp folder")
    ap.add_argument("--targets", default=None, help=f"comma list of {TARGETS}")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    ap.add_argument("--figure", default=None, help="default docs/figures/alternatives.png")
    ap.add_argument(
        "--merge", action="store_true", help="keep the other (target, method) rows of the JSON"
    )
    args = ap.parse_args()
    targets = args.targets.split(",") if args.targets else list(TARGETS)
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = args.methods.split(",")
    if args.quick:  # one code path each: our kernels' driver, SMC, PT
        targets = args.targets.split(",") if args.targets else ["song-ermon-toy"]
        methods = ["chained", "smc", "pt"] if args.methods == ",".join(METHODS) else methods
        seeds = seeds[:1]
    default_out = os.path.join(ROOT, "benchmarks", "results")
    out = args.out or (tempfile.mkdtemp() if args.quick else default_out)
    fig = args.figure or (
        os.path.join(out, "alternatives.png")
        if args.quick
        else os.path.join(ROOT, "docs", "figures", "alternatives.png")
    )
    results, t_start = {}, time.perf_counter()
    for tname in targets:
        target = make_target(tname)
        results[tname] = {}
        for m in methods:
            try:
                results[tname][m] = run_method(target, m, seeds, args.quick)
            except Exception as e:  # record a method's failure on a target honestly
                msg = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                print(f"  {tname:20s} {m:12s} FAILED {msg}", flush=True)
                results[tname][m] = dict(error=msg)
    total = time.perf_counter() - t_start
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "alternatives.json")
    invocations = [dict(targets=targets, methods=methods, seeds=seeds, total_s=round(total, 1))]
    if args.merge and os.path.exists(path):  # keep the rows of (target, method) not rerun
        old = json.load(open(path))
        invocations = old.get("invocations", []) + invocations
        merged = {}
        for tname in TARGETS:
            rows = {**old["results"].get(tname, {}), **results.get(tname, {})}
            if rows:
                merged[tname] = {m: rows[m] for m in METHODS if m in rows}
        results = merged
    text = table(results)
    runs = "; ".join(
        f"{', '.join(i['targets'])} x {', '.join(i['methods'])}: {i['total_s']:.0f} s"
        for i in invocations
    )
    header = (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cpu, "
        f"jax {jax.__version__}; numpyro_cld {numpyro_cld.__version__}; {NUM_CHAINS} chains / "
        f"particles, seeds {seeds}; wall time {runs}."
    )
    with open(path, "w") as fh:
        json.dump(
            dict(
                header=header,
                num_chains=NUM_CHAINS,
                tv_goal=TV_GOAL,
                invocations=invocations,
                results=results,
            ),
            fh,
            indent=1,
        )
    figure(results, fig)
    print(header)
    print(text)
    print(f"wrote {path} and {fig}")


if __name__ == "__main__":
    main()
