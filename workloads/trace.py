"""A Trace: the operators of one model step, with exact totals, resident state and a pandas
view."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workloads.ops import Op, OpKind, TensorBytes, totals
from workloads.scenario import Scenario

if TYPE_CHECKING:
    import pandas as pd


def stage_counts(op: Op, pp: int) -> list[int]:
    """Executions of `op` on each of `pp` pipeline stages (the one partition rule).

    Repeated blocks (layers) are split evenly, the first `count % pp` stages taking one more;
    the embedding (block "embed") and the draft work (block "draft") run on the first stage,
    the head (block "head") on the last; the pipeline send (block "pp", count pp-1) runs once
    at the end of every stage but the last."""
    if pp == 1:
        return [op.count]
    blk = op.block
    if blk == "embed" or blk == "draft":
        return [op.count] + [0] * (pp - 1)
    if blk == "head":
        return [0] * (pp - 1) + [op.count]
    if blk == "pp" and op.count == pp - 1:
        return [1] * (pp - 1) + [0]
    q, r = divmod(op.count, pp)
    return [q + (1 if s < r else 0) for s in range(pp)]


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
      from op to op).
    `weight_bytes` / `kv_bytes` / `total_bytes` are those of the busiest stage (the chip that
    must fit). `workloads.builder` documents how each tensor is sharded."""

    stage_weight_bytes: tuple[float, ...]
    stage_kv_bytes_per_token: tuple[float, ...]
    kv_tokens: int
    activation_bytes: float

    @property
    def stages(self) -> int:
        return len(self.stage_weight_bytes)

    def stage_total_bytes(self, stage: int) -> float:
        return (self.stage_weight_bytes[stage]
                + self.stage_kv_bytes_per_token[stage] * self.kv_tokens + self.activation_bytes)

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
        return self.stage_kv_bytes_per_token[self.busiest_stage] * self.kv_tokens

    @property
    def total_bytes(self) -> float:
        return self.stage_total_bytes(self.busiest_stage)


@dataclass(frozen=True)
class Trace:
    """The ops one chip runs for one step, and (`resident`) what one chip must store.

    `resident` is filled by `workloads.build_trace`; a trace assembled by hand may leave it
    None (consumers then fall back to what the ops read, a lower bound)."""

    model: str
    scenario: Scenario
    ops: tuple[Op, ...]
    resident: ResidentBytes | None = None

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
        from infersim._io import atomic_write_text

        atomic_write_text(path, self.to_frame().to_csv(index=False))
