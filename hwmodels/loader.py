"""Load hardware specs from YAML (library name or path) into frozen `Hardware` objects.

FIRST VERSION: a permissive loader for the spec format documented in docs/hardware-spec.md.
The strict three-step parser (load strictly → validate collecting all errors → factory) is
built on top of this format by the hardware-spec issue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hwmodels.spec import (
    Chip, ComputeUnit, GpuParams, Hardware, HardwareKind, Interconnect, MemoryLevel, Power,
    TensorClass, Topology, UnitType,
)
from infersim.errors import InputError
from workloads.dtypes import DType

SPEC_DIR = Path(__file__).parent / "specs"

_SCALE = {
    "bytes": 1.0, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
    "kib": 1024.0, "mib": 1024.0**2, "gib": 1024.0**3,
    "gb_per_s": 1e9, "tb_per_s": 1e12, "pb_per_s": 1e15,
    "ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0,
    "ghz": 1e9, "mhz": 1e6,
    "tflops": 1e12, "pflops": 1e15, "gflops": 1e9,
    "pj_per_bit": 1e-12, "pj_per_flop": 1e-12, "pj": 1e-12,
}


def _unit(d: dict[str, Any], base: str) -> float | None:
    for key, v in d.items():
        if key.startswith(base + "_") and key[len(base) + 1:] in _SCALE:
            return float(v) * _SCALE[key[len(base) + 1:]]
    return None


def list_hardware() -> list[str]:
    return sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))


def _resolve(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise InputError(f"{p}: no such hardware spec file")
        return p
    cand = SPEC_DIR / f"{name_or_path}.yaml"
    if not cand.exists():
        import difflib

        close = difflib.get_close_matches(str(name_or_path), list_hardware(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InputError(f"unknown hardware {name_or_path!r}{hint} (see `infersim hw list`)")
    return cand


def load_hardware(name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> Hardware:
    path = _resolve(name_or_path)
    raw = yaml.safe_load(path.read_text())
    if "system" in raw:
        sysd = raw["system"]
        chip_hw = load_hardware(sysd["chip"])
        ic = _interconnect(sysd.get("interconnect")) or chip_hw.chip.interconnect
        return Hardware(raw["name"], chip_hw.chip, int(sysd["num_chips"]), ic,
                        float(sysd.get("price_usd", 0.0)), float(sysd.get("extra_power_w", 0.0)),
                        raw.get("description", ""), raw.get("sources", {}), str(path))
    chip = _chip(raw)
    return Hardware(chip.name, chip, 1, None, origin=str(path), sources=chip.sources)


def _interconnect(d: dict[str, Any] | None) -> Interconnect | None:
    if not d:
        return None
    return Interconnect(Topology(d["topology"]), int(d["links_per_chip"]),
                        _unit(d, "link_bandwidth") or 0.0, _unit(d, "latency") or 0.0,
                        _unit(d, "energy") or 0.0)


def _chip(raw: dict[str, Any]) -> Chip:
    units = []
    for name, u in raw["compute"].items():
        peaks = {DType.parse(k): float(v) * 1e12 for k, v in u["peak_tflops"].items()}
        units.append(ComputeUnit(name, UnitType(u["type"]), peaks, int(u.get("count", 1))))
    mems = []
    for name, m in raw["memory"].items():
        mems.append(MemoryLevel(name, _unit(m, "capacity") or 0.0, _unit(m, "bandwidth") or 0.0,
                                _unit(m, "latency") or 0.0, _unit(m, "energy") or 0.0,
                                frozenset(TensorClass(h) for h in m.get("holds", []))))
    energy = raw.get("energy", {})
    mac = {DType.parse(k): float(v) * 1e-12 for k, v in energy.get("pj_per_flop", {}).items()}
    params = None
    if "gpu" in raw:
        g = raw["gpu"]
        params = GpuParams(int(g["sm_count"]), _unit(g, "l2") or 0.0,
                           _unit(g, "kernel_launch") or 0.0, _unit(g, "host_launch") or 0.0)
    pw = raw["power"]
    return Chip(raw["name"], HardwareKind(raw["kind"]), _unit(raw, "clock") or 0.0,
                tuple(units), tuple(mems), _interconnect(raw.get("interconnect")),
                Power(float(pw["tdp_w"]), float(pw["idle_w"])), mac,
                float(raw.get("area_mm2", 0)), float(raw.get("process_nm", 0)),
                float(raw.get("price_usd", 0)), raw.get("description", ""), params,
                raw.get("sources", {}))
