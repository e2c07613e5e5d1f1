"""The one YAML dialect: YAML 1.2 numbers, true/false only, no merge keys, tags or duplicate
keys, a line on every problem, and hard limits that refuse hostile documents quickly."""

from __future__ import annotations

import math
import time

import pytest

from infersim.foundation.errors import InputError, SpecError
from infersim.foundation.yaml import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    load_document,
    parse_document,
    parse_value,
)
from tests._support import billion_laughs


def only_problem(text: str):
    doc = parse_document(text)
    assert len(doc.problems) == 1, doc.problems
    return doc.problems[0]


@pytest.mark.parametrize(("text", "value"), [
    ("1e-1", 0.1), ("1e9", 1e9), ("2.5E-6", 2.5e-6), ("-1.", -1.0), (".5", 0.5),
    ("7", 7), ("012", 12), ("-0", 0), ("+3", 3), ("0x1F", 31), ("0o17", 15),
    ("true", True), ("False", False), ("TRUE", True), ("~", None), ("null", None),
    (".inf", math.inf), ("-.Inf", -math.inf),
    # YAML 1.1 spellings that are text in this dialect
    ("yes", "yes"), ("no", "no"), ("on", "on"), ("off", "off"), ("y", "y"),
    ("1_000", "1_000"), ("1:30", "1:30"), ("2024-01-01", "2024-01-01"), ("0b101", "0b101"),
    ("'1e-1'", "1e-1"), ('"true"', "true"),
])
def test_scalars_follow_yaml_1_2_core(text, value):
    got = parse_value(text, "--set x")
    assert got == value and type(got) is type(value)


def test_nan_is_a_float():
    assert math.isnan(parse_value(".nan", "x"))


def test_every_problem_has_its_line_and_all_are_collected():
    text = "a: 1\nb:\n  c: 2\n  c: 3\n<<: {d: 1}\ne: !!binary aGk=\n"
    doc = parse_document(text)
    got = {(p.path, p.line) for p in doc.problems}
    # the tag stops composition (nothing after it is trusted); the line is the tag's
    assert got == {("<document>", 6)}
    doc = parse_document("a: 1\nb:\n  c: 2\n  c: 3\n<<: {d: 1}\nf: [1, 2]\nf: 0\n")
    got = {(p.path, p.line) for p in doc.problems}
    assert got == {("b.c", 4), ("<<", 5), ("f", 7)}
    assert "first defined on line 3" in next(p.message for p in doc.problems if p.path == "b.c")
    assert doc.lines["f[1]"] == 6 and doc.data == {"a": 1, "b": {"c": 2}, "f": [1, 2]}


@pytest.mark.parametrize("text", ["x: !!python/object/apply:os.system [ls]\n",
                                  "x: !custom 3\n", "x: !!set {a, b}\n", "x: !!omap [a: 1]\n",
                                  "x: !!timestamp 2024-01-01\n"])
def test_tags_beyond_the_core_schema_are_refused(text):
    p = only_problem(text)
    assert "is not supported" in p.message and p.line == 1


def test_standard_tags_are_allowed():
    assert parse_document("a: !!str 12\nb: !!float 3\nc: !!int '7'\n").data == {
        "a": "12", "b": 3.0, "c": 7}
    assert "not an integer" in only_problem("c: !!int seven\n").message


def test_merge_key_refused_but_a_quoted_lt_lt_key_is_text():
    assert "merge keys" in only_problem("base: &b {x: 1}\nc:\n  <<: *b\n").message
    assert parse_document("'<<': 1\n").data == {"<<": 1}


def test_empty_multi_document_and_syntax_errors():
    assert "empty" in only_problem("# only a comment\n").message
    p = only_problem("a: 1\n---\nb: 2\n")
    assert "more than one YAML document" in p.message and p.line == 2
    p = only_problem("a: [1, 2\nb: 3\n")
    assert p.message.startswith("YAML syntax error") and p.line is not None


def test_load_document_raises_one_spec_error_naming_the_file():
    with pytest.raises(SpecError) as ei:
        load_document("a: 1\na: 2\n", "my.yaml")
    assert str(ei.value).startswith("my.yaml: 1 problem(s)")


def test_a_huge_integer_literal_is_a_problem_not_a_crash():
    p = only_problem("n: " + "9" * 5000 + "\n")  # int() refuses > 4300 digits
    assert "5000 digits" in p.message and p.path == "n"
    assert parse_value("9" * 300, "x") == int("9" * 300)  # past float range, still an int


def test_aliases_to_finished_blocks_are_copies_with_the_anchor_lines():
    doc = parse_document("a: &x {k: 1}\nb: *x\n")
    assert doc.data == {"a": {"k": 1}, "b": {"k": 1}}
    doc.data["b"]["k"] = 2
    assert doc.data["a"]["k"] == 1  # independent objects
    assert doc.lines["b.k"] == 1 and doc.lines["b"] == 2


# ---- hostile documents ---------------------------------------------------------------------

def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def test_billion_laughs_is_refused_quickly():
    text = billion_laughs()
    assert len(text) <= 350  # 9^10 ≈ 3.5e9 strings once expanded
    doc, seconds = timed(parse_document, text)
    (p,) = doc.problems
    assert f"more than {MAX_NODES:,} values" in p.message and doc.data is None
    # levels a..d hold 10, 91, 820 and 7,381 nodes; with the root and the keys 8,309 are
    # counted when level e (line 5) opens, and its first alias *d adds 7,381 more > 10,000
    assert p.line == 5
    assert seconds < 1.0, seconds


def test_self_referencing_anchor_is_refused():
    for text in ("a: &a [*a]\n", "a: &a {b: *a}\n", "&r [1, [2, *r]]\n"):
        p = only_problem(text)
        assert "contains it" in p.message


def test_undefined_alias_is_a_problem():
    assert "refers to no anchor" in only_problem("a: *nope\n").message


@pytest.mark.parametrize("style", ["flow", "block", "mapping"])
def test_deep_nesting_gives_one_clear_problem(style):
    n = 1000 if style == "flow" else 400  # indented forms: 400 levels stay below 256 KiB
    if style == "flow":
        text = "[" * n + "]" * n
    elif style == "block":
        text = "".join("  " * i + "-\n" for i in range(n))
    else:
        text = "".join("  " * i + f"k{i}:\n" for i in range(n))
    doc, seconds = timed(parse_document, text)
    (p,) = doc.problems
    assert p.message == f"nesting deeper than {MAX_DEPTH} levels"
    assert seconds < 1.0, seconds


def test_nesting_at_the_limit_is_fine():
    text = "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH
    data = parse_document(text).data
    for _ in range(MAX_DEPTH - 1):
        data = data[0]
    assert data == [1]


def test_oversized_document_refused_before_parsing():
    doc, seconds = timed(parse_document, "a: " + "x" * MAX_BYTES + "\n")
    assert "larger than 256 KiB" in doc.problems[0].message and seconds < 0.5


def test_many_plain_values_past_the_cap_refused():
    text = "".join(f"k{i}: {i}\n" for i in range(MAX_NODES))
    doc, seconds = timed(parse_document, text)
    (p,) = doc.problems
    # the root and 2 values a line: value 10,001 is on line 5,000, where parsing stops
    assert "more than 10,000 values" in p.message and p.line == 5000
    assert seconds < 5.0, seconds  # ~0.4 s on an idle core: PyYAML's pure-Python scanner


def test_parse_value_names_the_flag():
    with pytest.raises(InputError, match="--set x: cannot read the value '&a"):
        parse_value("&a [*a]", "--set x")
    assert parse_value("", "x") is None
