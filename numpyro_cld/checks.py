"""Argument checks shared by the kernels and samplers: each names the parameter and what was
expected."""

import inspect
import math
import numbers
import os
import warnings

import jax
import numpy as np
import numpyro


def positive_float(name, value):
    if isinstance(value, jax.core.Tracer):
        # a step size traced by the user's jit (an MCMC run inside jax.jit, as NumPyro allows):
        # its value is unknown until run time and passes unchecked
        return value
    # `number` refuses a bool (True would be read as 1.0) and a string, as every other check
    v = number(name, value, "a positive finite number")
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"`{name}` must be a positive finite number, got {value!r}.")
    return v


def _int_at_least(name, value, low, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be a {what}, got {value!r}.")
    if value < low:
        bound = " (>= 1)" if low == 1 else ""
        raise ValueError(f"`{name}` must be a {what}{bound}, got {value!r}.")
    return int(value)


def positive_int(name, value):
    return _int_at_least(name, value, 1, "positive integer")


def number(name, value, expected="a number"):
    """``value`` as a ``float``; ``TypeError`` naming ``name`` if it is not a real number."""
    if isinstance(value, (str, bytes, bool)):
        raise TypeError(f"`{name}` must be {expected}, got {value!r}.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be {expected}, got {value!r}.") from None


def nonnegative_int(name, value):
    """``value`` as an ``int`` >= 0 (a seed, a number of warmup steps)."""
    return _int_at_least(name, value, 0, "non-negative integer")


def open_unit(name, value):
    if isinstance(value, jax.core.Tracer):
        return value  # traced by the user's jit, as positive_float: checked at run time by no one
    v = number(name, value, "a number strictly between 0 and 1")
    if not 0 < v < 1:
        raise ValueError(f"`{name}` must lie strictly between 0 and 1, got {value!r}.")
    return v


def flag(name, value) -> bool:
    """``value`` as a ``bool``; ``TypeError`` naming ``name`` unless it is a bool (or a NumPy
    bool, or the integer 0 or 1): ``bool("no")`` is True, so a string must not pass."""
    if isinstance(value, (bool, np.bool_)) or (
        isinstance(value, numbers.Integral) and value in (0, 1)
    ):
        return bool(value)
    raise TypeError(f"`{name}` must be True or False, got {value!r:.60}.")


def adapt_if_adjusted(adapt_step_size, adjust: bool) -> bool:
    """``adapt_step_size`` resolved against ``adjust``: by default adapted exactly when there
    is a Metropolis test (dual averaging targets its acceptance rate); asked for explicitly
    without one, refused rather than dropped."""
    if adapt_step_size is None:
        return adjust
    flag("adapt_step_size", adapt_step_size)
    if adapt_step_size and not adjust:
        raise ValueError(
            "`adapt_step_size=True` needs adjust=True: the step size is adapted to the "
            "Metropolis acceptance rate, which ULA (adjust=False) does not have; pass "
            "adjust=True, or drop `adapt_step_size` to run ULA at the given step_size."
        )
    return flag("adapt_step_size", adapt_step_size)


def one_of(name, value, options):
    if value not in options:
        raise ValueError(f"`{name}` must be one of {sorted(options)}, got {value!r}.")
    return value


def float_array(name, value, dtype=np.float64):
    """``value`` as a float array; ``TypeError`` naming ``name`` if it is not numeric."""
    try:
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be an array of numbers, got {value!r:.80}.") from None


def finite_array(name, value):
    arr = np.asarray(value)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must contain only finite values.")
    return arr


def inverse_mass(name, value):
    """An inverse mass matrix: positive finite entries (diagonal, a vector) or a symmetric
    positive-definite matrix (dense); ``None`` passes. A zero, negative, NaN or indefinite
    one would freeze the chain (every proposal non-finite or rejected)."""
    if value is None:
        return None
    arr = float_array(name, value)
    if arr.ndim == 1:
        if arr.size == 0 or not np.all(np.isfinite(arr) & (arr > 0)):
            raise ValueError(f"`{name}` must be positive and finite, got {arr.tolist()!r:.80}.")
        return value
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(
            f"`{name}` must be a vector (diagonal) or a square matrix (dense), got shape "
            f"{arr.shape}."
        )
    ok = np.all(np.isfinite(arr)) and np.allclose(arr, arr.T)
    if ok:
        try:
            np.linalg.cholesky(arr)
        except np.linalg.LinAlgError:
            ok = False
    if not ok:
        raise ValueError(f"`{name}` must be symmetric positive definite and finite.")
    return value


def renamed(new_name, new_value, old_name, old_value, stacklevel=3):
    """The value of an argument renamed from ``old_name`` to ``new_name``: the old name still
    works for one release, with a ``FutureWarning``; giving both is an error."""
    if old_value is None:
        return new_value
    if new_value is not None:
        raise ValueError(f"Give `{new_name}` only: `{old_name}` is its former name.")
    warnings.warn(
        f"`{old_name}` is renamed `{new_name}` (same meaning); `{old_name}` will be "
        "removed in version 0.3.0.",
        FutureWarning,
        stacklevel=stacklevel,
    )
    return old_value


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the user's line: the first frame, from
    the one that calls ``warnings.warn``, outside this package, NumPyro and JAX (a kernel's
    warnings are raised under ``MCMC.run``, several calls deep)."""
    inside = tuple(os.path.dirname(m.__file__) + os.sep for m in (numpyro, jax)) + (
        os.path.dirname(__file__) + os.sep,
    )
    frame, level = inspect.currentframe().f_back, 1
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    return level


def concrete_in(name, value, low, high, expected, closed=False):
    """Check a host-known ``value`` (every entry) against ``low < v < high`` (``<=`` when
    ``closed``): ``ValueError`` naming ``name`` and ``expected`` (NaN fails). A value traced
    by ``jit``/``vmap``/``scan`` passes unchecked, so that compiled code still works."""
    if any(isinstance(a, jax.core.Tracer) for a in jax.tree.leaves(value)):
        return value
    if isinstance(value, (str, bytes, bool)):
        raise TypeError(f"`{name}` must be {expected}, got {value!r}.")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be {expected}, got {value!r:.80}.") from None
    ok = (arr >= low) & (arr <= high) if closed else (arr > low) & (arr < high)
    if not np.all(ok):  # NaN compares False
        bad = np.ravel(arr[~ok] if arr.ndim else arr)[:4].tolist()
        raise ValueError(f"`{name}` must be {expected}, got {bad[0] if len(bad) == 1 else bad}.")
    return value
