"""Langevin step throughput on paper-gmm (d=100, 1000 vectorised chains), measured in one run:

- ``Langevin`` (ULA and MALA) inside ``numpyro.infer.MCMC`` (``num_steps`` steps per transition);
- the floor: a bare ``jit(vmap(lax.scan))`` of the same update (numpyro_cld.step);
- BlackJAX ``mala`` in the same bare loop;
- NumPyro ``HMC(num_steps=1, trajectory_length=None)`` inside ``MCMC`` (one step per transition).

Prints steps/s (chain-steps per second) and the ratios; writes benchmarks/results.json.
Usage: python benchmarks/bench_langevin.py [--chains 1000] [--steps 2000]
"""

import argparse

import jax
import jax.numpy as jnp
from jax import random

from numpyro.infer import HMC, MCMC

from numpyro_cld import Langevin, StepState, langevin_steps
from numpyro_cld.targets import paper_gmm

from _common import best_time, block, write_results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=2000, help="Langevin steps per chain")
    parser.add_argument("--num-steps", type=int, default=100, help="steps per MCMC transition")
    args = parser.parse_args()

    target = paper_gmm(100)
    log_prob = target.distribution().log_prob
    eta = 0.01
    C, T, K = args.chains, args.steps, args.num_steps
    x0 = target.init_params(random.key(1), C)["x"]
    keys = random.split(random.key(0), C)

    def potential_and_score(x, key=None):
        pe, g = jax.value_and_grad(lambda y: -log_prob(y))(x)
        return pe, -g

    def bare(adjust):
        @jax.jit
        def loop(keys, x0):
            def one(key, x):
                pe, s = potential_and_score(x)
                out, _ = langevin_steps(key, StepState(x, pe, s), potential_and_score, eta,
                                        adjust=adjust, num_steps=T)
                return out.x
            return jax.vmap(one)(keys, x0)
        return lambda: block(loop(keys, x0))

    def in_mcmc(adjust):
        kernel = Langevin(target.model, step_size=eta, num_steps=K, adjust=adjust,
                          adapt_step_size=False, adapt_mass_matrix=False)
        mcmc = MCMC(kernel, num_warmup=0, num_samples=T // K, num_chains=C,
                    chain_method="vectorized", progress_bar=False)
        return lambda: block(mcmc.run(random.key(0), init_params={"x": x0}) or mcmc.last_state.z)

    def blackjax_mala():
        import blackjax

        mala = blackjax.mala(log_prob, eta)

        @jax.jit
        def loop(keys, x0):
            def one(key, x):
                def body(state, k):
                    return mala.step(k, state)[0], None
                state, _ = jax.lax.scan(body, mala.init(x), random.split(key, T))
                return state.position
            return jax.vmap(one)(keys, x0)
        return lambda: block(loop(keys, x0))

    def numpyro_hmc():
        kernel = HMC(target.model, step_size=(2 * eta) ** 0.5, num_steps=1,
                     trajectory_length=None, adapt_step_size=False, adapt_mass_matrix=False)
        mcmc = MCMC(kernel, num_warmup=0, num_samples=T, num_chains=C,
                    chain_method="vectorized", progress_bar=False)
        return lambda: block(mcmc.run(random.key(0), init_params={"x": x0}) or mcmc.last_state.z)

    rates = {}
    for name, fn in [("ula_bare", bare(False)), ("ula_mcmc", in_mcmc(False)),
                     ("mala_bare", bare(True)), ("mala_mcmc", in_mcmc(True)),
                     ("blackjax_mala", blackjax_mala()), ("numpyro_hmc1", numpyro_hmc())]:
        t = best_time(fn)
        rates[name] = C * T / t
        print(f"{name:>14}: {rates[name]:12.0f} chain-steps/s  ({t:.3f} s)")
    ratios = {
        "overhead_ula (bare/mcmc time, goal <= 1.10)": rates["ula_bare"] / rates["ula_mcmc"],
        "overhead_mala (goal <= 1.10)": rates["mala_bare"] / rates["mala_mcmc"],
        "mala_mcmc vs blackjax (speed ratio, goal >= 1.0)":
            rates["mala_mcmc"] / rates["blackjax_mala"],
        "mala_mcmc vs numpyro HMC(num_steps=1) (speed ratio)":
            rates["mala_mcmc"] / rates["numpyro_hmc1"],
    }
    for k, v in ratios.items():
        print(f"{k}: {v:.3f}")
    path = write_results("langevin", {"chains": C, "steps": T, "num_steps": K,
                                      "steps_per_s": rates, "ratios": ratios})
    print("wrote", path)


if __name__ == "__main__":
    main()
