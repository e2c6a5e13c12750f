"""Several runs side by side: mode coverage next to ArviZ bulk/tail ESS and R-hat of the
draws and of the mode indicators ``1[a = k]`` (see ``docs/diagnostics.md``, "Comparing
kernels")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import ArrayLike

from . import arviz_compat as azc
from .coverage import draws_coverage
from .draws import chain_draws
from .modes import mode_rule

__all__ = ["compare_kernels", "KernelComparison"]

_NOTES = [
    "f_k: pooled mode frequencies; all_modes: fraction of chains that visited every "
    "mode; t_all_modes: median draw index by which a chain had visited every mode "
    "(inf: most chains never did).",
    "ESS: smallest over coordinates / modes; R-hat (rank): largest. ind_*: mode "
    "indicators 1[a=k], nan when no indicator varies (R-hat cannot see modes no "
    "chain visits).",
]


def _nan_extreme(values: ArrayLike, fn: Callable[[np.ndarray], Any]) -> float:
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    return float(fn(v)) if v.size else float("nan")


def _worst(ds: xr.Dataset, key: str) -> dict[str, float]:
    """Smallest bulk/tail ESS and largest R-hat of variable ``key`` over its coordinates."""
    if ds[key].size == 0:
        return {"ess_bulk": float("nan"), "ess_tail": float("nan"), "rhat": float("nan")}
    rh = azc.rhat(ds)[key]
    # a variable that varies but not within any (split) chain has R-hat B/0 = inf;
    # arviz returns NaN or ~1e15 there depending on rounding
    spread = ds[key].std(("chain", "draw")).values > 0
    rh = np.where(np.isnan(rh) & spread, np.inf, rh)
    return {
        "ess_bulk": _nan_extreme(azc.ess(ds, "bulk")[key], np.min),
        "ess_tail": _nan_extreme(azc.ess(ds, "tail")[key], np.min),
        "rhat": _nan_extreme(rh, np.max),
    }


def _mixing(x: np.ndarray, lab: np.ndarray, num_modes: int) -> dict[str, float]:
    """Bulk/tail ESS and R-hat of the draws (worst component) and of the mode indicators
    (worst mode among those whose indicator varies; NaN if none does)."""
    draws = xr.Dataset(
        {"x": (("chain", "draw") + tuple(f"d{i}" for i in range(x.ndim - 2)), x.astype(np.float64))}
    )
    ind = (lab[..., None] == np.arange(num_modes)).astype(np.float64)
    # a constant indicator (mode never or always visited) has no variance to compare
    varies = ind.reshape(-1, num_modes).std(0) > 0
    inds = xr.Dataset({"ind": (("chain", "draw", "mode"), ind[..., varies])})
    out = _worst(draws, "x")
    out.update({"ind_" + k: v for k, v in _worst(inds, "ind").items()})
    return out


def _fmt_rhat(v: float) -> str:
    return f"{v:.3f}" if not np.isfinite(v) or v < 1e3 else f"{v:.3g}"


@dataclass
class KernelComparison:
    """Result of :func:`compare_kernels`: ``frame`` (one row per run), ``coverage`` (name ->
    :func:`mode_coverage` Dataset) and the target ``weights``. ``str()`` prints the table.

    :param frame: the table, one row per run.
    :param coverage: name -> :func:`mode_coverage` Dataset.
    :param weights: the target weights, if known.
    :param notes: lines printed under the table.
    """

    frame: pd.DataFrame
    coverage: dict
    weights: np.ndarray | None = None
    notes: list = field(default_factory=list)

    def to_string(self) -> str:
        """The table as text: target weights, the frame, then the notes."""
        head = []
        if self.weights is not None:
            head.append("target weights: " + ", ".join(f"{w:.3g}" for w in self.weights))
        fmt = {
            c: (
                "{:.0f}".format
                if c.startswith(("ess", "ind_ess", "t_all"))
                else _fmt_rhat
                if c.endswith("rhat")
                else "{:.3f}".format
            )
            for c in self.frame.columns
            if self.frame[c].dtype.kind == "f"
        }
        body = self.frame.to_string(formatters=fmt)
        return "\n".join(head + [body] + self.notes)

    def __str__(self) -> str:
        return self.to_string()


def _row(x: np.ndarray, cov: xr.Dataset, num_modes: int, has_weights: bool) -> dict:
    K = num_modes
    row = {"chains": x.shape[0], "draws": x.shape[1], "modes_found": int(cov["modes_found"])}
    if has_weights:
        row["tv"] = float(cov["tv"])
    row.update({f"f{k}": float(cov["frequency"][k]) for k in range(K)})
    row["all_modes"] = float((cov["chain_modes_found"] == K).mean())
    fv = cov["first_visit"].values
    seen_all = np.where((fv >= 0).all(1), fv.max(1), np.inf)
    row["t_all_modes"] = float(np.median(seen_all))
    row["switch_rate"] = (
        float(np.nanmean(cov["switch_rate"].values)) if x.shape[1] > 1 else float("nan")
    )
    row.update(_mixing(x, cov["assigned_mode"].values, K))
    return row


def compare_kernels(
    runs: dict,
    assign: Any,
    *,
    num_modes: int | None = None,
    weights: ArrayLike | None = None,
    var_name: str | None = None,
    group: str = "posterior",
    batch_size: int | None = None,
) -> KernelComparison:
    """Several runs in, one table out.

    :param dict runs: name -> run (anything :func:`mode_coverage` accepts as ``data``).
    :param assign: the mode rule (see :func:`mode_rule`).
    :param int num_modes: ``K`` (see :func:`mode_rule`).
    :param weights: target weights ``(K,)`` (default: from the rule).
    :param str var_name: the sample site / variable holding the draws.
    :param str group: InferenceData group of the draws.
    :param int batch_size: call the rule on at most this many draws at a time.
    :return: :class:`KernelComparison`; columns ``chains``, ``draws``, ``modes_found``,
        ``tv`` (if the weights are known), ``f0..f{K-1}`` (pooled frequencies),
        ``all_modes`` (fraction of chains that visited every mode), ``t_all_modes``
        (median over chains of the draw index by which a chain had visited every mode;
        inf when fewer than half the chains did), ``switch_rate``
        (mean over chains), ``ess_bulk``/``ess_tail`` (smallest over the coordinates of
        the draws), ``rhat`` (largest), and ``ind_ess_bulk``/``ind_ess_tail``/``ind_rhat``
        for the mode indicators ``1[a = k]`` (worst over modes whose indicator is not
        constant; NaN when every indicator is constant, e.g. all draws in one mode --
        R-hat cannot see modes that no chain visits).
    """
    if not isinstance(runs, dict) or not runs:
        raise ValueError("`runs` must be a non-empty dict of name -> run.")
    rule = mode_rule(assign, num_modes=num_modes, weights=weights)
    rows, coverage = {}, {}
    for name, run in runs.items():
        x, chain, draw = chain_draws(run, var_name, group, rule.event_ndim)
        coverage[name] = draws_coverage(x, rule, chain, draw, batch_size)
        rows[name] = _row(x, coverage[name], rule.num_modes, rule.weights is not None)
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "run"
    return KernelComparison(frame, coverage, rule.weights, list(_NOTES))
