"""Code shared by several test modules (not a test module; fixtures live in conftest.py).

Repository paths, the hand-built H100-like system and hand-timed schedules the simulator tests
use, a small study text, an HTML link collector for self-contained reports, the check of
the serving engines' per-request times on several replicas, and one open-loop run of a small
model served by a runtime profile on either engine.
"""

from __future__ import annotations

import dataclasses
import html.parser
import math
from pathlib import Path
from typing import Any

import numpy as np

from infersim.hwmodels.cost import Bound, OpCost, Runtime
from infersim.hwmodels.spec import (
    Chip,
    ComputeUnit,
    GpuParams,
    Hardware,
    HardwareKind,
    Interconnect,
    MemoryLevel,
    Power,
    TensorClass,
    Topology,
    UnitType,
)
from infersim.mapper.schedule import MappedOp, Schedule
from infersim.simulator.serving import ServingResult
from infersim.workloads import ops
from infersim.workloads.dtypes import DType
from infersim.workloads.ops import Op
from infersim.workloads.scenario import Parallelism, Phase, Scenario
from infersim.workloads.trace import Trace

# ---- repository paths -----------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
# TensorRT-LLM's memory guide, H100 log (NVIDIA/TensorRT-LLM docs/source/reference/memory.md):
# NVML total 81559 MiB = 85.52 GB; after a 6695 MiB engine and 1134.01 MiB of execution
# context, cudaMemGetInfo finds 70.48 GiB free. What else its process holds, per GPU, by hand:
TRTLLM_HELD = 85.52e9 - 70.48 * 2**30 - 6695 * 2**20 - 1134.01 * 2**20  # ≈ 1.634 GB
# vLLM's memory profiling log in vllm-project/vllm PR #10511 (Llama-3-8B, one 80 GB GPU):
# total_gpu_memory 79.22 GiB x 0.90 usable, non_torch_memory 1.79 GiB. Against the NVML
# total 85.52 GB, what its KV sizing loses beyond weights and activations, by hand:
VLLM_V1_HELD = 0.9 * (85.52e9 - 79.22 * 2**30) + 1.79 * 2**30  # ≈ 2.33 GB
# The same PR's log at -tp 2: non_torch_memory 3.58 GiB per GPU, so a replica of more than
# one GPU holds 3.58 - 1.79 GiB more for NCCL and the custom all-reduce, by hand:
MULTI_GPU_COMM = (3.58 - 1.79) * 2**30  # ≈ 1.92 GB
SPEC_DIR = ROOT / "hwmodels" / "specs"
SPECS = sorted(SPEC_DIR.glob("*.yaml"))
H100_TEXT = (SPEC_DIR / "h100-sxm.yaml").read_text()


def double_main_bandwidth(hw: Hardware) -> Hardware:
    """The same system with twice the bandwidth of the chip's main memory (other levels as
    they are)."""
    main = hw.chip.main_memory
    mem = tuple(dataclasses.replace(m, bandwidth_Bps=2 * m.bandwidth_Bps) if m is main else m
                for m in hw.chip.memory)
    return dataclasses.replace(hw, chip=dataclasses.replace(hw.chip, memory=mem))


# ---- the H200 session's GEMM sweep and the GEMM library knob (hwmodels GEMM tests) -----------

H200_SWEEP = ROOT / "validation" / "data" / "gpu" / "h200-sxm-2026-12-04" / "run3" / "sweep" \
    / "gpu_ops.csv"


def gemm_library(tile_set: float, runtime: str = "graph") -> Any:
    """A CostContext for `runtime`'s kernels with engine knob `gemm_tile_set` = `tile_set`
    (0: the fixed tile list; 1: the nvjet library)."""
    from infersim.hwmodels import CostContext
    from infersim.hwmodels.models.gpu import engines as E

    prof = E.lookup(runtime)
    assert prof is not None
    return CostContext(profile=prof.with_values(gemm_tile_set=tile_set))


# ---- a hand-built system and hand-timed schedules (simulator tests) -------------------------

