"""Sphinx configuration: Markdown pages (MyST) plus an API reference from docstrings."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("_ext"))  # architecture_diagram.py

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
# figures/: script outputs (tables, JSON); _generated/: written by the build (gitignored)
exclude_patterns = ["_build", "_ext", "_generated", "README.md", "figures/**"]
html_theme = "alabaster"
autodoc_member_order = "bysource"
autodoc_typehints = "none"
suppress_warnings = ["myst.header", "myst.xref_missing"]


def _architecture_diagram(app):
    """Draw the layer diagram of architecture.md from the package's imports, before the
    pages are read (docs/_ext/architecture_diagram.py; matplotlib with the Agg backend)."""
    from architecture_diagram import generate

    generate(
        os.path.join(app.srcdir, "_generated", "architecture.png"),
        os.path.join(os.path.dirname(app.srcdir), "numpyro_cld"),
    )


def setup(app):
    app.connect("builder-inited", _architecture_diagram)
