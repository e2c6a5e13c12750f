"""Scaling of the chained prefix sweep: time and peak memory against d and the number of chains.

What it measures, on paper-gmm (``0.2 N(0, 3I) + 0.4 N(1, I) + 0.4 N(-1, I)``) with
``patch_size=10``, the exact prefix conditionals (``GaussianMixturePrefix``) and MALA patch
steps (``adjust=True``, the kernel's default for a density; one level, no warmup):

1. time per sweep and per patch step (one Langevin step on one patch, all chains) against
   ``d = 100, 300, 1000, 3000, 10000`` at 100 chains: flat per patch step is expected, the
   prefix context making a step ``O(patch_size x K)`` whatever ``d``;
2. time per sweep against the number of chains (10 ... 10000 at ``d = 100``; 1e5 too on a
   GPU, skipped with a note on the CPU);
3. the peak memory of each configuration, each run in its own subprocess (peak RSS,
   ``ru_maxrss``, on the CPU; ``peak_bytes_in_use`` of the device on a GPU), beside XLA's own
   buffer sizes of the compiled program; and that memory is flat in the number of sweeps
   (10 vs 100 sweeps at ``d = 1000``).

Only the compiled program is timed: the pure ``init, step`` of
``numpyro_cld.samplers.chained`` in a jitted ``lax.scan`` over sweeps with ``vmap``-ped chains
(``docs/functional.md``), a warm-up call first (compilation excluded), ``block_until_ready``,
best of ``--repeats`` (3) calls.

``--paper-lstm`` times instead the paper's network-scale setting (Cheng, Fu & Farnia report
1.97 ms per chained iteration on an RTX 3090): a ``PatchLSTM((28, 28), 14, hidden=1024,
num_layers=2)`` with random weights as the prefix source, 56 patches of 14, one level, one ULA
step per patch (one chained iteration = one sweep), ``--chains`` chains at once.

Usage::

    python benchmarks/bench_scaling.py                 # full run (13 min on 2 busy CPU cores)
    python benchmarks/bench_scaling.py --quick         # smoke run (4 small processes)
    python benchmarks/bench_scaling.py --paper-lstm --chains 8    # the LSTM figure (any GPU)

Writes ``benchmarks/results/scaling.json`` (``--paper-lstm`` merges its result into it under
``"paper_lstm"``) and ``docs/figures/scaling.png``; ``--quick`` writes both to the temporary
folder (``scaling_quick.json``, ``scaling_quick.png``) unless ``--out`` / ``--figure`` say.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from _scaling_worker import PATCH

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
FIGURE = os.path.join(ROOT, "docs", "figures", "scaling.png")


def in_subprocess(cfg):
    """Run ``_scaling_worker.worker(cfg)`` in a fresh interpreter (its own peak memory)."""
    env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false")
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "_scaling_worker.py"), json.dumps(cfg)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"configuration {cfg} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


# -- the experiment ------------------------------------------------------------------------------
def plan(quick, gpu):
    """The configurations; one sweep count for the d and chain series, so that the shared
    configuration (d = 100, 100 chains) and the memory check's first run are not repeated."""
    if quick:
        return dict(
            dims=[100, 1000],
            dim_chains=10,
            chains=[10, 100],
            chain_d=100,
            sweeps=2,
            memory=(100, [2, 6]),
            steps_per_patch=5,
            repeats=2,
        )
    chains = [10, 100, 1000, 10_000] + ([100_000] if gpu else [])
    return dict(
        dims=[100, 300, 1000, 3000, 10_000],
        dim_chains=100,
        chains=chains,
        chain_d=100,
        sweeps=10,
        memory=(1000, [10, 100]),
        steps_per_patch=10,
        repeats=3,
    )


def mb(b):
    return None if b is None else b / 2**20


def fmt_row(r):
    peak = mb(r["peak_bytes"])
    base = mb(r["baseline_bytes"])
    temp = mb(r["xla"]["temp_bytes"]) if r.get("xla") else float("nan")
    return (
        f"d={r['d']:>6} chains={r['chains']:>6} sweeps={r['sweeps']:>4}  "
        f"{r['s_per_sweep'] * 1e3:9.2f} ms/sweep  {r['s_per_patch_step'] * 1e6:8.1f} us/patch-step"
        f"  {r['s_per_chain_patch_step'] * 1e9:8.1f} ns/chain-patch-step  peak {peak:7.1f} MB"
        f" (baseline {base if base is not None else float('nan'):6.1f})  XLA temp {temp:7.2f} MB"
        f"  accept {r['accept_prob']:.2f}  [{r['times_s']}]"
    )


