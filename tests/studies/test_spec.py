"""Study files: valid ones load; every problem of a bad one is reported with path and line."""

from __future__ import annotations

import pytest
import yaml

from infersim.cli import main
from infersim.foundation.errors import SpecError
from infersim.studies.spec import load_study, parse_study
from infersim.studies.types import Goal, Method
from tests._support import SMALL_GRID


def _line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing needle (computed from the text itself)."""
    for i, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(needle)


def test_valid_study_loads(write_study):
    s = load_study(write_study(SMALL_GRID))
    assert s.name == "small-grid"
    assert s.search.method is Method.GRID
    assert [d.name for d in s.sweep] == ["scenario.batch", "scenario.context"]
    assert s.fixed["model"] == "llama-3.1-8b" and s.fixed["scenario.phase"] == "decode"
    assert "runtime" not in s.fixed  # omitted: each point's kind default


def test_resolved_config_reloads_to_same_study(write_study, tmp_path):
    s = load_study(write_study(SMALL_GRID))
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump(s.resolved_config(), sort_keys=False))
    s2 = load_study(again)
    assert s2.parameters == s.parameters
    assert [d.grid_values() for d in s2.sweep] == [d.grid_values() for d in s.sweep]
    assert dict(s2.fixed) == dict(s.fixed)


BAD = """
name: Bad Name
serach: {method: grid}
fixed:
  runtime: turbo
  scenario: {batch: -3}
sweep:
  scenario.bach: [1, 2]
  scenario.context: {min: 4096, max: 1024}
  economics.usd_per_kwh: [0.1, 0.1]
search:
  method: annealing
metrics: [latency_s, tokens_per_sec]
plots:
  - {kind: pie, x: a, y: b}
"""


def test_every_problem_reported_with_path_and_line(write_study):
    path = write_study(BAD)
    with pytest.raises(SpecError) as ei:
        load_study(path, check_refs=False)
    err = ei.value
    text = path.read_text()
    expected = {
        "name": _line_of(text, "name: Bad Name"),
        "serach": _line_of(text, "serach:"),
        "fixed.runtime": _line_of(text, "runtime: turbo"),
        "fixed.scenario.batch": _line_of(text, "scenario: {batch"),
        "sweep.scenario.bach": _line_of(text, "scenario.bach"),
        "sweep.scenario.context": _line_of(text, "scenario.context"),
        "sweep.economics.usd_per_kwh": _line_of(text, "usd_per_kwh"),
        "search.method": _line_of(text, "method: annealing"),
        "plots[0].kind": _line_of(text, "kind: pie"),
    }
    got = {p.path: p.line for p in err.problems}
    for p, line in expected.items():
        assert p in got, (p, err.paths)
        assert got[p] == line, (p, got[p], line)
    assert "metrics[1]" in got
    msgs = str(err)
    assert "did you mean 'search'" in msgs  # serach → search
    assert "did you mean 'scenario.batch'" in msgs  # bach → batch
    assert "did you mean 'tokens_per_s'" in msgs


def test_duplicate_keys_rejected_with_both_lines(write_study):
    text = """
    name: dup
    sweep:
      scenario.batch: [1, 2]
      scenario.batch: [4, 8]
    """
    path = write_study(text)
    with pytest.raises(SpecError) as ei:
        load_study(path)
    (p,) = ei.value.problems
    src = path.read_text().splitlines()
    assert p.path == "sweep.scenario.batch" and "duplicate key" in p.message
    assert src[p.line - 1].strip() == "scenario.batch: [4, 8]"
    assert "line 3" in p.message  # the first definition


def test_range_and_search_rules(write_study):
    text = """
    name: r
    sweep:
      scenario.batch: {min: 0, max: 64, log: true, int: true, num: 4}
      hw.memory.hbm.bandwidth_tb_per_s: {min: 1.0, max: 8.0}
    search: {method: optimize, objectives: {latency_s: fastest}}
    """
    with pytest.raises(SpecError) as ei:
        load_study(write_study(text), check_refs=False)
    paths = set(ei.value.paths)
    assert "sweep.scenario.batch.min" in paths  # log range needs min > 0
    assert "search.n_trials" in paths  # optimize needs n_trials
    assert "search.objectives.latency_s" in paths  # unknown goal


def test_grid_needs_num_for_continuous_range(write_study):
    text = """
    name: r
    sweep:
      economics.usd_per_kwh: {min: 0.05, max: 0.2}
    """
    with pytest.raises(SpecError) as ei:
        load_study(write_study(text), check_refs=False)
    assert "sweep.economics.usd_per_kwh.num" in ei.value.paths


def test_unknown_model_and_hardware_named(write_study):
    text = """
    name: refs
    sweep:
      model: [llama-3.1-8b, llama-9-999b]
      hardware: [h100-sxm, h100-sxn]
    """
    with pytest.raises(SpecError) as ei:
        load_study(write_study(text))
    paths = set(ei.value.paths)
    assert {"sweep.model[1]", "sweep.hardware[1]"} <= paths
    assert "sweep.model[0]" not in paths and "sweep.hardware[0]" not in paths


def test_traffic_only_with_serve():
    data = {"name": "t", "sweep": {"traffic.rate": [1, 2]}}
    with pytest.raises(SpecError) as ei:
        parse_study(data, check_refs=False)
    assert "sweep.traffic.rate" in ei.value.paths


def test_objectives_parsed():
    data = {"name": "o", "sweep": {"scenario.batch": [1, 2]},
            "search": {"method": "grid", "objectives": {"latency_s": "minimize",
                                                        "tokens_per_s": "maximize"}}}
    s = parse_study(data, check_refs=False)
    assert [(o.metric, o.goal) for o in s.search.objectives] == [
        ("latency_s", Goal.MINIMIZE), ("tokens_per_s", Goal.MAXIMIZE)]


def test_cli_bad_study_exits_2_without_traceback_or_outputs(write_study, tmp_path, capsys):
    path = write_study(BAD)
    out = tmp_path / "out"
    rc = main(["sweep", str(path), "-o", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "Traceback" not in err
    assert "problem(s)" in err and "serach" in err
    assert not out.exists()  # nothing half-written


def test_cli_missing_study_file(tmp_path, capsys):
    rc = main(["sweep", str(tmp_path / "nope.yaml")])
    assert rc == 2
    assert "no such study file" in capsys.readouterr().err
