"""Step 1 of spec parsing: load YAML strictly, remembering where every field came from.

`StrictLoader` is a PyYAML `SafeLoader` that
- rejects duplicate mapping keys (PyYAML silently keeps the last one),
- reads `1e9` / `2.5e-6` as floats (YAML 1.1 only knows `1.0e+9`),
- reads only `true` / `false` as booleans (not `yes`, `no`, `on`, `off`).

`parse_document(text, source)` composes the node tree and converts it to plain Python values
while recording the 1-based line of every field path (`memory.hbm.capacity_gb`,
`memory.hbm.holds[0]`). It collects every duplicate key and merge key (`<<:`) as a `Problem`
instead of stopping at the first; syntax errors become one `Problem` with the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from infersim.foundation.errors import Problem

_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping repeats a key."""


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and fixes the YAML 1.1 float/bool surprises."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            try:
                first = seen.get(key)
            except TypeError:  # unhashable key: the base class reports it
                continue
            if first is not None:
                raise DuplicateKeyError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {key!r} (first defined on line {first})",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _install_resolvers() -> None:
    # Replace the bool and float resolvers of the subclass only (SafeLoader is untouched).
    resolvers = {k: [(tag, rx) for tag, rx in v
                     if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float")]
                 for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    StrictLoader.yaml_implicit_resolvers = resolvers
    StrictLoader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL_RE, list("tTfF"))
    StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE,
                                       list("-+0123456789."))


_install_resolvers()


def strict_load(text: str) -> Any:
    """Load one YAML document with `StrictLoader` (raises on duplicate keys)."""
    return yaml.load(text, Loader=StrictLoader)


@dataclass
class ParsedDoc:
    """A YAML document as plain Python values, with the line of every field path."""

    data: Any
    lines: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def field_paths(self) -> tuple[list[str], frozenset[str]]:
        """Paths of the document's fields (no list items, no `sources`), memoized."""
        memo = self.__dict__.get("_paths")
        if memo is None:
            paths = [p for p in self.lines if p and not p.startswith("sources")
                     and "[" not in p]
            memo = (paths, frozenset(paths))
            self.__dict__["_paths"] = memo
        return memo

    def line(self, path: str) -> int | None:
        """Line of `path`, or of its nearest ancestor that has one."""
        p = path
        while p:
            if p in self.lines:
                return self.lines[p]
            cut = max(p.rfind("."), p.rfind("["))
            p = p[:cut] if cut > 0 else ""
        return self.lines.get("")


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def parse_document(text: str) -> ParsedDoc:
    """Parse YAML text into a `ParsedDoc`; never raises on bad input (problems are collected)."""
    doc = ParsedDoc(None)
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            doc.problems.append(Problem("<document>", "the file is empty",
                                        "write a chip spec (kind: ...) or a system spec "
                                        "(system: ...); see docs/hardware-spec.md", 1))
            return doc
        doc.lines[""] = node.start_mark.line + 1
        doc.data = _convert(loader, node, "", doc)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        msg = " ".join(str(getattr(e, "problem", None) or e).split())
        doc.problems.append(Problem("<document>", f"YAML syntax error: {msg}",
                                    "fix the YAML syntax at this line", line))
        doc.data = None
    finally:
        loader.dispose()
    return doc


def _convert(loader: StrictLoader, node: Node, path: str, doc: ParsedDoc) -> Any:
    if isinstance(node, MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                doc.problems.append(Problem(join(path, "<<"), "merge keys are not supported",
                                            "write the fields out literally", line))
                continue
            if not isinstance(key_node, ScalarNode):
                doc.problems.append(Problem(path or "<document>", "a key must be a plain name",
                                            "use a scalar key", line))
                continue
            key = str(key_node.value)
            p = join(path, key)
            if key in out:
                doc.problems.append(Problem(
                    p, f"duplicate key {key!r} (first defined on line {doc.lines.get(p)})",
                    "keep one of the two entries", line))
                continue
            doc.lines[p] = line
            out[key] = _convert(loader, value_node, p, doc)
        return out
    if isinstance(node, SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            p = f"{path}[{i}]"
            doc.lines[p] = item.start_mark.line + 1
            items.append(_convert(loader, item, p, doc))
        return items
    return loader.construct_object(node, deep=True)  # type: ignore[no-untyped-call]


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")
