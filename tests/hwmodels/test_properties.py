"""Property tests: malformed specs always raise ONE SpecError naming the broken field path,
and never any other exception (hypothesis generates the damage)."""

from __future__ import annotations

import copy
import string
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infersim.foundation.errors import SpecError
from infersim.hwmodels.loader import load_hardware_text
from infersim.hwmodels.schema import FAMILIES
from tests._support import H100_TEXT, SPEC_DIR

BASE: dict[str, Any] = yaml.safe_load(H100_TEXT)
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def _leaves(node: Any, path: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{path}.{k}" if path else str(k)
            if p == "sources":
                continue
            out += _leaves(v, p)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        out.append((path, node))
    return out


NUMBERS = [p for p, _ in _leaves(BASE)]
# Fields whose plausible range is tight enough that ×1000 is always out of range.
TIGHT = ["clock_ghz", "memory.hbm.capacity_gb", "memory.hbm.bandwidth_tb_per_s",
         "memory.l2.capacity_mb", "compute.tensor.peak_tflops.bf16", "power.tdp_w",
         "interconnect.link_bandwidth_gb_per_s", "gpu.sm_count"]
# (path to drop, prefix a reported problem path must start with)
REQUIRED = [("name", "name"), ("kind", "kind"), ("clock_ghz", "clock_"),
            ("compute", "compute"), ("memory", "memory"), ("power", "power"),
            ("power.tdp_w", "power.tdp_"), ("power.idle_w", "power.idle_"),
            ("memory.hbm.capacity_gb", "memory.hbm.capacity_"),
            ("memory.hbm.bandwidth_tb_per_s", "memory.hbm.bandwidth_"),
            ("compute.tensor.type", "compute.tensor.type"),
            ("compute.tensor.peak_tflops", "compute.tensor.peak_"),
            ("interconnect.topology", "interconnect.topology"),
            ("interconnect.latency_us", "interconnect.latency_"),
            ("gpu.sm_count", "gpu.sm_count"), ("gpu.kernel_launch_us", "gpu.kernel_launch_")]


def _get_parent(doc: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    if path.startswith("sources."):  # provenance keys are dotted paths themselves
        return doc["sources"], path[len("sources."):]
    *head, last = path.split(".")
    node = doc
    for k in head:
        node = node[k]
    return node, last


def _load(doc: dict[str, Any]) -> SpecError | None:
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    try:
        load_hardware_text(text, "fuzz.yaml")
    except SpecError as e:
        return e
    return None


def _expect(doc: dict[str, Any], path: str, prefix: bool = False) -> None:
    err = _load(doc)
    assert err is not None, f"no SpecError for damage at {path}"
    ok = any(p.startswith(path) for p in err.paths) if prefix else path in err.paths
    assert ok, (path, err.paths)


@SETTINGS
@given(st.sampled_from(REQUIRED))
def test_dropping_a_required_field(case):
    path, expect = case
    doc = copy.deepcopy(BASE)
    parent, last = _get_parent(doc, path)
    del parent[last]
    _expect(doc, expect, prefix=True)


BAD_VALUES = st.one_of(
    st.text(alphabet=string.ascii_letters + " /", min_size=1, max_size=8),
    st.lists(st.integers(), max_size=2), st.booleans(), st.none(),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=1))


@SETTINGS
@given(st.sampled_from(NUMBERS), BAD_VALUES)
def test_wrong_type_for_a_number(path, bad):
    doc = copy.deepcopy(BASE)
    parent, last = _get_parent(doc, path)
    parent[last] = bad
    _expect(doc, path)


@SETTINGS
@given(st.sampled_from(NUMBERS), st.floats(min_value=1e-3, max_value=1e6))
def test_negative_value(path, magnitude):
    doc = copy.deepcopy(BASE)
    parent, last = _get_parent(doc, path)
    parent[last] = -magnitude
    _expect(doc, path)


@SETTINGS
@given(st.sampled_from(TIGHT))
def test_value_off_by_1000(path):
    doc = copy.deepcopy(BASE)
    parent, last = _get_parent(doc, path)
    parent[last] = parent[last] * 1000
    _expect(doc, path)


QUANTITY_KEYS = [(p, fam) for p, _ in _leaves(BASE) for fam in FAMILIES.values()
                 if any(p.rsplit(".", 1)[-1].endswith("_" + s) for s in fam.suffixes)
                 and p.count(".") >= 1 and not p.startswith(("gpu.", "compute."))]


@SETTINGS
@given(st.sampled_from(QUANTITY_KEYS),
       st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=8))
