"""Deprecated: moved to :mod:`numpyro_cld.blocks.step`; this path goes in 0.3.0."""

import warnings

from .blocks.step import *  # noqa: F403
from .blocks.step import __all__  # noqa: F401

warnings.warn(
    "`numpyro_cld.step` moved to `numpyro_cld.blocks.step`; the old path will be removed "
    "in version 0.3.0.",
    FutureWarning,
    stacklevel=2,
)
