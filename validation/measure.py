"""Run a measurement plan and keep the results as a table (and as a measurement file).

A measurement file is a CSV with `# key: value` header lines (device, host, versions, date,
profile) followed by one row per measured case; `read_measurements` returns both parts.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from infersim.foundation.progress import Progress
from infersim.validation.kernels.cases import Case, Kernel
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


def busy_policy(policy: TimingPolicy) -> TimingPolicy:
    """The policy for a machine that stays busy: no back-off, a few extra samples."""
    return replace(policy, max_retries=min(policy.max_retries, BUSY_EXTRA), backoff_s=0.0)


def measure_kernels(bench: Bench, cases: Sequence[Case], policy: TimingPolicy,
                    progress: Progress) -> list[dict[str, Any]]:
    """Check then time every case, in order; one progress line per case. Adapts to a machine
    that stays busy (see BUSY_EXTRA), so its cost is bounded by the kernels' own time."""
    rows = []
    busy = False
    since_probe = 0
    for case in cases:
        progress.step(f"{bench.device} {case.label}", case_weight(case))
        bench.check(case)
        probe = not busy or since_probe >= REPROBE_EVERY
        t = bench.time(case, policy if probe else busy_policy(policy))
        if probe:
            busy, since_probe = t.contended > 0, 0
        else:
            since_probe += 1
        rows.append(_row(bench.device, case, t))
    return rows


def transformer_weight(tc: TransformerCase) -> float:
    return 4.0 + (tc.tokens / 16.0 if tc.phase == "prefill" else 2.0)


def measure_transformer(cases: Sequence[TransformerCase], profile: Profile, threads: int,
                        progress: Progress, seed: int = 0) -> list[dict[str, Any]]:
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
    for tc in cases:
        progress.step(f"transformer {tc.label}", transformer_weight(tc))
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

