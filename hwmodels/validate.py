"""Step 2 of spec parsing: check a parsed document against the schema, collecting EVERY problem.

Checks, each reported as an `infersim.errors.Problem` with field path, line and fix:
- unknown fields, with "did you mean" suggestions; unit typos (`capacity_gbyte`) and
  ambiguous units (`bandwidth_gbps`: bits or bytes?) are named as such;
- missing required fields, wrong types, non-finite / negative / zero values;
- implausible magnitudes that suggest a unit slip (HBM at 3350 TB/s → "off by 1000×? did you
  mean bandwidth_gb_per_s: 3350"), using per-field plausible ranges from `hwmodels.schema`;
- cross-field rules (idle ≤ TDP, memory order, kind-block consistency, references);
- provenance: every `sources:` key must name a field of the document, and every number must be
  covered by a `sources` entry for its path or a parent path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infersim.foundation.errors import Problem
from infersim.foundation.schema import (
    Checker,
    Leaf,
    MapOf,
    Struct,
    as_float,
    fmt,
    is_number,
    number_problem,
)
from infersim.foundation.suggest import did_you_mean
from infersim.foundation.units import BITS_PER_BYTE
from infersim.foundation.yaml import ParsedDoc, join
from infersim.hwmodels.schema import (
    CHIP,
    DTYPE_NAMES,
    FAMILIES,
    KIND_BLOCKS,
    SYSTEM,
    KindField,
    Quantity,
    kind_fields,
    spell,
    split_suffix,
)
from infersim.hwmodels.spec import GpuParams, HardwareKind
from infersim.workloads.dtypes import DType

_ASSUMED = re.compile(r"\s*assumed\b", re.I)
_ASSUMED_WITH_REASON = re.compile(r"\s*assumed\s*:\s*\S.{3,}", re.I)
SOURCE_HINT = ("a URL, a paper, a measurement file validation/data/<file>, or "
               "'assumed: <reason>'")


@dataclass
class Validation:
    """Outcome of validating one document."""

    doc_type: str  # "chip" | "system" | "unknown"
    problems: list[Problem] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)  # paths of every numeric value


class _Validator(Checker):
    def __init__(self, doc: ParsedDoc, overridden: frozenset[str]):
        super().__init__(doc.line)
        self.doc = doc
        self.overridden = overridden
        self.result = Validation("unknown", self.problems)

    # ---- reporting -------------------------------------------------------------------------
    def add(self, path: str, message: str, fix: str = "") -> None:
        if any(path == o or path.startswith(o + ".") or path.startswith(o + "[")
               for o in self.overridden):
            message += " (value given by --set)"
        super().add(path, message, fix)

    def is_overridden(self, path: str) -> bool:
        return any(path == o or path.startswith(o + ".") for o in self.overridden)

    # ---- generic walkers -------------------------------------------------------------------
    def struct(self, schema: Struct, data: Any, path: str,
               extra_ok: frozenset[str] = frozenset(), name: str | None = None) -> None:
        if not isinstance(data, dict):
            self.add(path or "<document>", f"expected a mapping of fields ({schema.name}), "
                     f"got {type(data).__name__}", "write `key: value` lines under it")
            return
        consumed: set[str] = set(extra_ok)
        spellings = _quantity_spellings(schema)
        qkeys: dict[int, list[str]] = {}
        for k in data:
            q = spellings.get(k)
            if q is not None:
                qkeys.setdefault(id(q), []).append(k)
        for fld in schema.fields:
            if isinstance(fld, Quantity):
                fam = fld.unit_family
                keys = qkeys.get(id(fld), [])
                consumed.update(keys)
                if len(keys) > 1:
                    self.add(join(path, keys[1]), f"{fld.base or fam.name} is given twice "
                             f"({', '.join(keys)})", "keep one of them")
                    continue
                if not keys:
                    misspelt = any(k.startswith(fld.base + "_") for k in data) if fld.base \
                        else any("_per_" in k for k in data)
                    if fld.required and not misspelt:
                        self.add(join(path, spell(fld.base, _default_suffix(fld))),
                                 f"missing required field {fld.base or fam.name} "
                                 f"({fld.help})",
                                 f"add `{spell(fld.base, _default_suffix(fld))}: <value>` "
                                 f"(any of {', '.join(fld.spellings())})")
                    continue
                ctx = data if name is None else {**data, "__name__": name}
                self.quantity(fld, keys[0], data[keys[0]], join(path, keys[0]), ctx)
            else:
                key = fld.name
                consumed.add(key)
                if key not in data:
                    if fld.required:
                        self.add(join(path, key), f"missing required field {key!r}"
                                 + (f" ({fld.help})" if fld.help else ""),
                                 f"add `{key}:`")
                    continue
                if isinstance(fld, Leaf):
                    self.leaf(fld, data[key], join(path, key))
                elif isinstance(fld, Struct):
                    self.struct(fld, data[key], join(path, key))
                elif isinstance(fld, MapOf):
                    self.map_of(fld, data[key], join(path, key))
        for key in data:
            if key not in consumed:
                self.unknown(key, path, schema.fields, extra_ok)

    def map_of(self, schema: MapOf, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            self.add(path, f"expected a mapping of named {schema.value.name}s, got "
                     f"{type(data).__name__}", f"write `{schema.name}: {{<name>: {{...}}}}`")
            return
        if len(data) < schema.min_items:
            self.add(path, f"needs at least {schema.min_items} {schema.value.name}",
                     f"add a {schema.value.name} under {schema.name}:")
        for key, value in data.items():
            p = join(path, key)
            if not re.fullmatch(schema.key_pattern, key):
                self.add(p, f"name {key!r} must be lower-case letters, digits and _",
                         f"rename it, e.g. {re.sub(r'[^a-z0-9_]', '_', key.lower())!r}")
            if isinstance(value, dict):
                self.struct(schema.value, value, p, name=key)
            else:
                self.add(p, f"expected the fields of a {schema.value.name}, got "
                         f"{type(value).__name__}", "write its fields as a mapping")

    def unknown(self, key: str, path: str, fields: tuple[Any, ...],
                extra_ok: frozenset[str]) -> None:
        p = join(path, key)
        quantities = sorted((f for f in fields if isinstance(f, Quantity)),
                            key=lambda q: -len(q.base))
        for q in quantities:
            fam = q.unit_family
            if q.base and key.startswith(q.base + "_"):
                suffix = key[len(q.base) + 1:]
            elif not q.base and "_per_" in key:
                suffix = key
            else:
                continue
            allowed = ", ".join(q.spellings())
            if suffix in fam.ambiguous:
                self.add(p, f"unit {suffix!r} is not allowed for {q.base or fam.name}",
                         fam.ambiguous[suffix].format(base=q.base))
                return
            if suffix.lower() in fam.suffixes:
                self.add(p, "keys are lower-case", f"write {spell(q.base, suffix.lower())!r}")
                return
            hint = did_you_mean(key, q.spellings())
            self.add(p, f"unknown unit {suffix!r} for {q.base or fam.name} ({fam.name} "
                     f"in {fam.si_unit}); {hint or 'allowed: ' + allowed}",
                     f"use one of {allowed}")
            return
        names: list[str] = list(extra_ok)
        for f in fields:
            names += f.spellings() if isinstance(f, Quantity) else [f.name]
        if key.lower() in names:
            self.add(p, "keys are lower-case", f"write {key.lower()!r}")
            return
        hint = did_you_mean(key, names)
        self.add(p, f"unknown field {key!r}" + (f"; {hint}" if hint else ""),
                 f"remove it, or use one of: {', '.join(sorted(names))}")

    # ---- values ----------------------------------------------------------------------------
    def leaf(self, fld: Leaf, value: Any, path: str) -> bool:
        if fld.type in ("int", "float"):
            self.quantity_number(path, value, integer=(fld.type == "int"), lo=fld.range[0],
                                 hi=fld.range[1], scale=1.0, unit="",
                                 positive=fld.range[0] > 0)
            return True
        return super().leaf(fld, value, path)

    def quantity(self, q: Quantity, key: str, value: Any, path: str,
                 siblings: Mapping[str, Any]) -> None:
        fam = q.unit_family
        suffix = split_suffix(key, q.base, fam)
        assert suffix is not None
        scale = fam.suffixes[suffix]
        if q.range_fn is not None:
            lo, hi, what = q.range_fn(siblings)
        else:
            (lo, hi), what = q.range, (q.base or fam.name).replace("_", " ")
        if q.per_dtype:
            if not isinstance(value, dict) or not value:
                self.add(path, f"expected a mapping {{dtype: value}}, got {value!r}",
                         f"write e.g. `{key}: {{bf16: ..., fp8: ...}}` with dtypes among "
                         f"{', '.join(DTYPE_NAMES)}")
                return
            canon: dict[DType, str] = {}
            for dt, v in value.items():
                p = join(path, str(dt))
                try:
                    d = DType.parse(str(dt))
                except Exception:
                    hint = did_you_mean(str(dt), DTYPE_NAMES)
                    self.add(p, f"unknown dtype {dt!r}" + (f"; {hint}" if hint else ""),
                             f"use one of {', '.join(DTYPE_NAMES)}")
                    continue
                if d in canon:
                    self.add(p, f"dtype {d.value} given twice ({canon[d]!r} and {dt!r})",
                             "keep one")
                    continue
                canon[d] = str(dt)
                self.quantity_number(p, v, integer=False, lo=lo, hi=hi, scale=scale,
                            unit=fam.labels[suffix], positive=q.positive, what=what,
                            base=q.base, family=fam.name, suffix=suffix)
            return
        self.quantity_number(path, value, integer=False, lo=lo, hi=hi, scale=scale,
                    unit=fam.labels[suffix], positive=q.positive, what=what, base=q.base,
                    family=fam.name, suffix=suffix)

    def quantity_number(self, path: str, value: Any, *, integer: bool, lo: float, hi: float,
               scale: float, unit: str, positive: bool, what: str = "",
               base: str | None = None, family: str | None = None,
               suffix: str | None = None) -> None:
        bad = number_problem(value, integer=integer)
        if bad is not None:
            self.add(path, *bad)
            return
        self.result.numbers.append(path)
        if value < 0:
            self.add(path, f"must not be negative, got {fmt(value)}",
                     "write a positive value (sizes, rates and energies are magnitudes)")
            return
        if value == 0:
            if positive:
                self.add(path, "must be greater than 0", "write a positive value")
            return
        si = value * scale
        if lo <= si <= hi:
            return
        u = f" {unit}" if unit else ""
        rng = f"{fmt(lo / scale)}{u} to {fmt(hi / scale)}{u}"
        if base is None or family is None or suffix is None:
            self.add(path, f"{fmt(value)}{u} is out of range (allowed {rng})",
                     f"write a value from {rng}")
            return
        hint, fix = _slip_hint(value, base, family, suffix, lo, hi)
        self.add(path, f"{fmt(value)}{u} is implausible for {what} (plausible {rng})"
                 + (f"; {hint}" if hint else ""), fix or "check the value and its unit")

    # ---- kind blocks -----------------------------------------------------------------------
    def kind_block(self, cls: type, data: Any, path: str, memory: Mapping[str, Any]) -> None:
        fields = kind_fields(cls)
        if not isinstance(data, dict):
            self.add(path, f"expected a mapping of {path} parameters, got "
                     f"{type(data).__name__}", "write `key: value` lines under it")
            return
        consumed: set[str] = set()
        table = _kind_spellings(cls)
        spellings = list(table)
        by_attr: dict[str, list[str]] = {}
        for k in data:
            owner = table.get(k)
            if owner is not None:
                by_attr.setdefault(owner.attr, []).append(k)
        for kf in fields:
            keys = by_attr.get(kf.attr, [])
            consumed.update(keys)
            if len(keys) > 1:
                self.add(join(path, keys[1]), f"{kf.base} is given twice ({', '.join(keys)})",
                         "keep one of them")
                continue
            if not keys:
                if kf.required:
                    self.add(join(path, kf.key), f"missing required field {kf.key!r}"
                             + (f" ({kf.help})" if kf.help else ""),
                             f"add `{kf.key}: <value>`")
                continue
            self.kind_value(kf, keys[0], data[keys[0]], join(path, keys[0]), memory)
        for key in data:
            if key in consumed:
                continue
            p = join(path, key)
            bad_unit = next((kf for kf in fields if kf.family and key.startswith(kf.base + "_")),
                            None)
            if bad_unit is not None and bad_unit.family is not None:
                fam = FAMILIES[bad_unit.family]
                suffix = key[len(bad_unit.base) + 1:]
                allowed = ", ".join(spell(bad_unit.base, s) for s in fam.suffixes)
                if suffix in fam.ambiguous:
                    self.add(p, f"unit {suffix!r} is not allowed for {bad_unit.base}",
                             fam.ambiguous[suffix].format(base=bad_unit.base))
                else:
                    self.add(p, f"unknown unit {suffix!r} for {bad_unit.base} ({fam.name}); "
                             + (did_you_mean(key, spellings) or f"allowed: {allowed}"),
                             f"use one of {allowed}")
                continue
            hint = did_you_mean(key, spellings)
            self.add(p, f"unknown field {key!r}" + (f"; {hint}" if hint else ""),
                     f"remove it, or use one of: {', '.join(kf.key for kf in fields)}")

    def kind_value(self, kf: KindField, key: str, value: Any, path: str,
                   memory: Mapping[str, Any]) -> None:
        if value is None and kf.optional_none:
            return
        if kf.type == "str":
            if not isinstance(value, str) or not value:
                self.add(path, f"expected a name, got {value!r}", "write a name")
            elif kf.ref == "memory" and value not in memory:
                hint = did_you_mean(value, memory)
                self.add(path, f"{value!r} is not a memory level of this chip"
                         + (f"; {hint}" if hint else ""),
                         f"use one of {', '.join(memory) or '(no levels)'}")
            return
        if kf.type == "bool":
            if not isinstance(value, bool):
                self.add(path, f"expected true or false, got {value!r}", "write true or false")
            return
        if kf.family is not None:
            fam = FAMILIES[kf.family]
            suffix = split_suffix(key, kf.base, fam)
            assert suffix is not None
            scale = fam.suffixes[suffix]
            self.quantity_number(path, value, integer=kf.type == "int", lo=kf.range_si[0],
                        hi=kf.range_si[1], scale=scale, unit=fam.labels[suffix],
                        positive=kf.range_si[0] > 0, what=kf.help or kf.attr, base=kf.base,
                        family=kf.family, suffix=suffix)
        else:
            self.quantity_number(path, value, integer=kf.type == "int", lo=kf.range_si[0] / kf.scale,
                        hi=kf.range_si[1] / kf.scale, scale=1.0, unit="",
                        positive=kf.range_si[0] > 0)

    # ---- provenance ------------------------------------------------------------------------
    def sources(self, data: Mapping[str, Any]) -> None:
        src = data.get("sources")
        if src is None:
            src = {}
        if not isinstance(src, dict):
            self.add("sources", "expected a mapping {field.path: provenance}",
                     f"write `sources:` with one `field.path: <source>` line per number "
                     f"({SOURCE_HINT})")
            src = {}
        paths, known = self.doc.field_paths()
        for key, text in src.items():
            p = join("sources", key)
            if key not in known:
                hint = did_you_mean(key, paths)
                self.add(p, f"{key!r} does not name a field of this spec"
                         + (f"; {hint}" if hint else ""),
                         "point it at an existing field path (e.g. memory.hbm.capacity_gb)")
            if not isinstance(text, str) or not text.strip():
                self.add(p, "provenance must be a non-empty text", f"write {SOURCE_HINT}")
            elif _ASSUMED.match(text) and not _ASSUMED_WITH_REASON.match(text):
                self.add(p, "an assumption needs a reason", "write 'assumed: <reason>'")
        covered = set(src) if isinstance(src, dict) else set()
        for num in self.result.numbers:
            if self.is_overridden(num) or _covered(num, covered):
                continue
            self.add(num, "this number has no provenance",
                     f"add `sources: {{{num}: ...}}` (or a parent path) with {SOURCE_HINT}")


_KIND_SPELLINGS: dict[type, dict[str, KindField]] = {}


def _kind_spellings(cls: type) -> dict[str, KindField]:
    """{key spelling: field} of a kind-params class (any unit of a field's family)."""
    table = _KIND_SPELLINGS.get(cls)
    if table is None:
        table = {}
        for kf in kind_fields(cls):
            if kf.family is not None:
                for s in FAMILIES[kf.family].suffixes:
                    table[spell(kf.base, s)] = kf
            else:
                table[kf.key] = kf
        _KIND_SPELLINGS[cls] = table
    return table


_SPELLINGS: dict[int, dict[str, Quantity]] = {}


def _quantity_spellings(schema: Struct) -> dict[str, Quantity]:
    """{key spelling: quantity} of a struct schema (schemas are module constants)."""
    table = _SPELLINGS.get(id(schema))
    if table is None:
        table = {spell(q.base, s): q for q in schema.fields if isinstance(q, Quantity)
                 for s in q.unit_family.suffixes}
        _SPELLINGS[id(schema)] = table
    return table


def _covered(path: str, covered: set[str]) -> bool:
    p = path
    while p:
        if p in covered:
            return True
        cut = p.rfind(".")
        if cut < 0:
            return False
        p = p[:cut]
    return False


def _default_suffix(q: Quantity) -> str:
    preferred = {"capacity": "gb", "bandwidth": "gb_per_s", "time": "ns", "frequency": "ghz",
                 "throughput": "tflops", "energy_per_bit": "pj_per_bit",
                 "energy_per_flop": "pj_per_flop", "power": "w", "energy": "pj"}
    fam = q.unit_family
    s = preferred.get(fam.name)
    return s if s is not None and s in fam.suffixes else next(iter(fam.suffixes))


def _slip_hint(value: float, base: str, family: str, suffix: str, lo: float,
               hi: float) -> tuple[str, str]:
    """A "did you mean" for a value outside [lo, hi] (SI): the same number in another unit,
    or the number rescaled by 1000^k in the same unit."""
    fam = FAMILIES[family]
    scale = fam.suffixes[suffix]
    mid = math.sqrt(max(lo, 1e-300) * hi) if math.isfinite(hi) else lo * 10

    def fits(si: float) -> bool:
        return lo <= si <= hi

    def rank(s: str) -> tuple[int, float]:
        # Prefer units a power of 1000 away (GB vs TB, not Gbit vs TB), then the closest fit.
        k = math.log(fam.suffixes[s] / scale, 1000)
        return (0 if abs(k - round(k)) < 1e-9 else 1,
                abs(math.log(value * fam.suffixes[s] / mid)))

    other = sorted((s for s, f in fam.suffixes.items() if s != suffix and fits(value * f)),
                   key=rank)
    for k in (1, 2, 3):
        for sign in (-1, 1):
            f = 1000.0 ** (sign * k)
            if fits(value * f * scale):
                key = spell(base, suffix)
                alt = f"`{key}: {fmt(value * f)}`"
                if other:
                    alt = f"`{spell(base, other[0])}: {fmt(value)}` or " + alt
                factor = f"{fmt(1000.0 ** k)}×"
                return f"off by {factor}? did you mean {alt}", f"write {alt}"
    if other:
        alt = f"`{spell(base, other[0])}: {fmt(value)}`"
        return f"wrong unit? did you mean {alt}", f"write {alt}"
    return "", ""


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def validate_document(doc: ParsedDoc, overridden: Iterable[str] = ()) -> Validation:
    """Validate a parsed chip or system document; never raises on bad input."""
    v = _Validator(doc, frozenset(overridden))
    v.result.problems.extend(doc.problems)
    data = doc.data
    if doc.problems and data is None:
        return v.result
    if not isinstance(data, dict):
        v.add("<document>", f"expected a mapping at the top level, got {type(data).__name__}",
              "start the file with `name:` and `kind:` (chip) or `system:` (system)")
        return v.result
    if "system" in data:
        v.result.doc_type = "system"
        if "kind" in data:
            v.add("kind", "a system spec has no `kind:` (it takes its chip's kind)",
                  "remove `kind:`, or remove `system:` to make this a chip spec")
        v.struct(SYSTEM, data, "", extra_ok=frozenset({"sources"}))
        _system_rules(v, data)
    else:
        v.result.doc_type = "chip"
        blocks = frozenset(k.value for k in KIND_BLOCKS)
        v.struct(CHIP, data, "", extra_ok=blocks | {"sources"})
        _chip_rules(v, data)
    v.sources(data)
    return v.result


def _system_rules(v: _Validator, data: dict[str, Any]) -> None:
    """Nodes tile the system: chips_per_node divides num_chips."""
    s = data.get("system")
    if not isinstance(s, dict) or not isinstance(s.get("scale_out"), dict):
        return
    n, c = s.get("num_chips"), s["scale_out"].get("chips_per_node")
    if (isinstance(n, int) and isinstance(c, int) and not isinstance(n, bool)
            and not isinstance(c, bool) and c > 0 and n % c):
        v.add("system.scale_out.chips_per_node",
              f"{c} chips per node do not divide num_chips {n}",
              "give whole nodes: num_chips = nodes × chips_per_node")


def _chip_rules(v: _Validator, data: dict[str, Any]) -> None:
    kind_txt = data.get("kind")
    kinds = {k.value for k in HardwareKind}
    kind = HardwareKind(kind_txt) if isinstance(kind_txt, str) and kind_txt in kinds else None
    mem_raw = data.get("memory")
    memory: dict[str, Any] = mem_raw if isinstance(mem_raw, dict) else {}
    for k in KIND_BLOCKS:
        if k.value in data and kind is not None and k != kind:
            v.add(k.value, f"a {kind.value} spec cannot have a `{k.value}:` block",
                  f"rename it to `{kind.value}:` or set `kind: {k.value}`")
    if kind is not None:
        cls = KIND_BLOCKS[kind]
        if kind.value in data:
            v.kind_block(cls, data[kind.value], kind.value, memory)
        elif any(kf.required for kf in kind_fields(cls)):
            need = ", ".join(kf.key for kf in kind_fields(cls) if kf.required)
            v.add(kind.value, f"missing the `{kind.value}:` block of a {kind.value} spec",
                  f"add `{kind.value}:` with {need}")
    # power: idle ≤ TDP
    power = data.get("power")
    if isinstance(power, dict):
        tdp = _si(power, "tdp", "power")
        idle = _si(power, "idle", "power")
        if tdp is not None and idle is not None and 0 < tdp < idle:
            v.add("power", f"idle power ({fmt(idle)} W) exceeds TDP ({fmt(tdp)} W)",
                  "idle power is the static draw; it must be ≤ TDP")
        cap = _si(power, "cap", "power")
        if cap is not None and idle is not None and 0 < cap <= idle:
            v.add("power.cap_w", f"power cap ({fmt(cap)} W) is not above the idle power "
                  f"({fmt(idle)} W): no clock can run under it",
                  "raise the cap above idle power, or set 0 for no cap")
        f_lo, f_hi = _si(power, "clock_min", "frequency"), _si(power, "clock_max", "frequency")
        if f_lo is not None and f_hi is not None and f_lo >= f_hi:
            v.add("power.clock_min_ghz", f"V/f curve: clock_min ({fmt(f_lo / 1e9)} GHz) is "
                  f"not below clock_max ({fmt(f_hi / 1e9)} GHz)",
                  "clock_min is the low end of the curve, clock_max the boost clock")
        v_lo, v_hi = _si(power, "voltage_min", "voltage"), _si(power, "voltage_max", "voltage")
        if v_lo is not None and v_hi is not None and v_lo > v_hi:
            v.add("power.voltage_min_v", f"V/f curve: voltage_min ({fmt(v_lo)} V) exceeds "
                  f"voltage_max ({fmt(v_hi)} V)", "voltage rises with clock: swap them")
    _peak_cross_check(v, data)
    if kind == HardwareKind.CPU:
        _cpu_ceilings(v, data, memory)
    _build_rules(v, data)
    # memory order and roles
    levels = [(n, lv) for n, lv in memory.items() if isinstance(lv, dict)]
    if levels:
        ext = [lv.get("external") is True for _, lv in levels]
        if all(ext):
            v.add("memory", "every level is external", "mark the chip's own memory "
                  "(HBM, SRAM...) without `external: true`")
        first_ext = ext.index(True) if True in ext else len(ext)
        for (n, _), e in zip(levels[first_ext:], ext[first_ext:], strict=True):
            if not e:
                v.add(f"memory.{n}", "a chip-local level is listed after an external level",
                      "order levels nearest to farthest: external stores come last")
        prev: tuple[str, float] | None = None
        for (n, lv), e in zip(levels, ext, strict=True):
            cap = _si(lv, "capacity", "capacity")
            if e or cap is None:
                continue
            if prev is not None and cap < prev[1]:
                v.add(f"memory.{n}", f"capacity is smaller than the nearer level {prev[0]!r}",
                      "list levels nearest (smallest) to farthest (largest)")
            prev = (n, cap)
        if not any(isinstance(lv.get("holds"), list) and "weights" in lv["holds"]
                   for _, lv in levels):
            v.add("memory", "no memory level holds weights",
                  "add `holds: [weights, kv, activations]` to the main memory level")
    if kind == HardwareKind.LPU:
        for n, lv in levels:
            if lv.get("external") is True:
                v.add(f"memory.{n}.external", "an LPU is SRAM-only; it has no external memory",
                      "remove the level (weights must fit the chips' aggregate SRAM)")
    block = data.get(kind.value) if kind is not None else None
    if not isinstance(block, dict):
        return
    if kind == HardwareKind.WAFER:
        name = block.get("weight_stream_level")
        if isinstance(name, str) and isinstance(memory.get(name), dict) \
                and memory[name].get("external") is not True:
            v.add("wafer.weight_stream_level", f"level {name!r} is not marked external",
                  f"add `external: true` to memory.{name} (weights stream from off-wafer)")
    if kind == HardwareKind.GPU and any(f.attr == "l2_bytes" for f in kind_fields(GpuParams)):
        l2 = _kind_si(block, GpuParams, "l2_bytes")
        l2_level = memory.get("l2")
        cap = _si(l2_level, "capacity", "capacity") if isinstance(l2_level, dict) else None
        if l2 is not None and cap is not None and abs(l2 - cap) > 0.01 * cap:
            v.add("gpu", f"gpu L2 ({fmt(l2)} B) disagrees with memory.l2 capacity "
                  f"({fmt(cap)} B)", "give both the same value (mind MB vs MiB)")
    if kind == HardwareKind.CIM:
        from infersim.hwmodels.spec import CimParams

        vals = {a: _kind_si(block, CimParams, a)
                for a in ("array_rows", "array_cols", "num_arrays", "bits_per_cell")}
        if all(isinstance(x, (int, float)) and x > 0 for x in vals.values()):
            cells_bytes = (vals["array_rows"] * vals["array_cols"] * vals["num_arrays"]  # type: ignore[operator]
                           * vals["bits_per_cell"] / BITS_PER_BYTE)
            on_chip = sum(_si(lv, "capacity", "capacity") or 0.0 for _, lv in levels
                          if lv.get("external") is not True)
            if on_chip and cells_bytes > 1.05 * on_chip:
                v.add("cim", f"the arrays store {fmt(cells_bytes)} B but the chip's own memory "
                      f"levels total {fmt(on_chip)} B",
                      "the array level's capacity must include the arrays' cells: check "
                      "array_rows/array_cols/num_arrays/bits_per_cell and memory capacities")


# Physical ceilings of a CPU, shared by `hw validate` (any cpu spec) and `infersim calibrate`
# (before it writes one). A busy machine makes timings slow, never fast, so a number above a
# ceiling means a fit went wrong (e.g. on a sample that measured nothing).
# assumed: turbo clocks reach at most 1.5 x the nominal clock of a spec.
CPU_TURBO = 1.5
# assumed: 0.5 GB/s (one slow DDR channel, heavily shared) to 2 TB/s (beyond HBM-equipped
# server CPUs such as Xeon Max at ~1 TB/s).
CPU_DRAM_BPS = (0.5e9, 2e12)
# assumed: any CPU of the last 20 years runs scalar code faster than 0.1 GFLOP/s per core; a
# fitted rate below that measured the timer, not the arithmetic.
CPU_MIN_FLOPS_PER_CORE = 1e8


def cpu_ceiling_problems(cores: int, simd_bits: int, fma_units: int, clock_hz: float,
                         peaks: Mapping[str, Mapping[str, float]], dram_bps: float | None
                         ) -> list[tuple[str, str]]:
    """(field path, message) for every compute or memory figure of a CPU that no CPU with
    `cores` cores of `simd_bits`-wide SIMD and `fma_units` FMA pipes at `clock_hz` (x turbo)
    can reach: FLOP/s above cores x lanes x pipes x 2 x clock, below the per-core floor, fp64
    faster than fp32 (by more than 10%), main-memory bandwidth outside CPU_DRAM_BPS.
    `peaks`: compute unit -> dtype -> FLOP/s."""
    out: list[tuple[str, str]] = []
    clock = clock_hz * CPU_TURBO
    for unit, table in peaks.items():
        for dtype, flops in table.items():
            bits = DType(dtype).bits if dtype in {d.value for d in DType} else 32
            per_cycle = simd_bits / bits * fma_units * 2.0
            cap = cores * per_cycle * clock
            floor = cores * CPU_MIN_FLOPS_PER_CORE
            if not math.isfinite(flops) or flops > cap:
                out.append((f"compute.{unit}.{dtype}",
                            f"{unit} {dtype} {flops / 1e9:.4g} GFLOP/s exceeds {cores} cores x "
                            f"{per_cycle:g} FLOP/cycle x {clock / 1e9:.2f} GHz = "
                            f"{cap / 1e9:.4g} GFLOP/s"))
            elif flops < floor:
                out.append((f"compute.{unit}.{dtype}",
                            f"{unit} {dtype} {flops / 1e9:.4g} GFLOP/s is below "
                            f"{floor / 1e9:.4g} GFLOP/s ({CPU_MIN_FLOPS_PER_CORE / 1e9:g} per "
                            "core, slower than scalar code)"))
        if "fp32" in table and "fp64" in table and table["fp64"] > 1.1 * table["fp32"]:
            out.append((f"compute.{unit}.fp64",
                        f"{unit} fp64 ({table['fp64'] / 1e9:.4g} GFLOP/s) faster than fp32 "
                        f"({table['fp32'] / 1e9:.4g} GFLOP/s)"))
    if dram_bps is not None:
        lo, hi = CPU_DRAM_BPS
        if not lo <= dram_bps <= hi:
            out.append(("memory", f"main-memory bandwidth {dram_bps / 1e9:.4g} GB/s is outside "
                        f"[{lo / 1e9:g}, {hi / 1e9:g}] GB/s"))
    return out


def _cpu_ceilings(v: _Validator, data: dict[str, Any], memory: Mapping[str, Any]) -> None:
    """`hw validate` applies the calibration's physical ceilings to every cpu spec."""
    from infersim.hwmodels.spec import CpuParams

    block = data.get("cpu")
    clock = _si(data, "clock", "frequency")
    compute = data.get("compute")
    if not isinstance(block, dict) or not clock or not isinstance(compute, dict):
        return
    cores = _kind_si(block, CpuParams, "cores")
    simd = _kind_si(block, CpuParams, "simd_width_bits")
    fma = _kind_si(block, CpuParams, "fma_units_per_core") or 2.0
    if not cores or not simd:
        return
    fam = FAMILIES["throughput"]
    peaks: dict[str, dict[str, float]] = {}
    keys: dict[str, str] = {}  # unit -> its peak key (peak_gflops, peak_tflops ...)
    for name, u in compute.items():
        if not isinstance(u, dict):
            continue
        for k, val in u.items():
            s = split_suffix(k, "peak", fam)
            if s is not None and isinstance(val, dict):
                peaks[str(name)] = {str(d): float(x) * fam.suffixes[s] for d, x in val.items()
                                    if is_number(x)}
                keys[str(name)] = str(k)
    main = [lv for lv in memory.values() if isinstance(lv, dict) and lv.get("external") is not True
            and isinstance(lv.get("holds"), list) and "weights" in lv["holds"]]
    dram = _si(main[-1], "bandwidth", "bandwidth") if main else None
    for path, msg in cpu_ceiling_problems(int(cores), int(simd), int(fma), clock, peaks, dram):
        parts = path.split(".")
        if parts[0] == "compute" and parts[1] in keys:
            path = ".".join([parts[0], parts[1], keys[parts[1]], *parts[2:]])
        v.add(path, msg + " (physically impossible for the cpu: block and clock)",
              "check the cpu: block (cores, simd_width_bits, fma_units_per_core), clock_ghz "
              "and the figure; a calibration that produced it ran on a disturbed machine")
def _build_rules(v: _Validator, data: dict[str, Any]) -> None:
    """The `build:` block: engines on the die cannot be fewer than the engines enabled; the
    HBM stacks bought hold at least the usable HBM; base-die fields need base dies."""
    build, compute = data.get("build"), data.get("compute")
    if isinstance(build, dict):
        _build_memory_rules(v, build, data.get("memory"))
    if not isinstance(build, dict) or not isinstance(compute, dict) or any(
            o.startswith("compute") for o in v.overridden):
        return  # a what-if on the compute units moves the die with them (hwmodels/area.py)
    on_die = build.get("units_on_die")
    if not is_number(on_die):
        return
    for name, u in compute.items():
        if isinstance(u, dict) and u.get("type") == "matrix" and is_number(u.get("count", 1)) \
                and on_die < u.get("count", 1):
            v.add("build.units_on_die", f"{on_die} engines on the die but compute.{name}.count "
                  f"enables {u.get('count')}", "units_on_die counts every engine physically "
                  "on the die, spares included: it must be >= the enabled count")


def _build_memory_rules(v: _Validator, build: dict[str, Any], memory: Any) -> None:
    stack = _si(build, "hbm_stack", "capacity")
    phys = as_float(build.get("hbm_phys"))
    # a what-if on the memory block moves the stacks with it (hwmodels/capex.py)
    # (a non-positive stack or PHY count is already reported by the field's own range)
    if stack and stack > 0 and phys and phys > 0 and isinstance(memory, dict) and not any(
            o.startswith("memory") for o in v.overridden):
        hbm = [(n, _si(m, "capacity", "capacity")) for n, m in memory.items()
               if isinstance(m, dict) and str(n).lower().startswith("hbm")]
        for name, usable in hbm:
            if any(p.path.startswith(f"memory.{name}.capacity") for p in v.problems):
                continue  # the capacity itself is already reported
            if usable is not None and phys * stack < usable * (1 - 1e-9):
                key = next((k for k in build if k.startswith("hbm_stack")), "hbm_stack")
                v.add(f"build.{key}", f"{phys:g} stacks x {stack / 1e9:g} GB = "
                      f"{phys * stack / 1e9:g} GB holds less than memory.{name} "
                      f"{usable / 1e9:g} GB", "give the capacity of one physical stack "
                      "(H100: 16 GB, six stacks for 80 GB usable)")
    if not build.get("base_dies"):
        for key in ("base_process_nm", "base_stacked"):
            if key in build:
                v.add(f"build.{key}", "set without build.base_dies",
                      "add build.base_dies (the number of base dies) or remove the field")
        if _si(build, "base_sram", "capacity"):
            key = next((k for k in build if k.startswith("base_sram")), "base_sram")
            v.add(f"build.{key}", "set without build.base_dies",
                  "add build.base_dies (the number of base dies) or remove the field")


PEAK_TOLERANCE = 0.15  # datasheets quote units at different clocks (H100 CUDA cores: boost)


def _peak_cross_check(v: _Validator, data: dict[str, Any]) -> None:
    """A unit given as count × flop_per_cycle × clock must agree with its declared datasheet
    peak within PEAK_TOLERANCE. What-ifs (any override of the clock or the compute block)
    are not checked: moving the clock away from the datasheet is their point."""
    if v.is_overridden("clock_ghz") or v.is_overridden("clock_mhz") or any(
            o.startswith("compute") for o in v.overridden):
        return
    clock = _si(data, "clock", "frequency")
    compute = data.get("compute")
    if not clock or not isinstance(compute, dict):
        return
    for name, u in compute.items():
        if not isinstance(u, dict):
            continue
        count = u.get("count", 1)
        per_cycle = next((val for k, val in u.items() if k == "flop_per_cycle"), None)
        fam = FAMILIES["throughput"]
        declared: dict[str, Any] = {}
        for k, val in u.items():
            s = split_suffix(k, "peak", fam)
            if s is not None and isinstance(val, dict):
                declared = {str(d): float(x) * fam.suffixes[s] for d, x in val.items()
                            if is_number(x)}
        if not isinstance(per_cycle, dict) or not is_number(count):
            continue
        for d, n in per_cycle.items():
            if not is_number(n) or str(d) not in declared or declared[str(d)] <= 0:
                continue
            derived = float(count) * float(n) * clock
            ratio = derived / declared[str(d)]
            if abs(ratio - 1.0) > PEAK_TOLERANCE:
                v.add(f"compute.{name}.flop_per_cycle.{d}",
                      f"count × flop_per_cycle × clock = {fmt(derived / 1e12)} TFLOP/s "
                      f"disagrees with the declared peak {fmt(declared[str(d)] / 1e12)} "
                      f"TFLOP/s by {abs(ratio - 1) * 100:.0f}% (tolerance "
                      f"{PEAK_TOLERANCE * 100:.0f}%)",
                      "check the unit count, FLOP per cycle and clock against the datasheet")


def _si(block: Mapping[str, Any], base: str, family: str) -> float | None:
    fam = FAMILIES[family]
    for k, val in block.items():
        s = split_suffix(k, base, fam)
        x = as_float(val) if s is not None else None
        if x is not None and s is not None:
            return x * fam.suffixes[s]
    return None


def _kind_si(block: Mapping[str, Any], cls: type, attr: str) -> float | None:
    for kf in kind_fields(cls):
        if kf.attr != attr:
            continue
        if kf.family is not None:
            return _si(block, kf.base, kf.family)
        val = block.get(kf.key)
        x = as_float(val)
        return x * kf.scale if x is not None else None
    return None