def h100_like(num_chips: int = 1) -> Hardware:
    """H100 SXM figures from the reference table 1.1 (989.4 TFLOP/s bf16, 80 GB HBM3 at
    3.35 TB/s, NVLink4 18 × 25 GB/s per direction, 700 W TDP); idle power, energies and launch
    costs are assumed round numbers (only their role in formulas matters to these tests).
    Built by hand so that the simulator tests do not depend on the YAML library."""
    chip = Chip(
        "h100-test", HardwareKind.GPU, 1.83e9,
        (ComputeUnit("tensor", UnitType.MATRIX, {DType.BF16: 989.4e12, DType.FP8: 1978.9e12},
                     132),
         ComputeUnit("cuda", UnitType.VECTOR, {DType.BF16: 133.8e12, DType.FP32: 66.9e12}, 132)),
        (MemoryLevel("l2", 50 * 2**20, 12e12, 2e-7, 0.5e-12,
                     frozenset({TensorClass.ACTIVATIONS})),
         MemoryLevel("hbm", 80e9, 3.35e12, 6e-7, 3.9e-12, frozenset(TensorClass))),
        Interconnect(Topology.SWITCH, 18, 25e9, 2e-6, 5e-12), Power(700.0, 90.0),
        {DType.BF16: 0.35e-12, DType.FP8: 0.18e-12}, 814.0, 4.0, 30000.0, "",
        GpuParams(132, 50 * 2**20, 3e-6, 8e-6))
    return Hardware(f"h100-test-x{num_chips}", chip, num_chips)


def timed(op: Op, time_s: float, *, compute_s: float | None = None, memory_s: float = 0.0,
          comm_s: float = 0.0, fusion_group: str = "") -> MappedOp:
    """A mapped op with a hand-set per-execution time."""
    c = OpCost(time_s, 0.0, Bound.COMPUTE, time_s if compute_s is None else compute_s,
               memory_s, comm_s)
    return MappedOp(op, c, fusion_group=fusion_group)


def mm(name: str, count: int = 1, block: str = "") -> Op:
    return ops.matmul(8, 64, 64, name=name, count=count, block=block)


def allreduce(name: str = "allreduce", count: int = 1, block: str = "") -> Op:
    return ops.collective("all_reduce", 1024.0, 2, name=name, count=count, block=block)


def schedule_of(mapped: list[MappedOp], hw: Hardware, *, runtime: Runtime = Runtime.GRAPH,
                tp: int = 1, pp: int = 1) -> Schedule:
    sc = Scenario(Phase.DECODE, 1, context=1, parallel=Parallelism(tp, pp))
    trace = Trace("hand", sc, tuple(m.op for m in mapped))
    lat = sum(m.time_s for m in mapped)
    return Schedule(trace, hw, runtime, tuple(mapped), lat, 0.0)


# ---- studies ----------------------------------------------------------------------------------

SMALL_GRID = """
name: small-grid
description: batch × context on one chip
fixed:
  model: llama-3.1-8b
  hardware: h100-sxm
  scenario: {phase: decode}
sweep:
  scenario.batch: [1, 4, 16]
  scenario.context: [512, 2048]
search: {method: grid}
metrics: [latency_s, tokens_per_s, cost_per_mtok_usd]
"""


