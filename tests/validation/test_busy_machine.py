"""Measuring on a machine that stays busy: bounded cost, best-of-N, periodic re-probing."""

from __future__ import annotations

import io

from infersim.foundation.progress import Progress
from infersim.validation import measure
from infersim.validation.kernels.cases import Case, Kernel
from infersim.validation.kernels.timing import Timing, TimingPolicy


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
    # case 0 probes, finds the machine busy; then 8 cases in busy mode, then a re-probe ...
    assert full == [0, 9, 18]
    busy = bench.policies[1]
    assert busy.backoff_s == 0.0 and busy.max_retries == measure.BUSY_EXTRA


def test_machine_going_quiet_returns_to_the_full_policy():
    bench = _Bench(busy_until=1)  # only the first case is contended
    pol = _run(bench)
    assert bench.policies[9] == pol and all(p == pol for p in bench.policies[9:])

