"""Strict loading: every problem of a file in one SpecError (path, line, fix), overrides,
the generic kind-params factory and the cache."""

from __future__ import annotations

import dataclasses
import math
import os

import pytest

from infersim.foundation.errors import InputError, SpecError
from infersim.hwmodels import load_hardware
from infersim.hwmodels.factory import OVERRIDE_SOURCE
from infersim.hwmodels.loader import load_hardware_text
from infersim.hwmodels.schema import FAMILIES, KIND_BLOCKS, kind_fields, spell
from infersim.hwmodels.spec import GpuParams, HardwareKind
from tests._support import H100_TEXT


def problems(text: str, **kw) -> SpecError:
    with pytest.raises(SpecError) as ei:
        load_hardware_text(text, "spec.yaml", **kw)
    return ei.value


def by_path(err: SpecError, path: str):
    hits = [p for p in err.problems if p.path == path]
    assert hits, f"no problem at {path}; got {err.paths}"
    return hits[0]


def test_valid_spec_builds_si_objects():
    hw = load_hardware_text(H100_TEXT)
    hbm = hw.chip.level("hbm")
    assert hbm.capacity_bytes == 85.52e9  # capacity_gb: 85.52, decimal prefix
    assert hbm.bandwidth_Bps == 3.35e12
    assert hbm.latency_s == pytest.approx(600e-9)
    assert hbm.energy_j_per_bit == pytest.approx(3.9e-12)
    assert hw.chip.level("l2").capacity_bytes == 50e6  # capacity_mb: 50
    assert hw.chip.clock_hz == pytest.approx(1.83e9)
    assert hw.chip.interconnect.link_bandwidth_Bps == 25e9
    assert hw.chip.interconnect.chip_bandwidth_Bps == 18 * 25e9


def test_binary_prefixes_only_when_spelled_with_i():
    hw = load_hardware_text(H100_TEXT.replace("capacity_mb: 50", "capacity_mib: 50")
                            .replace("l2_mb: 50", "l2_mib: 50")
                            .replace("memory.l2.capacity_mb:", "memory.l2.capacity_mib:")
                            .replace("gpu.l2_mb:", "gpu.l2_mib:"))
    assert hw.chip.level("l2").capacity_bytes == 50 * 1024**2


def test_all_problems_are_reported_at_once_with_lines():
    text = (H100_TEXT.replace("clock_ghz: 1.83", "clock_ghz: 1.83\nclock_ghz: 1.9")
            .replace("    holds: [activations]", "    hodls: [activations]")
            .replace("tdp_w: 700", "tdp_w: -700"))
    err = problems(text)
    assert len(err.problems) >= 3
    dup = by_path(err, "clock_ghz")
    lines = text.splitlines()
    assert lines[dup.line - 1].startswith("clock_ghz: 1.9")  # the second definition
    assert "did you mean 'holds'" in by_path(err, "memory.l2.hodls").message
    assert by_path(err, "memory.l2.hodls").line is not None
    assert "negative" in by_path(err, "power.tdp_w").message
    assert str(err).startswith("spec.yaml: ")


def test_unit_typo_gets_a_suggestion():
    err = problems(H100_TEXT.replace("capacity_gb: 85.52", "capacity_gbyte: 85.52"))
    p = by_path(err, "memory.hbm.capacity_gbyte")
    assert "capacity_gb" in p.message
    # a misspelt unit is not also reported as a missing capacity
    assert not any(q.startswith("memory.hbm.capacity_") and q != "memory.hbm.capacity_gbyte"
                   for q in err.paths)


def test_gbps_is_ambiguous_and_the_fix_names_both_spellings():
    err = problems(H100_TEXT.replace("bandwidth_tb_per_s: 3.35", "bandwidth_gbps: 3350"))
    p = by_path(err, "memory.hbm.bandwidth_gbps")
    assert "bandwidth_gb_per_s" in p.fix and "bandwidth_gbit_per_s" in p.fix


def test_uppercase_unit_is_told_to_be_lower_case():
    err = problems(H100_TEXT.replace("capacity_gb: 85.52", "capacity_GB: 85.52"))
    assert "capacity_gb" in by_path(err, "memory.hbm.capacity_GB").fix


def test_missing_required_fields():
    err = problems(H100_TEXT.replace("clock_ghz: 1.83\n", "").replace("    type: vector\n", ""))
    assert "clock_ghz" in err.paths
    assert "compute.cuda.type" in err.paths


def test_wrong_type_with_a_unit_in_the_value():
    err = problems(H100_TEXT.replace("tdp_w: 700", "tdp_w: '700 W'"))
    p = by_path(err, "power.tdp_w")
    assert "expected a number" in p.message and "700" in p.fix


