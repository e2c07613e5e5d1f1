"""The one strict YAML dialect of infersim: hardware specs, studies, the study registry and
`--set` values all go through `parse_document` / `load_document` / `parse_value`.

The dialect is the YAML 1.2 core schema, narrowed:
- numbers as in YAML 1.2: `1e-1` and `1e9` are floats, `012` is twelve, `0x1f` / `0o17`
  are integers; `1_000` and `1:30` are text;
- booleans are only `true` / `false` (any case form YAML 1.2 allows); `yes`, `no`, `on`, `off`
  stay text, so a schema reports them as a wrong type with a fix;
- no timestamps (`2024-01-01` is text), no merge keys (`<<:`), no tags beyond the standard
  scalar / sequence / mapping ones (`!!python/...`, `!!binary`, `!custom` are refused);
- duplicate keys are refused; keys are text;
- every problem carries the 1-based line where it sits.

Hostile documents are refused before any Python object is built, with explicit loops (no
recursion), so the cost is bounded by the limits below whatever the input:
- `MAX_BYTES` of text; `MAX_DEPTH` levels of nesting;
- `MAX_NODES` nodes counted after alias expansion (an alias counts as a copy of everything
  it refers to), which stops "billion laughs" bombs at the first alias past the limit;
- an alias may not refer to a collection that contains it (no self-referencing data).
PyYAML's scanner and parser are state machines; only its composer and constructor recurse,
and both are replaced here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml import events as ev

from infersim.foundation.errors import InputError, Problem, SpecError

# PyYAML's pure-Python scanner reads ~25k values or ~1 MB of text per second on a busy
# 2-core machine; specs and studies are a few hundred values in a few kB. These caps keep the
# worst case for any input under half a second.
MAX_BYTES = 256 * 1024
MAX_DEPTH = 64
MAX_NODES = 10_000
MAX_INT_DIGITS = 400  # far past any float; int() of longer literals is slow or refused

_T = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, SEQ, MAP = (_T + s for s in
                                         ("str", "int", "float", "bool", "null", "seq", "map"))
_SCALAR_TAGS = (STR, INT, FLOAT, BOOL, NULL)

_INT_RE = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT_RE = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                       r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
_BOOL = {"true": True, "True": True, "TRUE": True,
         "false": False, "False": False, "FALSE": False}
_NULL = frozenset(("", "~", "null", "Null", "NULL"))


class _Refused(Exception):
    """A limit or a structural rule was broken; composition stops at once."""

    def __init__(self, message: str, fix: str, line: int | None):
        super().__init__(message)
        self.problem = Problem("<document>", message, fix, line)


class _Loader(yaml.SafeLoader):
    """PyYAML's reader, scanner and parser, refusing deep flow nesting (`[[[[...`) as the
    brackets are scanned: the scanner looks ahead over every open bracket for a possible
    key, which costs depth² before the composer would see the first level."""

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise _Refused(f"nesting deeper than {MAX_DEPTH} levels", "flatten the structure",
                           self.get_mark().line + 1)
        super().fetch_flow_collection_start(TokenClass)  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# Node tree (a lightweight composer with an explicit stack)
# --------------------------------------------------------------------------------------------


class _Node:
    __slots__ = ("done", "line", "plain", "size", "tag", "value")

    def __init__(self, tag: str, value: Any, line: int, plain: bool = False):
        self.tag = tag
        self.value = value  # str for scalars, list of nodes / (key, value) pairs otherwise
        self.line = line
        self.plain = plain  # a scalar written without quotes
        self.size = 1  # nodes in its full expansion (aliases included)
        self.done = False  # collection finished (an alias to it is not self-referencing)


def _resolve(value: str) -> str:
    if value in _NULL:
        return NULL
    if value in _BOOL:
        return BOOL
    if _INT_RE.fullmatch(value):
        return INT
    if _FLOAT_RE.fullmatch(value):
        return FLOAT
    return STR


def _tag(event: Any, default: str, line: int) -> str:
    tag = event.tag
    if tag is None or tag == "!":
        return default
    allowed = _SCALAR_TAGS if default not in (SEQ, MAP) else (default,)
    if tag not in allowed:
        shown = "!!" + tag[len(_T):] if tag.startswith(_T) else tag
        raise _Refused(f"tag {shown} is not supported",
                       "remove the tag; write plain values, lists and mappings", line)
    return tag


def _compose(loader: yaml.SafeLoader, max_depth: int, max_nodes: int) -> _Node | None:
    """The single document of the stream as a node tree, checking every limit as events
    arrive (so a bomb is refused before it is expanded)."""
    anchors: dict[str, _Node] = {}
    stack: list[_Node] = []  # open collections
    pending_key: list[Any] = []  # per open mapping: the key node waiting for its value
    total = 0
    root: _Node | None = None
    loader.get_event()  # StreamStart
    if loader.check_event(ev.StreamEndEvent):
        return None
    loader.get_event()  # DocumentStart

    def attach(node: _Node) -> None:
        nonlocal root
        if not stack:
            root = node
            return
        parent = stack[-1]
        if parent.tag == SEQ:
            parent.value.append(node)
        elif pending_key[-1] is None:
            pending_key[-1] = node
        else:
            parent.value.append((pending_key[-1], node))
            pending_key[-1] = None

    def count(n: int, line: int) -> None:
        nonlocal total
        total += n
        if total > max_nodes:
            raise _Refused(f"the document expands to more than {max_nodes:,} values "
                           "(aliases count as copies)",
                           "write the values out, or use fewer aliases to large blocks", line)

    while not loader.check_event(ev.DocumentEndEvent):
        event = loader.get_event()
        line = event.start_mark.line + 1
        if isinstance(event, ev.AliasEvent):
            target = anchors.get(event.anchor or "")
            if target is None:
                raise _Refused(f"alias *{event.anchor} refers to no anchor",
                               f"define &{event.anchor} before using *{event.anchor}", line)
            if not target.done:
                raise _Refused(f"alias *{event.anchor} refers to a block that contains it",
                               "a value cannot include itself; write it out", line)
            count(target.size, line)
            attach(target)
            continue
        if isinstance(event, (ev.SequenceEndEvent, ev.MappingEndEvent)):
            node = stack.pop()
            pending_key.pop()
            kids = node.value if node.tag == SEQ else [n for pair in node.value for n in pair]
            node.size = 1 + sum(k.size for k in kids)
            node.done = True
            attach(node)
            continue
        count(1, line)
        if isinstance(event, ev.ScalarEvent):
            plain = event.style is None and event.tag is None
            default = _resolve(event.value) if event.implicit[0] and event.tag is None else STR
            node = _Node(_tag(event, default, line), event.value, line, plain)
            node.done = True
            if event.anchor is not None:
                anchors[event.anchor] = node
            attach(node)
            continue
        is_seq = isinstance(event, ev.SequenceStartEvent)
        node = _Node(_tag(event, SEQ if is_seq else MAP, line), [], line)
        if len(stack) >= max_depth:
            raise _Refused(f"nesting deeper than {max_depth} levels",
                           "flatten the structure", line)
        if event.anchor is not None:
            anchors[event.anchor] = node
        stack.append(node)
        pending_key.append(None)
    loader.get_event()  # DocumentEnd
    if not loader.check_event(ev.StreamEndEvent):
        extra = loader.get_event()
        raise _Refused("more than one YAML document in the file",
                       "keep one document (remove the `---` separator)",
                       extra.start_mark.line + 1)
    return root


# --------------------------------------------------------------------------------------------
# Parsed documents
# --------------------------------------------------------------------------------------------


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


def parse_document(text: str, *, empty_fix: str = "write the document") -> ParsedDoc:
    """Parse YAML text into a `ParsedDoc`. Never raises on bad input: every problem (syntax,
    limits, duplicate keys, merge keys, tags, numbers out of range) is collected."""
    doc = ParsedDoc(None)
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        doc.problems.append(Problem("<document>", f"the file is larger than "
                                    f"{MAX_BYTES // 1024} KiB",
                                    "a spec or study is a few kB; check the file", None))
        return doc
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader checks for unprintable characters here
        root = _compose(loader, MAX_DEPTH, MAX_NODES)
    except _Refused as e:
        doc.problems.append(e.problem)
        return doc
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        msg = " ".join(str(getattr(e, "problem", None) or e).split())
        doc.problems.append(Problem("<document>", f"YAML syntax error: {msg}",
                                    "fix the YAML syntax at this line", line))
        return doc
    finally:
        if loader is not None:
            loader.dispose()
    if root is None or (root.tag == NULL and root.plain and root.value == ""):
        doc.problems.append(Problem("<document>", "the file is empty", empty_fix, 1))
        return doc
    doc.lines[""] = root.line
    doc.data = _to_python(root, doc)
    return doc


def load_document(text: str, source: str, *, empty_fix: str = "write the document"
                  ) -> ParsedDoc:
    """`parse_document`, raising one `SpecError` (file, line, fix per problem) on any."""
    doc = parse_document(text, empty_fix=empty_fix)
    if doc.problems:
        raise SpecError(source, doc.problems)
    return doc


def parse_value(text: str, what: str) -> Any:
    """One value written on a command line (`--set x=VALUE`), read in the same dialect; an
    empty text is None. Raises `InputError` naming `what` on any problem."""
    if not text.strip():
        return None
    doc = parse_document(text)
    if doc.problems:
        p = doc.problems[0]
        raise InputError(f"{what}: cannot read the value {text[:80]!r}: {p.message}"
                         + (f" ({p.fix})" if p.fix else ""))
    return doc.data


def _scalar(node: _Node) -> tuple[Any, str | None]:
    """(value, problem message or None) of a scalar node."""
    v, tag = node.value, node.tag
    if tag == STR:
        return v, None
    if tag == NULL:
        return (None, None) if v in _NULL else (v, f"{v!r} is not null")
    if tag == BOOL:
        return (_BOOL[v], None) if v in _BOOL else (v, f"{v!r} is not true or false")
    if tag == INT:
        if not _INT_RE.fullmatch(v):
            return v, f"{v!r} is not an integer"
        digits = v.lstrip("+-")
        if len(digits) > MAX_INT_DIGITS:
            return v, f"an integer with {len(digits)} digits is out of range"
        if digits.startswith(("0x", "0o")):
            return int(digits[2:], 16 if digits[1] == "x" else 8), None
        return int(v, 10), None
    if not _FLOAT_RE.fullmatch(v):
        return v, f"{v!r} is not a number"
    low = v.lower()
    if low.endswith(".nan"):
        return math.nan, None
    if low.endswith(".inf"):
        return (-math.inf if low.startswith("-") else math.inf), None
    return float(v), None


def _to_python(root: _Node, doc: ParsedDoc) -> Any:
    """Plain Python values from the node tree, in document order, with an explicit stack.
    Entries are (node, path, container, slot, line-to-record); pairs of a mapping are
    visited one by one so problems and lines come in document order."""
    out: list[Any] = [None]
    todo: list[tuple[Any, ...]] = [("value", root, "", out, 0)]
    while todo:
        entry = todo.pop()
        if entry[0] == "pair":
            _, key_node, value_node, path, target, keys_seen = entry
            line = key_node.line
            if key_node.tag in (SEQ, MAP):
                doc.problems.append(Problem(path or "<document>", "a key must be a plain name",
                                            "use a scalar key", line))
                continue
            key = str(key_node.value)
            if key == "<<" and key_node.plain:
                doc.problems.append(Problem(join(path, "<<"), "merge keys are not supported",
                                            "write the fields out literally", line))
                continue
            p = join(path, key)
            if key in keys_seen:
                doc.problems.append(Problem(
                    p, f"duplicate key {key!r} (first defined on line {keys_seen[key]})",
                    "keep one of the two entries", line))
                continue
            keys_seen[key] = line
            doc.lines[p] = line
            target[key] = None
            todo.append(("value", value_node, p, target, key))
            continue
        _, node, path, target, slot = entry
        if node.tag == MAP:
            d: dict[str, Any] = {}
            target[slot] = d
            seen: dict[str, int] = {}
            todo.extend(("pair", k, v, path, d, seen) for k, v in reversed(node.value))
        elif node.tag == SEQ:
            items: list[Any] = [None] * len(node.value)
            target[slot] = items
            for i in range(len(node.value) - 1, -1, -1):
                p = f"{path}[{i}]"
                doc.lines[p] = node.value[i].line
                todo.append(("value", node.value[i], p, items, i))
        else:
            value, problem = _scalar(node)
            if problem is not None:
                doc.problems.append(Problem(path or "<document>", problem,
                                            "write a plain number, or quote text", node.line))
            target[slot] = value
    return out[0]


class _Dumper(yaml.SafeDumper):
    """Writes plain scalars only where this dialect reads them back as the same value (the
    string '1e-1' is quoted; YAML 1.1's dumper would leave it plain)."""


_Dumper.yaml_implicit_resolvers = {}
for _tag_name, _rx, _first in (
        (BOOL, re.compile(r"true|True|TRUE|false|False|FALSE"), "tTfF"),
        (NULL, re.compile(r"~|null|Null|NULL|"), ["~", "n", "N", ""]),
        (INT, re.compile(_INT_RE.pattern), "-+0123456789"),
        (FLOAT, re.compile(_FLOAT_RE.pattern), "-+0123456789.")):
    _Dumper.add_implicit_resolver(_tag_name, re.compile(f"^(?:{_rx.pattern})$"), list(_first))


# YAML 1.1 line breaks beyond \n and \r (NEL, LS, PS): PyYAML's emitter writes them raw in
# plain, single-quoted and block styles, where a reader folds them to a space; only the
# double-quoted style escapes them.
_EXTRA_BREAKS = ("\x85", "\u2028", "\u2029")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = '"' if any(b in value for b in _EXTRA_BREAKS) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_document(data: Any) -> str:
    """YAML text of plain data (mappings, lists, text, numbers, booleans, None) that
    `parse_document` reads back as the same data; key order is kept."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "ParsedDoc", "dump_document", "join",
           "load_document", "parse_document", "parse_value"]
