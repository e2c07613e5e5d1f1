"""The shared infrastructure: schema checks, did-you-mean, progress display, output paths."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import pytest

from infersim.foundation.errors import InputError
from infersim.foundation.paths import check_output_dir, check_output_file
from infersim.foundation.progress import Progress
from infersim.foundation.schema import Checker, Leaf, number_problem
from infersim.foundation.suggest import did_you_mean, suggest

# ---- schema --------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "integer", "exact", "expect"), [
    (3, False, False, None), (3.5, False, False, None), (4.0, True, False, None),
    (4.0, True, True, "expected an integer"), (4.5, True, False, "whole number"),
    (True, False, False, "expected a number"), ("3.35 TB/s", False, False, "expected a number"),
    (math.nan, False, False, "finite"), (math.inf, False, False, "finite"),
    (10 ** 309, False, False, "too large"), (-(10 ** 400), True, True, "too large"),
    (10 ** 300, True, True, None),  # large, but a float can hold it
])
def test_number_problem(value, integer, exact, expect):
    got = number_problem(value, integer=integer, exact_int=exact)
    if expect is None:
        assert got is None
    else:
        assert got is not None and expect in got[0], got


def test_unit_in_a_value_gets_a_fix_naming_the_number():
    _, fix = number_problem("3.35 TB/s")  # type: ignore[misc]
    assert "(3.35)" in fix and "key name" in fix


def test_checker_collects_every_problem_with_lines():
    lines = {"a": 1, "a.b": 2, "c": 3}
    c = Checker(lambda p: lines.get(p) or lines.get(p.rsplit(".", 1)[0]))
    assert not c.number("a.b", -1, lo=0)
    assert not c.number("a.x", 5, lo=1, hi=4, what="batch")
    assert not c.flag("c", "yes")
    assert not c.choice("c", "grd", ["grid", "random"], "method")
    assert c.unknown_keys({"serach": 1, "sweep": 2}, ["search", "sweep"], "") == ["serach"]
    assert c.leaf(Leaf("k", "enum_list", choices=("x", "y")), ["x", "x"], "a") is False
    got = [(p.path, p.line, p.message) for p in c.problems]
    assert got == [
        ("a.b", 2, "must not be negative, got -1"),
        ("a.x", 1, "batch: 5 is out of range (allowed 1 to 4)"),
        ("c", 3, "expected true or false, got 'yes'"),
        ("c", 3, "unknown method 'grd'; did you mean 'grid'?"),
        ("serach", None, "unknown field 'serach'"),
        ("a[1]", None, "'x' is listed twice"),
    ]
    assert c.problems[4].fix == "did you mean 'search'?"


# ---- did you mean --------------------------------------------------------------------------


def test_suggestions_are_case_insensitive_and_keep_the_candidate_spelling():
    assert suggest("H100-SXN", ["h100-sxm", "h200-sxm", "b200"]) == ["h100-sxm", "h200-sxm"]
    assert did_you_mean("hodls", ["holds", "external"]) == "did you mean 'holds'?"
    assert did_you_mean("zzz", ["holds"]) == ""
    assert did_you_mean("lama", ["llama"], cutoff=0.9) == ""


# ---- progress ------------------------------------------------------------------------------


def test_progress_bar_counts_only_new_items_in_its_rate():
    now = [0.0]
    out = io.StringIO()
    p = Progress(10, done=4, stream=out, clock=lambda: now[0])
    now[0] = 2.0
    p.update(2)  # 2 new items in 2 s: 1/s, 4 left → ETA 0:04
    p.close()
    (line,) = out.getvalue().splitlines()
    assert "6/10 points" in line and " 60.0%" in line and "1/s" in line and "ETA 0:04" in line


def test_disabled_progress_writes_nothing():
    out = io.StringIO()
    p = Progress(3, stream=out, enabled=False)
    p.update(3)
    p.step("x")
    p.note("y")
    p.close()
    assert out.getvalue() == ""


# ---- output paths --------------------------------------------------------------------------


def test_output_file_checks(tmp_path: Path):
    assert check_output_file("-o", tmp_path / "new" / "x.csv") == tmp_path / "new" / "x.csv"
    with pytest.raises(InputError, match="is a folder"):
        check_output_file("-o", tmp_path)
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match="is a file, so no folder can be made there"):
        check_output_file("--csv", f / "x.csv")
    with pytest.raises(InputError, match=r"expected a \.yaml/\.yml file"):
        check_output_file("-o", tmp_path / "x.txt", suffixes=(".yaml", ".yml"))
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_output_dir("-o", f)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing created


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_targets_are_refused(tmp_path: Path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(InputError, match="cannot write in"):
            check_output_dir("-o", ro / "out")
    finally:
        ro.chmod(0o700)
    f = tmp_path / "locked.yaml"
    f.write_text("x")
    f.chmod(0o400)
    with pytest.raises(InputError, match="read-only"):
        check_output_file("-o", f)
