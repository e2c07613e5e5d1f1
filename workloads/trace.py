"""A Trace: the operators of one model step, with exact totals and a pandas view."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workloads.ops import Op, OpKind, TensorBytes, totals
from workloads.scenario import Scenario

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Trace:
    model: str
    scenario: Scenario
    ops: tuple[Op, ...]

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
