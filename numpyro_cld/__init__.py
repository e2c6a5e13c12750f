"""numpyro_cld: vanilla, annealed and chained Langevin dynamics as NumPyro MCMC kernels."""

from .kernels import ChainedLangevin, ChainedState
from .kernels import AnnealedLangevin, AnnealedLangevinState, Langevin, LangevinState
from .parallel import sharded_chains
from .step import StepInfo, StepState, langevin_step, langevin_steps

__version__ = "0.1.0"

__all__ = [
    "ChainedLangevin",
    "ChainedState",
    "AnnealedLangevin",
    "AnnealedLangevinState",
    "Langevin",
    "LangevinState",
    "StepInfo",
    "StepState",
    "langevin_step",
    "langevin_steps",
    "sharded_chains",
]


def __getattr__(name):
    # diagnostics (xarray, pandas), plots (matplotlib) and nets (flax) load on first use, so
    # that `import numpyro_cld` costs only the kernels
    if name in ("diagnostics", "plots", "nets", "calibration", "data"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'numpyro_cld' has no attribute {name!r}")
