"""User-input errors: one line per problem naming where (file, line, field path), what, and the
fix; the CLI exit code 2."""

from __future__ import annotations

from infersim.foundation.errors import InfersimError, InputError, Problem, SpecError


def test_problem_names_line_path_message_and_fix() -> None:
    p = Problem("memory.hbm.bandwidth_gb_per_s", "must be > 0, got -5", "use a positive number",
                line=12)
    assert str(p) == ("line 12: memory.hbm.bandwidth_gb_per_s: must be > 0, got -5 "
                      "(fix: use a positive number)")
    assert str(Problem("name", "missing")) == "name: missing"  # no line, no fix: nothing empty


def test_spec_error_reports_every_problem_of_a_file_at_once() -> None:
    problems = [Problem("chip.clock_ghz", "missing", line=3),
                Problem("power.tdp_w", "must be > 0, got 0", "set the datasheet TDP")]
    err = SpecError("specs/x.yaml", problems)
    assert str(err).splitlines() == [
        "specs/x.yaml: 2 problem(s)",
        "  line 3: chip.clock_ghz: missing",
        "  power.tdp_w: must be > 0, got 0 (fix: set the datasheet TDP)",
    ]
    assert err.paths == ["chip.clock_ghz", "power.tdp_w"]
    assert err.source == "specs/x.yaml"


def test_user_input_errors_exit_2() -> None:
    assert issubclass(InputError, InfersimError) and issubclass(SpecError, InfersimError)
    assert InputError("x").exit_code == SpecError("f", []).exit_code == 2
