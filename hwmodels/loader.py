"""Load hardware specs (library name or YAML path) into frozen `Hardware` objects.

Three steps (docs/hardware-spec.md): (1) strict YAML load with line numbers
(`infersim.foundation.yaml`), (2) validation against the schema collecting every problem
(`hwmodels.validate`), with `--set` overrides applied to the raw document first
(`hwmodels.overrides`), (3) a factory building frozen objects (`hwmodels.factory`). Any problem
raises ONE `infersim.errors.SpecError` listing file, line, field path and fix for each.

Parsed files are cached by (path, mtime); built `Hardware` objects by (path, overrides) and
revalidated against the mtimes of the files they came from (a system and its chip), because
sweeps load the same spec thousands of times. The objects are frozen, so sharing is safe.
"""

from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infersim.foundation.errors import InputError, Problem, SpecError
from infersim.foundation.suggest import did_you_mean
from infersim.foundation.yaml import ParsedDoc, parse_document
from infersim.hwmodels.factory import build_chip_hardware, build_system
from infersim.hwmodels.overrides import apply_overrides, split_system_overrides
from infersim.hwmodels.spec import Hardware
from infersim.hwmodels.validate import Validation, validate_document

SPEC_DIR = Path(__file__).parent / "specs"

_Deps = tuple[tuple[str, int], ...]
_PARSED: dict[str, tuple[int, ParsedDoc]] = {}
_BUILT: OrderedDict[tuple[str, Any], tuple[_Deps, Hardware]] = OrderedDict()
_MAX_BUILT = 1024
_EMPTY_FIX = ("write a chip spec (kind: ...) or a system spec (system: ...); see "
              "docs/hardware-spec.md")
_LIB_PATHS: dict[str, Path] = {}  # library name -> file (a deleted file fails the mtime check)


def list_hardware() -> list[str]:
    """Names of the specs in the library (hwmodels/specs/*.yaml)."""
    return sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))


def resolve_spec(name_or_path: str | Path, relative_to: Path | None = None) -> Path:
    """The spec file for a library name (case-insensitive) or a path (absolute, relative to
    the working directory, or relative to `relative_to`, the folder of a system spec)."""
    text = str(name_or_path).strip()
    if len(text) > 1024 or "\0" in text or any(len(part) > 250 for part in text.split("/")):
        # no file system accepts such a name
        raise InputError(f"hardware name or path too long or invalid: {text[:60]!r}...")
    looks_like_path = isinstance(name_or_path, Path) or text.endswith((".yaml", ".yml")) \
        or os.sep in text or "/" in text
    if looks_like_path:
        candidates = [Path(text)]
        if relative_to is not None and not Path(text).is_absolute():
            candidates.insert(0, relative_to / text)
        for c in candidates:
            if c.is_file():
                return c.resolve()
        raise InputError(f"{text}: no such hardware spec file")
    lib = SPEC_DIR / f"{text.lower()}.yaml"
    if lib.is_file():
        return lib
    if Path(text).is_file():
        return Path(text).resolve()
    hint = did_you_mean(text.lower(), list_hardware())
    raise InputError(f"unknown hardware {text!r}" + (f"; {hint}" if hint else "")
                     + " (see `infersim hw list`, or give a path to a YAML spec)")


def load_hardware(name_or_path: str | Path,
                  overrides: Mapping[str, Any] | None = None) -> Hardware:
    """A `Hardware` (a system of N chips; a chip spec loads as a 1-chip system).

    `overrides` maps dotted field paths of the YAML to values, e.g.
    {"memory.hbm.bandwidth_tb_per_s": 4.8} or, for a system, {"system.num_chips": 16,
    "chip.memory.hbm.capacity_gb": 96}; see `hwmodels.overrides`. Raises `SpecError` listing
    every problem of the file, or `InputError` for an unknown name / missing file."""
    path = _LIB_PATHS.get(name_or_path) if isinstance(name_or_path, str) else None
    if path is None:
        path = resolve_spec(name_or_path)
        if isinstance(name_or_path, str) and path.parent == SPEC_DIR:
            _LIB_PATHS[name_or_path] = path  # library names only (no cwd dependence)
    key = (str(path), _freeze(overrides) if overrides else ())
    hit = _BUILT.get(key)
    if hit is not None:
        deps, hw = hit
        if all(_mtime(p) == m for p, m in deps):
            _BUILT.move_to_end(key)
            return hw
    hw, deps = _load(path, dict(overrides or {}), ())
    if overrides:
        hw = dataclasses.replace(hw, overrides=tuple((str(k), v) for k, v in overrides.items()))
    _BUILT[key] = (deps, hw)
    if len(_BUILT) > _MAX_BUILT:
        _BUILT.popitem(last=False)
    return hw


def spec_document(path: str | Path) -> dict[str, Any]:
    """The spec file as plain values (strict YAML), a fresh copy the caller may change."""
    import copy

    data = _parsed(Path(path)).data
    if not isinstance(data, dict):
        raise InputError(f"{path}: a hardware spec is a mapping of fields")
    return copy.deepcopy(data)


