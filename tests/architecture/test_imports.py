"""infersim imports only downward, has no import circles and imports nothing private.

The rules and the layer order are in `importgraph.py` and docs/architecture.md. The second half
of this file plants each kind of violation in a small tree and checks that it is caught, so a
green run means the rules were applied, not that the checker saw nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.architecture.importgraph import LAYERS, Project, Violation

ROOT = Path(__file__).resolve().parents[2]

# Known violations, each matching one exactly; an entry that no longer occurs fails the test,
# so these sets only shrink. Do not add to them; fix the import instead.
ALLOWED_CYCLES: set[tuple[str, ...]] = set()
ALLOWED: set[tuple[str, ...]] = set()  # (importing module, imported module or name)

PROJECT = Project.infersim(ROOT)


def _check(found: list[Violation], allowed: set[tuple[str, ...]], what: str) -> None:
    bad = [v.message for v in found if v.key not in allowed]
    assert not bad, f"{what}:\n" + "\n".join(bad)


def test_every_module_has_a_layer():
    assert PROJECT.files, "no modules found"
    assert not PROJECT.unplaced(), f"modules in no layer (add them to LAYERS): {PROJECT.unplaced()}"


def test_no_import_of_the_old_top_level_names():
    _check(PROJECT.old_names(), set(), "imports of names that are not installed")


def test_imports_point_downward():
    _check(PROJECT.upward(), ALLOWED, "imports against the layer order")


def test_nothing_imports_the_cli():
    _check(PROJECT.cli_importers(), set(), "imports of the CLI")


def test_no_private_imports():
    _check(PROJECT.private(), ALLOWED, "private names imported from another module or package")


def test_no_import_cycles():
    _check(PROJECT.cycles(), ALLOWED_CYCLES, "import circles")


def test_allow_lists_hold_only_live_entries():
    live = {v.key for v in PROJECT.upward() + PROJECT.private()}
    live_cycles = {v.key for v in PROJECT.cycles()}
    stale = sorted(ALLOWED - live) + sorted(ALLOWED_CYCLES - live_cycles)
    assert not stale, f"allow-list entries that no longer occur (delete them): {stale}"


# --- the checker catches what it should -----------------------------------------------------

def _tree(tmp_path: Path, files: dict[str, str]) -> Project:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text), encoding="utf-8")
    for folder in ("infersim", "workloads", "hwmodels"):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / "__init__.py").touch()
    return Project.infersim(tmp_path)


def test_checker_finds_upward_imports_in_functions_and_type_checking(tmp_path):
    p = _tree(tmp_path, {
        "workloads/a.py": """
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from infersim.hwmodels.b import Thing
            def f():
                import infersim.api
        """,
        "hwmodels/b.py": "from infersim.workloads.a import f\nThing = 1\n",
        "infersim/api.py": "",
    })
    messages = sorted(v.message for v in p.upward())
    assert messages == [
        "workloads/a.py:4: infersim.workloads.a (workloads) imports infersim.hwmodels.b "
        "(hwmodels, not below it)",
        "workloads/a.py:6: infersim.workloads.a (workloads) imports infersim.api "
        "(facade, not below it)",
    ]


def test_checker_keeps_validation_and_studies_apart_and_the_cli_on_top(tmp_path):
    p = _tree(tmp_path, {
        "validation/__init__.py": "",
        "validation/v.py": "from infersim.studies import s\n",
        "studies/__init__.py": "",
        "studies/s.py": "from infersim.cli.common import x\n",
        "infersim/cli/__init__.py": "",
        "infersim/cli/common.py": "x = 1\n",
        "infersim/__main__.py": "from infersim.cli import common\n",
    })
    assert [v.key for v in p.upward()] == [("infersim.validation.v", "infersim.studies.s"),
                                          ("infersim.studies.s", "infersim.cli.common")]
    assert [v.key for v in p.cli_importers()] == [("infersim.studies.s", "infersim.cli.common")]


def test_checker_finds_private_names_and_modules(tmp_path):
    p = _tree(tmp_path, {
        "hwmodels/models/__init__.py": "",
        "hwmodels/models/_table.py": "T = 1\n",
        "hwmodels/models/gpu.py": "from infersim.hwmodels.models._table import T\n",  # allowed
        "hwmodels/c.py": "from ._x import y\n",  # allowed: the package's own private module
        "hwmodels/_x.py": "y = 1\n_z = 2\n",
        "workloads/w.py": "from infersim.hwmodels import _x\nfrom infersim.hwmodels._x import _z\n",
    })
    assert sorted(v.key for v in p.private()) == [
        ("infersim.workloads.w", "infersim.hwmodels._x"),
        ("infersim.workloads.w", "infersim.hwmodels._x"),
        ("infersim.workloads.w", "infersim.hwmodels._x._z"),
    ]


def test_checker_finds_circles_and_names_the_imports(tmp_path):
    p = _tree(tmp_path, {
        "workloads/a.py": "from .b import x\n",
        "workloads/b.py": "x = 1\ndef f():\n    from infersim.workloads import c\n",
        "workloads/c.py": "import infersim.workloads.a\n",
        "workloads/d.py": "from infersim.workloads.a import x\n",  # reaches the circle, not in it
    })
    (cycle,) = p.cycles()
    assert cycle.key == ("infersim.workloads.a", "infersim.workloads.b", "infersim.workloads.c")
    assert cycle.message.splitlines()[1:] == [
        "  workloads/a.py:1: infersim.workloads.a -> infersim.workloads.b",
        "  workloads/b.py:3: infersim.workloads.b -> infersim.workloads.c",
        "  workloads/c.py:1: infersim.workloads.c -> infersim.workloads.a",
    ]


# --- the same order at run time ---------------------------------------------------------------

_LOADED_ABOVE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(n for n in sys.modules if n == "infersim" or n.startswith("infersim."))))
"""


@pytest.mark.parametrize("layer", ["foundation", "workloads", "hwmodels", "mapper", "simulator",
                                   "facade", "validation", "studies"])
def test_importing_a_layer_loads_nothing_above_it(layer):
    """Every module of the layer imported in a fresh interpreter: the infersim modules Python
    loaded on the way (package `__init__`s included, which the static check does not follow)
    are of that layer or below. The top package `infersim` is always loaded (it is the parent
    of every module); it is lazy, so it brings nothing else."""
    own = [m for m in PROJECT.files if PROJECT.layer(m) == (_rank(layer), layer)]
    r = subprocess.run([sys.executable, "-c", _LOADED_ABOVE, *own], capture_output=True,
                       text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    loaded = json.loads(r.stdout.splitlines()[-1])
    above = []
    for m in loaded:
        where = PROJECT.layer(m)
        if m != "infersim" and (where is None
                                or (where[0] >= _rank(layer) and where[1] != layer)):
            above.append(m)
    assert not above, f"importing the {layer} layer loads {above}"


def _rank(layer: str) -> int:
    return next(rank for rank, name, _ in LAYERS if name == layer)
