"""Structured fuzzing in CI (a small sample of the campaign in benchmarks/fuzz_campaign.py):
every CLI command with ordinary and hostile argument values, and the API with hostile keyword
values. Judged by tests/fuzzing.py: exit 0/1/2, no traceback, within a time bound, and JSON
answers that pass the invariants (no negative or absurd values, ordered percentiles...)."""

from __future__ import annotations

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from infersim.cli import build_parser, main  # noqa: E402
from tests.fuzzing import argv, commands, run_api, run_cli, write_files  # noqa: E402

CMDS = commands(build_parser())
NAMES = sorted(" ".join(w) for w, _ in CMDS)
# Alias bombs, 600-deep nesting and self-referencing aliases exercise the one YAML loader,
# whose limits are tested with it (tests of infersim.foundation.yaml); here they would only
# add its run time to every example.
YAML_OWNED = ("bomb.yaml", "deep.yaml", "&a")


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    write_files(d)
    return d


@pytest.mark.slow
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), command=st.sampled_from(NAMES))
def test_cli_fuzz(tmp, monkeypatch, seed, command):
    monkeypatch.chdir(tmp)
    args = argv(seed, CMDS, tmp, command)
    hypothesis.assume(not any(m in a for a in args for m in YAML_OWNED))
    o = run_cli(main, args, limit_s=60)
    assert not o.problem, f"{o.problem}\nargv: {args}\nstderr: {o.err[-2000:]}"


@settings(max_examples=150, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1))
def test_api_fuzz(seed):
    label, problem = run_api(seed, limit_s=60)
    assert not problem, f"{problem}: {label}"


@pytest.mark.parametrize("args", [
    "simulate --batch 1e400", "simulate --batch 99999999999999999999999",
    "simulate --context -99999999999999999999999", "op matmul --m 99999999999999999999999 --k 2",
    "serve --requests 99999999999999999999999", "serve --rate 1e400",
    "serve --lifetime-years 1e-300", "serve --prompt 99999999999999999999",
    "simulate --set memory.hbm.bandwidth_tb_per_s=99999999999999999999999999999999999999999",
    "simulate --set chip.num_cores=[99999999999999999999999]",
    "serve --arrival trace --trace {tmp}/trace_huge.csv", "sweep {tmp}/study_huge.yaml",
    "sweep {tmp}/study_dollar.yaml", "models show {tmp}/huge.json", "models show {tmp}/nan.json",
    "trace {tmp}/huge.json", "op --from-csv {tmp}/op_huge.csv",
])
def test_huge_numbers_are_one_clean_line(tmp, monkeypatch, args):
    monkeypatch.chdir(tmp)
    o = run_cli(main, [a.replace("{tmp}", str(tmp)) for a in args.split()], limit_s=60)
    assert not o.problem, f"{o.problem}: {o.err[-1500:]}"
    assert o.rc == 2 and "Overflow" not in o.err, o.err
    problems = [ln for ln in o.err.splitlines() if "error:" in ln]
    assert len(problems) == 1, o.err
