"""The schema toolkit: field types, ranges, enums and "did you mean", collecting EVERY problem
of a document as a `Problem` with field path, line and fix.

Hardware specs (`hwmodels/validate.py`, whose schema adds unit-suffixed quantities) and studies
(`studies/spec.py`) are both validated with `Checker`. Numbers are range-checked where they
enter: text, booleans, NaN, infinities and integers too large for a float become a problem,
never an `OverflowError` or `ValueError` later.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infersim.foundation.errors import InputError, Problem
from infersim.foundation.suggest import did_you_mean

Range = tuple[float, float]


@dataclass(frozen=True)
class Leaf:
    """A field holding one value: str, int, float, bool, an enum choice or a list of choices."""

    name: str
    type: str  # "str" | "int" | "float" | "bool" | "enum" | "enum_list"
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] = ()
    range: Range = (-math.inf, math.inf)  # numbers only
    pattern: str | None = None  # str only (regex, full match)


@dataclass(frozen=True)
class Struct:
    """A mapping with a fixed set of fields."""

    name: str
    fields: tuple[Any, ...]
    required: bool = False
    help: str = ""


@dataclass(frozen=True)
class MapOf:
    """A mapping from user-chosen names to values of one schema."""

    name: str
    value: Any
    required: bool = False
    help: str = ""
    key_pattern: str = r"[a-z][a-z0-9_]*"
    min_items: int = 1


def is_number(v: Any) -> bool:
    """An int or float (booleans are not numbers here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def as_float(v: Any) -> float | None:
    """`v` as a float, or None when it is not a number or too large for one."""
    if not is_number(v):
        return None
    try:
        return float(v)
    except OverflowError:
        return None


def fmt(x: float) -> str:
    return f"{x:.6g}"


_LEADING_NUMBER = re.compile(r"\s*([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)")


def number_problem(value: Any, *, integer: bool = False, finite: bool = True,
                   exact_int: bool = False) -> tuple[str, str] | None:
    """(message, fix) when `value` is not a usable number: not a number, not whole (when
    `integer`; with `exact_int` a float such as 4.0 is refused too), too large for a float, or
    NaN / infinite (when `finite`)."""
    if not is_number(value) or (exact_int and not isinstance(value, int)):
        fix = "write a plain number"
        if isinstance(value, bool):
            fix = "write a number, not true/false"
        elif isinstance(value, str):
            m = _LEADING_NUMBER.match(value)
            if m:
                fix = f"write the number only ({m.group(1)}); the unit belongs in the key name"
        return f"expected {'an integer' if integer else 'a number'}, got {value!r}", fix
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            return (f"{str(value)[:12]}… ({len(str(abs(value)))} digits) is too large",
                    "write a number below 1e308")
        return None
    if math.isnan(value) or (finite and math.isinf(value)):
        return f"must be finite, got {value!r}", "write a finite number"
    if integer and not (math.isinf(value) or value.is_integer()):
        return f"expected a whole number, got {value!r}", "write an integer"
    return None


class Checker:
    """Collects problems of one document. `line_of(path)` gives the line of a field path (or
    of its nearest ancestor); subclasses may decorate messages by overriding `add`."""

    def __init__(self, line_of: Callable[[str], int | None]):
        self.line_of = line_of
        self.problems: list[Problem] = []

    def add(self, path: str, message: str, fix: str = "") -> None:
        self.problems.append(Problem(path, message, fix, self.line_of(path)))

    # ---- fields -------------------------------------------------------------------------
    def unknown_keys(self, data: Mapping[str, Any], allowed: Iterable[str], prefix: str,
                     what: str = "field") -> list[str]:
        """Report every key of `data` not in `allowed`, with a suggestion; return them."""
        names = list(allowed)
        bad = [str(k) for k in data if k not in names]
        for k in bad:
            hint = did_you_mean(k, names)
            self.add(f"{prefix}{k}", f"unknown {what} {k!r}",
                     hint or f"allowed: {', '.join(names)}")
        return bad

    def choice(self, path: str, value: Any, choices: Iterable[str], what: str = "value") -> bool:
        names = [str(c) for c in choices]
        if isinstance(value, str) and value in names:
            return True
        hint = did_you_mean(str(value), names)
        self.add(path, f"unknown {what} {value!r}" + (f"; {hint}" if hint else ""),
                 f"use one of {', '.join(names)}")
        return False

    def flag(self, path: str, value: Any) -> bool:
        if isinstance(value, bool):
            return True
        self.add(path, f"expected true or false, got {value!r}", "write true or false")
        return False

    def text(self, path: str, value: Any, *, pattern: str | None = None,
             pattern_fix: str = "use letters, digits, '.', '_' and '-'",
             allow_empty: bool = False) -> bool:
        if not isinstance(value, str) or (not allow_empty and not value.strip()):
            self.add(path, f"expected {'' if allow_empty else 'a non-empty '}text, got "
                     f"{value!r}", "quote the text")
            return False
        if pattern and not re.fullmatch(pattern, value):
            self.add(path, f"{value!r} has characters that are not allowed", pattern_fix)
            return False
        return True

    def number(self, path: str, value: Any, *, integer: bool = False,
               lo: float = -math.inf, hi: float = math.inf, finite: bool = True,
               exact_int: bool = False, what: str = "") -> bool:
        """A number of the right kind within [lo, hi]; `what` names it in messages."""
        bad = number_problem(value, integer=integer or exact_int, finite=finite,
                             exact_int=exact_int)
        if bad is not None:
            self.add(path, (f"{what}: " if what else "") + bad[0], bad[1])
            return False
        if lo <= value <= hi:
            return True
        name = f"{what}: " if what else ""
        if lo == 0 and value < 0:
            self.add(path, f"{name}must not be negative, got {fmt(value)}", "write a value ≥ 0")
        elif math.isinf(hi):
            self.add(path, f"{name}must be ≥ {fmt(lo)}, got {fmt(value)}",
                     f"write a value ≥ {fmt(lo)}")
        elif math.isinf(lo):
            self.add(path, f"{name}must be ≤ {fmt(hi)}, got {fmt(value)}",
                     f"write a value ≤ {fmt(hi)}")
        else:
            self.add(path, f"{name}{fmt(value)} is out of range (allowed {fmt(lo)} to "
                     f"{fmt(hi)})", f"write a value from {fmt(lo)} to {fmt(hi)}")
        return False

    def leaf(self, fld: Leaf, value: Any, path: str) -> bool:
        """Check one value against a `Leaf` field."""
        t = fld.type
        if t == "str":
            return self.text(path, value, pattern=fld.pattern)
        if t == "bool":
            return self.flag(path, value)
        if t == "enum":
            if isinstance(value, str) and value in fld.choices:
                return True
            hint = did_you_mean(str(value), fld.choices)
            self.add(path, f"{value!r} is not one of {', '.join(fld.choices)}"
                     + (f"; {hint}" if hint else ""), f"use one of {', '.join(fld.choices)}")
            return False
        if t == "enum_list":
            if not isinstance(value, list):
                self.add(path, f"expected a list, got {value!r}",
                         f"write e.g. [{', '.join(fld.choices)}]")
                return False
            ok = True
            seen: set[str] = set()
            for i, item in enumerate(value):
                ip = f"{path}[{i}]"
                if not isinstance(item, str) or item not in fld.choices:
                    hint = did_you_mean(str(item), fld.choices)
                    self.add(ip, f"{item!r} is not one of {', '.join(fld.choices)}"
                             + (f"; {hint}" if hint else ""), f"use {', '.join(fld.choices)}")
                    ok = False
                elif item in seen:
                    self.add(ip, f"{item!r} is listed twice", "remove the repeat")
                    ok = False
                seen.add(str(item))
            return ok
        return self.number(path, value, integer=(t == "int"), lo=fld.range[0], hi=fld.range[1])


# Largest integer a flag or an override accepts: far above any count infersim models (tokens,
# chips, requests), and small enough that every later float conversion or numpy int64 holds it.
MAX_CLI_INT = 10**15


def check_value_tree(item: str, value: Any, depth: int = 0, flag: str = "--set") -> None:
    """Numbers in a --set value must fit a float and stay below MAX_CLI_INT for integers."""
    if depth > 20:
        raise InputError(f"{flag} {item[:60]!r}: the value nests too deeply")
    if isinstance(value, bool):
        return
    if isinstance(value, int) and abs(value) > MAX_CLI_INT:
        raise InputError(f"{flag} {item[:60]!r}: {str(value)[:30]} is too large (integers at "
                         f"most {MAX_CLI_INT:.0e} in magnitude)")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{flag} {item[:60]!r}: the value must be a finite number")
    if isinstance(value, list):
        for v in value:
            check_value_tree(item, v, depth + 1, flag)
    elif isinstance(value, dict):
        for v in value.values():
            check_value_tree(item, v, depth + 1, flag)


def parse_set(items: Sequence[str] | None) -> dict[str, Any]:
    """`--set a.b.c=value` pairs → {"a.b.c": value}, value read in the one YAML dialect
    (every command's `--set` and the validation what-ifs)."""
    from infersim.foundation.yaml import parse_value

    out: dict[str, Any] = {}
    for item in items or ():
        if "=" not in item:
            raise InputError(f"--set {item!r}: expected FIELD.PATH=VALUE, e.g. "
                             "--set memory.hbm.bandwidth_tb_per_s=4.8")
        key, _, val = item.partition("=")
        try:
            value = parse_value(val, f"--set {key.strip()}")
        except InputError as e:
            raise InputError(f"{e}; write a number, a word, or a quoted string, e.g. --set "
                             "memory.hbm.bandwidth_tb_per_s=4.8") from None
        check_value_tree(item, value)
        out[key.strip()] = value
    return out
