"""A Trace: the operators of one model step, with exact totals, resident state and a pandas
view."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from infersim.workloads.ops import Op, OpKind, TensorBytes, totals
from infersim.workloads.scenario import Scenario

if TYPE_CHECKING:
    import pandas as pd


_FIRST_STAGE = ("embed", "draft")  # blocks that run once, on the first pipeline stage
_LAST_STAGE = ("head", "draft_head")  # ... on the last stage
_SEND = "pp"  # the activation send at every stage boundary
_DRAFT_LAYER = "draft_layer"  # a pipelined draft's layers (their own partition)
_DRAFT_SEND = "draft_pp"  # a pipelined draft's sends, even over the stages


def even_layers(layers: int, pp: int) -> tuple[int, ...]:
    """`layers` split over `pp` stages as evenly as integers allow, the first stages taking
    one more."""
    q, r = divmod(layers, pp)
    return tuple(q + (1 if s < r else 0) for s in range(pp))


def balanced_layers(layers: int, fixed_bytes: Sequence[float], layer_bytes: float
                    ) -> tuple[int, ...]:
    """Layers per pipeline stage that minimize the largest stage footprint
    max_s(fixed_bytes[s] + n_s × layer_bytes) (water-filling: each layer goes to the stage
    holding the fewest bytes, the lowest stage on a tie). With equal `fixed_bytes` this is
    `even_layers`; a stage that also holds the embedding table or the lm_head gets fewer
    layers (Megatron-LM's "account for embedding in pipeline split", generalized)."""
    pp = len(fixed_bytes)
    if pp <= 1:
        return (layers,)
    if layer_bytes <= 0:
        return even_layers(layers, pp)
    heap = [(float(f), st) for st, f in enumerate(fixed_bytes)]
    heapq.heapify(heap)
    n = [0] * pp
    for _ in range(layers):
        load, st = heapq.heappop(heap)
        n[st] += 1
        heapq.heappush(heap, (load + layer_bytes, st))
    return tuple(n)


def stage_counts(op: Op, stage_layers: Sequence[int],
                 draft_layers: Sequence[int] = ()) -> list[int]:
    """Executions of `op` on each pipeline stage, given the layers each stage runs (the one
    partition rule, used by the trace builder and the mapper).

    The embedding (block "embed") and the draft work (block "draft") run on the first stage,
    the head (blocks "head", and "draft_head" of a pipelined draft) on the last; the pipeline
    send (block "pp", count pp-1) once at the end of every stage but the last. A repeated op (once per layer, or per layer of one
    kind: MoE layers, sliding-window layers) is spread over the stages in proportion to
    their layer ranges: stage s gets floor(c·N_{s+1}/L) − floor(c·N_s/L) of its c executions,
    N_s = layers before stage s (exactly `stage_layers` when c = L). A pipelined draft's
    layers (block "draft_layer") follow the draft's own partition `draft_layers` the same
    way; its sends (block "draft_pp") split evenly over the stages."""
    pp = len(stage_layers)
    if pp <= 1:
        return [op.count]
    blk = op.block
    if blk in _FIRST_STAGE:
        return [op.count] + [0] * (pp - 1)
    if blk in _LAST_STAGE:
        return [0] * (pp - 1) + [op.count]
    if blk == _SEND and op.count == pp - 1:
        return [1] * (pp - 1) + [0]
    if blk == _DRAFT_SEND:
        return list(even_layers(op.count, pp))
    if blk == _DRAFT_LAYER and len(draft_layers) == pp:
        stage_layers = draft_layers
    total = sum(stage_layers)
    if total <= 0:
        return list(even_layers(op.count, pp))
    out = []
    cum = prev = 0
    for n in stage_layers:
        cum += n
        cur = op.count * cum // total
        out.append(cur - prev)
        prev = cur
    return out


def repeated(op: Op) -> bool:
    """True for ops of the repeated (layer) blocks, which pipeline stages split."""
    return op.block not in _FIRST_STAGE and op.block not in _LAST_STAGE and op.block != _SEND


@dataclass(frozen=True)
class ResidentBytes:
    """What ONE chip must keep in memory during a step: the model's resident state.

    Unlike the trace's byte counts (what a step READS), this is everything stored: every
    parameter (all MoE experts, the whole embedding-table shard), the KV cache of all cached
    tokens, and an activation workspace. Per pipeline stage s (the chips of one stage hold
    equal tensor-parallel shards):
    - `stage_weight_bytes[s]`: parameters one chip of stage s holds, at the weight dtype;
    - `stage_kv_bytes_per_token[s]`: KV-cache bytes per cached token (of one sequence) on one
      chip of stage s, at the KV dtype;
    - `kv_tokens`: tokens cached after the step, all sequences (batch × kv_len);
    - `activation_bytes`: workspace, the largest op's activation in + out (buffers are reused
      from op to op);
    - `stage_kv_bytes` (optional): the KV cache one chip of stage s holds for this step when
      it is not per-token × kv_tokens: sliding-window and chunked-attention layers keep only
      the keys their queries can still see (`workloads.builder`); per-token × kv_tokens is
      then the full-context upper bound;
    - `moe_workspace_bytes`: the buffers a fused MoE kernel holds at once when it sizes them
      for every (token, expert) row of the step's routed tokens (`workloads.builder`); not
      part of `activation_bytes`, as engines that chunk the layer or reuse its buffers do
      not hold them (0 without MoE layers).
    `weight_bytes` / `kv_bytes` / `total_bytes` are those of the busiest stage (the chip that
    must fit). `workloads.builder` documents how each tensor is sharded."""

    stage_weight_bytes: tuple[float, ...]
    stage_kv_bytes_per_token: tuple[float, ...]
    kv_tokens: int
    activation_bytes: float
    stage_kv_bytes: tuple[float, ...] = ()
    moe_workspace_bytes: float = 0.0

    @property
    def stages(self) -> int:
        return len(self.stage_weight_bytes)

    def stage_kv(self, stage: int) -> float:
        """KV-cache bytes on one chip of `stage`."""
        if self.stage_kv_bytes:
            return self.stage_kv_bytes[stage]
        return self.stage_kv_bytes_per_token[stage] * self.kv_tokens

    def stage_total_bytes(self, stage: int) -> float:
        return self.stage_weight_bytes[stage] + self.stage_kv(stage) + self.activation_bytes

    @property
    def busiest_stage(self) -> int:
        """The stage whose chips hold the most bytes (the first one on a tie)."""
        return max(range(self.stages), key=self.stage_total_bytes)

    @property
    def weight_bytes(self) -> float:
        """Parameters on one chip of the busiest stage."""
        return self.stage_weight_bytes[self.busiest_stage]

    @property
    def kv_bytes(self) -> float:
        """KV cache on one chip of the busiest stage."""
        return self.stage_kv(self.busiest_stage)

    @property
    def total_bytes(self) -> float:
        return self.stage_total_bytes(self.busiest_stage)


@dataclass(frozen=True)
class Trace:
    """The ops one chip runs for one step, and (`resident`) what one chip must store.

    `resident` and `stage_layers` are filled by `workloads.build_trace`; a trace assembled
    by hand may leave them empty (consumers then fall back to what the ops read, a lower
    bound, and to an even layer split)."""

    model: str
    scenario: Scenario
    ops: tuple[Op, ...]
    resident: ResidentBytes | None = None
    stage_layers: tuple[int, ...] = ()  # layers per pipeline stage; () = an even split
    draft_stage_layers: tuple[int, ...] = ()  # a pipelined draft's layers per stage

    def layer_partition(self) -> tuple[int, ...]:
        """Layers each pipeline stage runs: `stage_layers` (set by `build_trace`), else the
        largest repeated-op count split evenly over the `pp` stages."""
        pp = max(1, self.scenario.parallel.pp)
        if len(self.stage_layers) == pp:
            return self.stage_layers
        layers = max((o.count for o in self.ops if repeated(o)), default=pp)
        return even_layers(layers, pp)

    @property
    def flops(self) -> float:
        return totals(self.ops).flops

    @property
    def bytes(self) -> TensorBytes:
        return totals(self.ops).bytes

    def matmul_flops(self) -> float:
        return sum(o.flops * o.count for o in self.ops
                   if o.kind in (OpKind.MATMUL, OpKind.MOE_EXPERTS, OpKind.MOE_ROUTER))

    def weight_bytes(self) -> float:
        return self.bytes.weight

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([o.to_row() for o in self.ops])

    def to_csv(self, path: str | Path) -> None:
        from infersim.foundation.io import atomic_write_text

        atomic_write_text(path, self.to_frame().to_csv(index=False))
