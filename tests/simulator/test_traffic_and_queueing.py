"""Arrival processes, CSV validation, determinism, and an M/D/1 queueing check."""

from __future__ import annotations

import numpy as np
import pytest

from infersim.foundation.errors import InputError
from infersim.simulator.serving import (
    ClosedLoop,
    FixedLengths,
    Gamma,
    LengthSamples,
    Poisson,
    ServingPolicy,
    TraceReplay,
    Traffic,
    read_trace_csv,
    simulate_serving,
)
from infersim.simulator.serving.serve import ReplicaSpec
from infersim.simulator.serving.traffic import generate


def test_poisson_mean_gap_and_gamma_cv():
    rng = np.random.default_rng(1)
    t = generate(Traffic(Poisson(20.0), FixedLengths(1, 1), 100_000), rng)
    gaps = np.diff(np.concatenate([[0.0], t.arrival_s]))
    assert gaps.mean() == pytest.approx(1 / 20.0, rel=0.02)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.03)  # exponential: CV 1
    g = generate(Traffic(Gamma(20.0, cv=3.0), FixedLengths(1, 1), 100_000), rng)
    gg = np.diff(np.concatenate([[0.0], g.arrival_s]))
    assert gg.mean() == pytest.approx(1 / 20.0, rel=0.03)
    assert gg.std() / gg.mean() == pytest.approx(3.0, rel=0.05)


def test_length_samples_draw_from_the_given_pairs():
    ls = LengthSamples((10, 20, 30), (1, 2, 3))
    t = generate(Traffic(Poisson(1.0), ls, 3000), np.random.default_rng(0))
    pairs = set(zip(t.prompt_tokens.tolist(), t.output_tokens.tolist(), strict=True))
    assert pairs == {(10, 1), (20, 2), (30, 3)}


def test_length_samples_without_replacement_use_each_pair_once():
    # 5 distinct pairs for 5 requests: without replacement every pair appears exactly once
    # (a benchmark replaying its fixed sample); with replacement 5 draws of 5 almost surely
    # repeat one (probability of none = 5!/5^5 = 3.8 %, and this seed repeats)
    p, o = (10, 20, 30, 40, 50), (1, 2, 3, 4, 5)
    t = generate(Traffic(ClosedLoop(users=5), LengthSamples(p, o, replace=False), 5),
                 np.random.default_rng(3))
    assert sorted(zip(t.prompt_tokens.tolist(), t.output_tokens.tolist(), strict=True)) == \
        list(zip(p, o, strict=True))
    w = generate(Traffic(ClosedLoop(users=5), LengthSamples(p, o), 5), np.random.default_rng(3))
    assert len(set(w.prompt_tokens.tolist())) < 5
    with pytest.raises(InputError, match=r"2 pairs for 3 requests.*replace=True"):
        Traffic(ClosedLoop(users=3), LengthSamples((1, 2), (1, 2), replace=False), 3)


def fake(prefill, emits, d, ctx):
    return (0.05 if prefill else 0.01), 1.0


def test_same_seed_same_metrics_different_seed_different():
    tr = Traffic(Poisson(5.0), FixedLengths(64, 16), 500)
    a = simulate_serving(ReplicaSpec(), fake, tr, seed=7).to_dict()
    b = simulate_serving(ReplicaSpec(), fake, tr, seed=7).to_dict()
    c = simulate_serving(ReplicaSpec(), fake, tr, seed=8).to_dict()
    assert a == b
    assert a["ttft_p99_s"] != c["ttft_p99_s"] and a["duration_s"] != c["duration_s"]


def test_md1_mean_wait_matches_theory():
    # One server, one request at a time (max_batch 1, output 1 → one 1.0 s step per request):
    # an M/D/1 queue with service S = 1 s and ρ = λS = 0.7.
    # Pollaczek-Khinchine for deterministic service: Wq = ρ / (2 μ (1 − ρ)) = 0.7/0.6 s.
    rho, service = 0.7, 1.0
    wq_theory = rho / (2 * (1 / service) * (1 - rho))
    r = simulate_serving(ReplicaSpec(), lambda p, e, d, c: (service, 0.0),
                         Traffic(Poisson(rho / service), FixedLengths(1, 1), 200_000),
                         ServingPolicy(max_batch=1), seed=0)
    assert r.queue_delay["mean"] == pytest.approx(wq_theory, rel=0.03)
    assert r.utilization == pytest.approx(rho, rel=0.02)


def write(tmp_path, text):
    p = tmp_path / "t.csv"
    p.write_text(text)
    return p


def test_csv_replay_reads_rows(tmp_path):
    p = write(tmp_path, "arrival_s,prompt_tokens,output_tokens,extra\n0,5,2,x\n1.5,7,3,y\n")
    t = read_trace_csv(p)
    assert t.arrival_s.tolist() == [0.0, 1.5]
    assert t.prompt_tokens.tolist() == [5, 7] and t.output_tokens.tolist() == [2, 3]
    cut = generate(Traffic(TraceReplay(str(p)), None, 1), np.random.default_rng(0))
    assert len(cut) == 1


@pytest.mark.parametrize(("text", "needle"), [
    ("arrival_s,prompt_tokens,output_tokens\n0,5,2\n1,abc,2\n", ":3: column 'prompt_tokens'"),
    ("arrival_s,prompt_tokens,output_tokens\n0,5,2\n0.5,5,0\n", ":3: column 'output_tokens'"),
    ("arrival_s,prompt_tokens,output_tokens\n-1,5,2\n", ":2: column 'arrival_s'"),
    ("arrival_s,prompt_tokens,output_tokens\n2,5,2\n1,5,2\n", ":3: column 'arrival_s'"),
    ("arrival_s,prompt_tokens,output_tokens\n0,5\n", ":2: expected 3 columns"),
    ("arrival,prompt_tokens,output_tokens\n0,5,2\n", ":1: missing column(s) arrival_s"),
    ("", "empty file"),
    ("arrival_s,prompt_tokens,output_tokens\n", "no data rows"),
])
def test_csv_errors_name_line_and_column(tmp_path, text, needle):
    p = write(tmp_path, text)
    with pytest.raises(InputError) as e:
        read_trace_csv(p)
    assert needle in str(e.value) and str(p) in str(e.value)


def test_missing_trace_file_and_bad_traffic():
    with pytest.raises(InputError, match="no such trace file"):
        read_trace_csv("/nonexistent/trace.csv")
    with pytest.raises(InputError, match="rate_rps"):
        Traffic(Poisson(0.0), FixedLengths(1, 1))
    with pytest.raises(InputError, match="lengths"):
        Traffic(Poisson(1.0))
    with pytest.raises(InputError, match="users"):
        Traffic(ClosedLoop(0), FixedLengths(1, 1))
    with pytest.raises(InputError, match="max_batch"):
        ServingPolicy(max_batch=0)
    with pytest.raises(InputError, match="unknown value"):
        ServingPolicy(kind="bogus")  # type: ignore[arg-type]
