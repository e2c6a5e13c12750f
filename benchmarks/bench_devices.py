"""Speed-up of 1000 paper-gmm chains sharded over 2 host devices vs 1 device.

Each configuration runs in its own process (the host device count is fixed at JAX start-up):
1 device with ``chain_method="vectorized"``, 2 host devices with
``chain_method=numpyro_cld.sharded_chains()``. Prints chain-steps/s and the ratio (goal >= 1.7
on a 2-core machine) and writes benchmarks/results.json.
Usage: python benchmarks/bench_devices.py [--chains 1000] [--steps 20000]
"""

import argparse
import json
import os
import subprocess
import sys

from _common import write_results

CHILD = """
import os, sys, time, json
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=%(devices)d"
import jax
from numpyro.infer import MCMC
from numpyro_cld import Langevin, sharded_chains
from numpyro_cld.targets import paper_gmm

t = paper_gmm(100)
x0 = t.init_params(jax.random.key(1), %(chains)d)
cm = sharded_chains() if %(devices)d > 1 else "vectorized"

def run(steps):
    m = MCMC(Langevin(t.model, step_size=0.01, num_steps=100, adjust=False), num_warmup=0,
             num_samples=steps // 100, num_chains=%(chains)d, chain_method=cm, progress_bar=False)
    t0 = time.perf_counter()
    m.run(jax.random.key(0), init_params=x0)
    jax.block_until_ready(m.last_state.z)
    return time.perf_counter() - t0

run(%(steps)d)
t1 = min(run(%(steps)d) for _ in range(2))
t2 = min(run(2 * %(steps)d) for _ in range(2))
print(json.dumps({"devices": jax.device_count(), "marginal_s": t2 - t1, "run_s": t1}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=20000)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    res = {}
    for devices in (1, 2):
        code = CHILD % dict(devices=devices, chains=args.chains, steps=args.steps)
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r["chain_steps_per_s"] = args.chains * args.steps / r["marginal_s"]
        res[devices] = r
        print(
            f"{devices} device(s): {r['chain_steps_per_s']:.0f} chain-steps/s "
            f"(marginal {r['marginal_s']:.2f} s per {args.steps} steps; run {r['run_s']:.2f} s)"
        )
    speedup = res[2]["chain_steps_per_s"] / res[1]["chain_steps_per_s"]
    end_to_end = res[1]["run_s"] / res[2]["run_s"]
    print(
        f"speed-up 2 vs 1 device: {speedup:.2f}x marginal, {end_to_end:.2f}x end-to-end "
        "(goal >= 1.7)"
    )
    write_results(
        "devices",
        {
            "chains": args.chains,
            "steps": args.steps,
            "per_devices": res,
            "speedup": speedup,
            "speedup_end_to_end": end_to_end,
        },
    )


if __name__ == "__main__":
    main()
