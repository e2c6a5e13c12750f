"""numpyro_cld: vanilla, annealed and chained Langevin dynamics as NumPyro MCMC kernels."""

from .kernels import ChainedLangevin, ChainedState
from .kernels import AnnealedLangevin, AnnealedLangevinState, Langevin, LangevinState
from .parallel import sharded_chains
from .step import StepInfo, StepState, langevin_step, langevin_steps
from . import diagnostics  # xarray/pandas only; numpyro_cld.plots is the one with matplotlib

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
