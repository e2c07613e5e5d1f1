"""The mapper's output: per-op mapping and cost for one model step on one hardware system."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hwmodels.cost import Infeasibility, OpCost, Runtime
from hwmodels.spec import Hardware
from workloads.ops import Op
from workloads.trace import Trace

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, slots=True)
class MappedOp:
    """One op as mapped: its cost per execution on one chip, and how many chips run it."""

    op: Op
    cost: OpCost
    chips: int = 1  # chips executing this op in parallel (TP group etc.)
    stage: int = 0  # pipeline stage
    fusion_group: str = ""  # ops sharing a group run as one kernel
    mapping: tuple[tuple[str, Any], ...] = ()  # tiling / placement choices, for inspection

    @property
    def time_s(self) -> float:
        return self.cost.time_s * self.op.count

    @property
    def energy_j(self) -> float:
        """Energy of all executions on all chips that run it."""
        return self.cost.energy_j * self.op.count * self.chips


@dataclass(frozen=True)
class Schedule:
    trace: Trace
    hardware: Hardware
    runtime: Runtime
    ops: tuple[MappedOp, ...]
    latency_s: float  # wall time of the step
    energy_j: float  # all chips, dynamic + static
    infeasible: Infeasibility | None = None

    @property
    def feasible(self) -> bool:
        return self.infeasible is None

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = []
        for mo in self.ops:
            row = mo.op.to_row()
            c = mo.cost
            row.update(
                time_s=c.time_s, total_time_s=mo.time_s, energy_j=mo.energy_j,
                bound=c.bound.value, compute_s=c.compute_s, memory_s=c.memory_s,
                comm_s=c.comm_s, overhead_s=c.overhead_s, chips=mo.chips, stage=mo.stage,
                fusion_group=mo.fusion_group,
            )
            row.update({f"map_{k}": v for k, v in mo.mapping})
            rows.append(row)
        return pd.DataFrame(rows)
