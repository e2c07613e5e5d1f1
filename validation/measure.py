"""Run a measurement plan and keep the results as a table (and as a measurement file).

A measurement file is a CSV with `# key: value` header lines (device, host, versions, date,
profile) followed by one row per measured case; `read_measurements` returns both parts.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from infersim.foundation.progress import Progress
from infersim.validation.kernels.cases import Case, Kernel, Role
from infersim.validation.kernels.timing import Timing, TimingPolicy
from infersim.validation.plan import Profile, TransformerCase

FORMAT = "infersim-measurements v1"

COLUMNS = ("device", "kernel", "dtype", "role", "n", "m", "k", "phase", "tokens",
           "working_set_bytes", "bytes", "read_bytes", "write_bytes", "weight_bytes",
           "kv_bytes", "flops", "median_s",
           "p10_s", "p90_s", "repeats", "inner", "stall", "rejected", "contended")


class Bench(Protocol):
    """A device that can check and time kernel cases (CpuBench, CudaBench)."""

    device: str

    def check(self, case: Case) -> None: ...

    def time(self, case: Case, policy: TimingPolicy) -> Timing: ...


def case_weight(case: Case) -> float:
    """Rough relative cost of measuring a case, for the ETA."""
    if case.kernel in (Kernel.GEMM, Kernel.ATTENTION):
        return 1.0 + case.flops / 2e9
    return 1.0 + case.bytes / 32e6


def _row(device: str, case: Case, t: Timing) -> dict[str, Any]:
    return {"device": device, "kernel": case.kernel.value, "dtype": case.dtype,
            "role": case.role.value, "n": case.n, "m": case.m, "k": case.k, "phase": "",
            "tokens": 0, "working_set_bytes": case.bytes, "bytes": case.bytes,
            "read_bytes": case.read_bytes, "write_bytes": case.write_bytes,
            "weight_bytes": case.weight_bytes, "kv_bytes": case.kv_bytes, "flops": case.flops,
            "median_s": t.median_s, "p10_s": t.p10_s, "p90_s": t.p90_s, "repeats": t.repeats,
            "inner": t.inner, "stall": t.stall, "rejected": t.rejected,
            "contended": t.contended}


# On a machine that stays busy, waiting for a quiet moment does not work: after a case whose
# retries all stayed contended, the next cases take BUSY_EXTRA samples beyond `repeats` back to
# back and keep the fastest (best of N: interference only slows a sample). Every
# REPROBE_EVERY-th case is timed with the full policy again, to notice the machine going quiet.
BUSY_EXTRA = 2
REPROBE_EVERY = 8
# ... and time each call alone, keeping the fastest fifth (timing.TimingPolicy.call_quantile)
BUSY_CALL_QUANTILE = 0.2


def busy_policy(policy: TimingPolicy) -> TimingPolicy:
    """The policy for a machine that stays busy: no back-off, a few extra samples."""
    return replace(policy, max_retries=min(policy.max_retries, BUSY_EXTRA), backoff_s=0.0,
                   call_quantile=BUSY_CALL_QUANTILE)


# When the projected end of a measurement passes its time budget, the remaining cases are
# timed with LEAN (fewer, shorter samples; best of N); if even that projects past the budget,
# held-out cases (grading only, never fitted) are skipped. Fit cases are always measured.
LEAN = TimingPolicy(warmup=1, repeats=3, target_sample_s=5e-4, max_retries=1, backoff_s=0.0,
                    call_quantile=0.2)


@dataclass
class Budget:
    """A wall-clock budget for measuring (None: unlimited) and what it cost the plan."""

    seconds: float | None = None
    clock: Any = None  # a monotonic clock (seconds); time.monotonic when None
    start: float | None = None  # when the budget started (default: the first measurement)
    lean: bool = False  # the kernels fell behind and went lean (the transformer follows)
    start_busy: bool = False  # the machine was busy before measuring (timing.cpu_busy)
    lean_cases: int = 0
    skipped: list[str] = field(default_factory=list)

    def now(self) -> float:
        import time

        return (self.clock or time.monotonic)()

    def begin(self) -> float:
        if self.start is None:
            self.start = self.now()
        return self.start

    def spent(self) -> bool:
        return self.seconds is not None and self.now() - self.begin() > self.seconds

    def meta(self) -> dict[str, str]:
        """The budget and what it changed, as measurement-file header fields."""
        return {"budget_s": "none" if self.seconds is None else f"{self.seconds:g}",
                "lean_cases": str(self.lean_cases), "skipped_cases": str(len(self.skipped))}

    def note(self) -> str:
        """One line on what the budget changed ('' when nothing)."""
        if not self.lean_cases and not self.skipped:
            return ""
        return (f"to stay within the {self.seconds:g} s time budget (--budget), "
                f"{self.lean_cases} case(s) were timed with fewer, shorter samples and "
                f"{len(self.skipped)} held-out or validation case(s) were skipped")


def measure_kernels(bench: Bench, cases: Sequence[Case], policy: TimingPolicy,
                    progress: Progress, budget: Budget | None = None) -> list[dict[str, Any]]:
    """Check then time every case, in order; one progress line per case. Adapts to a machine
    that stays busy (see BUSY_EXTRA) and to a time budget (see LEAN), so its cost is bounded
    by the kernels' own time."""
    budget = budget if budget is not None else Budget()
    rows = []
    busy = budget.start_busy
    since_probe = 0
    t0 = budget.begin()
    left = sum(case_weight(c) for c in cases)
    lean = skip = False
    mark_t, mark_w = t0, 0.0  # pace is measured since the last change of mode
    done_w = 0.0
    for case in cases:
        w = case_weight(case)
        progress.step(f"{bench.device} {case.label}", w)
        now = budget.now()
        if budget.seconds is not None and done_w - mark_w > 0:
            pace = (now - mark_t) / (done_w - mark_w)
            late = now - t0 + pace * left > budget.seconds
            if late and not lean:
                lean, mark_t, mark_w = True, now, done_w
                budget.lean = True
            elif (late and lean and not skip and done_w - mark_w >= 3.0
                  and now - t0 > budget.seconds / 2):  # early paces include JIT compiles
                skip = True
        left -= w
        if skip and case.role == Role.HOLDOUT:
            budget.skipped.append(case.label)
            continue
        bench.check(case)
        base = LEAN if lean else policy
        probe = not busy or since_probe >= REPROBE_EVERY
        t = bench.time(case, base if probe else busy_policy(base))
        budget.lean_cases += int(lean)
        if probe:
            busy, since_probe = t.contended > 0, 0
            if busy:  # timed again the busy way: its own samples describe the other jobs
                t = bench.time(case, busy_policy(base))
        else:
            since_probe += 1
        done_w += w
        rows.append(_row(bench.device, case, t))
    return rows


