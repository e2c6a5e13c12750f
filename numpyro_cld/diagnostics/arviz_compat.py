"""Everything that differs between arviz 0.23 and arviz 1.x, in one place.

arviz 0.23 returns :class:`arviz.InferenceData` (groups are ``xarray.Dataset``); arviz 1.x
(split into arviz-base / arviz-stats / arviz-plots) returns ``xarray.DataTree`` (groups are
``DataTree`` nodes) and ships different matplotlib styles. The functions used elsewhere in
numpyro_cld -- ``az.ess(dataset, method=...)``, ``az.rhat(dataset, method="rank")`` and
``az.from_numpyro(mcmc)`` -- exist with the same meaning in both; group access, attaching a
group and the plot style are wrapped here. arviz is imported lazily so that
``import numpyro_cld`` stays fast.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "arviz",
    "is_inference_data",
    "get_group",
    "attach_group",
    "from_arrays",
    "ess",
    "rhat",
    "plot_style",
]

# arviz 0.23 style first, then the arviz-plots (1.x) default style
_STYLES = ("arviz-darkgrid", "arviz-variat", "arviz-vibrant")


def arviz() -> ModuleType:
    """The ``arviz`` module (imported on first use; its import-time FutureWarning about
    the 1.x refactor is silenced)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


def _datatree_type() -> type | None:
    return getattr(xr, "DataTree", None)


def is_inference_data(obj: Any) -> bool:
    """An arviz 0.23 ``InferenceData`` or an arviz 1.x ``DataTree``.

    :param obj: any object.
    """
    dt = _datatree_type()
    if dt is not None and isinstance(obj, dt):
        return True
    # InferenceData is checked by name so that arviz need not be imported here
    return any(c.__name__ == "InferenceData" for c in type(obj).__mro__)


def get_group(data: Any, group: str) -> xr.Dataset:
    """Group ``group`` of an InferenceData / DataTree as an ``xarray.Dataset``.

    :param data: an InferenceData or DataTree.
    :param str group: the group's name.
    """
    dt = _datatree_type()
    try:
        node = data[group]
    except KeyError:
        node = None
    if node is None or (dt is not None and isinstance(node, dt) and not node.data_vars):
        raise ValueError(f"`group` {group!r} is not in the inference data.")
    if dt is not None and isinstance(node, dt):
        return node.to_dataset()
    return node


def attach_group(data: Any, group: str, dataset: xr.Dataset) -> Any:
    """Add ``dataset`` to ``data`` as group ``group`` (in place) and return ``data``.

    :param data: an InferenceData or DataTree.
    :param str group: the new group's name.
    :param dataset: the group's content.
    """
    dt = _datatree_type()
    if dt is not None and isinstance(data, dt):
        data[group] = dt(dataset=dataset)
        return data
    import warnings

    with warnings.catch_warnings():
        # arviz 0.23 warns for group names outside its schema; this one is ours on purpose
        warnings.simplefilter("ignore", UserWarning)
        data.add_groups({group: dataset})
    return data


def from_arrays(posterior: dict) -> Any:
    """InferenceData (0.23) / DataTree (1.x) with a posterior group from arrays
    ``(chain, draw, ...)``; ``az.from_dict`` changed its signature in 1.x.

    :param dict posterior: variable name -> array ``(chain, draw, ...)``; every variable
        has the same numbers of chains and draws.
    """
    if not isinstance(posterior, dict):
        raise TypeError(
            "`posterior` must be a dict of variable name -> array (chain, draw, ...), got "
            f"{type(posterior).__name__}."
        )
    sizes = {}
    for name, value in posterior.items():
        shape = np.shape(value)
        if len(shape) < 2:
            raise ValueError(
                f"`posterior[{name!r}]` must have shape (chain, draw, ...), got {shape}; for "
                "a single chain use value[None]."
            )
        sizes[name] = shape[:2]
    if len(set(sizes.values())) > 1:
        raise ValueError(
            "`posterior` variables must share their (chain, draw) sizes, got "
            + ", ".join(f"{k}: {v}" for k, v in sizes.items())
            + "."
        )
    az = arviz()
    if int(az.__version__.split(".")[0]) >= 1:
        return az.from_dict({"posterior": posterior})
    return az.from_dict(posterior=posterior)


def _per_variable(result: Any, name: str) -> np.ndarray:
    return np.asarray(result[name].values, dtype=float)


def ess(dataset: xr.Dataset, method: str) -> dict[str, np.ndarray]:
    """ArviZ ESS (``"bulk"`` or ``"tail"``) of each variable over ``chain`` and ``draw``.

    :param dataset: variables with ``chain`` and ``draw`` dimensions.
    :param str method: ``"bulk"`` or ``"tail"``.
    """
    out = arviz().ess(dataset, method=method)
    return {name: _per_variable(out, name) for name in dataset.data_vars}


def rhat(dataset: xr.Dataset) -> dict[str, np.ndarray]:
    """ArviZ rank-normalised split R-hat of each variable over ``chain`` and ``draw``.

    A single chain is split into its two halves first: ArviZ needs two chains (it returns
    NaN for one), and split R-hat compares a chain's halves, which is what one chain can say.

    :param dataset: variables with ``chain`` and ``draw`` dimensions.
    """
    import warnings

    if dataset.sizes["chain"] == 1 and dataset.sizes["draw"] >= 8:
        half = dataset.sizes["draw"] // 2
        dataset = xr.concat(
            [
                dataset.isel(draw=slice(0, half)),
                dataset.isel(draw=slice(half, 2 * half)).assign_coords(
                    draw=dataset.draw.values[:half]
                ),
            ],
            dim="chain",
        )
    with warnings.catch_warnings():
        # constant variables give 0/0; arviz 1.x warns, the result is NaN in both
        warnings.simplefilter("ignore", RuntimeWarning)
        out = arviz().rhat(dataset, method="rank")
    return {name: _per_variable(out, name) for name in dataset.data_vars}


def plot_style() -> str:
    """Name of an ArviZ matplotlib style available here (``"default"`` if none is)."""
    import matplotlib.pyplot as plt

    arviz()  # both arviz 0.23 and arviz-plots register their styles on import
    available = set(plt.style.available)
    return next((s for s in _STYLES if s in available), "default")
