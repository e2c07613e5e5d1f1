"""Mapper: schedules a Trace onto Hardware under a Runtime and returns a Schedule.

FIRST VERSION: every op costed by the hardware kind's cost model, the whole step run serially
on the TP group, with a capacity check. The mapper issue replaces the internals (tiling,
fusion, placement, PP/EP partitioning, search, caching) behind the same `map_trace` call.
"""

from __future__ import annotations

from hwmodels.cost import CostContext, Infeasibility, Runtime, cost_model
from hwmodels.spec import Hardware
from mapper.schedule import MappedOp, Schedule
from workloads.trace import Trace

__all__ = ["MappedOp", "Schedule", "map_trace"]


def map_trace(trace: Trace, hw: Hardware, runtime: Runtime | str = Runtime.GRAPH) -> Schedule:
    rt = Runtime(runtime)
    par = trace.scenario.parallel
    chips = par.chips
    infeasible = None
    if chips > hw.num_chips:
        infeasible = Infeasibility(
            "chips", chips, hw.num_chips, "chips",
            (f"use a system with ≥ {chips} chips", "lower tp/pp"))
    else:
        # Trace ops are per-chip shards under TP/EP; counts span all PP stages.
        need = trace.bytes.weight + trace.bytes.kv_read + trace.bytes.kv_write
        per_chip = need / par.pp
        cap = hw.chip.main_memory.capacity_bytes
        if per_chip > cap:
            infeasible = Infeasibility(
                f"{hw.chip.main_memory.name} capacity per chip", per_chip, cap, "B",
                ("raise tp/pp to spread weights over more chips",
                 "quantize weights (fp8/int4) or KV (fp8)", "shorten context or batch"))
    model = cost_model(hw)
    ctx = CostContext(runtime=rt)
    mapped = []
    latency = 0.0
    energy = 0.0
    for op in trace.ops:
        c = model.op_cost(op, hw, ctx)
        mo = MappedOp(op, c, chips)
        mapped.append(mo)
        latency += mo.time_s
        energy += mo.energy_j
    return Schedule(trace, hw, rt, tuple(mapped), latency, energy, infeasible)
