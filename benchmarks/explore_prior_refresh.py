"""Experiment (not a library route yet): exact mode jumps on a posterior by refreshing a
suffix of the latent vector from the *prior* and correcting by the likelihood.

If a proposal kernel ``Q`` is reversible with respect to the prior ``p0``, Metropolis-Hastings
with target ``p0 L`` and proposal ``Q`` accepts with ``min(1, L(x') / L(x))`` (the prior and
``Q`` cancel), so the chain stays exact. Drawing ``x'_{>=i} ~ p0(x_{>=i} | x_{<i})`` for a
random cut ``i`` is a Gibbs step on the prior, hence ``p0``-reversible: the prefix
conditionals of a Gaussian-mixture prior (what the chained sweep uses on models without
data) give it in closed form. Each transition is ``num_steps`` adapted MALA steps on the
posterior (``numpyro_cld.samplers.langevin``) followed by one such refresh move.

Measured on :func:`numpyro_cld.examples.posteriors.posterior_family`, 16 chains started in
mode 0, against MALA alone with the same steps::

    python benchmarks/explore_prior_refresh.py
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import random
from numpyro.infer.util import initialize_model

from numpyro_cld.examples.posteriors import posterior_family
from numpyro_cld.samplers import langevin

NUM_CHAINS, NUM_WARMUP, NUM_SAMPLES, NUM_STEPS = 16, 500, 500, 20


def prior_logpdf_and_suffix_sampler(prior):
    w, locs, scales = (jnp.asarray(a, jnp.float32) for a in prior)
    d = locs.shape[1]

    def comp_logpdf(x, upto):  # (K,) log N(x_{<upto} | component), coordinates < upto
        mask = jnp.arange(d) < upto
        z = (x - locs) / scales
        return jnp.sum(jnp.where(mask, -0.5 * z**2 - jnp.log(scales), 0.0), -1)

    def logpdf(x):
        return jax.scipy.special.logsumexp(jnp.log(w) + comp_logpdf(x, d))

    def refresh(key, x, cut):  # x_{>=cut} ~ p0(. | x_{<cut})
        k1, k2 = random.split(key)
        k = random.categorical(k1, jnp.log(w) + comp_logpdf(x, cut))
        fresh = locs[k] + scales[k] * random.normal(k2, (d,))
        return jnp.where(jnp.arange(d) >= cut, fresh, x)

    return logpdf, refresh


def run(m, refresh_moves: bool, seed=0):
    _, potential_fn, _, _ = initialize_model(random.key(seed), m.model, dynamic_args=False)
    pot = lambda x: potential_fn({m.site: x})  # noqa: E731  (real site: no transform)
    prior_logpdf, refresh = prior_logpdf_and_suffix_sampler(m.prior)

    def potential_and_score(x, rng_key=None):
        u, g = jax.value_and_grad(pot)(x)
        return u, -g

    init, step = langevin(
        potential_and_score, step_size=0.1, num_steps=NUM_STEPS, adjust=True,
        num_warmup=NUM_WARMUP,
    )  # fmt: skip

    def transition(key, state):
        k_step, k_cut, k_ref, k_acc = random.split(key, 4)
        state = step(k_step, state)
        if not refresh_moves:
            return state, jnp.float32(0.0)
        x = state.z
        cut = random.randint(k_cut, (), 0, m.dim)
        x_new = refresh(k_ref, x, cut)
        # log L = -U - log p0; the current potential is cached in the state
        u_new, s_new = potential_and_score(x_new)
        log_ratio = -u_new - prior_logpdf(x_new) + state.potential_energy + prior_logpdf(x)
        accept = jnp.log(random.uniform(k_acc)) < log_ratio
        state = state._replace(
            z=jnp.where(accept, x_new, x),
            potential_energy=jnp.where(accept, u_new, state.potential_energy),
            z_grad=jnp.where(accept, -s_new, state.z_grad),
        )
        return state, accept.astype(jnp.float32)

    x0 = m.init_params(random.key(seed + 1), NUM_CHAINS, mode=0)[m.site]
    state = jax.vmap(init)(x0, random.split(random.key(seed + 2), NUM_CHAINS))

    @jax.jit
    def chain(state, key):
        def body(state, key):
            state, acc = jax.vmap(transition)(random.split(key, NUM_CHAINS), state)
            return state, (state.z, acc)

        return jax.lax.scan(body, state, random.split(key, NUM_WARMUP + NUM_SAMPLES))

    t0 = time.perf_counter()
    _, (zs, acc) = jax.block_until_ready(chain(state, random.key(seed + 3)))
    wall = time.perf_counter() - t0
    draws = np.asarray(zs[NUM_WARMUP:]).swapaxes(0, 1)  # (chains, draws, d)
    labels = np.asarray(m.assign(draws))
    f = np.bincount(labels.ravel(), minlength=m.num_modes) / labels.size
    present = np.flatnonzero(m.weights >= 0.01)
    all_modes = np.mean([np.isin(present, lab).all() for lab in labels])
    return 0.5 * np.abs(f - m.weights).sum(), all_modes, float(np.mean(acc[NUM_WARMUP:])), wall


def main():
    print(
        f"{NUM_CHAINS} chains x ({NUM_WARMUP} + {NUM_SAMPLES}) transitions of {NUM_STEPS} "
        "MALA steps, started in mode 0"
    )
    print(
        "| member | MALA TV | MALA all modes | + refresh TV | + refresh all modes "
        "| refresh acceptance | s |"
    )
    print("|---|---|---|---|---|---|---|")
    for m in posterior_family():
        tv0, all0, _, _ = run(m, False)
        tv1, all1, acc, wall = run(m, True)
        print(
            f"| {m.name} | {tv0:.3f} | {all0:.2f} | {tv1:.3f} | {all1:.2f} | {acc:.3f} "
            f"| {wall:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
