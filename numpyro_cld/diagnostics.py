"""Mode coverage and mixing diagnostics (design notes §4), on ArviZ.

Standard diagnostics cannot say whether a sampler found all the modes: chains that all sit
in the same mode agree with each other, so R-hat is happy. This module assigns every draw
to a mode and measures, for draws with modes ``a in {0..K-1}`` and target weights ``w``:

- ``frequency`` ``f_k`` (pooled over chains) and ``chain_frequency`` (per chain);
- total variation ``tv = 1/2 sum_k |f_k - w_k|`` (and per chain);
- ``modes_found``: the number of ``k`` with ``f_k > 0``;
- ``first_visit``: the first draw index at which each chain is in mode ``k`` (-1: never);
- ``switch_rate``: per chain, the fraction of consecutive draws whose modes differ.

:func:`mode_coverage` returns these as an ``xarray.Dataset`` with ``chain``/``draw``/``mode``
dimensions that can be attached to the InferenceData (:func:`attach_coverage`);
:func:`compare_kernels` puts several runs side by side with ArviZ bulk/tail ESS and R-hat
of the draws and of the mode indicators ``1[a = k]``.

A mode rule (:func:`mode_rule`) is one of: a NumPyro mixture distribution (largest
posterior responsibility), a ``numpyro_cld.targets`` target (its own ``assign``), an array
of centres ``(K, *event_shape)`` (nearest in Euclidean distance), or any callable mapping a
batch ``(n, *event_shape)`` to ``n`` integer labels (e.g. an image classifier).
"""

import numbers
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import pandas as pd
import xarray as xr

from . import _arviz_compat as azc

__all__ = ["ModeRule", "mode_rule", "assign_modes", "mode_coverage", "attach_coverage",
           "frequencies_by_draw", "compare_kernels", "KernelComparison"]


@dataclass(frozen=True)
class ModeRule:
    """How to assign a draw to a mode.

    :param assign: ``(n, *event_shape) -> (n,)`` integer labels in ``0..num_modes-1``.
    :param int num_modes: ``K``.
    :param weights: ``(K,)`` target weights, or None if unknown.
    :param event_ndim: number of trailing dimensions of one draw; None means every
        dimension after ``(chain, draw)``.
    :param event_shape: the expected shape of one draw, if known (checked).
    """

    assign: Callable
    num_modes: int
    weights: Optional[np.ndarray] = None
    event_ndim: Optional[int] = None
    event_shape: Optional[tuple] = None


def _check_weights(weights, num_modes):
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or (num_modes is not None and w.shape[0] != num_modes):
        raise ValueError(
            f"`weights` must have shape ({num_modes if num_modes is not None else 'K'},) "
            f"(one per mode), got shape {w.shape}."
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"`weights` must be finite and non-negative, got {w}.")
    # float32 weights such as (0.2, 0.4, 0.4) sum to 1 only up to rounding
    if abs(w.sum() - 1.0) > 1e-5:
        raise ValueError(f"`weights` must sum to 1, got sum {w.sum():.6g}.")
    return w


def _check_num_modes(num_modes):
    if isinstance(num_modes, bool) or not isinstance(num_modes, numbers.Integral) \
            or num_modes < 1:
        raise ValueError(f"`num_modes` must be a positive integer, got {num_modes!r}.")
    return int(num_modes)


def _mixture_rule(d):
    import jax
    import jax.numpy as jnp

    if d.batch_shape != ():
        raise ValueError(
            f"`assign`: the mixture must describe one target (batch_shape ()), got batch "
            f"shape {d.batch_shape}."
        )
    comp = jax.jit(lambda x: jnp.argmax(d.component_log_probs(x), axis=-1))
    return ModeRule(lambda x: comp(jnp.asarray(x)), int(d.mixture_size),
                    np.asarray(d.mixing_distribution.probs, np.float64),
                    len(d.event_shape), tuple(d.event_shape))


