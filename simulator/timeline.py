"""Operator-level discrete-event timeline of one model step: `simulate_timeline` runs the
kernel streams of a mapped step on per-stage lanes with the engine of `mapper.streams`
(whose docstring says what it models: lanes, chains, micro-batches, pipelining, eager host
gaps) and keeps every span, to draw as a Gantt chart or a Chrome trace.

Determinism: simpy orders events by (time, priority, insertion id); no randomness here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infersim.foundation.errors import InputError
from infersim.hwmodels.cost import Runtime
from infersim.mapper.streams import LANE_TID, Kernel, Lane, Span, expand, run_kernels

if TYPE_CHECKING:
    import pandas as pd

    from infersim.mapper.schedule import Schedule


@dataclass(frozen=True)
class Timeline:
    """Result of `simulate_timeline`: every busy interval of every lane, and the makespan."""

    spans: tuple[Span, ...]
    makespan_s: float
    stages: int
    chips_per_stage: int
    micro_batches: int
    host_launch_s: float

    def to_frame(self) -> pd.DataFrame:
        """One row per span: op, kind, resource, stage, chip, micro_batch, layer, start_s, end_s."""
        import pandas as pd

        cols = ["op", "kind", "resource", "stage", "chip", "micro_batch", "layer", "start_s",
                "end_s"]
        return pd.DataFrame(
            [(s.op, s.kind, s.lane.value, s.stage, s.chip, s.micro_batch, s.layer, s.start_s,
              s.end_s) for s in self.spans], columns=cols)

    def busy_s(self, lane: Lane | str, stage: int = 0) -> float:
        """Total busy time of one lane of one stage."""
        ln = Lane(lane)
        return sum(s.end_s - s.start_s for s in self.spans if s.lane == ln and s.stage == stage)

    def chrome_trace(self) -> dict[str, Any]:
        """The timeline as a Chrome trace object (`{"traceEvents": [...]}`, µs, Perfetto-ready).

        pid = first chip of the stage's TP group, tid = lane; complete events (`ph: "X"`)."""
        events: list[dict[str, Any]] = []
        for st in range(self.stages):
            pid = st * self.chips_per_stage
            last = pid + self.chips_per_stage - 1
            chips = f"chip {pid}" if last == pid else f"chips {pid}-{last}"
            events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
                           "args": {"name": f"stage {st} ({chips})"}})
            for lane, tid in LANE_TID.items():
                events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                               "args": {"name": lane.value}})
        for s in self.spans:
            events.append({"name": s.op, "cat": s.kind, "ph": "X", "ts": s.start_s * 1e6,
                           "dur": (s.end_s - s.start_s) * 1e6, "pid": s.chip,
                           "tid": LANE_TID[s.lane],
                           "args": {"micro_batch": s.micro_batch, "layer": s.layer}})
        return {"traceEvents": events, "displayTimeUnit": "ns"}

    def to_chrome_trace(self, path: str | Path) -> None:
        """Write the Chrome trace JSON atomically (open it at https://ui.perfetto.dev)."""
        from infersim.foundation.io import atomic_write_text

        atomic_write_text(path, json.dumps(self.chrome_trace()))

    def plot(self, path: str | Path, *, title: str = "") -> None:
        """Gantt chart, one row per (stage, lane), colored by op kind; written atomically
        (matplotlib object API: no pyplot state, no backend switch)."""
        import io

        from matplotlib import colormaps
        from matplotlib.figure import Figure

        from infersim.foundation.io import atomic_write_bytes

        rows = sorted({(s.stage, LANE_TID[s.lane]) for s in self.spans})
        index = {r: i for i, r in enumerate(rows)}
        kinds = sorted({s.kind for s in self.spans})
        cmap = colormaps["tab10"]
        color = {k: cmap(i % 10) for i, k in enumerate(kinds)}
        fig = Figure(figsize=(12, 0.45 * len(rows) + 1.5))
        ax = fig.add_subplot(111)
        by_row: dict[tuple[tuple[int, int], str], list[tuple[float, float]]] = {}
        for s in self.spans:
            key = ((s.stage, LANE_TID[s.lane]), s.kind)
            by_row.setdefault(key, []).append((s.start_s * 1e3, (s.end_s - s.start_s) * 1e3))
        for (row, kind), bars in by_row.items():
            ax.broken_barh(bars, (index[row] - 0.4, 0.8), color=color[kind], label=kind)
        lane_name = {v: k.value for k, v in LANE_TID.items()}
        ax.set_yticks(range(len(rows)), [f"stage {st} {lane_name[t]}" for st, t in rows])
        ax.invert_yaxis()
        ax.set_xlabel("time (ms)")
        handles, labels = ax.get_legend_handles_labels()
        uniq = dict(zip(labels, handles, strict=True))
        ax.legend(uniq.values(), uniq.keys(), loc="upper right", fontsize="small")
        ax.set_title(title or f"timeline: makespan {self.makespan_s * 1e3:.3f} ms")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", dpi=120)
        atomic_write_bytes(path, buf.getvalue())


