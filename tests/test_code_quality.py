"""Lint and type checks run as part of the test suite (CI fails on either)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.architecture.importgraph import LAYER_DIRS

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    if shutil.which("ruff") is None:
        pytest.skip("ruff not installed (pip install -e '.[test]')")
    r = subprocess.run(["ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:]


@pytest.mark.slow
def test_mypy_clean(tmp_path):
    """mypy over every module. The layer folders install as `infersim.<layer>` (setup.py
    package_dir), which mypy cannot follow from the repository, so it checks a tree laid out
    as installed, made of links to the sources."""
    pytest.importorskip("mypy")
    tree = tmp_path / "tree"
    (tree / "infersim").mkdir(parents=True)
    for entry in (ROOT / "infersim").iterdir():
        if entry.name != "__pycache__":
            (tree / "infersim" / entry.name).symlink_to(entry)
    for layer in LAYER_DIRS:
        (tree / "infersim" / layer).symlink_to(ROOT / layer)
    (tree / "pyproject.toml").symlink_to(ROOT / "pyproject.toml")
    r = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
                       cwd=tree, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:].replace(str(tree) + "/", "")
    modules = sum(1 for d in ("infersim", *LAYER_DIRS) for p in (ROOT / d).rglob("*.py")
                  if "__pycache__" not in p.parts)
    checked = re.search(r"in (\d+) source files", r.stdout)
    assert checked and int(checked.group(1)) >= modules, r.stdout[-500:]  # the layers too