def _centres_rule(centres):
    c = np.asarray(centres, dtype=np.float64)
    flat = c.reshape(c.shape[0], -1)

    def nearest(x):
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; |x|^2 does not change the argmin
        return np.argmin(-2.0 * x @ flat.T + (flat**2).sum(-1), axis=-1)

    return ModeRule(nearest, c.shape[0], None, c.ndim - 1, c.shape[1:])


def mode_rule(assign, *, num_modes=None, weights=None):
    """Build a :class:`ModeRule` from a mixture distribution, a ``numpyro_cld.targets``
    target, an array of centres ``(K, *event_shape)`` or a callable.

    :param assign: the rule (see the module docstring).
    :param int num_modes: ``K``; needed for a callable unless ``weights`` is given.
    :param weights: target weights; override those of a mixture or target.
    """
    from numpyro.distributions import Distribution

    if isinstance(assign, ModeRule):
        rule = assign
    elif isinstance(assign, Distribution):
        if not hasattr(assign, "component_log_probs"):
            raise TypeError(
                "`assign` must be a mixture distribution (MixtureSameFamily or "
                f"MixtureGeneral), got {type(assign).__name__}."
            )
        rule = _mixture_rule(assign)
    elif hasattr(assign, "assign") and hasattr(assign, "num_modes"):
        # a numpyro_cld.targets target: its own rule, weights and event shape (dim,)
        w = getattr(assign, "weights", None)
        event_shape = (int(assign.dim),) if hasattr(assign, "dim") else None
        rule = ModeRule(assign.assign, int(assign.num_modes),
                        None if w is None else np.asarray(w, np.float64),
                        None if event_shape is None else 1, event_shape)
    elif callable(assign):
        if num_modes is None and weights is None:
            raise ValueError(
                "`num_modes` (or `weights`) must be given with a callable `assign`: the "
                "number of modes cannot be read off a function."
            )
        k = _check_num_modes(num_modes) if num_modes is not None else len(np.ravel(weights))
        rule = ModeRule(assign, k)
    elif isinstance(assign, (np.ndarray, list, tuple)) or hasattr(assign, "__array__"):
        c = np.asarray(assign)
        if c.ndim < 2 or not np.issubdtype(c.dtype, np.number) or c.shape[0] < 1 \
                or not np.all(np.isfinite(c)):
            raise ValueError(
                "`assign` as centres must be a finite numeric array (K, *event_shape), got "
                f"shape {c.shape}."
            )
        rule = _centres_rule(c)
    else:
        raise TypeError(
            "`assign` must be a mixture distribution, a numpyro_cld target, an array of "
            f"centres or a callable, got {type(assign).__name__}."
        )
    if num_modes is not None and _check_num_modes(num_modes) != rule.num_modes:
        raise ValueError(
            f"`num_modes` is {num_modes} but the rule has {rule.num_modes} modes."
        )
    if weights is not None:
        rule = ModeRule(rule.assign, rule.num_modes, _check_weights(weights, rule.num_modes),
                        rule.event_ndim, rule.event_shape)
    elif rule.weights is not None:
        _check_weights(rule.weights, rule.num_modes)
    return rule


def _check_labels(labels, num_modes, what="`labels`"):
    lab = np.asarray(labels)
    if not (np.issubdtype(lab.dtype, np.integer) or lab.dtype == bool):
        raise TypeError(f"{what} must be integer mode labels, got dtype {lab.dtype}.")
    lab = lab.astype(np.int64)
    if lab.size and (lab.min() < 0 or lab.max() >= num_modes):
        raise ValueError(
            f"{what} out of range: modes must lie in 0..{num_modes - 1}, got values in "
            f"{lab.min()}..{lab.max()}."
        )
    return lab


