"""Mode rules: how a draw is assigned to a mode, and the labels of a batch of draws.

A mode rule (:func:`mode_rule`) is one of: a NumPyro mixture distribution (largest
posterior responsibility), a ``numpyro_cld.targets`` target (its own ``assign``), an array
of centres ``(K, *event_shape)`` (nearest in Euclidean distance), or any callable mapping a
batch ``(n, *event_shape)`` to ``n`` integer labels (e.g. an image classifier). See
``docs/diagnostics.md`` (section "Mode rules").
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .draws import real_draws

__all__ = ["ModeRule", "mode_rule", "assign_modes"]


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

    assign: Callable[[Any], ArrayLike]
    num_modes: int
    weights: np.ndarray | None = None
    event_ndim: int | None = None
    event_shape: tuple | None = None


def check_weights(weights: ArrayLike, num_modes: int | None) -> np.ndarray:
    """``weights`` as a float64 array ``(K,)``: finite, non-negative, summing to 1.

    :param weights: the target weights.
    :param num_modes: ``K`` (None: any length).
    """
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


def check_num_modes(num_modes: Any) -> int:
    """``num_modes`` as a positive ``int`` (``ValueError`` otherwise).

    :param num_modes: the number of modes ``K``.
    """
    if isinstance(num_modes, bool) or not isinstance(num_modes, numbers.Integral) or num_modes < 1:
        raise ValueError(f"`num_modes` must be a positive integer, got {num_modes!r}.")
    return int(num_modes)


def check_labels(labels: ArrayLike, num_modes: int, what: str = "`labels`") -> np.ndarray:
    """``labels`` as an int64 array with values in ``0..num_modes-1``.

    :param labels: integer (or boolean) mode labels.
    :param int num_modes: ``K``.
    :param str what: how the labels are named in error messages.
    """
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


def _mixture_rule(d) -> ModeRule:
    import jax
    import jax.numpy as jnp

    if d.batch_shape != ():
        raise ValueError(
            f"`assign`: the mixture must describe one target (batch_shape ()), got batch "
            f"shape {d.batch_shape}."
        )
    comp = jax.jit(lambda x: jnp.argmax(d.component_log_probs(x), axis=-1))
    return ModeRule(
        lambda x: comp(jnp.asarray(x)),
        int(d.mixture_size),
        np.asarray(d.mixing_distribution.probs, np.float64),
        len(d.event_shape),
        tuple(d.event_shape),
    )


def _centres_rule(centres: ArrayLike) -> ModeRule:
    c = np.asarray(real_draws(np.asarray(centres), "centres"), dtype=np.float64)
    flat = c.reshape(c.shape[0], -1)

    def nearest(x: ArrayLike) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; |x|^2 does not change the argmin
        return np.argmin(-2.0 * x @ flat.T + (flat**2).sum(-1), axis=-1)

    return ModeRule(nearest, c.shape[0], None, c.ndim - 1, c.shape[1:])


def _target_rule(target: Any) -> ModeRule:
    # a numpyro_cld.targets target: its own rule, weights and event shape (dim,)
    w = getattr(target, "weights", None)
    event_shape = (int(target.dim),) if hasattr(target, "dim") else None
    return ModeRule(
        target.assign,
        int(target.num_modes),
        None if w is None else np.asarray(w, np.float64),
        None if event_shape is None else 1,
        event_shape,
    )


def _array_rule(assign: Any) -> ModeRule:
    c = np.asarray(assign)
    if (
        c.ndim < 2
        or not np.issubdtype(c.dtype, np.number)
        or c.shape[0] < 1
        or not np.all(np.isfinite(c))
    ):
        raise ValueError(
            "`assign` as centres must be a finite numeric array (K, *event_shape), got "
            f"shape {c.shape}."
        )
    return _centres_rule(c)


def mode_rule(
    assign: Any, *, num_modes: int | None = None, weights: ArrayLike | None = None
) -> ModeRule:
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
        rule = _target_rule(assign)
    elif callable(assign):
        if num_modes is None and weights is None:
            raise ValueError(
                "`num_modes` (or `weights`) must be given with a callable `assign`: the "
                "number of modes cannot be read off a function."
            )
        k = check_num_modes(num_modes) if num_modes is not None else len(np.ravel(weights))
        rule = ModeRule(assign, k)
    elif isinstance(assign, (np.ndarray, list, tuple)) or hasattr(assign, "__array__"):
        rule = _array_rule(assign)
    else:
        raise TypeError(
            "`assign` must be a mixture distribution, a numpyro_cld target, an array of "
            f"centres or a callable, got {type(assign).__name__}."
        )
    if num_modes is not None and check_num_modes(num_modes) != rule.num_modes:
        raise ValueError(f"`num_modes` is {num_modes} but the rule has {rule.num_modes} modes.")
    if weights is not None:
        rule = ModeRule(
            rule.assign,
            rule.num_modes,
            check_weights(weights, rule.num_modes),
            rule.event_ndim,
            rule.event_shape,
        )
    elif rule.weights is not None:
        check_weights(rule.weights, rule.num_modes)
    return rule


def _split_event(x: np.ndarray, rule: ModeRule, batch_ndim: int | None) -> tuple:
    if batch_ndim is None:
        batch_ndim = x.ndim - rule.event_ndim if rule.event_ndim is not None else 1
    if not 0 <= batch_ndim <= x.ndim or (
        rule.event_ndim is not None and x.ndim - batch_ndim != rule.event_ndim
    ):
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
    return batch, event


def assign_modes(
    draws: ArrayLike,
    assign: Any,
    *,
    num_modes: int | None = None,
    batch_ndim: int | None = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """Mode labels of ``draws`` of shape ``(*batch, *event_shape)``: shape ``batch``.

    :param draws: array of draws.
    :param assign: a mode rule or anything :func:`mode_rule` accepts.
    :param int num_modes: ``K`` (see :func:`mode_rule`).
    :param int batch_ndim: number of leading batch dimensions; default: all but the
        rule's event dimensions, or 1 when the rule does not know its event shape.
    :param int batch_size: call the rule on at most this many draws at a time.
    :return: int64 labels of shape ``batch``.
    """
    rule = mode_rule(assign, num_modes=num_modes)
    x = real_draws(np.asarray(draws), "draws")
    if np.issubdtype(x.dtype, np.number) and not np.all(np.isfinite(x)):
        # a NaN draw is nearest to no centre and most responsible to no component: the
        # rules would all label it mode 0
        raise ValueError(
            f"`draws` contains {int(np.sum(~np.isfinite(x)))} NaN or infinite values (of "
            f"{x.size}); a diverged chain has no mode. Drop or fix those draws first."
        )
    if batch_size is not None and (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, numbers.Integral)
        or batch_size < 1
    ):
        raise ValueError(f"`batch_size` must be a positive integer or None, got {batch_size!r}.")
    batch, event = _split_event(x, rule, batch_ndim)
    flat = x.reshape((-1,) + event)
    n = flat.shape[0]
    step = max(int(batch_size), 1) if batch_size else max(n, 1)
    parts = []
    for i in range(0, n, step):
        chunk = flat[i : i + step]
        out = np.asarray(rule.assign(chunk))
        if out.shape != (len(chunk),):
            raise ValueError(
                f"`assign` must return one label per draw, shape ({len(chunk)},) for a "
                f"batch of shape {chunk.shape}; got shape {out.shape}."
            )
        parts.append(out)
    labels = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return check_labels(labels, rule.num_modes, "`assign` output").reshape(batch)
