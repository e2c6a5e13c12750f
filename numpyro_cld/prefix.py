"""Deprecated: moved to :mod:`numpyro_cld.sources.protocol`; this path goes in 0.3.0."""

import warnings

from .sources.protocol import *  # noqa: F403
from .sources.protocol import __all__  # noqa: F401

warnings.warn(
    "`numpyro_cld.prefix` moved to `numpyro_cld.sources.protocol`; the old path will be removed "
    "in version 0.3.0.",
    FutureWarning,
    stacklevel=2,
)
