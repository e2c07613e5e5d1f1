"""Operator-level discrete-event timeline of one model step (simpy).

What it models
- Each pipeline stage (a tensor-parallel group of chips running in lockstep) owns three
  simpy `PriorityResource`s of capacity 1: its COMPUTE engine, its MEMORY channel and its
  LINK (interconnect port). Under the `eager` runtime each stage also has a HOST launcher.
- A kernel holds the lanes it uses for its whole duration (`OpCost.time_s` of one execution):
  collectives (and the pipeline send/recv) hold only the LINK, so they can overlap with
  independent compute; every other op holds COMPUTE (if it has FLOPs or no bytes) and MEMORY
  (if it moves bytes). Lanes are always acquired in the same order, so there is no deadlock.
- Dependencies: the ops of one micro-batch form a single chain (one stream): op i starts after
  op i-1 ends. Different micro-batches are independent and only contend for lanes; the earlier
  micro-batch wins a tie (priority = micro-batch index). With one micro-batch nothing overlaps.
- Pipelining: with `pp` stages the repeated layer block is split evenly over the stages
  (repetition r of L goes to stage r·pp // L); ops before the layers run on stage 0 and ops
  after them on the last stage; one execution of the trace's `send_recv` collective (if any) is
  inserted on the sending stage's LINK at every stage boundary. A token (micro-batch) flows
  through the stages: latency is the sum of the stage times, throughput is set by the slowest.
- Eager host gaps: a host process per stage launches the kernels of that stage in program
  order (micro-batch by micro-batch), each launch costing `host_launch_s` of host time; a kernel
  starts when the host has launched it AND its chain predecessor is done AND its lanes are free,
  so short kernels become host-bound. Ops sharing a non-empty `fusion_group` are one kernel
  (one launch). Launches are asynchronous (no launch-queue depth limit).
- The schedule passed in is the work of ONE micro-batch; `micro_batches=m` runs m copies.

Assumption to know: kernel durations are the cost model's per-execution `time_s`; if a cost
model already folds host launch time into an eager op's time, pass `host_launch_s=0`.
Determinism: simpy orders events by (time, priority, insertion id); no randomness here.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import simpy

from infersim.foundation.errors import InputError
from infersim.hwmodels.cost import Runtime
from infersim.workloads.ops import Collective, CollectiveShape, OpKind

if TYPE_CHECKING:
    import pandas as pd

    from infersim.mapper.schedule import MappedOp, Schedule


class Lane(StrEnum):
    """A resource of one pipeline stage (one row of the Gantt chart / Chrome-trace thread)."""

    HOST = "host"
    COMPUTE = "compute"
    MEMORY = "memory"
    LINK = "link"


_LANE_ORDER = (Lane.COMPUTE, Lane.MEMORY, Lane.LINK)  # acquisition order (deadlock-free)
_TID = {Lane.HOST: 0, Lane.COMPUTE: 1, Lane.MEMORY: 2, Lane.LINK: 3}


@dataclass(frozen=True, slots=True)
class Span:
    """One lane busy with one kernel (or one host launch) from start_s to end_s."""

    op: str
    kind: str
    lane: Lane
    stage: int
    chip: int  # first chip of the stage's tensor-parallel group (Chrome-trace pid)
    micro_batch: int
    layer: int  # repetition index of the op's block (-1 for ops outside repeated blocks)
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class Kernel:
    """One kernel of the expanded program (one execution of an op) on one stage."""

    name: str
    kind: str
    stage: int
    layer: int
    duration_s: float
    lanes: tuple[Lane, ...]
    host_s: float = -1.0  # host time to launch it (0: rides the previous launch; <0: default)


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
            for lane, tid in _TID.items():
                events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                               "args": {"name": lane.value}})
        for s in self.spans:
            events.append({"name": s.op, "cat": s.kind, "ph": "X", "ts": s.start_s * 1e6,
                           "dur": (s.end_s - s.start_s) * 1e6, "pid": s.chip,
                           "tid": _TID[s.lane],
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

        rows = sorted({(s.stage, _TID[s.lane]) for s in self.spans})
        index = {r: i for i, r in enumerate(rows)}
        kinds = sorted({s.kind for s in self.spans})
        cmap = colormaps["tab10"]
        color = {k: cmap(i % 10) for i, k in enumerate(kinds)}
        fig = Figure(figsize=(12, 0.45 * len(rows) + 1.5))
        ax = fig.add_subplot(111)
        by_row: dict[tuple[tuple[int, int], str], list[tuple[float, float]]] = {}
        for s in self.spans:
            key = ((s.stage, _TID[s.lane]), s.kind)
            by_row.setdefault(key, []).append((s.start_s * 1e3, (s.end_s - s.start_s) * 1e3))
        for (row, kind), bars in by_row.items():
            ax.broken_barh(bars, (index[row] - 0.4, 0.8), color=color[kind], label=kind)
        lane_name = {v: k.value for k, v in _TID.items()}
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


def _lanes(mo: MappedOp) -> tuple[Lane, ...]:
    if mo.op.kind == OpKind.COLLECTIVE:
        return (Lane.LINK,)
    c = mo.cost
    lanes = []
    if c.compute_s > 0 or c.memory_s <= 0:
        lanes.append(Lane.COMPUTE)
    if c.memory_s > 0:
        lanes.append(Lane.MEMORY)
    return tuple(lanes)


def _is_send_recv(mo: MappedOp) -> bool:
    s = mo.op.shape
    return isinstance(s, CollectiveShape) and s.collective == Collective.SEND_RECV


def _runs(ops: list[MappedOp]) -> list[tuple[list[MappedOp], int]]:
    """Consecutive ops of one block, with the repetition count r = gcd of their counts: the
    block runs r times, each op count/r times per repetition (e.g. the decoder layers)."""
    runs: list[list[MappedOp]] = []
    for mo in ops:
        if runs and runs[-1][0].op.block == mo.op.block:
            runs[-1].append(mo)
        else:
            runs.append([mo])
    out = []
    for run in runs:
        r = 0
        for mo in run:
            r = math.gcd(r, mo.op.count)
        out.append((run, max(r, 1)))
    return out


def _kernels_of(mo: MappedOp, stage: int, layer: int, host_s: float | None,
                group: list[str]) -> list[Kernel]:
    """The kernels of one execution of a mapped op. Fused members after the first carry no
    kernel (`kernels == 0`); an op the mapper split into several kernels launches each."""
    if mo.kernels == 0:
        return []
    times = mo.kernel_times_s or (mo.cost.time_s,)
    # host per kernel: explicit, else the mapper's per-op host time, else -1 (the default)
    each = host_s if host_s is not None else (mo.host_s / len(times) if mo.host_s > 0 else -1.0)
    fused = bool(mo.fusion_group) and mo.fusion_group == group[0]
    group[0] = mo.fusion_group
    lanes = _lanes(mo)
    return [Kernel(mo.op.name, mo.op.kind.value, stage, layer, t, lanes,
                   host_s=0.0 if (fused and i == 0) else each)
            for i, t in enumerate(times)]


def expand(schedule: Schedule, stages: int | None = None,
           host_launch_s: float | None = None) -> list[Kernel]:
    """The program of one micro-batch: every kernel of every op execution, in order.

    If the mapper assigned stages (`MappedOp.stage`, one MappedOp per op and stage), each
    stage's ops run in order, its pipeline send (block "pp") last. Otherwise the repeated
    layer block is split evenly over the stages here (ops before it on the first stage, after
    it on the last) and one send_recv execution is inserted at every stage boundary."""
    pp = stages or schedule.trace.scenario.parallel.pp
    out: list[Kernel] = []
    group = [""]
    if pp > 1 and any(mo.stage for mo in schedule.ops):
        for st in range(pp):
            mine = [mo for mo in schedule.ops if mo.stage == st]
            body = [mo for mo in mine if not _is_send_recv(mo)]
            for run, r in _runs(body):
                for rep in range(r):
                    for mo in run:
                        for _ in range(mo.op.count // r):
                            out += _kernels_of(mo, st, rep if r > 1 else -1, host_launch_s,
                                               group)
            for mo in mine:
                if _is_send_recv(mo):
                    for _ in range(mo.op.count):
                        out += _kernels_of(mo, st, -1, host_launch_s, group)
        return out
    ops = [mo for mo in schedule.ops if not _is_send_recv(mo)]
    send = next((mo for mo in schedule.ops if _is_send_recv(mo)), None)
    runs = _runs(ops)
    layer_run = max(range(len(runs)), key=lambda i: runs[i][1]) if runs else -1
    prev_stage = 0
    for i, (run, r) in enumerate(runs):
        for rep in range(r):
            # layers split evenly over stages; ops before them on stage 0, after on the last
            stage = rep * pp // r if i == layer_run else (0 if i < layer_run else pp - 1)
            if stage != prev_stage and send is not None:
                out += _kernels_of(send, prev_stage, -1, host_launch_s, group)
            prev_stage = stage
            for mo in run:
                for _ in range(mo.op.count // r):
                    out += _kernels_of(mo, stage, rep if r > 1 else -1, host_launch_s, group)
    return out


def simulate_timeline(
    schedule: Schedule,
    *,
    micro_batches: int = 1,
    host_launch_s: float | None = None,
) -> Timeline:
    """Simulate one step of `schedule` (the work of ONE micro-batch) as an op-level timeline.

    Host cost per launch: `host_launch_s` if given, else the mapper's per-op `host_s` (split
    over the op's kernels), else the chip's `host_launch_s` under `eager` (0 otherwise). The
    schedule's per-step host synchronization (`step_overhead_s`) runs once at the end; the
    serving CPU work beside the GPU (`frontend_floor_s`) is a host span from t = 0."""
    if not isinstance(micro_batches, int) or micro_batches < 1:
        raise InputError(f"micro_batches must be a positive integer, got {micro_batches!r}")
    if host_launch_s is not None and host_launch_s < 0:
        raise InputError(f"host_launch_s must be ≥ 0, got {host_launch_s}")
    par = schedule.trace.scenario.parallel
    default = default_host_launch_s(schedule) if host_launch_s is None else host_launch_s
    kernels = [k if k.host_s >= 0 else replace(k, host_s=default)
               for k in expand(schedule, par.pp, host_launch_s)]
    return run_kernels(kernels, stages=par.pp, chips_per_stage=par.tp,
                       micro_batches=micro_batches, host_launch_s=default,
                       step_overhead_s=float(getattr(schedule, "step_overhead_s", 0.0)),
                       frontend_s=float(getattr(schedule, "frontend_floor_s", 0.0)))


def run_kernels(
    kernels: list[Kernel],
    *,
    stages: int = 1,
    chips_per_stage: int = 1,
    micro_batches: int = 1,
    host_launch_s: float = 0.0,
    step_overhead_s: float = 0.0,
    frontend_s: float = 0.0,
) -> Timeline:
    """The DES core: run `micro_batches` copies of the kernel chain on per-stage lanes.

    Each kernel's host launch costs `Kernel.host_s` (0: launched together with the previous
    one); `host_launch_s` is only recorded in the result. `step_overhead_s` (per-step host
    synchronization) is a final host span after all device work; `frontend_s` (a serving
    front-end's work for this step, in its own process) a host span from t = 0 beside it."""
    env = simpy.Environment()
    lanes = {(st, ln): simpy.PriorityResource(env, capacity=1)
             for st in range(stages) for ln in _LANE_ORDER}
    spans: list[Span] = []
    # launch[mb][i] fires when the host has launched kernel i of micro-batch mb (eager only)
    launch = ([[env.event() for _ in kernels] for _ in range(micro_batches)]
              if any(k.host_s > 0 for k in kernels) else None)

    def host(stage: int):  # type: ignore[no-untyped-def]
        assert launch is not None
        for mb in range(micro_batches):
            for i, k in enumerate(kernels):
                if k.stage != stage:
                    continue
                if k.host_s > 0:
                    start = env.now
                    yield env.timeout(k.host_s)
                    spans.append(Span(k.name, k.kind, Lane.HOST, stage, stage * chips_per_stage,
                                      mb, k.layer, start, env.now))
                launch[mb][i].succeed()

    def device(mb: int):  # type: ignore[no-untyped-def]
        for i, k in enumerate(kernels):
            if launch is not None:
                yield launch[mb][i]
            reqs = []
            for ln in k.lanes:
                req = lanes[(k.stage, ln)].request(priority=mb)
                yield req
                reqs.append((ln, req))
            start = env.now
            yield env.timeout(k.duration_s)
            for ln, req in reqs:
                lanes[(k.stage, ln)].release(req)
                spans.append(Span(k.name, k.kind, ln, k.stage, k.stage * chips_per_stage, mb,
                                  k.layer, start, env.now))

    if launch is not None:
        for st in range(stages):
            env.process(host(st))
    devices = [env.process(device(mb)) for mb in range(micro_batches)]

    def sync():  # type: ignore[no-untyped-def]
        yield env.all_of(devices)
        start = env.now
        yield env.timeout(step_overhead_s)
        spans.append(Span("step_sync", "host", Lane.HOST, stages - 1,
                          (stages - 1) * chips_per_stage, -1, -1, start, env.now))

    if step_overhead_s > 0:
        env.process(sync())
    if frontend_s > 0:
        spans.append(Span("frontend", "host", Lane.HOST, stages - 1,
                          (stages - 1) * chips_per_stage, -1, -1, 0.0, frontend_s))
    env.run()
    spans.sort(key=lambda s: (s.start_s, s.stage, _TID[s.lane], s.micro_batch))
    makespan = max((s.end_s for s in spans), default=0.0)
    return Timeline(tuple(spans), makespan, stages, chips_per_stage, micro_batches, host_launch_s)
