"""Where ``U`` and the score come from: one protocol (:mod:`.protocol`) and its sources.

- :mod:`.potential` - the target from a potential or a score function;
- :mod:`.smoothing` - the ``smooth`` effect handler: exact Gaussian smoothing of a
  model's sites;
- :mod:`.levels` - level sources along an annealing path (exact, Monte-Carlo, tempered,
  learned);
- :mod:`.prefix` / :mod:`.model_prefix` - prefix conditionals of the chained sweep.

Learned networks (:mod:`numpyro_cld.nets`) plug in through the same protocol.
"""

from .levels import (
    exact_level_source,
    mc_level_source,
    score_fn_level_source,
    tempered_level_source,
)
from .model_prefix import NotExactError, latent_sites, model_draws, model_prefix, model_trace
from .potential import check_score_shape, from_potential, from_score
from .prefix import GaussianMixturePrefix, PotentialPrefix
from .protocol import PrefixSource, Source, at_level
from .smoothing import (
    SMOOTHING_OPTIONS,
    UnsupportedSiteError,
    exact_smoothing_problems,
    smooth,
    smooth_distribution,
)
from .tempered import TemperedModel, tempered_model

__all__ = [
    "SMOOTHING_OPTIONS",
    "GaussianMixturePrefix",
    "NotExactError",
    "PotentialPrefix",
    "PrefixSource",
    "Source",
    "UnsupportedSiteError",
    "at_level",
    "check_score_shape",
    "exact_level_source",
    "exact_smoothing_problems",
    "from_potential",
    "from_score",
    "latent_sites",
    "mc_level_source",
    "model_draws",
    "model_prefix",
    "model_trace",
    "score_fn_level_source",
    "smooth",
    "smooth_distribution",
    "TemperedModel",
    "tempered_model",
    "tempered_level_source",
]
