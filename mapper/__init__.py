"""Mapper: schedules a Trace onto Hardware under a Runtime and returns a Schedule.

`map_trace(trace, hw, runtime)` places weights/KV (fit check → `Infeasibility`), turns trace
ops into the kernels the runtime launches (eager splits, fused groups), prices every kernel
with the hardware kind's cost model (the GPU model searches tiles, split-K, split-KV and
collective algorithms), spreads ops over pipeline stages and lays each stage's kernels on a
host/device timeline. Per-op costs are cached by (op shape, hardware fingerprint, runtime,
placement); see `mapper.core` for the stages and `mapper.kernels` for the runtime rules.
"""

from __future__ import annotations

from infersim.mapper.cache import cache_info, clear_cache, hw_fingerprint
from infersim.mapper.core import (
    engine_chunk_kv_freed,
    engine_parallelism,
    engine_scenario,
    map_trace,
)
from infersim.mapper.schedule import MappedOp, Schedule

__all__ = ["MappedOp", "Schedule", "cache_info", "clear_cache", "engine_chunk_kv_freed",
           "engine_parallelism",
           "engine_scenario", "hw_fingerprint", "map_trace"]
