"""The import graph of infersim's source, read with `ast` (nothing is imported or run).

Rules (checked by `tests/architecture/test_imports.py`; docs/architecture.md explains them):

- Layer order. Each layer imports only from layers below itself or from its own layer:

      infersim.foundation                      errors, units, atomic I/O
      infersim.workloads                       config.json -> ModelConfig -> Trace
      infersim.hwmodels                        YAML specs -> Hardware, cost models
      infersim.mapper                          Trace x Hardware x Runtime -> Schedule
      infersim.simulator                       timelines, serving
      facade: infersim, infersim.api, infersim.ops, infersim.planner
      infersim.validation | infersim.studies | infersim.explore
                                               clients of the facade, as a user's script is;
                                               none imports another
      infersim.cli, infersim.__main__          the command line; nothing else imports it

- No circles between modules.
- Privacy. A `_name` defined in a module is private to that module: no other module imports
  it. A `_module` is private to its package: modules outside that package (sub-packages are
  inside) do not import it.

Every `import` statement counts: module level, inside functions, and under
`if TYPE_CHECKING:` (an annotation is a dependency too). An import of `a.b.c` is an arrow to
`a.b.c` only; the packages `a` and `a.b` that Python initialises on the way are not arrows, so a
package `__init__` that re-exports its modules does not close a circle with them. Imports made
at run time from strings (`importlib.import_module(...)`) are not seen.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

LAYER_DIRS = ("workloads", "hwmodels", "mapper", "simulator", "validation", "studies")

# (rank, layer, module prefixes). "infersim" alone is the package's __init__ (the facade), not a
# prefix of every module.
LAYERS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (0, "foundation", ("infersim.foundation",)),
    (1, "workloads", ("infersim.workloads",)),
    (2, "hwmodels", ("infersim.hwmodels",)),
    (3, "mapper", ("infersim.mapper",)),
    (4, "simulator", ("infersim.simulator",)),
    (5, "facade", ("infersim", "infersim.api", "infersim.ops", "infersim.planner",
                     "infersim.diagnostics")),
    (6, "validation", ("infersim.validation",)),
    (6, "studies", ("infersim.studies",)),
    (6, "explore", ("infersim.explore",)),
    (7, "cli", ("infersim.cli", "infersim.__main__")),
)


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    where: str  # file:line
    target: str  # the infersim module imported (or imported from)
    name: str | None  # the name imported from `target`; None when the module itself is


@dataclass(frozen=True)
class Violation:
    key: tuple[str, ...]  # what an allow-list entry names
    message: str


def _is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


class Project:
    """Modules of a source tree and the infersim imports between them."""

    def __init__(self, root: Path, roots: Iterable[tuple[str, str]]):
        """`roots`: (folder relative to `root`, the module name it installs as)."""
        self.root = root
        self.files: dict[str, Path] = {}
        for folder, prefix in roots:
            for path in sorted((root / folder).rglob("*.py")):
                parts = list(path.relative_to(root / folder).with_suffix("").parts)
                if "__pycache__" in parts:
                    continue
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                self.files[".".join([prefix, *parts])] = path
        self.imports = [imp for module in self.files for imp in self._read(module)]

    @classmethod
    def infersim(cls, root: Path) -> Project:
        return cls(root, [("infersim", "infersim")] + [(d, f"infersim.{d}") for d in LAYER_DIRS])

    def is_package(self, module: str) -> bool:
        return self.files[module].name == "__init__.py"

    def _module_of(self, dotted: str) -> str | None:
        """The longest known module that `dotted` names or lies in."""
        parts = dotted.split(".")
        for n in range(len(parts), 0, -1):
            if ".".join(parts[:n]) in self.files:
                return ".".join(parts[:n])
        return None

    def _read(self, module: str) -> list[Import]:
        path = self.files[module]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        package = module if self.is_package(module) else module.rpartition(".")[0]
        where = str(path.relative_to(self.root))
        found: list[tuple[int, str, str | None]] = []  # (line, dotted target, name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(node.lineno, alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([node.module] if node.module else []))
                for alias in node.names:
                    if f"{base}.{alias.name}" in self.files:  # `from package import module`
                        found.append((node.lineno, f"{base}.{alias.name}", None))
                    else:
                        found.append((node.lineno, base, alias.name))
        out = []
        for line, dotted, name in found:
            if dotted.split(".")[0] in LAYER_DIRS:  # the old top-level names: keep them visible
                out.append(Import(module, f"{where}:{line}", dotted, name))
                continue
            if dotted != "infersim" and not dotted.startswith("infersim."):
                continue  # standard library or third party
            target = self._module_of(dotted)
            if target is None:
                continue
            if target != dotted:  # `import a.b.c` where c is a name in a.b (rare)
                name = dotted[len(target) + 1:]
            out.append(Import(module, f"{where}:{line}", target, name))
        return out

    # --- the rules ------------------------------------------------------------------------

    @staticmethod
    def layer(module: str) -> tuple[int, str] | None:
        best: tuple[int, int, str] | None = None
        for rank, name, prefixes in LAYERS:
            for prefix in prefixes:
                hit = module == prefix or (prefix != "infersim" and _inside(module, prefix))
                if hit and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), rank, name)
        return None if best is None else (best[1], best[2])

    def unplaced(self) -> list[str]:
        return [m for m in self.files if self.layer(m) is None]

    def old_names(self) -> list[Violation]:
        return [Violation((imp.source, imp.target),
                          f"{imp.where}: imports {imp.target!r}; write infersim.{imp.target}")
                for imp in self.imports if imp.target.split(".")[0] in LAYER_DIRS]

    def upward(self) -> list[Violation]:
        out = []
        for imp in self.imports:
            src, dst = self.layer(imp.source), self.layer(imp.target)
            if src is None or dst is None or dst[0] < src[0] or dst[1] == src[1]:
                continue
            out.append(Violation((imp.source, imp.target),
                                 f"{imp.where}: {imp.source} ({src[1]}) imports {imp.target} "
                                 f"({dst[1]}, not below it)"))
        return out

    def cli_importers(self) -> list[Violation]:
        return [Violation((imp.source, imp.target),
                          f"{imp.where}: {imp.source} imports the CLI ({imp.target})")
                for imp in self.imports
                if _inside(imp.target, "infersim.cli") and not _inside(imp.source, "infersim.cli")
                and imp.source != "infersim.__main__"]

    def private(self) -> list[Violation]:
        out = []
        for imp in self.imports:
            if imp.name is not None and _is_private(imp.name) and imp.source != imp.target:
                out.append(Violation((imp.source, f"{imp.target}.{imp.name}"),
                                     f"{imp.where}: {imp.source} imports {imp.name}, private to "
                                     f"{imp.target}"))
            parts = imp.target.split(".")
            for i, part in enumerate(parts):
                if _is_private(part):
                    owner = ".".join(parts[:i])
                    if not _inside(imp.source, owner):
                        out.append(Violation((imp.source, imp.target),
                                             f"{imp.where}: {imp.source} imports {imp.target}, "
                                             f"private to the package {owner}"))
                    break
        return out

    def graph(self) -> dict[str, dict[str, Import]]:
        """module -> {imported module: the first import that makes the arrow}."""
        g: dict[str, dict[str, Import]] = {m: {} for m in self.files}
        for imp in self.imports:
            if imp.target in self.files and imp.target != imp.source:
                g[imp.source].setdefault(imp.target, imp)
        return g

    def cycles(self) -> list[Violation]:
        """One violation per strongly connected set of modules, with one circle spelled out."""
        g = self.graph()
        out = []
        for members in _strongly_connected(g):
            steps = [f"  {imp.where}: {imp.source} -> {imp.target}"
                     for imp in _shortest_circle(g, members)]
            out.append(Violation(tuple(members),
                                 f"circle among {members}:\n" + "\n".join(steps)))
        return out


def _strongly_connected(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); the sets of more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for start in sorted(graph):
        if start in index:
            continue
        visit(start)
        work = [(start, iter(sorted(graph[start])))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    visit(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    members.append(m)
                    if m == node:
                        break
                if len(members) > 1:
                    out.append(sorted(members))
    return out


def _shortest_circle(graph: dict[str, dict[str, Import]], members: list[str]) -> list[Import]:
    """A shortest circle through the first member (breadth-first), as its imports."""
    inside, start = set(members), members[0]
    came_by: dict[str, Import] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child, imp in sorted(graph[node].items()):
                if child == start:
                    path = [imp]
                    while path[0].source != start:
                        path.insert(0, came_by[path[0].source])
                    return path
                if child in inside and child not in came_by:
                    came_by[child] = imp
                    following.append(child)
        frontier = following
    raise AssertionError(f"no circle through {start}")
