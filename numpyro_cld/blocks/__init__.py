"""Building blocks shared by every sampler: the Langevin update and its Metropolis test
(:mod:`.step`), warmup adaptation (:mod:`.adaptation`, and the steps per draw in
:mod:`.thinning`), the patch layout and sweep of the
chained sampler (:mod:`.patches`) and the Gaussian noise of the hot loops (:mod:`.random`).

They know nothing of NumPyro models: every function works on flat arrays and a
``potential_and_score`` callable (see :mod:`numpyro_cld.sources`).
"""

from .adaptation import PatchAdaptState, all_chains, patch_adapt_init, running_mean
from .patches import PatchLayout, patch_layout, scan_patches
from .step import (
    PotentialAndScore,
    StepInfo,
    StepState,
    adaptive_langevin_steps,
    langevin_step,
    langevin_steps,
)

__all__ = [
    "PatchAdaptState",
    "PatchLayout",
    "PotentialAndScore",
    "StepInfo",
    "StepState",
    "adaptive_langevin_steps",
    "langevin_step",
    "langevin_steps",
    "patch_adapt_init",
    "all_chains",
    "patch_layout",
    "running_mean",
    "scan_patches",
]
