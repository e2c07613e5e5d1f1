"""The mapper's output: per-op mapping and cost for one model step on one hardware system."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infersim.hwmodels.cost import Infeasibility, OpCost, Runtime
from infersim.hwmodels.power import Throttle
from infersim.hwmodels.spec import Hardware
from infersim.workloads.ops import Op
from infersim.workloads.trace import Trace

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, slots=True)
class MappedOp:
    """One trace op as mapped: its cost per execution on one chip, and how many chips run it.

    `cost` is the device time and energy of ONE execution of the op's kernels. Ops fused into
    one kernel share a `fusion_group`; the group's kernel is carried (cost, `kernels`,
    `kernel_times_s`) by its first member, the others have zero cost and `kernels` = 0.
    `host_s` is the host time to launch the op's kernels once (eager runtime; 0 otherwise);
    `kernel_times_s` the device time of each kernel, in launch order (what the op-level DES
    needs to replay the host/device recurrence kernel by kernel)."""

    op: Op
    cost: OpCost
    chips: int = 1  # chips executing this op in parallel (TP group etc.)
    stage: int = 0  # pipeline stage
    fusion_group: str = ""  # ops sharing a group run as one kernel
    mapping: tuple[tuple[str, Any], ...] = ()  # tiling / placement choices, for inspection
    kernels: int = 1  # kernels launched per execution
    host_s: float = 0.0  # host launch time per execution (eager)
    kernel_times_s: tuple[float, ...] = ()  # device time of each kernel per execution

    @property
    def time_s(self) -> float:
        """Device time of all executions (host gaps are accounted at the step level)."""
        return self.cost.time_s * self.op.count

    @property
    def energy_j(self) -> float:
        """Energy of all executions on all chips that run it."""
        return self.cost.energy_j * self.op.count * self.chips


@dataclass(frozen=True)
class Schedule:
    """One model step mapped onto a hardware system.

    `latency_s` is the wall time of the step (of all its micro-batches,
    `Scenario.micro_batches`, whose ops `ops` counts every execution of): the sum of the pipeline
    stages' times plus the per-step host synchronization (`step_overhead_s`), or the
    serving CPU work beside the GPU (`frontend_floor_s`, `engines.frontend_floor`) when that
    is longer.
    `stage_times_s[s]` = end of stage s − end of stage s−1: each stage runs the host/device
    recurrence over its kernels (including the send to the next stage) from the arrival of
    its input, its own host having launched ahead from t = 0 (eager: one host per PP rank).
    `memory_per_chip_bytes` is the busiest stage's resident state (`Trace.resident`).
    `energy_j` is all chips: op energies plus static power while chips wait (host gaps, other
    pipeline stages, the step synchronization)."""

    trace: Trace
    hardware: Hardware
    runtime: Runtime
    ops: tuple[MappedOp, ...]
    latency_s: float  # wall time of the step
    energy_j: float  # all chips, dynamic + static
    infeasible: Infeasibility | None = None
    stage_times_s: tuple[float, ...] = ()  # per pipeline stage, in order
    device_s: float = 0.0  # Σ device time of every kernel (all stages)
    host_s: float = 0.0  # Σ host launch time (eager)
    step_overhead_s: float = 0.0  # per-step host/device synchronization
    weights_on_chip: float = 1.0  # fraction of weights resident on chip (SRAM machines)
    memory_per_chip_bytes: float = 0.0  # weights + KV + activation workspace per chip
    profile: str = ""  # the software stack's profile (GPU engine, wafer/LPU software); "" = none
    dvfs: Throttle | None = None  # clock chosen under the chip's power cap; None = no cap
    frontend_floor_s: float = 0.0  # serving CPU work overlapping the step (a lower bound)

    @property
    def runtime_name(self) -> str:
        """What ran: the profile of a compiled kind, else the framework runtime."""
        return self.profile or self.runtime.value

    @property
    def feasible(self) -> bool:
        return self.infeasible is None

    @property
    def busy_power_w(self) -> float:
        """Average power of one chip while it runs its kernels: the step's energy less the
        static power of the chips' waits (host gaps, other pipeline stages, the step sync),
        over the chip-seconds of kernels. What a chip's power limiter sees; 0 if none ran."""
        par = self.trace.scenario.parallel
        tp, chips = par.tp, par.tp * max(1, par.pp)
        busy = self.device_s * tp
        if busy <= 0:
            return 0.0
        wait = max(0.0, self.latency_s * chips - busy)
        return (self.energy_j - self.hardware.chip.power.idle_w * wait) / busy

    @property
    def host_bound_s(self) -> float:
        """Device idle time waiting for the host (eager launch gaps), over all stages."""
        return max(0.0, sum(self.stage_times_s) - self.device_s)

    @property
    def kernels(self) -> int:
        """Kernels launched per step (one chip)."""
        return sum(mo.kernels * mo.op.count for mo in self.ops)

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
                fusion_group=mo.fusion_group, kernels=mo.kernels, host_s=mo.host_s,
            )
            row.update({f"map_{k}": v for k, v in mo.mapping})
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "model": self.trace.model, "hardware": self.hardware.name,
            "runtime": self.runtime_name, "latency_s": self.latency_s,
            "energy_j": self.energy_j, "feasible": self.feasible,
            "stage_times_s": list(self.stage_times_s), "device_s": self.device_s,
            "host_s": self.host_s, "host_bound_s": self.host_bound_s,
            "step_overhead_s": self.step_overhead_s,
            "frontend_floor_s": self.frontend_floor_s, "kernels": self.kernels,
            "weights_on_chip": self.weights_on_chip,
            "memory_per_chip_bytes": self.memory_per_chip_bytes,
        }
        if self.infeasible is not None:
            d["infeasible"] = self.infeasible.to_dict()
        if self.dvfs is not None:
            d["dvfs"] = self.dvfs.to_dict()
        return d
