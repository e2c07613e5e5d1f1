"""What `pip install .` puts into site-packages: one top-level import name, `infersim`, with
every module and data file of the layer folders under it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.architecture.importgraph import LAYER_DIRS

ROOT = Path(__file__).resolve().parents[2]
_NOT_SOURCE = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", "dist", "out",
                                     "runs", ".*_cache", ".hypothesis", ".benchmarks", ".venv")
# Builds the wheel through setuptools' PEP 517 backend, as pip does, without pip's isolated
# build environment (which would download setuptools).
_BUILD = ("import sys, setuptools.build_meta as b; "
          "print(b.build_wheel(sys.argv[1]))")
_CAN_BUILD = ("import setuptools, importlib.util as u; "
              "v = tuple(int(x) for x in setuptools.__version__.split('.')[:2]); "
              "assert v >= (70, 1) or u.find_spec('wheel') is not None")


def _builder() -> str | None:
    """An interpreter whose setuptools can build a wheel offline: this one, else the one this
    virtual environment was made from, else the system's python3."""
    base = Path(sys.base_prefix) / "bin" / "python3"
    for exe in (sys.executable, str(base), shutil.which("python3")):
        if exe and Path(exe).exists() and subprocess.run(
                [exe, "-c", _CAN_BUILD], capture_output=True).returncode == 0:
            return exe
    return None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    exe = _builder()
    if exe is None:
        pytest.skip("no interpreter here has a setuptools that builds wheels offline "
                    "(setuptools >= 70.1, or the `wheel` package)")
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    shutil.copytree(ROOT, src, ignore=_NOT_SOURCE)  # the build writes build/ and *.egg-info
    r = subprocess.run([exe, "-c", _BUILD, str(work / "dist")], cwd=src, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    (whl,) = (work / "dist").glob("infersim-*.whl")
    return whl


@pytest.fixture(scope="module")
def wheel_names(wheel) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        return z.namelist()


def test_the_only_top_level_name_is_infersim(wheel, wheel_names):
    tops = {name.split("/")[0] for name in wheel_names}
    (dist_info,) = {t for t in tops if t.endswith(".dist-info")}
    assert tops - {dist_info} == {"infersim"}
    with zipfile.ZipFile(wheel) as z:
        declared = z.read(f"{dist_info}/top_level.txt").decode().split()
    assert declared == ["infersim"]


def test_every_module_and_data_file_is_installed_under_infersim(wheel_names):
    installed = set(wheel_names)
    expected = {f"infersim/{p.relative_to(ROOT / 'infersim').as_posix()}"
                for p in (ROOT / "infersim").rglob("*.py") if "__pycache__" not in p.parts}
    for layer in LAYER_DIRS:
        expected |= {f"infersim/{p.relative_to(ROOT).as_posix()}"
                     for p in (ROOT / layer).rglob("*.py") if "__pycache__" not in p.parts}
    # data the code reads at run time
    expected |= {f"infersim/{p.relative_to(ROOT).as_posix()}"
                 for p in (ROOT / "hwmodels" / "specs").glob("*.yaml")}
    expected |= {f"infersim/{p.relative_to(ROOT).as_posix()}"
                 for p in (ROOT / "workloads" / "models").glob("*.json")}
    assert "infersim/workloads/__init__.py" in expected
    assert "infersim/hwmodels/specs/h100-sxm.yaml" in expected
    assert "infersim/workloads/models/llama-3.1-8b.json" in expected
    missing = sorted(expected - installed)
    assert not missing, f"not in the wheel: {missing}"


def test_the_old_top_level_names_do_not_import(tmp_path):
    """From a neutral folder (not the repository), only `infersim` imports."""
    code = ("import importlib.util as u; "
            f"print([n for n in {LAYER_DIRS!r} if u.find_spec(n) is not None]); "
            "import infersim.workloads; print(infersim.workloads.__name__)")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["[]", "infersim.workloads"]
    r = subprocess.run([sys.executable, "-c", "import workloads"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "No module named 'workloads'" in r.stderr
