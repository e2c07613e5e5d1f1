"""Strict YAML loading for study files: duplicate keys are errors, every key has a line.

`load_strict(text, source)` returns plain Python data plus a map from dotted field path to
the 1-based line where that key (or list item) appears, so validation problems can name both.
A duplicate key raises `SpecError` at once (the file is ambiguous; nothing else is checked).
"""

from __future__ import annotations

from typing import Any

import yaml

from infersim.foundation.errors import Problem, SpecError


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that records key lines and rejects duplicate mapping keys."""

    key_lines: dict[int, dict[Any, int]]
    duplicates: list[tuple[Any, int, int]]


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    seen: dict[Any, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in seen:
            loader.duplicates.append((key, seen[key], line))
        seen[key] = line
        out[key] = loader.construct_object(value_node, deep=True)
    loader.key_lines[id(out)] = seen
    return out


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_strict(text: str, source: str) -> tuple[Any, dict[str, int]]:
    """Parse YAML text strictly. Returns (data, lines) with lines[dotted.path] = line number."""
    loader = _StrictLoader(text)
    loader.key_lines = {}
    loader.duplicates = []
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        msg = getattr(e, "problem", None) or str(e)
        raise SpecError(source, [Problem("(file)", f"not valid YAML: {msg}",
                                         "fix the YAML syntax at that line", line)]) from None
    finally:
        loader.dispose()
    dups = loader.duplicates
    if dups:
        raise SpecError(source, [
            Problem(str(k), f"duplicate key (first defined on line {first})",
                    "keep one definition of the key", line)
            for k, first, line in dups])
    lines: dict[str, int] = {}
    _collect_lines(data, "", loader.key_lines, lines)
    return data, lines


def _collect_lines(obj: Any, prefix: str, key_lines: dict[int, dict[Any, int]],
                   out: dict[str, int]) -> None:
    if isinstance(obj, dict):
        lines = key_lines.get(id(obj), {})
        for k, v in obj.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            if k in lines:
                out[path] = lines[k]
            _collect_lines(v, path, key_lines, out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _collect_lines(v, f"{prefix}[{i}]", key_lines, out)
