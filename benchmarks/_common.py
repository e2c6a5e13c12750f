"""Timing helpers shared by the benchmark scripts."""

import json
import os
import platform
import statistics
import time

import jax


def best_time(fn, repeat=3):
    """Best wall time of ``fn()`` over ``repeat`` calls after one warm-up (compile) call;
    ``fn`` must block until its result is ready."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def interleaved_times(fns, rounds=5):
    """Wall times of each callable in ``fns`` (name -> fn) over ``rounds`` rounds, one call of
    each per round in turn, after one warm-up (compile) call each. Noise on a shared machine
    lasts seconds and hits the calls of one round alike, so compare two callables by the
    median of their per-round ratios (:func:`median_ratio`)."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def median_ratio(a, b):
    """Median over rounds of ``a[i] / b[i]`` (two lists of per-round times)."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def block(tree):
    return jax.tree.map(
        lambda x: x.block_until_ready() if hasattr(x, "block_until_ready") else x, tree
    )


def write_results(name, results, folder=None):
    """Merge ``results`` under key ``name`` into ``benchmarks/results.json``."""
    folder = folder or os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(folder, "results.json")
    data = {}
    if os.path.exists(path):
        with open(path) as f:
            data = json.load(f)
    data[name] = {
        **results,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpu, jax {jax.__version__}",
        "date": time.strftime("%Y-%m-%d"),
    }
    with open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    return path