def default_host_launch_s(schedule: Schedule) -> float:
    """Host cost per kernel launch, as the mapper laid it (the software stack's: the chip's
    `host_launch_s` under eager or an engine without CUDA graphs, else 0)."""
    n = schedule.kernels
    if schedule.host_s > 0.0 and n:
        return schedule.host_s / n
    if schedule.runtime != Runtime.EAGER:
        return 0.0
    return float(getattr(schedule.hardware.chip.params, "host_launch_s", 0.0) or 0.0)


def simulate_timeline(
    schedule: Schedule,
    *,
    micro_batches: int | None = None,
    host_launch_s: float | None = None,
) -> Timeline:
    """Simulate one step of `schedule` as an op-level timeline of `micro_batches` copies of
    its work. A schedule mapped with one micro-batch (`Scenario.micro_batches` 1) is the work
    of one copy, run `micro_batches` times (default 1); one mapped with m micro-batches is m
    copies of 1/m of its ops, which this replays (`micro_batches` None or m).

    Host cost per launch: `host_launch_s` if given, else the mapper's per-op `host_s` (split
    over the op's kernels), else the chip's `host_launch_s` under `eager` (0 otherwise). The
    schedule's per-step host synchronization (`step_overhead_s`) runs once at the end; the
    serving CPU work beside the GPU (`frontend_floor_s`) is a host span from t = 0."""
    if micro_batches is not None and (not isinstance(micro_batches, int) or micro_batches < 1):
        raise InputError(f"micro_batches must be a positive integer, got {micro_batches!r}")
    mapped_mbs = schedule.trace.scenario.micro_batches
    if micro_batches is None:
        micro_batches = mapped_mbs
    if mapped_mbs > 1:
        if micro_batches != mapped_mbs:
            raise InputError(f"micro_batches={micro_batches}: the schedule was mapped with "
                             f"{mapped_mbs} micro-batches; omit micro_batches to replay them")
        schedule = replace(schedule, ops=tuple(
            replace(mo, op=mo.op.with_count(mo.op.count // mapped_mbs)) for mo in schedule.ops))
    if host_launch_s is not None and host_launch_s < 0:
        raise InputError(f"host_launch_s must be ≥ 0, got {host_launch_s}")
    par = schedule.trace.scenario.parallel
    default = default_host_launch_s(schedule) if host_launch_s is None else host_launch_s
    kernels = [k if k.host_s >= 0 else replace(k, host_s=default)
               for k in expand(schedule, par.pp, host_launch_s)]
    spans, makespan = run_kernels(
        kernels, stages=par.pp, chips_per_stage=par.tp, micro_batches=micro_batches,
        step_overhead_s=float(getattr(schedule, "step_overhead_s", 0.0)),
        frontend_s=float(getattr(schedule, "frontend_floor_s", 0.0)))
    return Timeline(spans, makespan, par.pp, par.tp, micro_batches, default)


__all__ = ["Kernel", "Lane", "Span", "Timeline", "default_host_launch_s", "expand",
           "simulate_timeline"]
