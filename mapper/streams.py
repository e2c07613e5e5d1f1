"""Kernel streams of one model step on per-stage lanes: the op-level discrete-event engine
(simpy) that `simulator.timeline` draws and `map_trace` runs for a step of several
micro-batches (`Scenario.micro_batches`), so both give one answer.

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
- `expand` writes out the program of ONE micro-batch of a schedule; `run_kernels` runs m
  copies of it.

Assumption to know: kernel durations are the cost model's per-execution `time_s`; if a cost
model already folds host launch time into an eager op's time, pass `host_launch_s=0`.
Determinism: simpy orders events by (time, priority, insertion id); no randomness here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import simpy

from infersim.workloads.ops import Collective, CollectiveShape, OpKind

if TYPE_CHECKING:
    from infersim.mapper.schedule import MappedOp, Schedule


class Lane(StrEnum):
    """A resource of one pipeline stage (one row of the Gantt chart / Chrome-trace thread)."""

    HOST = "host"
    COMPUTE = "compute"
    MEMORY = "memory"
    LINK = "link"


LANE_ORDER = (Lane.COMPUTE, Lane.MEMORY, Lane.LINK)  # acquisition order (deadlock-free)
LANE_TID = {Lane.HOST: 0, Lane.COMPUTE: 1, Lane.MEMORY: 2, Lane.LINK: 3}


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


def run_kernels(
    kernels: list[Kernel],
    *,
    stages: int = 1,
    chips_per_stage: int = 1,
    micro_batches: int = 1,
    step_overhead_s: float = 0.0,
    frontend_s: float = 0.0,
) -> tuple[tuple[Span, ...], float]:
    """The DES core: run `micro_batches` copies of the kernel chain on per-stage lanes;
    (every span, sorted, and the makespan).

    Each kernel's host launch costs `Kernel.host_s` (0: launched together with the previous
    one). `step_overhead_s` (per-step host
    synchronization) is a final host span after all device work; `frontend_s` (a serving
    front-end's work for this step, in its own process) a host span from t = 0 beside it."""
    env = simpy.Environment()
    lanes = {(st, ln): simpy.PriorityResource(env, capacity=1)
             for st in range(stages) for ln in LANE_ORDER}
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
    spans.sort(key=lambda s: (s.start_s, s.stage, LANE_TID[s.lane], s.micro_batch))
    return tuple(spans), max((s.end_s for s in spans), default=0.0)
