"""Deprecated: moved to :mod:`numpyro_cld.sources.potential`; this path goes in 0.3.0."""

import warnings

from .sources.potential import *  # noqa: F403
from .sources.potential import __all__  # noqa: F401

warnings.warn(
    "`numpyro_cld.scores` moved to `numpyro_cld.sources.potential`; the old path will be removed "
    "in version 0.3.0.",
    FutureWarning,
    stacklevel=2,
)
