"""numpyro_cld: vanilla, annealed and chained Langevin dynamics as NumPyro MCMC kernels.

Layers (``docs/architecture.md``): :mod:`~numpyro_cld.blocks` (the update, the Metropolis
test, adaptation, patches) -> :mod:`~numpyro_cld.sources` (where ``U`` and the score come
from) -> :mod:`~numpyro_cld.samplers` (pure ``init`` / ``step`` functions) ->
:mod:`~numpyro_cld.kernels` (NumPyro ``MCMCKernel`` classes).
"""

import importlib

from . import kernels
from .blocks import StepInfo, StepState, langevin_step, langevin_steps
from .kernels import *  # noqa: F403 (the kernel classes and their states)
from .parallel import sharded_chains
from .samplers import LangevinState, annealed, chained, langevin, replica_exchange

__version__ = "0.2.0.dev0"

__all__ = [
    "LangevinState",
    "annealed",
    "chained",
    "langevin",
    "replica_exchange",
    "StepInfo",
    "StepState",
    "langevin_step",
    "langevin_steps",
    "sharded_chains",
]
__all__ += kernels.__all__

# modules that load on first use: diagnostics (xarray, pandas), plots (matplotlib) and nets
# (flax) are heavy, so that `import numpyro_cld` costs only the kernels
_LAZY = (
    "diagnostics",
    "plots",
    "nets",
    "calibration",
    "data",
)


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'numpyro_cld' has no attribute {name!r}")