def assign_modes(draws, assign, *, num_modes=None, batch_ndim=None, batch_size=None):
    """Mode labels of ``draws`` of shape ``(*batch, *event_shape)``: shape ``batch``.

    :param draws: array of draws.
    :param assign: a mode rule or anything :func:`mode_rule` accepts.
    :param int batch_ndim: number of leading batch dimensions; default: all but the
        rule's event dimensions, or 1 when the rule does not know its event shape.
    :param int batch_size: call the rule on at most this many draws at a time.
    """
    rule = mode_rule(assign, num_modes=num_modes)
    x = np.asarray(draws)
    if batch_ndim is None:
        batch_ndim = x.ndim - rule.event_ndim if rule.event_ndim is not None else 1
    if not 0 <= batch_ndim <= x.ndim or (
            rule.event_ndim is not None and x.ndim - batch_ndim != rule.event_ndim):
        raise ValueError(
            f"`draws` of shape {x.shape} do not split into {batch_ndim} batch dimension(s) "
            f"and the rule's {rule.event_ndim} event dimension(s)."
        )
    batch, event = x.shape[:batch_ndim], x.shape[batch_ndim:]
    if rule.event_shape is not None and event != tuple(rule.event_shape):
        raise ValueError(
            f"`draws` must end in the event shape {tuple(rule.event_shape)} of the mode "
            f"rule, got shape {x.shape}."
        )
    flat = x.reshape((-1,) + event)
    n = flat.shape[0]
    step = max(int(batch_size), 1) if batch_size else max(n, 1)
    parts = []
    for i in range(0, n, step):
        chunk = flat[i:i + step]
        out = np.asarray(rule.assign(chunk))
        if out.shape != (len(chunk),):
            raise ValueError(
                f"`assign` must return one label per draw, shape ({len(chunk)},) for a "
                f"batch of shape {chunk.shape}; got shape {out.shape}."
            )
        parts.append(out)
    labels = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return _check_labels(labels, rule.num_modes, "`assign` output").reshape(batch)


# -- getting draws with a chain dimension ----------------------------------------------
def _pick(named, var_name, what):
    names = list(named)
    if var_name is None:
        if len(names) != 1:
            raise ValueError(f"`var_name` must be given: the {what} has variables {names}.")
        var_name = names[0]
    if var_name not in named:
        raise ValueError(f"`var_name` {var_name!r} is not in the {what}; it has {names}.")
    return var_name


def _no_chain(shape, event_ndim):
    return ValueError(
        f"`draws` needs a chain dimension: expected (chain, draw, *event_shape) with "
        f"{event_ndim} event dimension(s), got shape {shape}; for a single chain use "
        "draws[None]."
    )


def _draws(data, var_name, group, event_ndim):
    """``(draws, chain_coord, draw_coord)`` with draws of shape (chain, draw, *event)."""
    from numpyro.infer import MCMC

    if isinstance(data, MCMC):
        samples = data.get_samples(group_by_chain=True)
        if isinstance(samples, dict):
            samples = samples[_pick(samples, var_name, "MCMC samples")]
        else:
            import jax

            leaves = jax.tree.leaves(samples)
            if len(leaves) != 1:
                raise ValueError(
                    "`data`: MCMC samples with several arrays must be a dict so that "
                    "`var_name` can choose one."
                )
            samples = leaves[0]
        x = np.asarray(samples)
        return x, np.arange(x.shape[0]), np.arange(x.shape[1])
    if azc.is_inference_data(data):
        data = azc.get_group(data, group)
    if isinstance(data, xr.Dataset):
        data = data[_pick(data.data_vars, var_name, "dataset")]
    if isinstance(data, xr.DataArray):
        if "chain" not in data.dims or "draw" not in data.dims:
            raise ValueError(
                f"`draws` needs 'chain' and 'draw' dimensions, got dims {data.dims}."
            )
        data = data.transpose("chain", "draw", ...)
        return np.asarray(data.values), data["chain"].values, data["draw"].values
    x = np.asarray(data)
    if not np.issubdtype(x.dtype, np.number):
        raise TypeError(
            "`data` must be an MCMC object, InferenceData, xarray object or numeric array, "
            f"got {type(data).__name__}."
        )
    if x.ndim < 2 + (event_ndim or 0):
        raise _no_chain(x.shape, event_ndim or 0)
    return x, np.arange(x.shape[0]), np.arange(x.shape[1])


