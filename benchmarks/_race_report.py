"""The race's TV curves, summaries, table and figure; see ``bench_alternatives.py``."""

import os

import numpy as np
from _race_targets import METHODS, TV_GOAL


def _cum_seconds(grads, secs, chunk):
    """Cumulative seconds at the end of each transition: a chunk's time spread over its
    transitions in proportion to their gradients."""
    g = grads.reshape(-1, chunk)
    share = np.where(g.sum(1, keepdims=True) > 0, g / np.maximum(g.sum(1, keepdims=True), 1), 1)
    share = share / share.sum(1, keepdims=True)
    return np.cumsum((share * secs[:, None]).ravel())


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


def fmt_g(x):
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
                f"{_fmt(s['grads_to_goal'], fmt_g)} | {_fmt(s['grads_raw_to_goal'], fmt_g)} | "
                f"{_fmt(s['seconds_to_goal'], lambda x: f'{x:.2g}')} | "
                f"{_fmt(s['tv_final'], lambda x: f'{x:.3f}')} | "
                f"{_fmt(s['grads_final'], fmt_g)} |"
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
