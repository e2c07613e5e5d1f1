"""Metamorphic tests: every knob of every shipped chip moves the answer in its physical
direction (or leaves it), hypothesis-driven over the knob's scale factor.

For each shipped chip spec (every kind) a small Llama step is mapped before and after one
knob is scaled by f ≥ 1: more memory bandwidth, more compute units, a faster clock, more
capacity, faster links (multi-chip systems) are never slower; a longer context is never
faster; more wafer cores with the same per-core resources are never slower; more ADC bits are
never cheaper; the step energy is never below the physical floor (`residence_floor`)."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infersim.api import make_scenario
from infersim.foundation.yaml import load_document
from infersim.hwmodels import load_hardware
from infersim.hwmodels.loader import SPEC_DIR
from infersim.hwmodels.models.roofline import residence_floor
from infersim.mapper import map_trace
from infersim.workloads import build_trace

CHIPS = sorted(p.stem for p in SPEC_DIR.glob("*.yaml")
               if "system" not in (load_document(p.read_text(), str(p)).data or {}))
SYSTEMS = sorted(p.stem for p in SPEC_DIR.glob("*.yaml")
                 if "system" in (load_document(p.read_text(), str(p)).data or {}))
TOL = 1e-9  # relative slack for floating-point ties
FACTORS = st.floats(1.0, 3.0)  # stays inside every field's plausible range


def tiny_llama(layers: int = 4, hidden: int = 512) -> dict[str, Any]:
    return {"model_type": "llama", "hidden_size": hidden, "intermediate_size": 2 * hidden,
            "num_hidden_layers": layers, "num_attention_heads": 8, "num_key_value_heads": 8,
            "vocab_size": 1024, "max_position_embeddings": 65536, "rms_norm_eps": 1e-5,
            "tie_word_embeddings": False, "hidden_act": "silu"}


@cache
def doc(name: str) -> dict[str, Any]:
    return load_document((SPEC_DIR / f"{name}.yaml").read_text(), name).data


def quantity(block: dict[str, Any], base: str) -> tuple[str, float]:
    """(key, value) of the quantity `base` (any unit suffix) in a YAML block."""
    for k, v in block.items():
        if k.startswith(base + "_") and isinstance(v, (int, float)):
            return k, float(v)
    raise KeyError(base)


def main_level(name: str) -> str:
    mem = doc(name)["memory"]
    return [n for n, lv in mem.items() if not lv.get("external")][-1]


def step(name: str, overrides: dict[str, Any] | None = None, *, context: int = 256,
         chips: int = 1, tp: int = 1) -> tuple[float, float, bool]:
    """(latency, energy, feasible) of a tiny decode step at batch 2."""
    hw = load_hardware(name, overrides or None)
    wb = "int8" if hw.kind.value in ("lpu", "cim") else "bf16"
    trace = build_trace(tiny_llama(), make_scenario("decode", 2, context=context, weights=wb,
                                                    activations="bf16", kv="bf16", tp=tp,
                                                    pp=chips // tp))
    s = map_trace(trace, hw)
    return s.latency_s, s.energy_j, s.infeasible is None


def not_slower(name: str, overrides: dict[str, Any]) -> None:
    base_t, _, base_ok = step(name)
    t, _, ok = step(name, overrides)
    assert ok or not base_ok, f"{name}: {overrides} made the step infeasible"
    assert t <= base_t * (1 + TOL), f"{name}: {overrides}: {base_t} -> {t}"


@pytest.mark.parametrize("name", CHIPS)
@settings(max_examples=8, deadline=None)
@given(f=FACTORS)
def test_more_main_memory_bandwidth_is_never_slower(name: str, f: float):
    lvl = main_level(name)
    key, v = quantity(doc(name)["memory"][lvl], "bandwidth")
    not_slower(name, {f"memory.{lvl}.{key}": v * f})


@pytest.mark.parametrize("name", CHIPS)
@settings(max_examples=8, deadline=None)
@given(f=FACTORS)
def test_a_faster_clock_is_never_slower(name: str, f: float):
    key, v = quantity(doc(name), "clock")
    not_slower(name, {key: v * f})


@pytest.mark.parametrize("name", CHIPS)
@settings(max_examples=8, deadline=None)
@given(k=st.integers(1, 8))
def test_more_compute_units_are_never_slower(name: str, k: int):
    over = {f"compute.{u}.count": int(blk.get("count", 1)) * k
            for u, blk in doc(name)["compute"].items()}
    not_slower(name, over)


@pytest.mark.parametrize("name", CHIPS)
@settings(max_examples=8, deadline=None)
@given(f=st.floats(1.0, 2.0))
def test_more_capacity_is_never_slower_and_never_less_feasible(name: str, f: float):
    lvl = main_level(name)
    key, v = quantity(doc(name)["memory"][lvl], "capacity")
    not_slower(name, {f"memory.{lvl}.{key}": v * f})


@pytest.mark.parametrize("name", CHIPS)
@settings(max_examples=6, deadline=None)
@given(c1=st.integers(0, 4096), extra=st.integers(1, 8192))
def test_a_longer_context_is_never_faster(name: str, c1: int, extra: int):
    t1, _, ok1 = step(name, context=c1)
    t2, _, ok2 = step(name, context=c1 + extra)
    if ok1 and ok2:
        assert t2 >= t1 * (1 - TOL), f"{name}: context {c1} -> {c1 + extra}: {t1} -> {t2}"


@pytest.mark.parametrize("name", [n for n in SYSTEMS if n not in ("corsair-8",)])
@settings(max_examples=5, deadline=None)
@given(f=FACTORS)
def test_faster_links_are_never_slower(name: str, f: float):
    sysd = doc(name)["system"]
    key, v = quantity(sysd["interconnect"], "link_bandwidth")
    chips = min(8, int(sysd["num_chips"]))
    base, _, _ = step(name, chips=chips, tp=chips)
    fast, _, _ = step(name, {f"system.interconnect.{key}": v * f}, chips=chips, tp=chips)
    assert fast <= base * (1 + TOL)


@settings(max_examples=10, deadline=None)
@given(k=st.floats(1.0, 2.0))
def test_more_wafer_cores_with_the_same_per_core_resources_are_never_slower(k: float):
    d = doc("cs-3")
    cores = int(d["wafer"]["cores"])
    cap_key, cap = quantity(d["memory"]["sram"], "capacity")
    bw_key, bw = quantity(d["memory"]["sram"], "bandwidth")
    fab_key, fab = quantity(d["wafer"], "fabric_bandwidth")
    n = int(cores * k)
    s = n / cores
    over = {"wafer.cores": n, "compute.pe.count": n, f"memory.sram.{cap_key}": cap * s,
            f"memory.sram.{bw_key}": bw * s, f"wafer.{fab_key}": fab * s}
    not_slower("cs-3", over)


@pytest.mark.parametrize("name", [n for n in CHIPS if doc(n).get("cim", {}).get("adc_bits")])
@settings(max_examples=6, deadline=None)
@given(bits=st.integers(1, 12), more=st.integers(1, 4))
def test_more_adc_bits_are_never_cheaper(name: str, bits: int, more: int):
    t1, e1, _ = step(name, {"cim.adc_bits": bits})
    t2, e2, _ = step(name, {"cim.adc_bits": min(16, bits + more)})
    assert t2 >= t1 * (1 - TOL) and e2 >= e1 * (1 - TOL)


@pytest.mark.parametrize("name", CHIPS)
def test_energy_is_never_below_its_floor(name: str):
    hw = load_hardware(name)
    wb = "int8" if hw.kind.value in ("lpu", "cim") else "bf16"
    trace = build_trace(tiny_llama(), make_scenario("decode", 2, context=256, weights=wb,
                                                    activations="bf16", kv="bf16"))
    s = map_trace(trace, hw)
    floor = sum(residence_floor(o, hw)[1] * o.count for o in trace.ops)
    assert s.energy_j >= floor * (1 - 1e-9)


@pytest.mark.parametrize("name", CHIPS)
def test_energy_per_token_moves_with_weight_precision(name: str):
    """8-bit weights move half the weight bytes of 16-bit ones (and run on narrower
    units): the step's energy must drop on every kind."""
    hw = load_hardware(name)
    e = {}
    for w in ("bf16", "int8"):
        trace = build_trace(tiny_llama(), make_scenario("decode", 2, context=256, weights=w,
                                                        activations="bf16", kv="bf16"))
        s = map_trace(trace, hw)
        e[w] = s.energy_j
    assert e["int8"] < e["bf16"]
