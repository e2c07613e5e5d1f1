"""Lint and type checks run as part of the test suite (CI fails on either)."""

import ast
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



# ---- the test suite mirrors the package -------------------------------------------------------

TESTS = ROOT / "tests"
# tests/<layer>/ for each layer, foundation/ for errors, units and I/O, front_door/ for the API
# facade, `infersim.ops` and the CLI, explore/ for the explorer, architecture/ for the
# import-graph and packaging rules.
TEST_FOLDERS = {"foundation", "workloads", "hwmodels", "mapper", "simulator", "validation",
                "studies", "front_door", "explore", "architecture"}
# Repo-wide checks stay at the root; conftest.py holds the shared fixtures, _support.py the
# shared helper code.
ROOT_FILES = {"test_code_quality.py", "conftest.py", "_support.py",
              "fuzzing.py"}  # the CLI/API fuzzer shared by a test and benchmarks/fuzz_campaign.py

# Private infersim names that tests still reach into, as (test file, dotted name). Each lives
# in a module being rewritten for issue 10 (cost-model registry, kind models, calibration,
# data-set loaders); once that lands, test through a public function or make the unit public,
# and delete the entry (a stale entry fails the test below).
PRIVATE_ALLOWED = {
    # LLMCompass A100 rows (validation/datasets/llmcompass_a100.py)
    ("mapper/test_mapper_datasets.py", "infersim.validation.datasets.llmcompass_a100._rows"),
    # committed calibration runs (validation/datasets/_calibration_files.py)
    ("validation/test_committed_data.py",
     "infersim.validation.datasets._calibration_files.calibration_runs"),
}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(path: Path) -> set[str]:
    """Dotted names of private infersim modules or attributes a file imports or reads: `from
    infersim.x import _y`, `from infersim._x import y`, and `m._y` where `m` names an infersim
    module or object imported in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bound: dict[str, str] = {}  # local name -> dotted infersim name
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "infersim":
                    if any(_private(p) for p in a.name.split(".")):
                        found.add(a.name)
                    bound[a.asname or "infersim"] = a.name if a.asname else "infersim"
        elif (isinstance(node, ast.ImportFrom) and node.module
              and node.module.split(".")[0] == "infersim"):
            for a in node.names:
                dotted = f"{node.module}.{a.name}"
                if any(_private(p) for p in dotted.split(".")):
                    found.add(dotted)
                bound[a.asname or a.name] = dotted
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = [node.attr]
            base = node.value
            while isinstance(base, ast.Attribute):
                chain.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id in bound and _private(node.attr):
                found.add(".".join([bound[base.id], *reversed(chain)]))
    return found


def test_test_files_mirror_the_package():
    misplaced = []
    for p in sorted(TESTS.rglob("*.py")):
        rel = p.relative_to(TESTS)
        if "__pycache__" in rel.parts:
            continue
        if len(rel.parts) == 1:
            if rel.name not in ROOT_FILES:
                misplaced.append(f"{rel}: at the root (allowed there: {sorted(ROOT_FILES)})")
        elif rel.parts[0] not in TEST_FOLDERS:
            misplaced.append(f"{rel}: not in a folder of {sorted(TEST_FOLDERS)}")
        elif rel.name == "conftest.py":
            misplaced.append(f"{rel}: fixtures belong in tests/conftest.py")
    assert not misplaced, "\n".join(misplaced)
    folders = {p.name for p in TESTS.iterdir()
               if p.is_dir() and not p.name.startswith((".", "__"))}
    assert folders == TEST_FOLDERS


def test_tests_import_no_private_names():
    used = {(p.relative_to(TESTS).as_posix(), name)
            for p in sorted(TESTS.rglob("*.py")) if "__pycache__" not in p.parts
            for name in private_uses(p)}
    new = sorted(used - PRIVATE_ALLOWED)
    assert not new, ("test through a public function, or make the unit public in its layer:\n"
                     + "\n".join(f"tests/{f}: {n}" for f, n in new))
    stale = sorted(PRIVATE_ALLOWED - used)
    assert not stale, "no longer used, delete from PRIVATE_ALLOWED: " + repr(stale)


def test_tests_share_helpers_through_support_not_other_test_modules():
    """Fixtures come from tests/conftest.py (pytest injects them); helper code shared by several
    test modules lives in tests/_support.py. No file imports a test module or a conftest."""
    bad = []
    for p in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests"):
                parts = [*node.module.split("."), *(a.name for a in node.names)]
            elif isinstance(node, ast.Import):
                parts = [q for a in node.names if a.name.startswith("tests")
                         for q in a.name.split(".")]
            else:
                continue
            if any(q.startswith("test_") or q == "conftest" for q in parts):
                bad.append(f"tests/{p.relative_to(TESTS)}:{node.lineno}")
    assert not bad, "imports a test module or a conftest: " + ", ".join(bad)
