"""The layer diagram of ``docs/architecture.md``, generated from the code.

Every module of ``numpyro_cld`` is parsed with :mod:`ast` (nothing is imported, so the
diagram builds without JAX); the imports between modules of the package (absolute,
relative, at module level or inside functions) are the edges. Modules are grouped into the
four layers ``blocks -> sources -> samplers -> kernels``, a column of shared helpers and the
groups beside the layers (networks, diagnostics, applications and the example families). The
figure draws one box per module inside its layer band and

- between adjacent layers, one arrow per importing pair of modules;
- between layers that are not adjacent, and to and from the groups beside them, one
  aggregated arrow labelled with the number of module pairs (and the modules imported);
- a dotted arrow from a module outside :mod:`numpyro_cld.sources` that defines a class with
  every method of the ``PrefixSource`` protocol (it plugs in without importing it);
- in red, any import against the layering (a lower layer importing a higher one).

Usage: ``python docs/_ext/architecture_diagram.py OUT.png [PACKAGE_DIR]``; the Sphinx build
calls :func:`generate` from ``docs/conf.py``.
"""

from __future__ import annotations

import ast
import os
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "numpyro_cld"

# the four layers, bottom to top: (group, title, what it owns)
CORE = [
    ("blocks", "blocks", "the Langevin update and MH test, adaptation, patches (flat arrays)"),
    ("sources", "sources", "where U and the score come from: source(x, level, rng_key) -> (U, s)"),
    ("samplers", "samplers", "functional core: pure init / step over flat arrays"),
    ("kernels", "kernels", "NumPyro MCMCKernel classes: bind a model to a sampler"),
]
SHARED = ("shared", "shared", "argument checks, schedules, noise scales")
SIDE = [  # the column on the right, each band level with a core band (or the top)
    ("beside", "applications", "targets, data, plots, SBC, sharding", "top"),
    ("diagnostics", "diagnostics", "mode coverage on ArviZ", "samplers"),
    ("nets", "nets", "Flax NNX score networks", "sources"),
]
SHARED_MODULES = {"checks", "schedules", "scales"}
COLOURS = {
    "blocks": "#dbe9f6",
    "sources": "#e2f0d9",
    "samplers": "#fdebd3",
    "kernels": "#f3dcea",
    "shared": "#ececec",
    "nets": "#e6e0f3",
    "diagnostics": "#d9f0ef",
    "beside": "#f4f1d0",
    "api": "#ffffff",
}
EDGE_COLOURS = {
    "blocks": "#2f6ea8",
    "sources": "#3f8a2f",
    "samplers": "#c07418",
    "kernels": "#a33b7a",
    "shared": "#666666",
    "nets": "#6a52a8",
    "diagnostics": "#23817b",
    "beside": "#8a7d12",
    "api": "#333333",
}


@dataclass
class Module:
    name: str  # dotted, e.g. numpyro_cld.blocks.step ("numpyro_cld.blocks" for a package)
    path: Path
    is_package: bool
    doc: str
    group: str = ""
    classes: dict = field(default_factory=dict)  # class name -> set of method names
    tree: ast.Module | None = None

    @property
    def short(self) -> str:
        return self.name.rpartition(".")[2]


# -- reading the code -------------------------------------------------------------------------
def discover(package_dir: Path) -> dict[str, Module]:
    """Every module of the package, parsed; keyed by dotted name."""
    package_dir = Path(package_dir)
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = (package_dir.name,) + path.relative_to(package_dir).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        mod = Module(name, path, is_package, ast.get_docstring(tree) or "", tree=tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                mod.classes[node.name] = {
                    n.name
                    for n in node.body
                    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                }
        modules[name] = mod
    for mod in modules.values():
        mod.group = classify(mod)
    return modules


def classify(mod: Module) -> str:
    parts = mod.name.split(".")
    if len(parts) == 1:
        return "api"
    if len(parts) > 2 or mod.is_package:  # inside a subpackage
        sub = parts[1]
        known = {g for g, _, _ in CORE} | {g for g, *_ in SIDE}
        return sub if sub in known else "beside"
    if parts[1] in SHARED_MODULES:
        return "shared"
    return "beside"


def imports(modules: dict[str, Module]) -> set[tuple[str, str]]:
    """``(importer, imported)`` pairs between modules of the package, relative imports
    resolved; ``from pkg import mod`` counts as importing ``pkg.mod``."""
    edges = set()
    for mod in modules.values():
        package = mod.name if mod.is_package else mod.name.rpartition(".")[0]
        for node in ast.walk(mod.tree):
            targets = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    targets.append(sub if sub in modules else target)
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                while target and target not in modules:  # import a.b.c of a.b.c.attr
                    target = target.rpartition(".")[0]
                if target and target != mod.name:
                    edges.add((mod.name, target))
    return edges


def protocol_implementers(modules: dict[str, Module]) -> list[tuple[str, str, str]]:
    """``(module, class, protocol module, protocol)`` for the classes outside the protocol's
    group that define every method of a ``typing.Protocol`` class of the package."""
    protocols = []
    for mod in modules.values():
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.ClassDef) and any(
                (isinstance(b, ast.Name) and b.id == "Protocol")
                or (isinstance(b, ast.Attribute) and b.attr == "Protocol")
                for b in node.bases
            ):
                methods = mod.classes[node.name] - {"__init__"}
                if methods:
                    protocols.append((mod, node.name, methods))
    found = []
    for proto_mod, proto_name, methods in protocols:
        for mod in modules.values():
            if mod.group == proto_mod.group:
                continue
            for cls, defined in mod.classes.items():
                if methods <= defined:
                    found.append((mod.name, cls, proto_mod.name, proto_name))
    return found