@pytest.mark.parametrize("old,new,path,expect", [
    # HBM bandwidth 3350 TB/s: off by 1000 (should be 3.35 TB/s or 3350 GB/s)
    ("bandwidth_tb_per_s: 3.35", "bandwidth_tb_per_s: 3350", "memory.hbm.bandwidth_tb_per_s",
     "bandwidth_gb_per_s: 3350"),
    # HBM capacity 85520 GB: off by 1000 (should be 85.52 GB)
    ("capacity_gb: 85.52", "capacity_gb: 85520", "memory.hbm.capacity_gb", "capacity_gb: 85.52`"),
    # clock 1830 GHz: MHz written as GHz
    ("clock_ghz: 1.83", "clock_ghz: 1830", "clock_ghz", "clock_mhz: 1830"),
])
def test_implausible_magnitude_suggests_the_unit_slip(old, new, path, expect):
    p = by_path(problems(H100_TEXT.replace(old, new)), path)
    assert "off by 1000×" in p.message
    assert expect in p.message


def test_sources_must_point_at_fields_and_cover_every_number():
    text = H100_TEXT.replace("  gpu.sm_count:", "  gpu.sm_cnt:")
    err = problems(text)
    assert "did you mean 'gpu.sm_count'" in by_path(err, "sources.gpu.sm_cnt").message
    assert "no provenance" in by_path(err, "gpu.sm_count").message


def test_an_assumption_needs_a_reason():
    err = problems(H100_TEXT.replace('power.idle_w: "assumed: ~13%', 'power.idle_w: "assumed'
                                     ).replace("of TDP for an idle-but-on SXM board; to be "
                                               "measured\"", "\""))
    assert "reason" in by_path(err, "sources.power.idle_w").message


def test_kind_block_of_another_kind_is_rejected():
    err = problems(H100_TEXT.replace("gpu:\n  sm_count", "wafer:\n  cores: 5\ngpu:\n  sm_count"))
    assert "wafer" in err.paths


def test_yaml_syntax_error_is_one_problem_with_a_line():
    err = problems("name: x\nkind: gpu\ncompute: [1, 2\n")
    assert err.paths == ["<document>"]
    assert err.problems[0].line is not None


def test_exponent_floats_are_numbers():
    hw = load_hardware_text(H100_TEXT.replace("capacity_gb: 85.52", "capacity_bytes: 8.552e10")
                            .replace("memory.hbm.capacity_gb:", "memory.hbm.capacity_bytes:"))
    assert hw.chip.level("hbm").capacity_bytes == 8.552e10


def test_memory_level_after_an_external_one_is_rejected():
    text = H100_TEXT.replace("    holds: [activations]\n",
                             "    holds: [activations]\n    external: true\n")
    assert "memory.hbm" in problems(text).paths


# ---- overrides -------------------------------------------------------------------------------

def test_override_changes_a_value_and_records_its_provenance():
    hw = load_hardware("h100-sxm", {"memory.hbm.bandwidth_tb_per_s": 4.8})
    assert hw.chip.main_memory.bandwidth_Bps == 4.8e12
    assert hw.chip.sources["memory.hbm.bandwidth_tb_per_s"] == OVERRIDE_SOURCE


def test_override_in_another_unit_replaces_the_field():
    hw = load_hardware("h100-sxm", {"memory.hbm.bandwidth_gb_per_s": 4800})
    assert hw.chip.main_memory.bandwidth_Bps == 4.8e12


def test_override_strings_from_the_command_line_are_parsed():
    hw = load_hardware("h100-sxm", {"memory.hbm.capacity_gb": "96", "power.tdp_w": "1e3"})
    assert hw.chip.main_memory.capacity_bytes == 96e9
    assert hw.chip.power.tdp_w == 1000.0


def test_override_of_a_missing_path_suggests_the_right_one():
    with pytest.raises(SpecError) as ei:
        load_hardware("h100-sxm", {"memory.hbn.capacity_gb": 96})
    assert "memory.hbn.capacity_gb" in ei.value.paths
    assert "did you mean 'hbm'" in str(ei.value)
    with pytest.raises(SpecError) as ei:
        load_hardware("h100-sxm", {"memory.hbm.capcity_gb": 96})
    assert "memory.hbm.capcity_gb" in ei.value.paths
    assert "capacity_gb" in str(ei.value) and "--set" in str(ei.value)


def test_overridden_values_are_validated():
    with pytest.raises(SpecError) as ei:
        load_hardware("h100-sxm", {"memory.hbm.capacity_gb": -5})
    assert "memory.hbm.capacity_gb" in ei.value.paths
    assert "--set" in str(ei.value)


