"""Measuring on a machine that stays busy: bounded cost, best-of-N, periodic re-probing."""

from __future__ import annotations

import io

import pytest

from infersim.foundation.progress import Progress
from infersim.validation import measure
from infersim.validation.kernels.cases import Case, Kernel
from infersim.validation.kernels.timing import Timing, TimingPolicy, time_calls


class _Bench:
    device = "cpu"

    def __init__(self, busy_until: int):
        self.busy_until = busy_until
        self.policies: list[TimingPolicy] = []

    def check(self, case):
        pass

    def time(self, case, policy):
        self.policies.append(policy)
        busy = len(self.policies) <= self.busy_until
        return Timing(1e-3, 1e-3, 1e-3, policy.repeats, 1, 0.5 if busy else 0.0, 0,
                      policy.repeats if busy else 0)


def _run(bench, n=20):
    cases = [Case(Kernel.COPY, "fp64", 1000 + i) for i in range(n)]
    pol = TimingPolicy()
    prog = Progress(1.0, steps=n, stream=io.StringIO(), enabled=False)
    measure.measure_kernels(bench, cases, pol, prog)
    return pol


def test_busy_machine_stops_backing_off_and_reprobes():
    bench = _Bench(busy_until=10**6)
    pol = _run(bench)
    full = [i for i, p in enumerate(bench.policies) if p == pol]
    # case 0 probes, finds the machine busy and is timed again the busy way; then 8 cases in
    # busy mode, then a re-probe (timed again too) ...
    assert full == [0, 10, 20]
    assert bench.policies[1] == measure.busy_policy(pol)
    busy = bench.policies[1]
    assert busy.backoff_s == 0.0 and busy.max_retries == measure.BUSY_EXTRA


def test_machine_going_quiet_returns_to_the_full_policy():
    bench = _Bench(busy_until=2)  # only the first case is contended (timed twice)
    pol = _run(bench)
    assert bench.policies[10] == pol and all(p == pol for p in bench.policies[10:])



def test_a_sample_is_a_time_box_when_calls_slow_down():
    # a fake clock: the warm-up and first sizing call take 1 µs, then every call takes 1 ms (the
    # kernel's threads now wait at a barrier); inner was sized to 2,000 calls for 2 ms.
    from infersim.validation.kernels.timing import SAMPLE_CAP, SIZING_CALLS

    now = [0]
    calls = [0]

    def fn():
        calls[0] += 1
        now[0] += 1_000 if calls[0] <= 3 else 1_000_000

    pol = TimingPolicy(warmup=2, repeats=3, target_sample_s=2e-3, max_retries=0)
    t = time_calls(fn, pol, clock=lambda: now[0])
    assert t.inner == 2000
    per_sample = (calls[0] - 2 - SIZING_CALLS) / 3  # after 2 warm-up and the sizing calls
    # stops at the first check past 16 ms (checks after 1, 3, 7, 15, 31 calls): 31 calls
    assert per_sample == 31 and 2 * SAMPLE_CAP * pol.target_sample_s > 31e-3
    assert t.median_s == 1e-3  # seconds per call of the calls actually made


class _SlowBench(_Bench):
    """Every case takes 1 s of a fake clock; the clock is shared with the budget."""

    def __init__(self, now):
        super().__init__(busy_until=0)
        self.now = now

    def time(self, case, policy):
        self.now[0] += 1.0 if policy.repeats > measure.LEAN.repeats else 0.5
        return super().time(case, policy)


def test_budget_goes_lean_then_skips_held_out_cases_never_fit_cases():
    from infersim.validation.kernels.cases import Role

    now = [0.0]
    bench = _SlowBench(now)
    cases = [Case(Kernel.COPY, "fp64", 1000 + i, role=Role.HOLDOUT if i % 3 == 1 else Role.FIT)
             for i in range(60)]
    budget = measure.Budget(20.0, clock=lambda: now[0])
    prog = Progress(1.0, steps=60, stream=io.StringIO(), enabled=False)
    rows = measure.measure_kernels(bench, cases, TimingPolicy(), prog, budget)
    measured = {r["n"] for r in rows}
    fit = {c.n for c in cases if c.role == Role.FIT}
    assert fit <= measured  # every fit case measured
    assert budget.lean_cases > 0 and budget.skipped  # it went lean, then skipped held-out ones
    assert len(measured) + len(budget.skipped) == 60
    # without a budget nothing changes
    now[0] = 0.0
    free = measure.Budget(None, clock=lambda: now[0])
    assert len(measure.measure_kernels(_SlowBench(now), cases, TimingPolicy(), prog, free)) == 60
    assert free.note() == ""
    assert "held-out" in budget.note()


def test_call_quantile_keeps_the_calls_nothing_interrupted():
    # every third call is interrupted for 1 ms (a worker thread descheduled); the others
    # take 2 µs: back-to-back timing reports the mean, the 0.2 quantile the clean call
    now = [0]
    n = [0]

    def fn():
        n[0] += 1
        now[0] += 1_000_000 if n[0] % 3 == 0 else 2_000

    base = TimingPolicy(warmup=1, repeats=3, target_sample_s=2e-4, max_retries=0)
    mean = time_calls(fn, base, clock=lambda: now[0])
    n[0] = 0
    q = time_calls(fn, measure.busy_policy(base), clock=lambda: now[0])
    assert q.median_s == pytest.approx(2e-6)
    assert mean.median_s > 100e-6


def test_a_call_longer_than_a_sample_is_sized_once():
    # every call takes 50 ms, a sample's target is 2 ms: one sizing call decides inner = 1
    now = [0]
    calls = [0]

    def fn():
        calls[0] += 1
        now[0] += 50_000_000

    pol = TimingPolicy(warmup=1, repeats=3, target_sample_s=2e-3, max_retries=0)
    t = time_calls(fn, pol, clock=lambda: now[0])
    assert t.inner == 1 and t.median_s == pytest.approx(0.05)
    assert calls[0] == 1 + 1 + 3  # warm-up, one sizing call, three one-call samples
