"""The package's layering, read from the code with :mod:`ast` (nothing is imported): every
import of a core module (absolute or relative, at module level or inside a function, and
``importlib.import_module`` of a constant name) points down, never up, and never out of the
core. The second test feeds the checker upward imports and checks that it reports them."""

import ast
from pathlib import Path

import pytest

PACKAGE = "numpyro_cld"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / PACKAGE

# The core, bottom to top: the layers blocks -> sources -> samplers -> kernels, with the
# shared helpers where their own imports put them. checks, notes and scales import no layer, so
# every layer may use them; schedules imports blocks.random (GaussianBase.sample), so it
# sits above blocks, and blocks may not import it. A core module may import its own group
# and the groups below it: no higher group, and nothing outside the core (the package's
# __init__, examples, diagnostics, plots, nets, calibration, targets, data, parallel).
CORE = ("checks", "notes", "scales", "blocks", "schedules", "sources", "samplers", "kernels")
ALLOWED = {group: CORE[: i + 1] for i, group in enumerate(CORE)}


def discover(package_dir=PACKAGE_DIR):
    """``{dotted module name: (is_package, source)}`` for every module of the package."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = (PACKAGE, *path.relative_to(package_dir).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        modules[name] = (is_package, path.read_text(encoding="utf-8"))
    return modules


def _resolve(name, is_package, level, module):
    """The absolute name of ``from <level dots><module> import ...`` in module ``name``."""
    base = name.split(".") if is_package else name.split(".")[:-1]
    if level > len(base):
        raise ValueError(f"{name}: relative import beyond the top-level package")
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports(name, is_package, source, known):
    """``(line, imported module)`` for every import of the package by module ``name``;
    ``from x import y`` counts as an import of ``x.y`` when that is a module in ``known``."""
    found = []
    for node in ast.walk(ast.parse(source, filename=name)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = (
                _resolve(name, is_package, node.level, node.module) if node.level else node.module
            )
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((node.lineno, sub if sub in known else target))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Name, ast.Attribute))
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            target = node.args[0].value
            if target.startswith("."):
                dots = len(target) - len(target.lstrip("."))
                target = _resolve(name, is_package, dots, target.lstrip(".") or None)
            found.append((node.lineno, target))
    return [(line, t) for line, t in found if t == PACKAGE or t.startswith(PACKAGE + ".")]


def group(name):
    """``numpyro_cld.sources.prefix`` -> ``sources``; the package itself -> ``numpyro_cld``."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else PACKAGE


def violations(modules):
    """One line per import of a core module that points up or out of the core."""
    out = []
    for name, (is_package, source) in sorted(modules.items()):
        own = group(name)
        if own not in ALLOWED or name == PACKAGE:
            continue
        for line, target in imports(name, is_package, source, modules):
            if group(target) not in ALLOWED[own]:
                out.append(
                    f"{name} (line {line}) imports {target}: {own} may import only "
                    f"{', '.join(ALLOWED[own])}"
                )
    return out


def test_imports_point_down_the_layers():
    modules = discover()
    # the checker sees the whole core and its imports (an empty walk would pass vacuously)
    assert {group(n) for n in modules} >= set(CORE)
    edges = {
        (group(n), group(t)) for n, (p, s) in modules.items() for _, t in imports(n, p, s, modules)
    }
    assert {("kernels", "samplers"), ("samplers", "sources"), ("sources", "blocks")} <= edges
    bad = violations(modules)
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


SYNTHETIC = {
    # module name, is_package, source, the import that must be reported
    "relative-up-two": ("numpyro_cld.blocks.synthetic", False,
                        "from ..kernels import base\n", "numpyro_cld.kernels.base"),
    "absolute": ("numpyro_cld.sources.synthetic", False,
                 "import numpyro_cld.samplers.langevin\n", "numpyro_cld.samplers.langevin"),
    "package-init": ("numpyro_cld.samplers", True,
                     "from .. import kernels\n", "numpyro_cld.kernels"),
    "shared-helper": ("numpyro_cld.checks", False,
                      "from .kernels import langevin\n", "numpyro_cld.kernels.langevin"),
    "scales-uses-a-layer": ("numpyro_cld.scales", False,
                            "from .blocks import random\n", "numpyro_cld.blocks.random"),
    "blocks-uses-schedules": ("numpyro_cld.blocks.synthetic", False,
                              "from ..schedules import ncsn_sigmas\n", "numpyro_cld.schedules"),
    "lazy-in-a-function": ("numpyro_cld.samplers.synthetic", False,
                           "def f():\n    from ..examples import families\n",
                           "numpyro_cld.examples.families"),
    "the-package-api": ("numpyro_cld.kernels.synthetic", False,
                        "from numpyro_cld import Langevin\n", "numpyro_cld"),
    "import-module": ("numpyro_cld.sources.synthetic", False,
                      "import importlib\nimportlib.import_module('numpyro_cld.diagnostics')\n",
                      "numpyro_cld.diagnostics"),
}  # fmt: skip


@pytest.mark.parametrize("case", SYNTHETIC)
def test_an_upward_import_is_reported(case):
    name, is_package, source, target = SYNTHETIC[case]
    modules = discover()
    modules[name] = (is_package, source)  # a new module, or in place of a real one
    bad = [v for v in violations(modules) if v.startswith(f"{name} ")]
    assert len(bad) == 1 and f"imports {target}:" in bad[0], bad


def test_a_downward_import_is_not_reported():
    modules = discover()
    modules["numpyro_cld.kernels.synthetic"] = (
        False,
        "from ..blocks import step\nfrom ..schedules import ncsn_sigmas\nfrom . import base\n",
    )
    assert not [v for v in violations(modules) if "synthetic" in v]
