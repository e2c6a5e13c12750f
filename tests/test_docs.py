"""The documentation site builds without warnings (and so its API pages import)."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(
    shutil.which("sphinx-build") is None
    and not os.path.exists(os.path.join(os.path.dirname(sys.executable), "sphinx-build")),
    reason="sphinx not installed (pip install -e '.[docs]')",
)
def test_docs_build(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            os.path.join(ROOT, "docs"),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "html" / "index.html").exists()


@pytest.mark.slow  # CI budget: test_functional runs the same functional API in CI
def test_functional_page_examples_run():
    """The code blocks of docs/functional.md run as written (they assert their results)."""
    import re

    with open(os.path.join(ROOT, "docs", "functional.md")) as f:
        text = f.read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == text.count("```python") >= 4  # every block found, and run
    for block in blocks:
        exec(compile(block, "docs/functional.md", "exec"), {})