class PageRefs(html.parser.HTMLParser):
    """Collects every URL-bearing attribute of an HTML page (to check a report is
    self-contained)."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for k, v in attrs:
            if k in ("src", "href", "srcset", "poster", "data", "action", "xlink:href") and v:
                self.refs.append((tag, k, v))
            if tag in ("script", "link", "iframe") and k in ("src", "href"):
                self.refs.append((tag, k, v or ""))


def pareto_brute_force(points: list[tuple[float, ...]], goals: list[str]) -> list[bool]:
    """Which points are on the Pareto front, by the O(n²) definition: a dominates b iff a is
    no worse in every objective and better in at least one. NaN points are never on it."""
    sign = [1.0 if g == "minimize" else -1.0 for g in goals]

    def better_eq(a: float, b: float, s: float) -> bool:
        return s * a <= s * b

    def better(a: float, b: float, s: float) -> bool:
        return s * a < s * b

    out = []
    for i, p in enumerate(points):
        if any(math.isnan(v) for v in p):
            out.append(False)
            continue
        dominated = False
        for j, q in enumerate(points):
            if i == j or any(math.isnan(v) for v in q):
                continue
            if all(better_eq(q[k], p[k], sign[k]) for k in range(len(p))) and any(
                    better(q[k], p[k], sign[k]) for k in range(len(p))):
                dominated = True
                break
        out.append(not dominated)
    return out


# A "billion laughs" YAML document: `levels` anchors, each a list of `fan` aliases of the
# previous one (fan ** levels values once expanded), for the loader's alias limit.
def billion_laughs(levels: int = 9, fan: int = 9) -> str:
    names = "abcdefghijklmnopqrstuvwxyz"
    lines = ["a: &a [" + ",".join(["x"] * fan) + "]"]
    for i in range(1, levels + 1):
        n, prev = names[i], names[i - 1]
        lines.append(f"{n}: &{n} [" + ",".join([f"*{prev}"] * fan) + "]")
    return "\n".join(lines) + "\n"


def same_times(a: ServingResult, b: ServingResult) -> None:
    """Per-request records and KV samples of a multi-replica run: counts and occupancies
    exact, times within a few ulps. The simpy engine ends a multi-iteration decode run at
    the next event of any replica, the compiled replica at its own; a run's clock
    t0 + (end − t0) rounds differently where a run outlasts its start time (early in a
    run), and only there."""
    for k, x in a.per_request.items():
        y = b.per_request[k]
        if k.endswith("_s"):
            assert np.array_equal(np.isnan(x), np.isnan(y)), k
            assert np.allclose(x, y, rtol=1e-13, atol=0.0, equal_nan=True), k
        else:
            assert np.array_equal(x, y), k
    ta, va = np.array(a.kv_samples).reshape(-1, 2).T
    tb, vb = np.array(b.kv_samples).reshape(-1, 2).T
    assert np.array_equal(va, vb) and np.allclose(ta, tb, rtol=1e-13, atol=0.0)


def small_run(runtime: Any, kind: str, engine: str) -> ServingResult:
    """Llama-3.2-1B on one H100 served by `runtime` (a profile name or a RuntimeProfile):
    400 requests of 300 + 40 tokens at 40 req/s (idle gaps and back-to-back iterations both
    occur), the scheduling policy `kind`, on the serving `engine`."""
    from infersim.hwmodels import load_hardware
    from infersim.simulator.serving import (
        FixedLengths,
        Poisson,
        ServingPolicy,
        Traffic,
        simulate_serving,
    )
    from infersim.simulator.serving.costs import MapperIterationCost
    from infersim.simulator.serving.serve import ReplicaSpec
    from infersim.workloads import load_model

    cost = MapperIterationCost(load_model("llama-3.2-1b"), load_hardware("h100-sxm"),
                               runtime=runtime)
    return simulate_serving(ReplicaSpec(kv_blocks=4000), cost,
                            Traffic(Poisson(40.0), FixedLengths(300, 40), 400),
                            ServingPolicy(kind=kind), engine=engine)


class KnobCost:
    """An iteration cost whose runtime profile has the given knobs (`GPU` kind): 1.0 s for
    an iteration with prefill work, 0.1 s for a decode-only one, no energy: the serving
    tests whose event times are derived by hand."""

    def __init__(self, **knobs: float) -> None:
        from infersim.hwmodels.cost import RuntimeProfile

        self.runtime = RuntimeProfile("test", HardwareKind.GPU, tuple(knobs.items()))

    def __call__(self, prefill: Any, emits: int, decode_seqs: int,
                 decode_ctx: int) -> tuple[float, float]:
        return (1.0 if prefill else 0.1), 0.0


def trace_run(tmp_path: Path, rows: list[tuple[float, int, int]], cost: Any,
              kind: Any = None, max_tokens: int | None = None) -> ServingResult:
    """Replay (arrival s, prompt, output) `rows` through one replica (8 slots, `kind`
    scheduling, continuous by default, a token budget of `max_tokens` or the policy's
    default) priced by `cost`, on the reference (simpy) engine."""
    from infersim.simulator.serving import (
        Policy,
        ServingPolicy,
        TraceReplay,
        Traffic,
        simulate_serving,
    )
    from infersim.simulator.serving.serve import ReplicaSpec

    p = tmp_path / "trace.csv"
    p.write_text("arrival_s,prompt_tokens,output_tokens\n"
                 + "".join(f"{a},{pr},{o}\n" for a, pr, o in rows))
    budget = {} if max_tokens is None else {"max_tokens": max_tokens}
    return simulate_serving(ReplicaSpec(), cost, Traffic(TraceReplay(str(p)), None, None),
                            ServingPolicy(kind=kind or Policy.CONTINUOUS, max_batch=8,
                                          **budget),
                            engine="simpy")


def burst(tmp_path: Path, n: int, prompt: int, output: int) -> Any:
    """Traffic of `n` requests of `prompt` + `output` tokens, all arriving at t = 0 (an
    infinite-rate run, as trtllm-bench's): a replayed trace of n zero arrival times."""
    from infersim.simulator.serving import FixedLengths, TraceReplay, Traffic

    trace = tmp_path / "burst.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n" + "0,1,1\n" * n)
    return Traffic(TraceReplay(str(trace)), FixedLengths(prompt, output), n)
