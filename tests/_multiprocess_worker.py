"""One process of ``tests/test_parallel.py::test_sharded_chains_across_two_processes``.

Usage: ``python tests/_multiprocess_worker.py OUT.npz [COORDINATOR PROCESS_ID NUM_PROCESSES]``.
With a coordinator it joins a multi-controller JAX run (``jax.distributed.initialize``) and
runs the chains with ``sharded_chains()`` over every process's devices; without one it is the
single-process reference (run it with two host devices). Process 0, or the reference, writes
the draws to ``OUT.npz``; every process checks that it received all chains.
Exit status 3: ``jax.distributed`` could not start here (the test skips).
"""

import sys

import jax

out_path = sys.argv[1]
if len(sys.argv) > 2:
    coordinator, process_id, num_processes = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    # Gloo is the default CPU collectives in jax >= 0.5; explicit so older versions do not fall
    # back to none (the final all-gather of the draws needs cross-process collectives)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            coordinator,
            num_processes=num_processes,
            process_id=process_id,
            initialization_timeout=60,
        )
    except Exception as e:  # noqa: BLE001 - any failure to start means "not on this platform"
        print(f"DISTRIBUTED-UNAVAILABLE: {type(e).__name__}: {e}", flush=True)
        sys.exit(3)
    assert jax.process_count() == num_processes, jax.process_count()
else:
    process_id, num_processes = 0, 1

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from numpyro.infer import MCMC  # noqa: E402

from numpyro_cld import Langevin, sharded_chains  # noqa: E402

NUM_CHAINS = 4


def model():
    numpyro.sample("x", dist.Normal(jnp.arange(3.0), 1.0))


def draws(chain_method, num_chains=NUM_CHAINS):
    mcmc = MCMC(
        # MALA with a fixed step size: adaptation would only add compile time here
        Langevin(
            model,
            step_size=0.1,
            num_steps=5,
            adjust=True,
            adapt_step_size=False,
            adapt_mass_matrix=False,
        ),
        num_warmup=20,
        num_samples=20,
        num_chains=num_chains,
        chain_method=chain_method,
        progress_bar=False,
    )
    mcmc.run(jax.random.key(0))
    x = mcmc.get_samples(group_by_chain=True)["x"]
    # all chains, on this process's own device, in every process
    assert x.is_fully_addressable and x.shape == (num_chains, 20, 3), x.shape
    return np.asarray(x)


result = {"sharded": draws(sharded_chains())}
if num_processes > 1:
    try:
        draws(sharded_chains(), num_chains=jax.device_count() + 1)
    except ValueError as e:
        assert "`num_chains`" in str(e) and "processes" in str(e), e
    else:
        raise AssertionError("num_chains not a multiple of the global device count")
if process_id == 0:
    np.savez(out_path, **result)
print(f"OK {process_id}", flush=True)
