from .base import LangevinBase
from .langevin import Langevin, LangevinState

__all__ = ["LangevinBase", "Langevin", "LangevinState"]
