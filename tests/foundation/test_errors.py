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


def test_spec_error_crosses_a_process_boundary_intact() -> None:
    """A bad spec met in a worker of a process pool (parallel validation, sweeps) reaches the
    parent as the same SpecError: an exception that does not unpickle breaks the pool with
    a traceback instead of the one-line report."""
    import pickle
    from concurrent.futures import ProcessPoolExecutor

    err = SpecError("specs/x.yaml", [Problem("gpu.nvls_latency_us", "no provenance", line=81)])
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is SpecError and str(back) == str(err) and back.problems == err.problems
    with ProcessPoolExecutor(max_workers=1) as ex:
        fut = ex.submit(_raise, err)
        exc = fut.exception()
    assert isinstance(exc, SpecError) and str(exc) == str(err)


def _raise(err: Exception) -> None:
    raise err
