"""Sphinx configuration: Markdown pages (MyST) plus an API reference from docstrings."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "numpyro_cld"
author = "numpyro_cld developers"
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "README.md", "figures/**"]  # figures/: script outputs (tables, JSON)
html_theme = "alabaster"
autodoc_member_order = "bysource"
autodoc_typehints = "none"
suppress_warnings = ["myst.header", "myst.xref_missing"]
