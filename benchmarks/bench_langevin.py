"""Langevin step throughput on paper-gmm (d=100 or ``--dim``, 1000 vectorised chains), measured
in one run:

- ``Langevin`` (ULA and MALA) inside ``numpyro.infer.MCMC`` (``num_steps`` steps per transition),
  timed two ways: the slope between two run lengths with ``progress_bar=False`` (NumPyro
  recompiles that loop on every run), and whole warm runs with ``progress_bar=True`` (a second
  run compiles nothing, ``tests/test_reliability.py``);
- the floor a JAX user writes: ``jit(vmap(lax.scan))`` over ``x + eta * grad log p(x) +
  sqrt(2 eta) * normal`` with ``jax.random.normal``, timed with JAX's default and with the
  classic threefry layout, the faster kept (``ula_user_floor``);
- the package's own update in the same bare loop (numpyro_cld.blocks.step);
- BlackJAX ``mala`` in the same bare loop, with JAX's default threefry layout and with the
  classic layout that numpyro_cld uses for its Gaussian noise (``numpyro_cld.blocks.random``);
- NumPyro ``HMC(num_steps=1, trajectory_length=None)`` inside ``MCMC`` (one step per transition).

The first six are timed in interleaved rounds (one call of each per round, ``--rounds``), and
every ratio is the median of its per-round ratios: noise on a shared machine lasts seconds and
hits the calls of one round alike. The slope rows are timed after them.

Before timing, it profiles the jaxpr of one step of each update (``--profile`` only that):
gradient evaluations, RNG calls, transposes, copies and the other primitives.

Prints steps/s (chain-steps per second) and the ratios; writes benchmarks/results.json.
Usage: python benchmarks/bench_langevin.py [--chains 1000] [--steps 2000] [--dim 100]
       [--rounds 5] [--skip-hmc]
"""

import argparse
import statistics
from collections import Counter

import jax
import jax.numpy as jnp
from jax import random
from numpyro.infer import HMC, MCMC

from numpyro_cld import Langevin, StepState, langevin_steps
from numpyro_cld.targets import paper_gmm

