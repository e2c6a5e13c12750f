"""Mode coverage of a run as an ``xarray.Dataset`` (definitions: ``docs/diagnostics.md``).

For draws with modes ``a in {0..K-1}`` and target weights ``w``: the pooled and per-chain
frequencies ``f_k``, total variation ``1/2 sum_k |f_k - w_k|``, the modes found, the first
visit of each mode and the switch rate of each chain.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike

from . import arviz_compat as azc
from .draws import chain_draws, no_chain_error
from .modes import ModeRule, assign_modes, check_labels, check_num_modes, check_weights, mode_rule

__all__ = ["mode_coverage", "attach_coverage", "frequencies_by_draw"]


def _coverage_from_labels(
    lab: np.ndarray, num_modes: int, weights: np.ndarray | None, chain: np.ndarray, draw: np.ndarray
) -> xr.Dataset:
    C, N = lab.shape
    K = num_modes
    onehot = lab[..., None] == np.arange(K)  # (C, N, K)
    chain_freq = onehot.mean(1)
    freq = onehot.mean((0, 1))
    visited = onehot.any(1)
    first = np.where(visited, onehot.argmax(1), -1)
    switch = (lab[:, 1:] != lab[:, :-1]).mean(1) if N > 1 else np.full(C, np.nan)
    coords = {"chain": chain, "draw": draw, "mode": np.arange(K)}
    ds = xr.Dataset(
        {
            "assigned_mode": (("chain", "draw"), lab),
            "frequency": (("mode",), freq),
            "chain_frequency": (("chain", "mode"), chain_freq),
            "modes_found": ((), int((freq > 0).sum())),
            "chain_modes_found": (("chain",), visited.sum(1)),
            "first_visit": (("chain", "mode"), first),
            "switch_rate": (("chain",), switch),
        },
        coords=coords,
        attrs={"num_modes": K, "first_visit_never": -1},
    )
    if weights is not None:
        ds["target_weight"] = (("mode",), weights)
        ds["tv"] = ((), 0.5 * np.abs(freq - weights).sum())
        ds["chain_tv"] = (("chain",), 0.5 * np.abs(chain_freq - weights).sum(-1))
    return ds


def _labels_coverage(
    labels: ArrayLike, num_modes: int | None, weights: ArrayLike | None
) -> xr.Dataset:
    if num_modes is None and weights is None:
        raise ValueError("`num_modes` (or `weights`) must be given with `labels`.")
    k = check_num_modes(num_modes) if num_modes is not None else len(np.ravel(weights))
    w = check_weights(weights, k) if weights is not None else None
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise ValueError(
            f"`labels` must have shape (chain, draw), got shape {lab.shape}; for a "
            "single chain use labels[None]."
        )
    if 0 in lab.shape:
        raise ValueError(
            f"`labels` must hold at least one chain and one draw, got shape {lab.shape}."
        )
    lab = check_labels(lab, k)
    return _coverage_from_labels(lab, k, w, np.arange(lab.shape[0]), np.arange(lab.shape[1]))


def mode_coverage(
    data: Any = None,
    assign: Any = None,
    *,
    labels: ArrayLike | None = None,
    num_modes: int | None = None,
    weights: ArrayLike | None = None,
    var_name: str | None = None,
    group: str = "posterior",
    batch_size: int | None = None,
) -> xr.Dataset:
    """Mode coverage of a run (definitions in ``docs/diagnostics.md``) as an
    ``xarray.Dataset``.

    :param data: a NumPyro ``MCMC`` object (after ``run``), an ArviZ ``InferenceData``
        (or arviz 1.x ``DataTree``), an ``xarray`` Dataset/DataArray with ``chain`` and
        ``draw`` dimensions, or an array ``(chain, draw, *event_shape)``.
    :param assign: the mode rule (see :func:`mode_rule`).
    :param labels: instead of ``data`` and ``assign``: integer modes ``(chain, draw)``.
    :param int num_modes: ``K`` (needed with ``labels`` or a callable, unless ``weights``).
    :param weights: target weights ``(K,)`` summing to 1 (default: from the rule).
    :param str var_name: the sample site / variable holding the draws.
    :param str group: InferenceData group of the draws.
    :param int batch_size: call the rule on at most this many draws at a time.
    :return: Dataset with ``assigned_mode (chain, draw)``, ``frequency (mode)``,
        ``chain_frequency (chain, mode)``, ``modes_found``, ``chain_modes_found (chain)``,
        ``first_visit (chain, mode)`` (-1 if never), ``switch_rate (chain)`` and, when the
        weights are known, ``target_weight (mode)``, ``tv`` and ``chain_tv (chain)``.

    **Example**

    .. doctest::

        >>> import numpy as np
        >>> from numpyro_cld.diagnostics import mode_coverage
        >>> cov = mode_coverage(labels=np.array([[0, 0, 1, 1], [0, 0, 0, 0]]),
        ...                     weights=[0.5, 0.5])
        >>> cov["frequency"].values.tolist(), float(cov["tv"])
        ([0.75, 0.25], 0.25)
        >>> cov["first_visit"].values.tolist(), cov["switch_rate"].values.tolist()
        ([[0, 2], [0, -1]], [0.3333333333333333, 0.0])
    """
    if labels is not None:
        if data is not None or assign is not None:
            raise ValueError("Give either `labels` or `data` with `assign`, not both.")
        return _labels_coverage(labels, num_modes, weights)
    if data is None or assign is None:
        raise ValueError("`data` and `assign` must be given (or `labels`).")
    rule = mode_rule(assign, num_modes=num_modes, weights=weights)
    x, chain, draw = chain_draws(data, var_name, group, rule.event_ndim)
    return draws_coverage(x, rule, chain, draw, batch_size)


def draws_coverage(
    x: np.ndarray,
    rule: ModeRule,
    chain: np.ndarray,
    draw: np.ndarray,
    batch_size: int | None = None,
) -> xr.Dataset:
    """:func:`mode_coverage` of draws ``x`` of shape ``(chain, draw, *event_shape)``.

    :param x: the draws.
    :param rule: the :class:`ModeRule`.
    :param chain: the ``chain`` coordinate.
    :param draw: the ``draw`` coordinate.
    :param int batch_size: call the rule on at most this many draws at a time.
    """
    if x.ndim < 2 + (rule.event_ndim or 0):
        raise no_chain_error(x.shape, rule.event_ndim or 0)
    if rule.event_ndim is not None and x.ndim != 2 + rule.event_ndim:
        raise ValueError(
            f"`draws` must have shape (chain, draw, *event_shape) with {rule.event_ndim} "
            f"event dimension(s), got shape {x.shape}."
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"`draws` must hold at least one chain and one draw, got shape {x.shape}.")
    lab = assign_modes(x, rule, batch_ndim=2, batch_size=batch_size)
    return _coverage_from_labels(lab, rule.num_modes, rule.weights, chain, draw)


def attach_coverage(idata: Any, coverage: xr.Dataset, group: str = "mode_coverage") -> Any:
    """Attach ``coverage`` to ``idata`` as group ``group`` (in place); returns ``idata``.

    :param idata: an ArviZ ``InferenceData`` (or arviz 1.x ``DataTree``).
    :param coverage: a :func:`mode_coverage` Dataset.
    :param str group: name of the new group.
    """
    if not azc.is_inference_data(idata):
        raise TypeError(
            f"`idata` must be an InferenceData (or DataTree), got {type(idata).__name__}."
        )
    check_coverage(coverage)
    if not isinstance(group, str) or not group:
        raise TypeError(f"`group` must be a non-empty string, got {group!r}.")
    return azc.attach_group(idata, group, coverage)


def check_coverage(coverage: Any, name: str = "coverage") -> xr.Dataset:
    """``TypeError`` unless ``coverage`` is a :func:`mode_coverage` Dataset.

    :param coverage: the object to check.
    :param str name: how it is named in error messages.
    """
    if not isinstance(coverage, xr.Dataset) or "assigned_mode" not in coverage.data_vars:
        raise TypeError(f"`{name}` must be a mode_coverage Dataset, got {type(coverage).__name__}.")
    return coverage


def frequencies_by_draw(coverage: xr.Dataset, *, cumulative: bool = False) -> xr.DataArray:
    """Fraction of chains in each mode at each draw, ``(draw, mode)``; with
    ``cumulative=True``, the pooled frequency of draws ``0..t`` instead.

    :param coverage: a :func:`mode_coverage` Dataset.
    :param bool cumulative: pooled frequency of the draws up to each draw.
    """
    lab = check_coverage(coverage)["assigned_mode"].values
    onehot = lab[..., None] == np.arange(int(coverage.attrs["num_modes"]))
    f = onehot.mean(0)
    if cumulative:
        f = np.cumsum(f, 0) / np.arange(1, f.shape[0] + 1)[:, None]
    return xr.DataArray(
        f,
        dims=("draw", "mode"),
        coords={"draw": coverage["draw"].values, "mode": coverage["mode"].values},
    )