def test_unit_typo_in_a_key(case, bad_suffix):
    path, fam = case
    key = path.rsplit(".", 1)[-1]
    suffix = max((s for s in fam.suffixes if key.endswith("_" + s)), key=len)
    base = key[: -len(suffix) - 1]
    if bad_suffix in fam.suffixes or bad_suffix.startswith("_"):
        return
    doc = copy.deepcopy(BASE)
    parent, last = _get_parent(doc, path)
    parent[f"{base}_{bad_suffix}"] = parent.pop(last)
    prefix = path.rsplit(".", 1)[0]
    _expect(doc, f"{prefix}.{base}_{bad_suffix}")


def _line_paths() -> list[tuple[int, str]]:
    """(line index, field path) of every one-line `key: value` entry of the base text."""
    node = yaml.compose(H100_TEXT)
    out: list[tuple[int, str]] = []

    def walk(n: Any, path: str) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                p = f"{path}.{k.value}" if path else k.value
                if k.start_mark.line == v.end_mark.line and p != "sources":
                    out.append((k.start_mark.line, p))
                elif not isinstance(v, yaml.ScalarNode):
                    walk(v, p)

    walk(node, "")
    return out


LINES = _line_paths()


@SETTINGS
@given(st.sampled_from(LINES))
def test_duplicate_key_in_raw_yaml(case):
    index, path = case
    lines = H100_TEXT.splitlines()
    lines.insert(index + 1, lines[index])
    with pytest.raises(SpecError) as ei:
        load_hardware_text("\n".join(lines) + "\n", "dup.yaml")
    hit = [p for p in ei.value.problems if p.path == path]
    assert hit and "duplicate" in hit[0].message
    assert hit[0].line == index + 2  # 1-based line of the second copy


def _all_paths(node: Any, path: str = "") -> list[str]:
    out = [path] if path else []
    if path == "sources":
        return out + [f"sources.{k}" for k in node]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _all_paths(v, f"{path}.{k}" if path else str(k))
    return out


ANY_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
              st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(string.ascii_lowercase, min_size=1,
                                                    max_size=5), inner, max_size=3)),
    max_leaves=6)


@FUZZ
@given(st.sampled_from(_all_paths(BASE)), ANY_VALUE)
def test_any_damage_gives_a_spec_error_or_a_valid_spec_never_a_crash(path, value):
    doc = copy.deepcopy(BASE)
    parent, last = _get_parent(doc, path)
    parent[last] = value
    _load(doc)  # SpecError is returned; any other exception fails the test


FUZZ_BASES = {n: yaml.safe_load((SPEC_DIR / f"{n}.yaml").read_text())
              for n in ("cs-3", "corsair", "groq-lpu", "cpu-host", "dgx-h100")}
FUZZ_CASES = [(n, p) for n, d in FUZZ_BASES.items() for p in _all_paths(d)]


@FUZZ
@given(st.sampled_from(FUZZ_CASES), ANY_VALUE)
def test_other_kinds_and_systems_never_crash(case, value):
    name, path = case
    doc = copy.deepcopy(FUZZ_BASES[name])
    parent, last = _get_parent(doc, path)
    parent[last] = value
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    try:
        load_hardware_text(text, f"{name}-fuzz.yaml", base_dir=SPEC_DIR)
    except SpecError:
        pass