# -- the figure -------------------------------------------------------------------------------
def _order(names: list[str], edges: set[tuple[str, str]]) -> list[str]:
    """Modules imported within their band first (most imported first), then by name."""
    fan_in = Counter(t for s, t in edges if s in names and t in names)
    return sorted(names, key=lambda n: (-fan_in[n], n))


def generate(out_path: str | os.PathLike, package_dir: str | os.PathLike | None = None) -> Path:
    """Parse the package and write the diagram to ``out_path`` (PNG); returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    if package_dir is None:
        package_dir = Path(__file__).resolve().parents[2] / PACKAGE
    modules = discover(Path(package_dir))
    edges = imports(modules)
    group_of = {n: m.group for n, m in modules.items()}
    rank = {g: i for i, (g, _, _) in enumerate(CORE)}

    members = defaultdict(list)  # group -> modules drawn as boxes (package __init__ omitted)
    for name, mod in modules.items():
        if not mod.is_package:
            members[mod.group].append(name)
    # import edges between groups (a package's re-exports of its own modules stay inside)
    between = defaultdict(set)
    for s, t in edges:
        gs, gt = group_of[s], group_of[t]
        if gs != gt:
            between[gs, gt].add((s, t))
    fan_in = Counter(t for s, t in edges if not (modules[s].is_package and t.startswith(s + ".")))

    # geometry (inches = data units)
    band_h, gap = 1.7, 0.72
    y_base = 0.6
    ys = {g: y_base + i * (band_h + gap) for i, (g, _, _) in enumerate(CORE)}
    top_core = ys[CORE[-1][0]] + band_h
    api_y0, api_h = top_core + 0.5, 0.55
    W, H = 15.6, api_y0 + api_h + 1.05
    cx0, cx1 = 1.65, 8.65  # core bands
    sx0, sx1 = 8.95, 10.15  # shared column (blocks runs under it)
    rx0, rx1 = 10.6, 15.15  # side column
    pad, pad_top = 0.14, 0.47

    fig = plt.figure(figsize=(W, H), dpi=110)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, W)
    ax.set_ylim(0, H)
    ax.axis("off")

    boxes = {}  # module name -> (x0, y0, x1, y1)
    bands = {}  # group -> (x0, y0, x1, y1)

    def band(group, title, what, x0, y0, x1, y1, title_size=13):
        ax.add_patch(
            FancyBboxPatch(
                (x0, y0),
                x1 - x0,
                y1 - y0,
                boxstyle="round,pad=0,rounding_size=0.12",
                fc=COLOURS[group],
                ec=EDGE_COLOURS[group],
                lw=1.6,
                zorder=1,
            )
        )
        ax.text(
            x0 + 0.15,
            y1 - 0.12,
            title,
            ha="left",
            va="top",
            fontsize=title_size,
            fontweight="bold",
            color=EDGE_COLOURS[group],
            zorder=5,
        )
        if what:  # above the arrows that cross the band
            ax.text(
                x1 - 0.15,
                y1 - 0.15,
                what,
                ha="right",
                va="top",
                fontsize=9.5,
                color="#333333",
                style="italic",
                zorder=7,
                bbox=dict(fc=COLOURS[group], ec="none", pad=0.5),
            )
        bands[group] = (x0, y0, x1, y1)

    def module_rows(
        group, names, x0, y0, x1, y1, per_row=None, label=None, fontsize=10.5, show_fan_in=True
    ):
        names = _order(names, edges)
        if not names:
            return
        per_row = per_row or len(names)
        rows = [names[i : i + per_row] for i in range(0, len(names), per_row)]
        g = 0.12
        row_h = (y1 - y0 - g * (len(rows) - 1)) / len(rows)
        texts = {n: (label(n) if label else modules[n].short + ".py") for n in names}
        # widths in proportion to the label (a row narrower than the band is left-aligned)
        unit = min(
            (x1 - x0 - g * (len(row) - 1))
            / sum(max(len(line) for line in texts[n].splitlines()) + 2.4 for n in row)
            for row in rows
            if len(row) == per_row
        )
        fontsize = min(fontsize, unit * 72 / 0.6)  # a monospace character is 0.6 em wide
        for r, row in enumerate(rows):
            top = y1 - r * (row_h + g)
            bx0 = x0
            for name in row:
                w = unit * (max(len(line) for line in texts[name].splitlines()) + 2.4)
                ax.add_patch(
                    FancyBboxPatch(
                        (bx0, top - row_h),
                        w,
                        row_h,
                        boxstyle="round,pad=0,rounding_size=0.06",
                        fc="white",
                        ec=EDGE_COLOURS[group],
                        lw=1.1,
                        zorder=3,
                    )
                )
                tall = show_fan_in and row_h > 0.6
                ax.text(
                    bx0 + w / 2,
                    top - row_h / 2 + (0.1 if tall else 0),
                    texts[name],
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                    zorder=4,
                    family="monospace",
                )
                if tall and fan_in[name]:
                    note = f"imported by {fan_in[name]}"
                    ax.text(
                        bx0 + w / 2,
                        top - row_h + 0.08,
                        note,
                        ha="center",
                        va="bottom",
                        fontsize=min(8.0, 0.9 * w * 72 / (0.55 * len(note))),
                        color="#555555",
                        zorder=4,
                    )
                boxes[name] = (bx0, top - row_h, bx0 + w, top)
                bx0 += w + g

    # -- the four layers, the shared column, the public API ----------------------------------
    for g, title, what in CORE:
        y0 = ys[g]
        x1 = sx1 if g == "blocks" else cx1
        band(g, title, what, cx0, y0, x1, y0 + band_h)
        module_rows(g, members[g], cx0 + pad, y0 + pad, x1 - pad, y0 + band_h - pad_top)

    g, title, what = SHARED
    sy0, sy1 = ys[CORE[1][0]], top_core
    ax.add_patch(
        FancyBboxPatch(
            (sx0, sy0),
            sx1 - sx0,
            sy1 - sy0,
            boxstyle="round,pad=0,rounding_size=0.12",
            fc=COLOURS[g],
            ec=EDGE_COLOURS[g],
            lw=1.6,
            zorder=1,
        )
    )
    ax.text(
        (sx0 + sx1) / 2,
        sy1 - 0.12,
        title,
        ha="center",
        va="top",
        fontsize=13,
        fontweight="bold",
        color=EDGE_COLOURS[g],
        zorder=5,
    )
    ax.text(
        (sx0 + sx1) / 2,
        sy1 - 0.47,
        "helpers of\nevery layer",
        ha="center",
        va="top",
        fontsize=8.5,
        color="#333333",
        style="italic",
        zorder=5,
    )
    bands[g] = (sx0, sy0, sx1, sy1)
    shared = _order(members[g], edges)
    slot = (sy1 - 1.1 - sy0) / max(len(shared), 1)
    for i, name in enumerate(shared):
        yc = sy1 - 1.1 - (i + 0.5) * slot
        module_rows(
            g,
            [name],
            sx0 + 0.1,
            yc - 0.5,
            sx1 - 0.1,
            yc + 0.5,
            label=lambda m: modules[m].short + "\n.py",
            fontsize=10,
        )

    api = next(n for n, m in modules.items() if m.group == "api")
    ax.add_patch(
        FancyBboxPatch(
            (cx0, api_y0),
            sx1 - cx0,
            api_h,
            boxstyle="round,pad=0,rounding_size=0.1",
            fc=COLOURS["api"],
            ec=EDGE_COLOURS["api"],
            lw=1.3,
            zorder=3,
        )
    )
    reexports = sorted(
        {group_of[t] if group_of[t] != "beside" else modules[t].short for s, t in edges if s == api}
    )
    ax.text(
        (cx0 + sx1) / 2,
        api_y0 + api_h / 2,
        f"import {PACKAGE}   (__init__.py re-exports from {', '.join(reexports)})",
        ha="center",
        va="center",
        fontsize=10.5,
        family="monospace",
        zorder=4,
    )
    bands["api"] = (cx0, api_y0, sx1, api_y0 + api_h)

    # -- the side column ---------------------------------------------------------------------
    for g, title, what, level in SIDE:
        if level == "top":
            y0, y1 = ys[CORE[-1][0]], api_y0 + api_h
        else:
            y0, y1 = ys[level], ys[level] + band_h
        band(g, title, what, rx0, y0, rx1, y1, title_size=12)
        n = len(members[g])
        per_row = n if n <= 3 else (n + 1) // 2
        module_rows(
            g,
            members[g],
            rx0 + pad,
            y0 + pad,
            rx1 - pad,
            y1 - pad_top,
            per_row=per_row,
            fontsize=9.5,
        )

    # -- arrows ------------------------------------------------------------------------------
    def arrow(p, q, colour, lw=1.2, ls="-", z=6, rad=0.0):
        ax.add_patch(
            FancyArrowPatch(
                p,
                q,
                arrowstyle="-|>",
                mutation_scale=13,
                lw=lw,
                color=colour,
                linestyle=ls,
                zorder=z,
                connectionstyle=f"arc3,rad={rad}",
                shrinkA=0,
                shrinkB=0,
            )
        )

    def width(pairs):
        return 1.0 + 0.35 * len(pairs)

    def short(t):
        return t.rpartition(".")[2]

    upward = []
    # adjacent layers: one arrow per importing pair of modules
    for (gs, gt), pairs in sorted(between.items()):
        if gs in rank and gt in rank and rank[gs] < rank[gt]:
            upward.extend(sorted(pairs))
        if not (gs in rank and gt in rank and rank[gs] - rank[gt] == 1):
            continue
        out_count, in_count = Counter(s for s, _ in pairs), Counter(t for _, t in pairs)
        out_seen, in_seen = Counter(), Counter()
        for s, t in sorted(pairs, key=lambda e: (boxes[e[0]][0], boxes[e[1]][0])):
            (a0, ab, a1, _), (b0, _, b1, bt) = boxes[s], boxes[t]
            out_seen[s] += 1
            in_seen[t] += 1
            xa = a0 + (a1 - a0) * out_seen[s] / (out_count[s] + 1)
            xb = b0 + (b1 - b0) * in_seen[t] / (in_count[t] + 1)
            arrow((xa, ab), (xb, bt), EDGE_COLOURS[gs], lw=1.0)

    # layers that are not adjacent: aggregated, in the left margin
    skips = sorted(
        ((gs, gt), pairs)
        for (gs, gt), pairs in between.items()
        if gs in rank and gt in rank and rank[gs] - rank[gt] > 1
    )
    skips.sort(key=lambda e: rank[e[0][0]] - rank[e[0][1]])
    for k, ((gs, gt), pairs) in enumerate(skips):
        xm = cx0 - 0.32 - 0.45 * k
        ya = ys[gs] + band_h * (0.3 + 0.2 * k)
        yb = ys[gt] + band_h * (0.7 - 0.2 * k)
        col = EDGE_COLOURS[gs]
        ax.plot(
            [cx0, xm, xm],
            [ya, ya, yb],
            color=col,
            lw=width(pairs),
            zorder=6,
            solid_joinstyle="round",
        )
        arrow((xm, yb), (cx0, yb), col, lw=width(pairs))
        ax.text(
            xm - 0.07,
            (ya + yb) / 2,
            f"{len(pairs)}: " + ", ".join(sorted({short(t) for _, t in pairs})),
            rotation=90,
            ha="right",
            va="center",
            fontsize=8.5,
            color=col,
            zorder=7,
        )

    # layers -> shared helpers, shared helpers -> layers
    for (gs, gt), pairs in sorted(between.items()):
        if gt == "shared" and gs in rank:
            y = ys[gs] + band_h * 0.5
            arrow((cx1, y), (sx0, y), EDGE_COLOURS[gs], lw=width(pairs))
            ax.text(
                (cx1 + sx0) / 2,
                y + 0.07,
                str(len(pairs)),
                ha="center",
                va="bottom",
                fontsize=9,
                color=EDGE_COLOURS[gs],
                zorder=7,
            )
        elif gs == "shared" and gt in rank:
            x = (sx0 + sx1) / 2
            arrow((x, sy0), (x, ys[gt] + band_h - 0.02), EDGE_COLOURS[gs], lw=width(pairs))
            ax.text(
                x + 0.08,
                (sy0 + ys[gt] + band_h) / 2,
                f"{len(pairs)}: " + ", ".join(sorted({short(t) for _, t in pairs})),
                ha="left",
                va="center",
                fontsize=8.5,
                color=EDGE_COLOURS[gs],
                zorder=7,
            )

    if ("api", "kernels") in between:
        x = (cx0 + cx1) / 2
        arrow((x, api_y0), (x, top_core), EDGE_COLOURS["api"], lw=1.2)

    # the side groups: aggregated, in the right margin between side bands, straight otherwise
    for (gs, gt), pairs in sorted(between.items()):
        if gs == "api" or (gs in rank or gs == "shared") and (gt in rank or gt == "shared"):
            continue
        (a0, a_lo, a1, a_hi), (b0, b_lo, b1, b_hi) = bands[gs], bands[gt]
        col = EDGE_COLOURS[gs]
        text = f"{len(pairs)}: " + ", ".join(sorted({short(t) for _, t in pairs}))
        if a0 >= rx0 - 0.01 and b0 >= rx0 - 0.01:
            xm = rx1 + 0.22
            ya, yb = a_lo + 0.3, b_hi - 0.3
            ax.plot([a1, xm, xm], [ya, ya, yb], color=col, lw=width(pairs), zorder=6)
            arrow((xm, yb), (b1, yb), col, lw=width(pairs))
            ax.text(
                xm + 0.06,
                (ya + yb) / 2,
                text,
                rotation=90,
                ha="left",
                va="center",
                fontsize=8.5,
                color=col,
                zorder=7,
            )
        else:
            p = (a0 if a0 > b1 else a1, (a_lo + a_hi) / 2)
            q = (b1 if a0 > b1 else b0, (b_lo + b_hi) / 2)
            arrow(p, q, col, lw=width(pairs), rad=0.1)
            ax.text(
                (p[0] + q[0]) / 2,
                (p[1] + q[1]) / 2 + 0.1,
                text,
                ha="center",
                va="bottom",
                fontsize=8.5,
                color=col,
                zorder=7,
            )

    # protocols implemented without an import (dotted), band to band
    for mod_name, cls, proto_mod, proto in protocol_implementers(modules):
        gs, gt = group_of[mod_name], group_of[proto_mod]
        if mod_name not in boxes or gt not in bands or gs not in bands:
            continue
        b0, b_lo, b1, b_hi = bands[gt]
        col = EDGE_COLOURS[gs]
        g0, g_lo, g1, g_hi = bands[gs]
        y = max(b_lo, g_lo) + 0.3
        arrow((g0, y), (b1, y), col, lw=1.6, ls=(0, (2, 2)), z=8)
        ax.text(
            (g0 + g1) / 2,
            g_lo - 0.06,
            f"{short(mod_name)}.{cls} implements {short(proto_mod)}.{proto}\n"
            "(dotted: structural, no import)",
            ha="center",
            va="top",
            fontsize=8.5,
            color=col,
            zorder=8,
        )

    # -- title, legend, layering check ---------------------------------------------------------
    n_mod = sum(not m.is_package for m in modules.values())
    ax.text(
        0.25,
        H - 0.2,
        f"{PACKAGE}: {n_mod} modules, {len(edges)} imports between them",
        ha="left",
        va="top",
        fontsize=15,
        fontweight="bold",
    )
    ax.text(
        0.25,
        H - 0.6,
        "generated from the code by docs/_ext/architecture_diagram.py (ast; nothing is "
        "imported).  Arrow A -> B: A imports B.  n: number of importing module pairs, "
        "then the modules imported.",
        ha="left",
        va="top",
        fontsize=9.5,
        color="#444444",
    )
    verdict = (
        "upward imports (a layer importing one above it): none"
        if not upward
        else "UPWARD IMPORTS: " + "; ".join(f"{s} -> {t}" for s, t in upward)
    )
    ax.text(
        0.25,
        0.12,
        verdict,
        ha="left",
        va="bottom",
        fontsize=10,
        color="#2f7d32" if not upward else "#c62828",
        fontweight="bold",
    )
    for s, t in upward:
        if s in boxes and t in boxes:
            (a0, _, a1, a_hi), (b0, b_lo, b1, _) = boxes[s], boxes[t]
            arrow(((a0 + a1) / 2, a_hi), ((b0 + b1) / 2, b_lo), "#c62828", lw=1.8, z=9)

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # write atomically: two docs builds at once may generate the same file
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=out_path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, out_path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return out_path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or len(argv) > 2:
        print(__doc__.strip().splitlines()[0])
        print("usage: python docs/_ext/architecture_diagram.py OUT.png [PACKAGE_DIR]")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    path = generate(argv[0], argv[1] if len(argv) > 1 else None)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
