"""Draws with a chain dimension, from any run: a NumPyro ``MCMC`` object, an ArviZ
``InferenceData`` / ``DataTree``, an ``xarray`` object or an array ``(chain, draw, ...)``.

Helpers of :mod:`numpyro_cld.diagnostics`, not part of its public API.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import xarray as xr

from . import arviz_compat as azc


def _pick(named: Iterable[str], var_name: str | None, what: str) -> str:
    names = list(named)
    if var_name is None:
        if len(names) != 1:
            raise ValueError(f"`var_name` must be given: the {what} has variables {names}.")
        var_name = names[0]
    if var_name not in names:
        raise ValueError(f"`var_name` {var_name!r} is not in the {what}; it has {names}.")
    return var_name


def no_chain_error(shape: tuple, event_ndim: int) -> ValueError:
    """The error for draws of shape ``shape`` that lack the ``chain`` dimension.

    :param tuple shape: the shape of the draws.
    :param int event_ndim: number of event dimensions of one draw.
    """
    return ValueError(
        f"`draws` needs a chain dimension: expected (chain, draw, *event_shape) with "
        f"{event_ndim} event dimension(s), got shape {shape}; for a single chain use "
        "draws[None]."
    )


def _mcmc_draws(mcmc: Any, var_name: str | None) -> np.ndarray:
    samples = mcmc.get_samples(group_by_chain=True)
    if isinstance(samples, dict):
        return np.asarray(samples[_pick(samples, var_name, "MCMC samples")])
    import jax

    leaves = jax.tree.leaves(samples)
    if len(leaves) != 1:
        raise ValueError(
            "`data`: MCMC samples with several arrays must be a dict so that "
            "`var_name` can choose one."
        )
    return np.asarray(leaves[0])


def real_draws(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` unless it is complex: a complex draw has no mode, and NumPy's cast to float
    would drop its imaginary part with only a ``ComplexWarning``."""
    if np.iscomplexobj(x):
        raise TypeError(
            f"`{name}` must be real, got a complex array (dtype {x.dtype}); pass its real "
            "part, imaginary part or modulus explicitly."
        )
    return x


def _chain_draws(
    data: Any, var_name: str | None, group: str, event_ndim: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(draws, chain_coord, draw_coord)`` with draws of shape ``(chain, draw, *event)``.

    :param data: a NumPyro ``MCMC`` object (after ``run``), an ArviZ ``InferenceData``
        (or arviz 1.x ``DataTree``), an ``xarray`` Dataset/DataArray with ``chain`` and
        ``draw`` dimensions, or an array ``(chain, draw, *event_shape)``.
    :param var_name: the sample site / variable holding the draws (None: the only one).
    :param str group: InferenceData group of the draws.
    :param event_ndim: number of event dimensions of one draw, if known.
    """
    from numpyro.infer import MCMC

    if isinstance(data, MCMC):
        x = _mcmc_draws(data, var_name)
        return x, np.arange(x.shape[0]), np.arange(x.shape[1])
    if azc.is_inference_data(data):
        data = azc.get_group(data, group)
    if isinstance(data, xr.Dataset):
        data = data[_pick(data.data_vars, var_name, "dataset")]
    if isinstance(data, xr.DataArray):
        if "chain" not in data.dims or "draw" not in data.dims:
            raise ValueError(f"`draws` needs 'chain' and 'draw' dimensions, got dims {data.dims}.")
        data = data.transpose("chain", "draw", ...)
        return np.asarray(data.values), data["chain"].values, data["draw"].values
    x = np.asarray(data)
    if not np.issubdtype(x.dtype, np.number):
        raise TypeError(
            "`data` must be an MCMC object, InferenceData, xarray object or numeric array, "
            f"got {type(data).__name__}."
        )
    if x.ndim < 2 + (event_ndim or 0):
        raise no_chain_error(x.shape, event_ndim or 0)
    return x, np.arange(x.shape[0]), np.arange(x.shape[1])


def chain_draws(
    data: Any, var_name: str | None, group: str, event_ndim: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(draws, chain_coord, draw_coord)`` with draws of shape ``(chain, draw, *event)``
    (see :func:`_chain_draws`); ``TypeError`` naming ``data`` for complex draws."""
    x, chain, draw = _chain_draws(data, var_name, group, event_ndim)
    return real_draws(x, "data"), chain, draw
