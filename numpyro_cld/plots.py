"""Plots of mode coverage (matplotlib, in an ArviZ style).

- :func:`plot_mode_frequencies`: pooled mode frequencies per run against the target weights,
  with every chain's own frequency as a dot.
- :func:`plot_frequency_vs_steps`: the fraction of chains in each mode against the number of
  Langevin steps, one panel per run (the layout of Figure 1 of Cheng et al.).
- :func:`plot_image_grid`: image samples with their assigned modes.

Every function takes the :func:`numpyro_cld.diagnostics.mode_coverage` Datasets (or a
:class:`~numpyro_cld.diagnostics.KernelComparison`) and returns the matplotlib Figure.
This module imports matplotlib; ``import numpyro_cld`` does not.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from numpy.typing import ArrayLike

from .checks import float_array, number, positive_int
from .diagnostics import KernelComparison, frequencies_by_draw
from .diagnostics import arviz_compat as azc

__all__ = ["plot_mode_frequencies", "plot_frequency_vs_steps", "plot_image_grid"]

#: what the plots accept as ``coverage``
Coverage = xr.Dataset | dict[str, xr.Dataset] | KernelComparison


def _coverages(coverage: Coverage) -> tuple[dict, int]:
    if isinstance(coverage, KernelComparison):
        coverage = coverage.coverage
    if not isinstance(coverage, dict):
        coverage = {"run": coverage}
    if not coverage:
        raise ValueError("`coverage` must hold at least one mode_coverage Dataset.")
    for name, cov in coverage.items():
        if not hasattr(cov, "data_vars") or "assigned_mode" not in cov.data_vars:
            raise TypeError(
                f"`coverage` entry {name!r} must be a mode_coverage Dataset, got "
                f"{type(cov).__name__}."
            )
    k = {int(c.attrs["num_modes"]) for c in coverage.values()}
    if len(k) != 1:
        raise ValueError(f"`coverage` runs disagree on the number of modes: {sorted(k)}.")
    return coverage, k.pop()


def _figsize(figsize: tuple[float, float] | None) -> tuple[float, float] | None:
    if figsize is None:
        return None
    ok = isinstance(figsize, (tuple, list)) and len(figsize) == 2
    if ok:
        try:
            w, h = (float(v) for v in figsize)
        except (TypeError, ValueError):
            ok = False
    if not ok or not (0 < w < np.inf and 0 < h < np.inf):
        raise ValueError(f"`figsize` must be (width, height) in inches, both > 0, got {figsize!r}.")
    return w, h


def _steps_per_draw(steps_per_draw: int | dict[str, int], names: Sequence[str]) -> dict:
    if isinstance(steps_per_draw, dict):
        missing = [n for n in names if n not in steps_per_draw]
        if missing:
            raise ValueError(f"`steps_per_draw` has no entry for the runs {missing}.")
        return {n: positive_int("steps_per_draw", steps_per_draw[n]) for n in names}
    return {n: positive_int("steps_per_draw", steps_per_draw) for n in names}


def _mode_names(mode_names: Sequence[str] | None, K: int) -> list:
    if mode_names is None:
        return [f"mode {k}" for k in range(K)]
    if len(mode_names) != K:
        raise ValueError(f"`mode_names` must have {K} entries, got {len(mode_names)}.")
    return list(mode_names)


def plot_mode_frequencies(
    coverage: Coverage,
    *,
    mode_names: Sequence[str] | None = None,
    show_chains: bool = True,
    figsize: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """Bars: pooled frequency of each mode per run; black segments: target weights;
    dots: each chain's frequency (chains stuck in one mode show up at 0 and 1).

    :param coverage: a mode_coverage Dataset, a dict name -> Dataset, or a
        :class:`~numpyro_cld.diagnostics.KernelComparison`.
    :param mode_names: names of the modes (default ``"mode k"``).
    :param bool show_chains: draw each chain's frequency as a dot.
    :param figsize: matplotlib figure size in inches.
    :param str title: the figure's title (say the target, its dimension, the chains and
        where they started: a frequency means little without them).
    """
    runs, K = _coverages(coverage)
    names = _mode_names(mode_names, K)
    figsize = _figsize(figsize)
    with plt.style.context(azc.plot_style()):
        fig, ax = plt.subplots(
            figsize=figsize or (1.6 + 1.2 * K * max(len(runs), 2) / 2, 3.2), layout="constrained"
        )
        width = 0.8 / len(runs)
        x = np.arange(K)
        rng = np.random.default_rng(0)  # jitter of the chain dots only
        for j, (name, cov) in enumerate(runs.items()):
            pos = x - 0.4 + width * (j + 0.5)
            bars = ax.bar(pos, cov["frequency"].values, width, label=name, alpha=0.85)
            if show_chains:
                cf = cov["chain_frequency"].values
                jit = rng.uniform(-0.3, 0.3, cf.shape) * width
                ax.scatter(
                    (pos + jit).ravel(),
                    cf.ravel(),
                    s=4,
                    alpha=0.3,
                    lw=0,
                    color=bars.patches[0].get_facecolor(),
                    zorder=3,
                )
        w = next(
            (c["target_weight"].values for c in runs.values() if "target_weight" in c.data_vars),
            None,
        )
        if w is not None:
            ax.hlines(w, x - 0.45, x + 0.45, colors="k", lw=2, label="target", zorder=4)
        ax.set_xticks(x, names)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("frequency")
        # below the axes: the title, when given, takes the top
        fig.legend(loc="outside lower center", ncols=len(runs) + (w is not None), fontsize="small")
        if title is not None:
            fig.suptitle(title)
    return fig


def plot_frequency_vs_steps(
    coverage: Coverage,
    *,
    steps_per_draw: int | dict[str, int] = 1,
    first_step: int | None = None,
    mode_names: Sequence[str] | None = None,
    log_x: bool = True,
    cumulative: bool = False,
    figsize: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """Fraction of chains in each mode against the number of steps; one panel per run,
    target weights dashed.

    :param coverage: as in :func:`plot_mode_frequencies`.
    :param steps_per_draw: Langevin steps between consecutive draws (``num_steps`` of the
        kernel), an int or a dict name -> int.
    :param first_step: step count of draw 0 (default ``steps_per_draw``).
    :param mode_names: names of the modes (default ``"mode k"``).
    :param bool log_x: logarithmic step axis (when every step count is positive).
    :param bool cumulative: plot the pooled frequency of draws up to each step instead.
    :param figsize: matplotlib figure size in inches.
    :param str title: the figure's title.
    """
    runs, K = _coverages(coverage)
    names = _mode_names(mode_names, K)
    figsize = _figsize(figsize)
    spds = _steps_per_draw(steps_per_draw, list(runs))
    if first_step is not None:
        number("first_step", first_step, "a number of steps")
    with plt.style.context(azc.plot_style()):
        fig, axes = plt.subplots(
            1,
            len(runs),
            sharey=True,
            squeeze=False,
            figsize=figsize or (3.4 * len(runs), 3.0),
            layout="constrained",
        )
        for ax, (name, cov) in zip(axes[0], runs.items(), strict=False):
            spd = spds[name]
            f = frequencies_by_draw(cov, cumulative=cumulative).values
            start = spd if first_step is None else first_step
            steps = start + spd * np.arange(f.shape[0])
            for k in range(K):
                # later modes drawn thinner and on top: curves that coincide (two modes
                # both at 0 in a stuck run) stay visible
                (line,) = ax.plot(
                    steps, f[:, k], label=names[k], lw=max(2.8 - 0.7 * k, 0.8), zorder=2 + k
                )
                if "target_weight" in cov.data_vars:
                    ax.axhline(
                        float(cov["target_weight"][k]), ls="--", lw=1, color=line.get_color()
                    )
            if log_x and steps.min() > 0:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())  # 2x10^1 3x10^1 ... overlap
            ax.set_title(name)
            ax.set_xlabel("steps")
        axes[0, 0].set_ylabel("cumulative frequency" if cumulative else "fraction of chains")
        axes[0, 0].set_ylim(-0.02, 1.02)
        # one legend for every panel (the modes' colours are the same in each)
        handles, labels = axes[0, 0].get_legend_handles_labels()
        if any("target_weight" in c.data_vars for c in runs.values()):
            handles.append(plt.Line2D([], [], ls="--", lw=1, color="grey"))
            labels.append("target weight")
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize="small")
        if title is not None:
            fig.suptitle(title)
    return fig


def plot_image_grid(
    images: ArrayLike,
    modes: ArrayLike | None = None,
    *,
    image_shape: tuple[int, int] | None = None,
    ncols: int = 8,
    mode_names: Sequence[str] | None = None,
    cmap: str = "gray",
    vmin: float = 0.0,
    vmax: float = 1.0,
) -> Figure:
    """Images with their assigned modes as titles.

    :param images: ``(n, H, W)``, or ``(n, H*W)`` with ``image_shape=(H, W)``.
    :param modes: ``(n,)`` integer modes (e.g. ``diagnostics.assign_modes``), or None.
    :param image_shape: ``(H, W)`` of flat images.
    :param int ncols: images per row.
    :param mode_names: names of the modes (default ``"mode k"``).
    :param cmap: matplotlib colour map.
    :param vmin: value shown as the lowest colour.
    :param vmax: value shown as the highest colour.
    """
    x = float_array("images", images)
    if image_shape is not None:
        shape = tuple(image_shape)
        if len(shape) != 2 or x.ndim < 1 or x[0].size != np.prod(shape):
            raise ValueError(
                f"`image_shape` must be (H, W) with H * W the size of one image, got "
                f"{image_shape!r} for images of shape {x.shape}."
            )
        x = x.reshape((x.shape[0],) + shape)
    if x.ndim != 3 or x.shape[0] == 0:
        raise ValueError(
            f"`images` must have shape (n, H, W) with n >= 1 (or pass `image_shape`), got "
            f"{x.shape}."
        )
    n = x.shape[0]
    ncols = positive_int("ncols", ncols)
    if not number("vmin", vmin) < number("vmax", vmax):
        raise ValueError(f"`vmin` must be below `vmax`, got vmin={vmin!r}, vmax={vmax!r}.")
    try:
        plt.get_cmap(cmap)
    except ValueError:
        raise ValueError(f"`cmap` must be a matplotlib colour map, got {cmap!r}.") from None
    if modes is not None:
        modes = np.asarray(modes)
        if modes.shape != (n,):
            raise ValueError(f"`modes` must have shape ({n},), got {modes.shape}.")
        if not np.issubdtype(modes.dtype, np.integer):
            raise TypeError(f"`modes` must be integer mode labels, got dtype {modes.dtype}.")
        K = int(modes.max()) + 1 if mode_names is None else len(mode_names)
        names = _mode_names(mode_names, K)
        if modes.min() < 0 or modes.max() >= K:
            raise ValueError(f"`modes` must lie in 0..{K - 1}, got {modes.min()}..{modes.max()}.")
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    with plt.style.context(azc.plot_style()):
        fig, axes = plt.subplots(
            nrows, ncols, squeeze=False, figsize=(1.2 * ncols, 1.35 * nrows), layout="constrained"
        )
        for i, ax in enumerate(axes.ravel()):
            ax.axis("off")
            if i < n:
                ax.imshow(x[i], cmap=cmap, vmin=vmin, vmax=vmax)
                if modes is not None:
                    ax.set_title(names[modes[i]], fontsize="small")
    return fig
