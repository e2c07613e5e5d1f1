"""Sizing the paged KV cache of a replica from the hardware and the model's memory facts.

Rule (per chip; all chips of a tensor/pipeline-parallel replica hold equal shards):
1. Weights are placed first, nearest memory level first, in the levels that may hold weights
   (a level whose `holds` is empty may hold anything). If they do not fit: infeasible.
   Levels marked `external` (MemoryX, a CIM card's LPDDR) hold only weights (streamed or
   reloaded), as in `hwmodels.capacity`; they never hold KV. When such a level exists the
   weights live there and the chip's own memory goes to the KV cache first (what it leaves
   free caches weights: the step model's resident fraction).
2. The KV pool is the capacity of the levels that may hold KV × `gpu_memory_utilization`
   (only where the kind has a caching allocator, `CostModel.caching_allocator`: GPUs;
   statically allocated SRAM machines use all of it), minus
   the weights placed in those levels, minus the activation reserve
   (`Deployment.activation_reserve_bytes`, or twice the largest single-op activation
   footprint of a `max_tokens` iteration — an estimate of what vLLM's profiling run finds;
   with the engine knob `moe_workspace` on, at least its fused MoE kernel's buffers for every
   routed row of that iteration, `costs.MapperIterationCost.facts`), minus the memory the
   engine's process holds beside them (the runtime knob `runtime_memory_bytes`: CUDA
   context, library workspaces, runtime buffers, the driver's share outside CUDA's view,
   which the engine's own KV sizing finds taken), and on a replica of more than one chip
   what its communication buffers hold (the runtime knob `comm_memory_bytes`: NCCL's
   communicators, the custom all-reduce's IPC buffers).
   An engine that sizes its KV cache from the memory left free instead (the runtime knob
   `kv_free_fraction` > 0: TensorRT-LLM's kv_cache_free_gpu_mem_fraction) takes that
   fraction of capacity − weights − reserve − process memory, and `gpu_memory_utilization`
   does not apply.
3. blocks = floor(pool / (block_size × KV bytes per token per chip)); fewer than one block is
   an `Infeasibility` naming the gap and the levers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from infersim.hwmodels.cost import Infeasibility, RuntimeProfile
from infersim.hwmodels.spec import Hardware, MemoryLevel, TensorClass
from infersim.simulator.serving.config import Deployment
from infersim.simulator.serving.costs import ReplicaFacts


@dataclass(frozen=True)
class KvPlan:
    blocks: int
    pool_bytes_per_chip: float  # after weights, the activation reserve and process memory
    weights_bytes_per_chip: float
    reserve_bytes_per_chip: float  # activation reserve + the engine process's own memory
    block_bytes_per_chip: float


def _may_hold(m: MemoryLevel, cls: TensorClass) -> bool:
    return not m.holds or cls in m.holds


def _engine_value(hw: Hardware, runtime: str | RuntimeProfile, name: str
                  ) -> tuple[float, RuntimeProfile | None]:
    """Knob `name` of the engine `runtime` resolves to on `hw` (0 without one) and its profile."""
    from infersim.hwmodels.registry import cost_model

    if not runtime:
        return 0.0, None
    _, prof = cost_model(hw).resolve_runtime(runtime, hw.name)
    return (prof.value(name, 0.0) if prof is not None else 0.0), prof


def runtime_memory_bytes(hw: Hardware, runtime: str | RuntimeProfile) -> float:
    """The engine's `runtime_memory_bytes` knob on `hw`: per chip, what its process holds
    beside weights, KV and activations (0 without an engine profile)."""
    return _engine_value(hw, runtime, "runtime_memory_bytes")[0]


def comm_memory_bytes(hw: Hardware, runtime: str | RuntimeProfile, chips: int) -> float:
    """The engine's `comm_memory_bytes` knob on `hw` for a replica of `chips` chips: per chip,
    what its communication buffers hold (NCCL, the custom all-reduce); 0 on one chip."""
    return _engine_value(hw, runtime, "comm_memory_bytes")[0] if chips > 1 else 0.0


def kv_free_fraction(hw: Hardware, runtime: str | RuntimeProfile) -> float:
    """The engine's `kv_free_fraction` knob on `hw` (0: the vLLM convention, a share of the
    whole memory, `Deployment.gpu_memory_utilization`); InputError above 1."""
    from infersim.foundation.errors import InputError

    v, prof = _engine_value(hw, runtime, "kv_free_fraction")
    if v > 1.0 and prof is not None:
        raise InputError(f"runtime {prof.name}: kv_free_fraction {v:g} is a share of the free "
                         "memory; give a number from 0 to 1")
    return v


def plan_kv(hw: Hardware, facts: ReplicaFacts, dep: Deployment, block_size: int
            ) -> KvPlan | Infeasibility:
    from infersim.hwmodels.registry import cost_model

    caching = cost_model(hw).caching_allocator
    free_frac = kv_free_fraction(hw, dep.runtime) if caching else 0.0
    held = (runtime_memory_bytes(hw, dep.runtime)
            + comm_memory_bytes(hw, dep.runtime, dep.chips_per_replica)) if caching else 0.0
    util = dep.gpu_memory_utilization if caching and free_frac <= 0.0 else 1.0
    mem = [m for m in hw.chip.memory if m.capacity_bytes > 0]
    placed: dict[str, float] = {}
    left = facts.weight_bytes_per_chip
    # With an external weight store (MemoryX, a CIM card's LPDDR) the full copy of the
    # weights lives there and streams / reloads; on-chip memory caches what the KV cache
    # leaves free (the step model's resident fraction), so it is not reserved for weights.
    streamed = any(m.external and _may_hold(m, TensorClass.WEIGHTS) for m in mem)
    for m in mem:
        if left <= 0:
            break
        if streamed and not m.external:
            continue
        if _may_hold(m, TensorClass.WEIGHTS):
            put = min(left, m.capacity_bytes * util)
            placed[m.name] = put
            left -= put
    levers = ("raise tp/pp (more chips per replica)", "quantize weights (--weights fp8/int4)",
              "quantize the KV cache (--kv fp8)", "use hardware with more memory per chip")
    if left > 0:
        cap = sum(m.capacity_bytes for m in mem if _may_hold(m, TensorClass.WEIGHTS))
        return Infeasibility("weight memory per chip", facts.weight_bytes_per_chip,
                             cap * util, "B", levers)
    kv_levels = [m for m in mem if _may_hold(m, TensorClass.KV) and not m.external]
    pool = sum(m.capacity_bytes * util - placed.get(m.name, 0.0)
               for m in kv_levels)
    # vLLM's profiling run finds about twice the largest op's activations (allocator slack);
    # a static allocation needs exactly the workspace
    reserve = (dep.activation_reserve_bytes if dep.activation_reserve_bytes is not None
               else (2.0 if cost_model(hw).caching_allocator else 1.0)
               * facts.max_activation_bytes_per_chip)
    block = block_size * facts.kv_bytes_per_token_per_chip
    reserve += held  # the engine process's own memory, outside the allocator's reach
    free = pool - reserve
    if free_frac > 0.0:  # the engine's share of what weights and activations leave free
        free *= free_frac
    blocks = math.floor(free / block) if block > 0 else 0
    if blocks < 1:
        cap = sum(m.capacity_bytes for m in kv_levels) * util
        return Infeasibility("KV-cache memory per chip", cap - pool + reserve + block, cap, "B",
                             levers, {"weights_bytes": facts.weight_bytes_per_chip,
                                      "reserve_bytes": reserve, "block_bytes": block})
    return KvPlan(blocks, free, facts.weight_bytes_per_chip, reserve, block)
