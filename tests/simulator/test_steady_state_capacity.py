"""`--find-max-rate` finds a steady-state rate: checked against capacities derived by hand, and
runs that serve nothing or less than offered say so."""

from __future__ import annotations

import json

import numpy as np
import pytest

from infersim.cli import main
from infersim.foundation.errors import InputError
from infersim.hwmodels import load_hardware
from infersim.hwmodels.economics import Economics
from infersim.simulator.serving import (
    FixedLengths,
    Poisson,
    ServingPolicy,
    Slo,
    Traffic,
    find_max_rate,
    serve,
    simulate_serving,
)
from infersim.simulator.serving.costs import MapperIterationCost
from infersim.simulator.serving.serve import ReplicaSpec
from infersim.workloads import load_model

LOOSE = Slo(ttft_s=1e6, tpot_s=1e3, percentile=99.0)  # only the steady-state test can bind


def _served_over_offered(r) -> float:
    """Completion rate over arrival rate, from the per-request records (not the result's own
    steady-state fields): 1 when the system keeps up, capacity / offered when it does not."""
    df = r.requests_frame()
    arr, fin = np.sort(df["arrival_s"].to_numpy()), np.sort(df["finish_s"].dropna().to_numpy())
    return ((len(fin) - 1) / (fin[-1] - fin[0])) / ((len(arr) - 1) / (arr[-1] - arr[0]))


def test_loose_slo_single_server_capacity_is_one_over_service_time():
    # One request at a time, 0.5 s each: capacity 2 req/s exactly. A loose SLO used to let the
    # search climb to absurd rates (the whole run fits in the SLO as one burst).
    def run(rate: float):
        return simulate_serving(ReplicaSpec(), lambda p, e, d, c: (0.5, 0.0),
                                Traffic(Poisson(rate), FixedLengths(1, 1), 2000),
                                ServingPolicy(max_batch=1), slo=LOOSE, seed=0)

    cap = find_max_rate(run, LOOSE, guess_rps=0.1)
    assert 0.9 * 2.0 <= cap.max_rate_rps <= 1.1 * 2.0
    assert _served_over_offered(run(cap.max_rate_rps)) >= 0.97
    assert run(4.0).overloaded and abs(_served_over_offered(run(4.0)) - 0.5) < 0.05


def test_find_max_rate_matches_static_batching_capacity_from_the_cost_model():
    # Static batching, every request P prompt / O output tokens, batches of B: one batch takes
    # T = prefill(B × P) + Σ_{i=1}^{O-1} decode(B seqs at context P + i), from the mapper's
    # per-step costs. The queue is stable below B / T req/s and grows above it.
    m, h = load_model("llama-3.2-1b"), load_hardware("h100-sxm")
    p_tok, o_tok, b = 128, 16, 32
    # the runtime serve uses by default (the kind's default, as `simulate`)
    step = MapperIterationCost(m, h, tp=1, pp=1, ep=1, runtime=None,
                               weights="bf16", kv=None)
    t_batch = step([(p_tok, 0)] * b, b, 0, 0)[0] + sum(
        step([], 0, b, b * (p_tok + i))[0] for i in range(1, o_tok))
    capacity = b / t_batch
    pol = ServingPolicy("static", b, 8192)

    def run(rate: float):
        return serve(m, h, Traffic(Poisson(rate), FixedLengths(p_tok, o_tok), 2000), pol,
                     slo=LOOSE)

    cap = find_max_rate(run, LOOSE, guess_rps=1.0)
    assert 0.9 * capacity <= cap.max_rate_rps <= 1.1 * capacity, (cap.max_rate_rps, capacity)
    assert _served_over_offered(run(cap.max_rate_rps)) >= 0.97
    over = run(1.5 * capacity)
    assert over.overloaded and _served_over_offered(over) < 0.75


def test_capacity_search_refuses_runs_too_short_for_a_steady_state_test():
    def run(rate: float):
        return simulate_serving(ReplicaSpec(), lambda p, e, d, c: (0.5, 0.0),
                                Traffic(Poisson(rate), FixedLengths(1, 1), 20),
                                ServingPolicy(max_batch=1), seed=0)

    with pytest.raises(InputError, match="at least 100 requests"):
        find_max_rate(run, LOOSE)


SMALL = ["serve", "--model", "llama-3.2-1b", "--hw", "h100-sxm", "--requests", "200",
         "--prompt", "128", "--output", "16"]


def test_every_request_rejected_exits_2_with_one_line(capsys):
    assert main([*SMALL, "--prompt", "9000", "--max-tokens", "8192", "--json"]) == 2
    cap = capsys.readouterr()
    d = json.loads(cap.out)
    assert d["completed"] == 0 and d["rejected"] == 200
    assert d["warnings"] and "no request completed" in d["warnings"][0]
    err = cap.err.strip().splitlines()
    assert len(err) == 1 and "no request completed" in err[0]


def test_overload_is_reported_in_json_and_on_stderr(capsys):
    assert main([*SMALL, "--rate", "3000", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["overloaded"] is True and "exceeds capacity" in d["warnings"][0]
    assert main([*SMALL, "--rate", "3000"]) == 0
    assert "exceeds capacity" in capsys.readouterr().err
    assert main([*SMALL, "--rate", "2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["overloaded"] is False and d["warnings"] == []


@pytest.mark.parametrize("flag", [["--lifetime-years", "1e-300"], ["--usd-per-kwh", "1e300"],
                                  ["--rate", "1e-300"], ["--rate", "1e300"],
                                  ["--arrival", "gamma", "--cv", "1e-300"]])
def test_out_of_range_inputs_exit_2_with_one_line(capsys, flag):
    assert main([*SMALL, *flag]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]


def test_economics_bounds():
    with pytest.raises(InputError, match="lifetime_years"):
        Economics(lifetime_years=1e-300)
    with pytest.raises(InputError, match="utilization"):
        Economics(utilization=1e-9)
    Economics(lifetime_years=0.5, pue=1.4, utilization=0.3, usd_per_kwh=0.0)