def test_system_overrides_reach_the_system_and_its_chip():
    hw = load_hardware("dgx-h100", {"system.num_chips": 16, "chip.memory.hbm.capacity_gb": 96})
    assert hw.num_chips == 16
    assert hw.chip.main_memory.capacity_bytes == 96e9
    assert hw.capacity_bytes() == 16 * 96e9


def test_system_override_on_a_chip_spec_is_an_error():
    with pytest.raises(SpecError) as ei:
        load_hardware("h100-sxm", {"system.num_chips": 8})
    assert "system.num_chips" in ei.value.paths


def test_chip_errors_of_a_system_name_the_chip_file():
    with pytest.raises(SpecError) as ei:
        load_hardware("dgx-h100", {"chip.power.tdp_w": -1})
    assert "h100-sxm.yaml" in ei.value.source and "dgx-h100" in ei.value.source


# ---- kind params are built from field metadata ---------------------------------------------

@pytest.mark.parametrize("cls", list(KIND_BLOCKS.values()), ids=lambda c: c.__name__)
def test_every_kind_param_field_round_trips_through_yaml(cls):
    """Write each field in its declared YAML unit, read it back in SI (value × scale)."""
    from infersim.hwmodels.factory import build_params

    block, expected = {}, {}
    for kf in kind_fields(cls):
        if kf.type == "str":
            block[kf.key] = expected[kf.attr] = "x"
            continue
        lo, hi = (x / kf.scale for x in kf.range_si)
        value = lo if math.isinf(hi) else (lo + hi) / 2
        if kf.type == "int":
            value = max(1, round(value))
        block[kf.key] = value
        expected[kf.attr] = value * kf.scale
    obj = build_params(cls, block)
    for attr, v in expected.items():
        assert getattr(obj, attr) == (v if isinstance(v, str) else pytest.approx(v)), attr


def test_gpu_params_accept_any_unit_of_their_family():
    """`l2_mib` declares a capacity: `l2_mb` is accepted and converted with its own factor."""
    l2 = next(kf for kf in kind_fields(GpuParams) if kf.attr == "l2_bytes")
    assert l2.family == "capacity"
    assert spell(l2.base, "mb") in [spell(l2.base, s) for s in FAMILIES["capacity"].suffixes]
    hw = load_hardware("h100-sxm")
    assert hw.chip.params.l2_bytes == 50e6  # gpu: {l2_mb: 50}
    assert hw.kind == HardwareKind.GPU


# ---- resolution and cache ------------------------------------------------------------------

def test_unknown_name_suggests_close_matches():
    with pytest.raises(InputError, match="did you mean 'h100-sxm'"):
        load_hardware("h100")


def test_cache_returns_the_same_frozen_object_and_notices_file_changes(tmp_path):
    a = load_hardware("h100-sxm")
    assert load_hardware("h100-sxm") is a
    assert load_hardware("h100-sxm", {"power.tdp_w": 650}) is not a
    assert load_hardware("h100-sxm", {"power.tdp_w": 650}) is \
        load_hardware("h100-sxm", {"power.tdp_w": 650})
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.chip.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):  # mappings are read-only views
        a.chip.sources["x"] = "y"  # type: ignore[index]
    f = tmp_path / "chip.yaml"
    f.write_text(H100_TEXT)
    first = load_hardware(f)
    f.write_text(H100_TEXT.replace("tdp_w: 700", "tdp_w: 650"))
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    second = load_hardware(f)
    assert first.chip.power.tdp_w == 700 and second.chip.power.tdp_w == 650


def test_system_resolves_its_chip_relative_to_its_file(tmp_path):
    (tmp_path / "my-chip.yaml").write_text(H100_TEXT.replace("name: h100-sxm", "name: my-chip"))
    (tmp_path / "pair.yaml").write_text(
        "name: pair\nsystem:\n  chip: my-chip.yaml\n  num_chips: 2\n"
        "sources:\n  system.num_chips: 'assumed: test'\n")
    hw = load_hardware(tmp_path / "pair.yaml")
    assert hw.num_chips == 2 and hw.chip.name == "my-chip"
    assert hw.fabric == hw.chip.interconnect  # falls back to the chip's links
    (tmp_path / "bad.yaml").write_text(
        "name: bad\nsystem:\n  chip: pair.yaml\n  num_chips: 2\n"
        "sources:\n  system.num_chips: 'assumed: test'\n")
    with pytest.raises(SpecError) as ei:
        load_hardware(tmp_path / "bad.yaml")
    assert "system.chip" in ei.value.paths
