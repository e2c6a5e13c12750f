"""The generated family of targets (numpyro_cld.examples.families) and a smoke run of
benchmarks/bench_defaults.py --quick."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from numpyro.infer.util import initialize_model

from numpyro_cld.examples.families import NAMES, family, member

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_family_has_the_required_members():
    members = family()
    assert len(members) >= 14 and [m.name for m in members] == list(NAMES)
    mixtures = [m for m in members if m.kind == "mixture"]
    posteriors = [m for m in members if m.kind == "posterior"]
    assert len(mixtures) >= 8 and len(posteriors) >= 6
    assert {m.dim for m in mixtures} >= {10, 1000}
    assert {m.num_components for m in mixtures} >= {2, 5}
    assert {m.covariance for m in mixtures} == {"diag", "dense"}
    assert all(m.reference_params is not None for m in posteriors)
    assert any(m.reference_params.noncentred for m in posteriors)
    with pytest.raises(ValueError, match="unknown family member"):
        member("no-such-target")


@pytest.mark.slow  # 15 eager model initialisations (about a minute)
@pytest.mark.parametrize("name", NAMES)
def test_model_traces_with_a_finite_potential(name):
    m = member(name)
    info = initialize_model(jax.random.key(0), m.model)
    z = info.param_info.z
    assert sum(np.size(v) for v in jax.tree.leaves(z)) == m.dim
    assert np.isfinite(float(info.param_info.potential_energy))
    if m.kind == "posterior":
        assert set(m.reference_params.sites) <= set(z)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("mix-")])
def test_mixture_weights_assign_and_widest_start(name):
    m = member(name)
    assert abs(float(m.weights.sum()) - 1.0) < 1e-5 and (m.weights > 0).all()
    draws = m.distribution().sample(jax.random.key(1), (2000,))
    labels = np.asarray(m.assign(draws))
    assert labels.shape == (2000,) and labels.min() >= 0 and labels.max() < m.num_components
    # the modes are told apart well enough that exact draws meet the benchmark's TV criterion
    freq = np.bincount(labels, minlength=m.num_components) / labels.size
    assert 0.5 * np.abs(freq - m.weights).sum() < 0.05
    start = m.init_params(jax.random.key(2), 8)["x"]
    assert start.shape == (8, m.dim)
    assert (np.asarray(m.assign(start)) == m.widest).all()


@pytest.mark.slow
def test_bench_defaults_quick_writes_its_json(tmp_path):
    # one posterior (the reference run and its cache) and the three kernels: about a minute and a
    # half, almost all of it compilation; the mixtures' path is the quick run's default
    members, kernels = "robust-regression-factor", ("langevin", "chained", "nuts")
    out = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "bench_defaults.py"),
            "--quick",
            "--members",
            members,
            "--kernels",
            ",".join(kernels),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads((tmp_path / "defaults.json").read_text())
    rows = data["rows"]
    assert [(r["member"], r["kernel"]) for r in rows] == [
        (n, k) for n in members.split(",") for k in kernels
    ]
    assert all(r["grads"] > 0 and r["seconds"] > 0 for r in rows)
    assert all(r["max_z"] is not None and r["ess_bulk_min"] is not None for r in rows)
    assert (tmp_path / "defaults_reference.json").exists()
    doc = (tmp_path / "defaults.md").read_text()
    assert "<!-- table:start -->" in doc and "| robust-regression-factor |" in doc


def test_core_does_not_import_the_examples():
    """The example families are fixtures: no module of the four layers, and not
    ``numpyro_cld/__init__.py``, imports ``numpyro_cld.examples`` (parsed with ast)."""
    import ast
    from pathlib import Path

    package = Path(ROOT) / "numpyro_cld"
    core = [package / "__init__.py"]
    for layer in ("blocks", "sources", "samplers", "kernels"):
        core += sorted((package / layer).rglob("*.py"))
    offenders = []
    for path in core:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if any("examples" in n.split(".") for n in names):
                offenders.append(f"{path.relative_to(package)}:{node.lineno}")
    assert not offenders, offenders
