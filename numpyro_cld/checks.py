"""Argument checks shared by the kernels and samplers: each names the parameter and what was
expected."""

import math
import numbers
import warnings

import jax
import numpy as np


def positive_float(name, value):
    if isinstance(value, jax.core.Tracer):
        # a step size traced by the user's jit (an MCMC run inside jax.jit, as NumPyro allows):
        # its value is unknown until run time and passes unchecked
        return value
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a positive finite number, got {value!r}.") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"`{name}` must be a positive finite number, got {value!r}.")
    return v


def positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be a positive integer, got {value!r}.")
    if value < 1:
        raise ValueError(f"`{name}` must be a positive integer (>= 1), got {value!r}.")
    return int(value)


def open_unit(name, value):
    v = float(value)
    if not 0 < v < 1:
        raise ValueError(f"`{name}` must lie strictly between 0 and 1, got {value!r}.")
    return v


def one_of(name, value, options):
    if value not in options:
        raise ValueError(f"`{name}` must be one of {sorted(options)}, got {value!r}.")
    return value


def finite_array(name, value):
    arr = np.asarray(value)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must contain only finite values.")
    return arr


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
