from .annealed import AnnealedLangevin, AnnealedLangevinState
from .base import LangevinBase
from .chained import ChainedLangevin, ChainedState
from .langevin import Langevin, LangevinState

__all__ = ["ChainedLangevin", "ChainedState", "AnnealedLangevin", "AnnealedLangevinState", "LangevinBase", "Langevin", "LangevinState"]
