"""Thin :class:`~numpyro.infer.mcmc.MCMCKernel` classes that bind a NumPyro model to the
functional samplers of :mod:`numpyro_cld.samplers`."""

from .annealed import AnnealedLangevin, AnnealedLangevinState
from .base import LangevinBase
from .chained import ChainedLangevin, ChainedState
from .langevin import Langevin
from .tempered import TemperedLangevin

__all__ = [
    "AnnealedLangevin",
    "AnnealedLangevinState",
    "ChainedLangevin",
    "ChainedState",
    "Langevin",
    "LangevinBase",
    "TemperedLangevin",
]
