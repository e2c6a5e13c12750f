"""Deprecated: moved to :mod:`numpyro_cld.sources`; this path goes in 0.3.0."""

import warnings

from .sources import *  # noqa: F403
from .sources import __all__  # noqa: F401

warnings.warn(
    "`numpyro_cld.smoothing` moved to `numpyro_cld.sources`; the old path will be removed "
    "in version 0.3.0.",
    FutureWarning,
    stacklevel=2,
)