# -- coverage --------------------------------------------------------------------------
def _coverage_from_labels(lab, num_modes, weights, chain, draw):
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


def mode_coverage(data=None, assign=None, *, labels=None, num_modes=None, weights=None,
                  var_name=None, group="posterior", batch_size=None):
    """Mode coverage of a run (design notes §4) as an ``xarray.Dataset``.

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
        if num_modes is None and weights is None:
            raise ValueError("`num_modes` (or `weights`) must be given with `labels`.")
        k = _check_num_modes(num_modes) if num_modes is not None else len(np.ravel(weights))
        w = _check_weights(weights, k) if weights is not None else None
        lab = np.asarray(labels)
        if lab.ndim != 2:
            raise ValueError(
                f"`labels` must have shape (chain, draw), got shape {lab.shape}; for a "
                "single chain use labels[None]."
            )
        lab = _check_labels(lab, k)
        return _coverage_from_labels(lab, k, w, np.arange(lab.shape[0]),
                                     np.arange(lab.shape[1]))
    if data is None or assign is None:
        raise ValueError("`data` and `assign` must be given (or `labels`).")
    rule = mode_rule(assign, num_modes=num_modes, weights=weights)
    x, chain, draw = _draws(data, var_name, group, rule.event_ndim)
    return _coverage(x, rule, chain, draw, batch_size)


def _coverage(x, rule, chain, draw, batch_size):
    if x.ndim < 2 + (rule.event_ndim or 0):
        raise _no_chain(x.shape, rule.event_ndim or 0)
    if rule.event_ndim is not None and x.ndim != 2 + rule.event_ndim:
        raise ValueError(
            f"`draws` must have shape (chain, draw, *event_shape) with {rule.event_ndim} "
            f"event dimension(s), got shape {x.shape}."
        )
    lab = assign_modes(x, rule, batch_ndim=2, batch_size=batch_size)
    return _coverage_from_labels(lab, rule.num_modes, rule.weights, chain, draw)


def attach_coverage(idata, coverage, group="mode_coverage"):
    """Attach ``coverage`` to ``idata`` as group ``group`` (in place); returns ``idata``."""
    if not azc.is_inference_data(idata):
        raise TypeError(
            f"`idata` must be an InferenceData (or DataTree), got {type(idata).__name__}."
        )
    return azc.attach_group(idata, group, coverage)


def frequencies_by_draw(coverage, *, cumulative=False):
    """Fraction of chains in each mode at each draw, ``(draw, mode)``; with
    ``cumulative=True``, the pooled frequency of draws ``0..t`` instead."""
    lab = coverage["assigned_mode"].values
    onehot = lab[..., None] == np.arange(int(coverage.attrs["num_modes"]))
    f = onehot.mean(0)
    if cumulative:
        f = np.cumsum(f, 0) / np.arange(1, f.shape[0] + 1)[:, None]
    return xr.DataArray(f, dims=("draw", "mode"),
                        coords={"draw": coverage["draw"].values,
                                "mode": coverage["mode"].values})


# -- kernel comparison -----------------------------------------------------------------
def _nan_extreme(values, fn):
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    return float(fn(v)) if v.size else float("nan")


def _mixing(x, lab, num_modes):
    """Bulk/tail ESS and R-hat of the draws (worst component) and of the mode indicators
    (worst mode among those whose indicator varies; NaN if none does)."""
    draws = xr.Dataset({"x": (("chain", "draw") + tuple(f"d{i}" for i in range(x.ndim - 2)),
                              x.astype(np.float64))})
    ind = (lab[..., None] == np.arange(num_modes)).astype(np.float64)
    # a constant indicator (mode never or always visited) has no variance to compare
    varies = ind.reshape(-1, num_modes).std(0) > 0
    inds = xr.Dataset({"ind": (("chain", "draw", "mode"), ind[..., varies])})
    out = {}
    for name, ds, key in (("", draws, "x"), ("ind_", inds, "ind")):
        empty = ds[key].size == 0
        nan = np.array([np.nan])
        bulk = nan if empty else azc.ess(ds, "bulk")[key]
        tail = nan if empty else azc.ess(ds, "tail")[key]
        rh = nan if empty else azc.rhat(ds)[key]
        # a variable that varies but not within any (split) chain has R-hat B/0 = inf;
        # arviz returns NaN or ~1e15 there depending on rounding
        if not empty:
            spread = ds[key].std(("chain", "draw")).values > 0
            rh = np.where(np.isnan(rh) & spread, np.inf, rh)
        out[name + "ess_bulk"] = _nan_extreme(bulk, np.min)
        out[name + "ess_tail"] = _nan_extreme(tail, np.min)
        out[name + "rhat"] = _nan_extreme(rh, np.max)
    return out


def _fmt_rhat(v):
    return f"{v:.3f}" if not np.isfinite(v) or v < 1e3 else f"{v:.3g}"


@dataclass
class KernelComparison:
    """Result of :func:`compare_kernels`: ``frame`` (one row per run), ``coverage`` (name ->
    :func:`mode_coverage` Dataset) and the target ``weights``. ``str()`` prints the table."""

    frame: pd.DataFrame
    coverage: dict
    weights: Optional[np.ndarray] = None
    notes: list = field(default_factory=list)

    def to_string(self):
        head = []
        if self.weights is not None:
            head.append("target weights: " + ", ".join(f"{w:.3g}" for w in self.weights))
        fmt = {c: ("{:.0f}".format if c.startswith(("ess", "ind_ess", "t_all"))
                   else _fmt_rhat if c.endswith("rhat") else "{:.3f}".format)
               for c in self.frame.columns if self.frame[c].dtype.kind == "f"}
        body = self.frame.to_string(formatters=fmt)
        return "\n".join(head + [body] + self.notes)

    def __str__(self):
        return self.to_string()


def compare_kernels(runs, assign, *, num_modes=None, weights=None, var_name=None,
                    group="posterior", batch_size=None):
    """Several runs in, one table out.

    :param dict runs: name -> run (anything :func:`mode_coverage` accepts as ``data``).
    :param assign: the mode rule (see :func:`mode_rule`).
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
        x, chain, draw = _draws(run, var_name, group, rule.event_ndim)
        cov = _coverage(x, rule, chain, draw, batch_size)
        coverage[name] = cov
        K = rule.num_modes
        row = {"chains": x.shape[0], "draws": x.shape[1],
               "modes_found": int(cov["modes_found"])}
        if rule.weights is not None:
            row["tv"] = float(cov["tv"])
        row.update({f"f{k}": float(cov["frequency"][k]) for k in range(K)})
        row["all_modes"] = float((cov["chain_modes_found"] == K).mean())
        fv = cov["first_visit"].values
        seen_all = np.where((fv >= 0).all(1), fv.max(1), np.inf)
        row["t_all_modes"] = float(np.median(seen_all))
        row["switch_rate"] = float(np.nanmean(cov["switch_rate"].values)) \
            if x.shape[1] > 1 else float("nan")
        row.update(_mixing(x, cov["assigned_mode"].values, K))
        rows[name] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "run"
    notes = ["f_k: pooled mode frequencies; all_modes: fraction of chains that visited every "
             "mode; t_all_modes: median draw index by which a chain had visited every mode "
             "(inf: most chains never did).",
             "ESS: smallest over coordinates / modes; R-hat (rank): largest. ind_*: mode "
             "indicators 1[a=k], nan when no indicator varies (R-hat cannot see modes no "
             "chain visits)."]
    return KernelComparison(frame, coverage, rule.weights, notes)