from _common import best_time, block, interleaved_times, median_ratio, write_results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=2000, help="Langevin steps per chain")
    parser.add_argument("--num-steps", type=int, default=100, help="steps per MCMC transition")
    parser.add_argument("--dim", type=int, default=100, help="dimension of paper-gmm")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--skip-hmc", action="store_true", help="no NumPyro HMC row (slow)")
    parser.add_argument("--profile", action="store_true", help="only the jaxpr profile")
    args = parser.parse_args()

    target = paper_gmm(args.dim)
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
                out, _ = langevin_steps(
                    key, StepState(x, pe, s), potential_and_score, eta, adjust=adjust, num_steps=T
                )
                return out.x

            return jax.vmap(one)(keys, x0)

        return lambda: block(loop(keys, x0))

    def user_floor(partitionable):
        grad = jax.grad(log_prob)

        @jax.jit
        def loop(keys, x0):
            def one(key, x):
                def body(x, k):
                    noise = random.normal(k, x.shape)
                    return x + eta * grad(x) + jnp.sqrt(2 * eta) * noise, None

                return jax.lax.scan(body, x, random.split(key, T))[0]

            return jax.vmap(one)(keys, x0)

        def timed():
            with jax.threefry_partitionable(partitionable):
                return block(loop(keys, x0))

        return timed

    def in_mcmc(adjust, steps=T):
        kernel = Langevin(
            target.model,
            step_size=eta,
            num_steps=K,
            adjust=adjust,
            adapt_step_size=False,
            adapt_mass_matrix=False,
        )
        mcmc = MCMC(
            kernel,
            num_warmup=0,
            num_samples=steps // K,
            num_chains=C,
            chain_method="vectorized",
            progress_bar=False,
        )
        return lambda: block(mcmc.run(random.key(0), init_params={"x": x0}) or mcmc.last_state.z)

    def marginal(make):
        # MCMC.run recompiles its collection loop on every call (NumPyro's fori_collect wraps
        # the body in a fresh jit), so the per-step cost is the slope between two run lengths
        t1, t2 = best_time(make(T), repeat=2), best_time(make(2 * T), repeat=2)
        return t2 - t1, t1

    def blackjax_mala(partitionable=True):
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

        def timed():
            # JAX's default threefry layout, or the classic one that numpyro_cld's noise uses
            with jax.threefry_partitionable(partitionable):
                return block(loop(keys, x0))

        return timed

    def numpyro_hmc(steps=T):
        kernel = HMC(
            target.model,
            step_size=(2 * eta) ** 0.5,
            num_steps=1,
            trajectory_length=None,
            adapt_step_size=False,
            adapt_mass_matrix=False,
        )
        # thinning: stores a draw every K steps, as the Langevin runs do (num_steps=K)
        mcmc = MCMC(
            kernel,
            num_warmup=0,
            num_samples=steps,
            num_chains=C,
            thinning=K,
            chain_method="vectorized",
            progress_bar=False,
        )
        return lambda: block(mcmc.run(random.key(0), init_params={"x": x0}) or mcmc.last_state.z)

    profile_steps(log_prob, eta, x0[0])
    if args.profile:
        return

    def in_mcmc_warm(adjust):
        kernel = Langevin(
            target.model, step_size=eta, num_steps=K, adjust=adjust,
            adapt_step_size=False, adapt_mass_matrix=False,
        )  # fmt: skip
        mcmc = MCMC(kernel, num_warmup=0, num_samples=T // K, num_chains=C,
                    chain_method="vectorized", progress_bar=True)  # fmt: skip
        return lambda: block(mcmc.run(random.key(0), init_params={"x": x0}) or mcmc.last_state.z)

    # One group, timed in interleaved rounds: every goal ratio compares calls made seconds
    # apart, and is the median of its per-round ratios (repeats on this VM spread ~10%)
    group = {
        "ula_mcmc_warm": in_mcmc_warm(False),
        "mala_mcmc_warm": in_mcmc_warm(True),
        "ula_user_floor_default_threefry": user_floor(True),
        "ula_user_floor_classic_threefry": user_floor(False),
        "ula_bare": bare(False),
        "mala_bare": bare(True),
        "blackjax_mala": blackjax_mala(),
        "blackjax_mala_classic_threefry": blackjax_mala(False),
    }
    times = interleaved_times(group, rounds=args.rounds)
    rates = {name: C * T / statistics.median(ts) for name, ts in times.items()}
    for name, ts in times.items():
        median = statistics.median(ts)
        print(f"{name:>32}: {rates[name]:12.0f} chain-steps/s  (median {median:.3f} s)")
    # the floor of a round is the faster of its two layouts
    floors = times["ula_user_floor_default_threefry"], times["ula_user_floor_classic_threefry"]
    times["ula_user_floor"] = [min(a, b) for a, b in zip(*floors, strict=True)]
    rates["ula_user_floor"] = C * T / statistics.median(times["ula_user_floor"])

    def slower(a, b):  # time of a per time of b
        return median_ratio(times[a], times[b])

    ratios = {
        "ula: MCMC / the user's floor, time per step (goal <= 1.10)": slower(
            "ula_mcmc_warm", "ula_user_floor"
        ),
        "ula: MCMC / bare, time per step": slower("ula_mcmc_warm", "ula_bare"),
        "ula: package update bare / the user's floor, time per step": slower(
            "ula_bare", "ula_user_floor"
        ),
        "mala: MCMC / bare, time per step (goal <= 1.10)": slower("mala_mcmc_warm", "mala_bare"),
        "mala in MCMC: speed / BlackJAX mala speed (goal >= 1.0)": slower(
            "blackjax_mala", "mala_mcmc_warm"
        ),
        "mala in MCMC: speed / BlackJAX mala speed, both on the classic threefry layout": slower(
            "blackjax_mala_classic_threefry", "mala_mcmc_warm"
        ),
        "mala bare: speed / BlackJAX mala speed, classic threefry layout": slower(
            "blackjax_mala_classic_threefry", "mala_bare"
        ),
    }
    end_to_end = {}
    slopes = [("ula_mcmc", lambda n: in_mcmc(False, n)), ("mala_mcmc", lambda n: in_mcmc(True, n))]
    if not args.skip_hmc:
        slopes.append(("numpyro_hmc1", lambda n: numpyro_hmc(n)))
    for name, make in slopes:
        t, t_run = marginal(make)
        rates[name] = C * T / t
        end_to_end[name] = C * T / t_run
        print(
            f"{name:>32}: {rates[name]:12.0f} chain-steps/s marginal; "
            f"{end_to_end[name]:.0f} end-to-end incl. compile ({t_run:.2f} s for {T} steps)"
        )
    if not args.skip_hmc:
        ratios["mala in MCMC: speed / NumPyro HMC(num_steps=1) speed (both slopes)"] = (
            rates["mala_mcmc"] / rates["numpyro_hmc1"]
        )
    for k, v in ratios.items():
        print(f"{k}: {v:.3f}")
    path = write_results(
        "langevin" if args.dim == 100 else f"langevin_d{args.dim}",
        {
            "dim": args.dim,
            "chains": C,
            "steps": T,
            "num_steps": K,
            "steps_per_s": rates,
            "ratios": ratios,
            "rounds": args.rounds,
            "times_s": times,
            "end_to_end_steps_per_s": end_to_end,
        },
    )
    print("wrote", path)


