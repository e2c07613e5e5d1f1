"""Structured fuzzing of the YAML loader and of the study and spec validators built on it:
random documents with anchors and aliases, deep nesting, huge and non-finite numbers, YAML 1.1
spellings, tags and unicode. Every case must return or raise an `InfersimError` (never another
exception), within a time bound."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infersim.foundation.errors import InfersimError, InputError, SpecError
from infersim.foundation.yaml import dump_document, parse_document, parse_value
from infersim.hwmodels.loader import load_hardware, load_hardware_text
from infersim.studies.spec import parse_study
from tests._support import H100_TEXT, SPEC_DIR

TIME_LIMIT_S = 2.0

SPECIAL = ["yes", "no", "on", "~", "null", ".nan", ".inf", "-.inf", "1e-1", "1e400", "-0",
           "0x1F", "0o17", "012", "1_000", "1:30", "2024-01-01", "!!binary aGk=", "!custom x",
           "!!python/object/apply:os.system [ls]", "!!int x", "!!float 1e9", "'<<'",
           "*a", "*b", "&a 1", "&b [1, 2]", "''", "\"\\u00e9\\U0001F600\"", "True", "NaN"]

scalars = st.one_of(
    st.integers(min_value=-(10 ** 500), max_value=10 ** 500).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(SPECIAL),
    st.text(max_size=12).map(json.dumps),  # a double-quoted string with any unicode
    st.text(alphabet="abcxyz_-. 0123456789éµ", min_size=1, max_size=8),
)
anchors = st.sampled_from(["", "", "&a ", "&b "])
keys = st.one_of(st.sampled_from(["a", "b", "<<", "a", "name", "sweep", "1", "é"]),
                 st.text(alphabet="abkz", min_size=1, max_size=3))


def flow(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    lists = st.tuples(anchors, st.lists(children, max_size=5)).map(
        lambda t: t[0] + "[" + ", ".join(t[1]) + "]")
    maps = st.tuples(anchors, st.lists(st.tuples(keys, children), max_size=5)).map(
        lambda t: t[0] + "{" + ", ".join(f"{k}: {v}" for k, v in t[1]) + "}")
    return st.one_of(lists, maps)


values = st.recursive(scalars, flow, max_leaves=30)
# nesting up to 100 levels (the limit is 64)
nested = st.tuples(st.integers(0, 100), values).map(lambda t: "[" * t[0] + t[1] + "]" * t[0])
documents = st.one_of(
    st.lists(st.tuples(keys, st.one_of(values, nested)), max_size=8).map(
        lambda kv: "\n".join(f"{k}: {v}" for k, v in kv) + "\n"),
    values, nested, st.text(max_size=200))


def _plain(x: Any, depth: int = 0) -> bool:
    """Loaded data is plain JSON-like values only."""
    if depth > 70:
        return False
    if isinstance(x, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in x.items())
    if isinstance(x, list):
        return all(_plain(v, depth + 1) for v in x)
    return x is None or isinstance(x, (bool, int, float, str))


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _timed(fn: Any, *args: Any, **kwargs: Any) -> float:
    t0 = time.perf_counter()
    try:
        fn(*args, **kwargs)
    except InfersimError:
        pass
    return time.perf_counter() - t0


FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_SPEC = settings(FUZZ, max_examples=40)  # each case validates a whole spec


@FUZZ
@given(documents)
def test_loader_returns_or_reports_problems(text):
    t0 = time.perf_counter()
    doc = parse_document(text)
    assert time.perf_counter() - t0 < TIME_LIMIT_S
    if doc.problems:
        assert all(p.message for p in doc.problems)
    else:
        assert _plain(doc.data)
        again = parse_document(dump_document(doc.data))
        assert not again.problems and _same(again.data, doc.data)
    try:
        parse_value(text, "--set x")
    except InputError:
        assert doc.problems


STUDY = """name: fuzz
evaluate: simulate
fixed:
  hardware: h100-sxm
  scenario: {{phase: decode, batch: {batch}, context: {context}}}
  economics: {{usd_per_kwh: {price}}}
sweep:
  scenario.batch: {sweep}
search: {{method: random, n: {n}, seed: {seed}}}
plots:
  - {{kind: line, x: scenario.batch, y: latency_s, points: {points}, logx: {logx}}}
"""


@FUZZ_SPEC
@given(st.fixed_dictionaries({k: st.one_of(scalars, values) for k in
                              ("batch", "context", "price", "sweep", "n", "seed", "points",
                               "logx")}))
def test_study_validation_returns_or_raises_infersim_error(slots):
    doc = parse_document(STUDY.format(**slots))
    if doc.problems:
        return
    assert _timed(parse_study, doc.data, "fuzz.yaml", doc.lines, check_refs=False) \
        < TIME_LIMIT_S


H100_FIELDS = ["clock_ghz", "power.tdp_w", "memory.hbm.capacity_gb", "gpu.sm_count",
               "compute.tensor.count", "interconnect.links_per_chip", "memory.l2.holds",
               "compute.tensor.peak_tflops.bf16", "memory.hbm.external", "name"]


@FUZZ_SPEC
@given(st.sampled_from(H100_FIELDS), st.one_of(scalars, values))
def test_spec_overrides_return_or_raise_infersim_error(field, text):
    doc = parse_document(text)
    value = text if doc.problems else doc.data
    assert _timed(load_hardware, "h100-sxm", {field: value}) < TIME_LIMIT_S


@FUZZ_SPEC
@given(st.one_of(scalars, values))
def test_a_spec_field_written_in_the_file_returns_or_raises(text):
    assert H100_TEXT.count("\n  tdp_w: 700\n") == 1  # the power block of h100-sxm.yaml
    spec = H100_TEXT.replace("\n  tdp_w: 700\n", f"\n  tdp_w: {text}\n")
    assert _timed(load_hardware_text, spec, "fuzz.yaml", base_dir=SPEC_DIR) < TIME_LIMIT_S


def test_non_finite_and_huge_numbers_are_problems_in_a_study():
    base = {"name": "n", "sweep": {"scenario.batch": [1]}}
    for bad in (math.nan, math.inf, 10 ** 400, -(10 ** 400)):
        for where in ({"fixed": {"scenario": {"batch": bad}}},
                      {"fixed": {"economics": {"usd_per_kwh": bad}}},
                      {"sweep": {"scenario.context": {"min": bad, "max": 4, "num": 2}}},
                      {"search": {"method": "random", "n": bad}}):
            try:
                parse_study({**base, **where}, check_refs=False)
            except SpecError as e:
                assert e.problems
            else:
                raise AssertionError(f"{where} accepted")


@pytest.mark.parametrize("value", ["\x85", "a\u2028b", "x\u2029", "\n\x85 y", "µs — ok"])
def test_dump_keeps_yaml_11_line_breaks_found_by_the_fuzzer(value):
    """NEL / LS / PS are YAML 1.1 line breaks: written raw (plain or single-quoted) they read
    back folded to a space; the dumper double-quotes and escapes them (found by
    `test_loader_returns_or_reports_problems` with text 'a: "\\u0085"')."""
    doc = parse_document(dump_document({"a": value}))
    assert not doc.problems and doc.data == {"a": value}