def main_scaling(args):
    import jax

    backend = jax.default_backend()
    p = plan(args.quick, backend == "gpu")
    common = dict(
        kind="gmm", steps_per_patch=p["steps_per_patch"], step_size=0.5, repeats=p["repeats"]
    )
    t_start = time.perf_counter()
    out = {
        "what": "chained prefix sweep on paper-gmm, patch_size 10, MALA (adjust=True), one level",
        "backend": backend,
        "device": str(jax.devices()[0]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpu, jax {jax.__version__}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "timing": f"best of {p['repeats']} calls of the compiled scan, after a warm-up call",
        "plan": p,
    }
    print(f"backend {backend}; {out['timing']}", flush=True)
    done = {}

    def measure(d, chains, sweeps, repeats=p["repeats"]):
        key = (d, chains, sweeps)
        if key not in done:
            cfg = dict(common, d=d, chains=chains, sweeps=sweeps, repeats=repeats)
            done[key] = in_subprocess(cfg)
        print(fmt_row(done[key]), flush=True)
        return done[key]

    print("-- time against d", flush=True)
    out["vs_dim"] = [measure(d, p["dim_chains"], p["sweeps"]) for d in p["dims"]]
    print("-- time against chains", flush=True)
    if backend == "cpu":
        print("note: CPU backend, 1e5 chains skipped (run on a GPU to include them)", flush=True)
        out["note"] = "CPU backend: 1e5 chains skipped"
    out["vs_chains"] = [measure(p["chain_d"], n, p["sweeps"]) for n in p["chains"]]
    print("-- memory against the number of sweeps", flush=True)
    d, sweeps = p["memory"]
    out["vs_sweeps"] = [measure(d, p["dim_chains"], s, repeats=1) for s in sweeps]
    out["total_s"] = round(time.perf_counter() - t_start, 1)
    print(f"total {out['total_s']} s", flush=True)
    default = os.path.join(tempfile.gettempdir(), "scaling_quick.json") if args.quick else None
    path = args.out or default or os.path.join(RESULTS, "scaling.json")
    old = _load(path)
    if "paper_lstm" in old:  # kept from an earlier --paper-lstm run
        out["paper_lstm"] = old["paper_lstm"]
    _save(path, out)
    fig = args.figure or (
        os.path.join(tempfile.gettempdir(), "scaling_quick.png") if args.quick else FIGURE
    )
    plot(out, fig)
    print(f"wrote {path} and {fig}", flush=True)


def main_lstm(args):
    import jax

    cfg = dict(
        kind="lstm",
        chains=args.chains,
        sweeps=args.sweeps,
        hidden=args.hidden,
        num_layers=2,
        repeats=args.repeats,
    )
    r = in_subprocess(cfg)
    r["backend"] = jax.default_backend()
    r["device"] = str(jax.devices()[0])
    r["date"] = time.strftime("%Y-%m-%d %H:%M")
    r["ms_per_iteration"] = r["s_per_sweep"] * 1e3
    print(
        f"PatchLSTM 2x{args.hidden}, 784-d, patch 14 ({r['num_patches']} patches), "
        f"{args.chains} chains on {r['backend']}: {r['ms_per_iteration']:.1f} ms per chained "
        f"iteration (one sweep, one step per patch; {r['s_per_patch_step'] * 1e3:.3f} ms per "
        f"patch step), {r['ms_per_iteration'] / args.chains:.2f} ms per chain-iteration, "
        f"peak {mb(r['peak_bytes']):.0f} MB, times {r['times_s']}",
        flush=True,
    )
    path = args.out or os.path.join(RESULTS, "scaling.json")
    data = _load(path)
    data["paper_lstm"] = r
    _save(path, data)
    print(f"wrote {path} (key paper_lstm)", flush=True)


def _load(path):
    if os.path.exists(path):
        with open(path) as fh:
            return json.load(fh)
    return {}


def _save(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(data, fh, indent=1)


def plot(out, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    dims = out["vs_dim"]
    ax = axes[0]
    x = [r["d"] for r in dims]
    ax.plot(x, [r["s_per_patch_step"] * 1e6 for r in dims], "o-", label="per patch step (µs)")
    ax.plot(x, [r["s_per_sweep"] * 1e3 for r in dims], "s--", label="per sweep (ms)")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="dimension d",
        title=f"time vs d ({dims[0]['chains']} chains, patch {PATCH})",
    )
    ax.legend()
    ax = axes[1]
    ch = out["vs_chains"]
    x = [r["chains"] for r in ch]
    y = [r["s_per_sweep"] * 1e3 for r in ch]
    ax.plot(x, y, "o-", label="measured")
    ax.plot(x, [y[-1] * c / x[-1] for c in x], ":", color="gray", label="linear in chains")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="chains",
        ylabel="ms per sweep",
        title=f"time per sweep vs chains (d = {ch[0]['d']})",
    )
    ax.legend()
    ax = axes[2]
    for rows, label, m in ((dims, "vs d", "o-"), (ch, "vs chains", "s-")):
        size = [r["chains"] * r["d"] for r in rows]
        ax.plot(size, [mb(r["peak_bytes"]) for r in rows], m, label=f"peak, {label}")
        if all(r.get("xla") for r in rows):
            xla = [mb(r["xla"]["temp_bytes"] + r["xla"]["argument_bytes"]) for r in rows]
            ax.plot(size, xla, m[0] + ":", label=f"XLA buffers, {label}")
    kind = "peak RSS" if dims[0]["memory_kind"] == "ru_maxrss" else "device peak"
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="chains x d",
        ylabel="MB",
        title=f"memory ({kind}, one process each)",
    )
    ax.legend(fontsize=8)
    fig.suptitle(f"chained prefix sweep, paper-gmm, MALA ({out['backend']}, {out['machine']})")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run, < 1 min")
    ap.add_argument("--paper-lstm", action="store_true", help="time the paper's 2x1024 LSTM")
    ap.add_argument("--chains", type=int, default=100, help="chains of --paper-lstm")
    ap.add_argument("--sweeps", type=int, default=3, help="sweeps per timed call (--paper-lstm)")
    ap.add_argument("--hidden", type=int, default=1024, help="LSTM width (--paper-lstm)")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls (--paper-lstm)")
    ap.add_argument("--out", help="results file")
    ap.add_argument("--figure", help="figure file")
    args = ap.parse_args()
    if args.paper_lstm:
        main_lstm(args)
    else:
        main_scaling(args)


if __name__ == "__main__":
    main()
