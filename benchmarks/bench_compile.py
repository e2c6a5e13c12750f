"""Compile time of ``ChainedLangevin`` against the number of patches and blocks, and what a
second ``MCMC.run`` recompiles (issue 17, item 2; results in ``docs/benchmarks.md``).

Each configuration runs ``MCMC(num_warmup=1, num_samples=1)`` twice on a ``Normal(0, I_d)``
model (one chain; the second run with a new key and the same shapes), after one untimed run
of a small model that pays the process's one-off compiles. Reported: the first run's compile
overhead (its wall time minus the second run's, which compiles nothing), the XLA backend
compile time and the number of programs compiled (JAX's monitoring events), and what the
second run compiles.

- ``patches``: the prefix sweep with ``patch_size=1`` for ``d`` = 100 ... 100000 (one
  Langevin step per patch and level: the step count changes the run time, not the program),
  and ``d = 1000`` split into 10 / 100 / 1000 patches.
- ``blocks``: the full sweep over explicit index blocks of alternating sizes 1 and 2 (so that
  they are unequal), 10 / 100 / 1000 blocks.

Run: ``python benchmarks/bench_compile.py`` (``--quick`` for the small sizes only).
"""

import argparse
import json
import os
import sys
import time

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax import monitoring
from numpyro.infer import MCMC

from numpyro_cld import ChainedLangevin

_EVENTS: list[tuple[str, float]] = []
monitoring.register_event_duration_secs_listener(
    lambda name, secs, **kw: _EVENTS.append((name, secs))
)


def _normal(d):
    def model():
        numpyro.sample("x", dist.Normal(0.0, 1.0).expand([d]))

    return model


def _run(mcmc, key):
    _EVENTS.clear()
    t = time.perf_counter()
    mcmc.run(jax.random.key(key))
    wall = time.perf_counter() - t
    compiles = [s for n, s in _EVENTS if n.endswith("backend_compile_duration")]
    return dict(backend_compile_s=sum(compiles), num_compiles=len(compiles), wall_s=wall)


def measure(label, d, **kwargs):
    kernel = ChainedLangevin(_normal(d), steps_per_patch=1, **kwargs)
    mcmc = MCMC(kernel, num_warmup=1, num_samples=1, progress_bar=True)
    first, second = _run(mcmc, 0), _run(mcmc, 1)
    first["overhead_s"] = first["wall_s"] - second["wall_s"]
    row = dict(
        label=label,
        d=d,
        patches=kernel.num_patches,
        conditional=kernel.conditional,
        first=first,
        second=second,
    )
    print(
        f"{label:>24} d={d:>6} patches={row['patches']:>6} | first run: overhead "
        f"{first['overhead_s']:5.1f} s, XLA {first['backend_compile_s']:5.1f} s "
        f"({first['num_compiles']} programs), wall {first['wall_s']:6.1f} s | second run: "
        f"{second['num_compiles']} programs compiled, wall {second['wall_s']:5.1f} s",
        file=sys.stderr,
        flush=True,
    )
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args()
    dims = (100, 1000) if args.quick else (100, 1000, 10_000, 100_000)
    counts = (10, 100) if args.quick else (10, 100, 1000)
    measure("(process warm-up)", 10, patch_size=1)
    rows = [measure("prefix, patch_size=1", d, patch_size=1) for d in dims]
    rows += [measure(f"prefix, {n} patches", 1000, patch_size=1000 // n) for n in counts]
    for n in counts:
        sizes = [1 + (j % 2) for j in range(n)]
        starts = np.concatenate([[0], np.cumsum(sizes)])
        blocks = [np.arange(a, b) for a, b in zip(starts[:-1], starts[1:], strict=True)]
        rows.append(
            measure(
                f"full, {n} unequal blocks", int(starts[-1]), patches=blocks, conditional="full"
            )
        )
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "compile.json"), "w") as f:
        json.dump(dict(backend=jax.default_backend(), rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
