"""Long runs in bounded memory: 1000 chains x 1e6 Langevin steps each.

One MCMC transition runs ``num_steps`` Langevin steps in a ``lax.scan`` that stores no
trajectory, so memory is set by the chains' states, the kept transitions
(``chains x transitions x d``) and the per-transition PRNG keys that ``langevin_steps``
splits up front (``chains x num_steps``), not by the total number of steps. Run it under
``/usr/bin/time -v`` and read "Maximum resident set size"; compare total steps 1e5 and 1e6::

    /usr/bin/time -v python benchmarks/bench_long_run.py --kernel langevin --steps 1e6
    /usr/bin/time -v python benchmarks/bench_long_run.py --kernel langevin --steps 1e5
    /usr/bin/time -v python benchmarks/bench_long_run.py --kernel chained --steps 1e6

Target: song-ermon-toy (d = 2). ``langevin``: ULA, eta = 0.05, 100 transitions of
``steps / 100`` steps. ``chained``: prefix sweep, patch_size 1 (2 patches), 100 transitions
of ``steps / 200`` steps per patch, i.e. ``steps`` Langevin steps per chain in all.
``--transitions 10`` with ``--steps 1e5`` separates steps per transition from total steps.
Figures: ``docs/reliability.md``.
"""

import argparse
import json
import resource
import time

import jax
import numpy as np
from jax import random
from numpyro.infer import MCMC

from numpyro_cld import ChainedLangevin, Langevin
from numpyro_cld.targets import song_ermon_toy


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kernel", choices=["langevin", "chained"], default="langevin")
    p.add_argument("--steps", type=float, default=1e6, help="Langevin steps per chain")
    p.add_argument("--chains", type=int, default=1000)
    p.add_argument("--transitions", type=int, default=100)
    a = p.parse_args()
    steps, n = int(a.steps), a.transitions
    target = song_ermon_toy()
    if a.kernel == "langevin":
        kernel = Langevin(target.model, step_size=0.05, num_steps=steps // n, adjust=False)
    else:
        kernel = ChainedLangevin(
            target.model,
            conditional="prefix",
            patch_size=1,
            steps_per_patch=steps // (2 * n),
            step_size=0.05,
            adjust=False,
        )
    mcmc = MCMC(
        kernel,
        num_warmup=0,
        num_samples=n,
        num_chains=a.chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    init = target.init_params(random.key(1), a.chains)
    t0 = time.perf_counter()
    mcmc.run(random.key(0), init_params=init, extra_fields=("num_diverging",))
    x = np.asarray(jax.block_until_ready(mcmc.get_samples(group_by_chain=True)["x"]))
    seconds = time.perf_counter() - t0
    frac = float((target.assign(x[:, -1]) == 1).mean())
    print(
        json.dumps(
            {
                "kernel": a.kernel,
                "chains": a.chains,
                "steps_per_chain": steps,
                "transitions": n,
                "seconds": round(seconds, 1),
                "steps_per_second": round(a.chains * steps / seconds),
                "samples_shape": list(x.shape),
                "all_finite": bool(np.isfinite(x).all()),
                "faults": int(np.asarray(mcmc.get_extra_fields()["num_diverging"]).sum()),
                "mass_at_(5,5)_last_draw": frac,
                "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