def check_spec(path: str | Path) -> Hardware:
    """Validate one spec file (and, for a system, its chip); raise `SpecError` on problems."""
    return load_hardware(Path(path))


def clear_cache() -> None:
    _PARSED.clear()
    _BUILT.clear()
    _LIB_PATHS.clear()


# --------------------------------------------------------------------------------------------


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


def _parsed(path: Path) -> ParsedDoc:
    key = str(path)
    mt = _mtime(key)
    hit = _PARSED.get(key)
    if hit is not None and hit[0] == mt:
        return hit[1]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read hardware spec ({e})") from None
    doc = parse_document(text, empty_fix=_EMPTY_FIX)
    _PARSED[key] = (mt, doc)
    return doc


def _freeze(v: Any) -> Any:
    if isinstance(v, Mapping):
        return tuple(sorted((str(k), _freeze(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    try:
        hash(v)
    except TypeError:
        return repr(v)
    return (type(v).__name__, v)


def load_hardware_text(text: str, source: str = "<string>",
                       overrides: Mapping[str, Any] | None = None,
                       base_dir: str | Path | None = None) -> Hardware:
    """Like `load_hardware` for a spec held in memory (generated specs, tests). A system's
    `chip:` path is resolved relative to `base_dir` (default: the working directory).
    Not cached."""
    parsed = parse_document(text, empty_fix=_EMPTY_FIX)
    hw, _ = _build(parsed, Path(source), Path(base_dir or "."), dict(overrides or {}), ())
    return hw


def _load(path: Path, overrides: dict[str, Any], stack: tuple[Path, ...]
          ) -> tuple[Hardware, _Deps]:
    return _build(_parsed(path), path, path.parent, overrides, stack)


def _build(parsed: ParsedDoc, path: Path, base_dir: Path, overrides: dict[str, Any],
           stack: tuple[Path, ...]) -> tuple[Hardware, _Deps]:
    deps: _Deps = ((str(path), _mtime(str(path))),)
    is_system = isinstance(parsed.data, dict) and "system" in parsed.data
    if is_system:
        own, chip_overrides = split_system_overrides(overrides)
    else:
        own = {(k[len("chip."):] if k.startswith("chip.") else k): v
               for k, v in overrides.items()}
        chip_overrides = {}
    problems: list[Problem] = []
    if not is_system:
        for k in [k for k in own if k.startswith("system.")]:
            problems.append(Problem(k, f"{path.stem} is a chip spec; system.* fields exist only "
                                    "in system specs", "load a system spec (e.g. dgx-h100) or "
                                    "write a system file with `system: {chip: ..., num_chips: N}`"))
            del own[k]
    data, override_problems, overridden = apply_overrides(parsed.data, own)
    problems += override_problems
    view = parsed if data is parsed.data else ParsedDoc(data, parsed.lines, parsed.problems)
    val: Validation = validate_document(view, overridden)
    problems += val.problems
    chip_path: Path | None = None
    if is_system and not problems:
        ref = data["system"]["chip"]
        try:
            chip_path = resolve_spec(ref, relative_to=base_dir)
        except InputError as e:
            problems.append(Problem("system.chip", str(e), "name a library chip (see "
                                    "`infersim hw list`) or a path relative to this file",
                                    parsed.line("system.chip")))
        else:
            if chip_path in stack or chip_path == path:
                problems.append(Problem("system.chip", "the chip spec refers back to this "
                                        "system", "point system.chip at a chip spec",
                                        parsed.line("system.chip")))
            elif isinstance(_parsed(chip_path).data, dict) and "system" in _parsed(chip_path).data:
                problems.append(Problem("system.chip", f"{ref!r} is a system spec, not a chip",
                                        "point system.chip at a chip spec",
                                        parsed.line("system.chip")))
    if problems:
        raise SpecError(str(path), problems)
    if not is_system:
        return build_chip_hardware(data, str(path), overridden), deps
    assert chip_path is not None
    chip_hw, chip_deps = _load_chip(chip_path, chip_overrides, path)
    return build_system(data, chip_hw.chip, str(path), overridden), deps + chip_deps


def _load_chip(chip_path: Path, overrides: dict[str, Any], system_path: Path
               ) -> tuple[Hardware, _Deps]:
    """The chip of a system, through the same cache as top-level loads (sweeps over system
    fields then revalidate only the small system document)."""
    key = (str(chip_path), _freeze(overrides) if overrides else ())
    hit = _BUILT.get(key)
    if hit is not None and all(_mtime(p) == m for p, m in hit[0]):
        return hit[1], hit[0]
    try:
        hw, deps = _load(chip_path, overrides, (system_path,))
    except SpecError as e:
        raise SpecError(f"{e.source} (chip of {system_path.name})", e.problems) from None
    _BUILT[key] = (deps, hw)
    return hw, deps


__all__ = ["SPEC_DIR", "check_spec", "clear_cache", "list_hardware", "load_hardware",
           "load_hardware_text", "resolve_spec"]