def transformer_weight(tc: TransformerCase) -> float:
    return 4.0 + (tc.tokens / 16.0 if tc.phase == "prefill" else 2.0)


def measure_transformer(cases: Sequence[TransformerCase], profile: Profile, threads: int,
                        progress: Progress, seed: int = 0, budget: Budget | None = None
                        ) -> list[dict[str, Any]]:
    """Time prefill/decode steps of the small transformer (validation rows, never fitted)."""
    if not cases:
        return []
    from infersim.validation.transformer import SMALL_LLAMA, SmallLlama, init_weights, time_step

    w = init_weights(SMALL_LLAMA, seed)
    need = max(tc.tokens for tc in cases if tc.phase == "prefill") if any(
        tc.phase == "prefill" for tc in cases) else 1
    model = SmallLlama(SMALL_LLAMA, w, threads, max_tokens=max(need, 1))
    policy = TimingPolicy(warmup=2, repeats=profile.transformer_repeats, target_sample_s=2e-3,
                          max_retries=profile.policy.max_retries,
                          backoff_s=profile.policy.backoff_s)
    rows = []
    budget = budget if budget is not None else Budget()
    for i, tc in enumerate(cases):
        progress.step(f"transformer {tc.label}", transformer_weight(tc))
        if budget.spent() and i > 0:  # validation rows: the first is kept, the rest may go
            budget.skipped.append(f"transformer {tc.label}")
            continue
        if budget.lean or budget.spent():  # behind schedule: fewer samples, no back-off
            policy = replace(policy, warmup=1, repeats=LEAN.repeats, max_retries=1,
                             backoff_s=0.0)
            budget.lean_cases += 1
        t = time_step(model, tc.phase, tc.tokens, policy, seed)
        rows.append({"device": "cpu", "kernel": "llm_" + tc.phase, "dtype": "fp32",
                     "role": "validate", "n": 0, "m": 0, "k": 0, "phase": tc.phase,
                     "tokens": tc.tokens, "working_set_bytes": float(w.nbytes), "bytes": 0.0,
                     "read_bytes": 0.0, "write_bytes": 0.0, "weight_bytes": 0.0,
                     "kv_bytes": 0.0, "flops": 0.0,
                     "median_s": t.median_s, "p10_s": t.p10_s, "p90_s": t.p90_s,
                     "repeats": t.repeats, "inner": t.inner, "stall": t.stall,
                     "rejected": t.rejected, "contended": t.contended})
    return rows


def to_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(COLUMNS))


def measurement_text(df: pd.DataFrame, meta: Mapping[str, Any]) -> str:
    """The measurement file: `# key: value` lines, then the CSV."""
    head = [f"# {FORMAT}"] + [f"# {k}: {str(v).replace(chr(10), ' ')}" for k, v in meta.items()]
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format="%.9g")
    return "\n".join(head) + "\n" + buf.getvalue()


@dataclass(frozen=True)
class Measurements:
    path: Path
    meta: Mapping[str, str]
    frame: pd.DataFrame


def read_measurements(path: str | Path) -> Measurements:
    """Parse a measurement file written by `measurement_text`."""
    p = Path(path)
    meta: dict[str, str] = {}
    body: list[str] = []
    with p.open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#") and not body:
                key, sep, val = line[1:].strip().partition(":")
                if sep:
                    meta[key.strip()] = val.strip()
            else:
                body.append(line)
    df = pd.read_csv(io.StringIO("".join(body)), keep_default_na=False,
                     na_values={"stall": ["nan", "NaN", ""]})
    for c in ("phase",):
        if c in df:
            df[c] = df[c].astype(str).replace("nan", "")
    return Measurements(p, meta, df)


def contention_summary(df: pd.DataFrame) -> str:
    """One line on how many cases kept contended samples after the retries ('' when none)."""
    bad = df[df.contended > 0]
    if bad.empty:
        return ""
    return (f"warning: {len(bad)} of {len(df)} cases kept samples taken while other processes "
            "competed for the CPU (after retries); rerun on an idle machine for reliable "
            "numbers")