def _count(jaxpr, counts):
    for eqn in jaxpr.eqns:
        counts[eqn.primitive.name] += 1
        for v in eqn.params.values():
            for sub in v if isinstance(v, (tuple, list)) else (v,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    _count(inner, counts)
    return counts


def profile_steps(log_prob, eta, x):
    """Primitive counts in the jaxpr of one step of each update, with the number of times the
    gradient is traced (each trace is one evaluation per step)."""
    import blackjax

    calls = Counter()

    def counted(name):
        def log_p(y):
            calls[name] += 1
            return log_prob(y)

        return log_p

    def ours(adjust, name):
        lp = counted(name)

        def pas(y, key=None):
            pe, g = jax.value_and_grad(lambda z: -lp(z))(y)
            return pe, -g

        def step(key, x):
            pe, s = pas(x)
            return langevin_steps(key, StepState(x, pe, s), pas, eta, adjust=adjust)[0].x

        return step

    def user(key, x):
        return (
            x
            + eta * jax.grad(counted("user floor"))(x)
            + jnp.sqrt(2 * eta) * random.normal(key, x.shape)
        )

    mala = blackjax.mala(counted("blackjax mala"), eta)
    rows = {
        "user floor": user,
        "ula (ours)": ours(False, "ula (ours)"),
        "mala (ours)": ours(True, "mala (ours)"),
        "blackjax mala": lambda key, x: mala.step(key, mala.init(x))[0].position,
    }
    keep = ("threefry2x32", "random_bits", "transpose", "copy", "copy_p", "dot_general",
            "exp", "log", "reduce_sum", "select_n")  # fmt: skip
    print("jaxpr of one step (init of the state included where the API needs it):")
    for name, fn in rows.items():
        counts = _count(jax.make_jaxpr(fn)(random.key(0), x).jaxpr, Counter())
        shown = ", ".join(f"{k} {counts[k]}" for k in keep if counts[k])
        total = sum(counts.values())
        print(f"  {name:>14}: {calls[name]} gradient traces, {total} equations; {shown}")


if __name__ == "__main__":
    main()
