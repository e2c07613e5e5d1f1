"""`--set field.path=value` overrides, applied to the raw document BEFORE validation.

Because overrides are applied to the parsed YAML (not to the built objects), an overridden
value is validated like any other and problems name its path. Rules:
- a path is dotted keys of the YAML file: `memory.hbm.bandwidth_tb_per_s`, `power.tdp_w`,
  `compute.tensor.peak_tflops.bf16`, `system.num_chips`;
- every key before the last must exist (else: an error with "did you mean");
- the last key may use another unit suffix of the same quantity: `bandwidth_gb_per_s=4800`
  replaces `bandwidth_tb_per_s: 3.35` (and its now-stale `sources:` entry);
- a last key the schema does not know is reported by the validator as an unknown field;
- an overridden value needs no `sources:` entry: its provenance is the override, recorded as
  "override (--set)" in the built object's `sources`;
- on a system spec, `chip.<path>` overrides go to its chip (`chip.memory.hbm.capacity_gb=96`);
  on a chip spec, a `chip.` prefix is accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infersim.foundation.errors import InfersimError, Problem
from infersim.foundation.suggest import did_you_mean
from infersim.foundation.yaml import parse_value
from infersim.hwmodels.schema import FAMILIES


def split_system_overrides(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(overrides of the system file, overrides of its chip file)."""
    own: dict[str, Any] = {}
    chip: dict[str, Any] = {}
    for k, v in overrides.items():
        if k.startswith("chip."):
            chip[k[len("chip."):]] = v
        else:
            own[k] = v
    return own, chip


def _coerce(value: Any) -> Any:
    """Strings given through the API are read as YAML values in the one dialect, so `1e9` is a
    number and `true` a bool; text that is not a value stays text (the validator names it)."""
    if isinstance(value, str):
        try:
            return parse_value(value, "--set")
        except InfersimError:
            return value
    return value


def _quantity_base(key: str) -> tuple[str, str] | None:
    """(base, family) when `key` ends with a unit suffix of any family."""
    best: tuple[str, str] | None = None
    best_len = 0
    for fam in FAMILIES.values():
        for suffix in fam.suffixes:
            if key.endswith("_" + suffix) and len(suffix) > best_len:
                best, best_len = (key[: -len(suffix) - 1], fam.name), len(suffix)
            elif key == suffix and len(suffix) > best_len:
                best, best_len = ("", fam.name), len(suffix)
    return best


def apply_overrides(data: Any, overrides: Mapping[str, Any]
                    ) -> tuple[Any, list[Problem], set[str]]:
    """Return (new document, problems, overridden paths). `data` is not modified: mappings
    along each overridden path are copied, the rest is shared."""
    problems: list[Problem] = []
    overridden: set[str] = set()
    if not overrides:
        return data, problems, overridden
    if not isinstance(data, dict):
        return data, problems, overridden
    root = dict(data)
    for raw_path, raw_value in overrides.items():
        path = str(raw_path).strip()
        value = _coerce(raw_value)
        if path.startswith("sources."):
            src = dict(root.get("sources") or {})
            src[path[len("sources."):]] = value
            root["sources"] = src
            overridden.add(path)
            continue
        segs = path.split(".")
        if not path or any(not s for s in segs):
            problems.append(Problem(f"--set {path}", "empty field path segment",
                                    "write FIELD.PATH=VALUE, e.g. memory.hbm.capacity_gb=96"))
            continue
        node = root
        walked: list[str] = []
        ok = True
        for seg in segs[:-1]:
            where = ".".join(walked) or "the top level"
            if not isinstance(node, dict) or seg not in node:
                keys = list(node) if isinstance(node, dict) else []
                hint = did_you_mean(seg, keys)
                problems.append(Problem(
                    path, f"--set: no field {seg!r} under {where}" + (f"; {hint}" if hint else ""),
                    f"existing fields there: {', '.join(keys) or '(none)'}"))
                ok = False
                break
            child = node[seg]
            if not isinstance(child, dict):
                problems.append(Problem(path, f"--set: {'.'.join([*walked, seg])} is a value, "
                                        "not a group of fields",
                                        f"set it directly: --set {'.'.join([*walked, seg])}=..."))
                ok = False
                break
            child = dict(child)
            node[seg] = child
            node = child
            walked.append(seg)
        if not ok:
            continue
        last = segs[-1]
        prefix = ".".join(walked)
        if last not in node:
            qb = _quantity_base(last)
            if qb is not None:
                base, fam_name = qb
                fam = FAMILIES[fam_name]
                same = [k for k in node if k != last and any(
                    (k == f"{base}_{s}" if base else k == s) for s in fam.suffixes)]
                for old in same:
                    del node[old]
                    _drop_sources(root, f"{prefix}.{old}" if prefix else old)
        node[last] = value
        overridden.add(path)
    return root, problems, overridden


def _drop_sources(root: dict[str, Any], old_path: str) -> None:
    src = root.get("sources")
    if not isinstance(src, dict):
        return
    root["sources"] = {k: v for k, v in src.items()
                       if not (k == old_path or k.startswith(old_path + "."))}
