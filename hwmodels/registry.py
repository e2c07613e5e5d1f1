"""The table of cost models: one per hardware kind (a plain table, no registration)."""

from __future__ import annotations

from infersim.hwmodels.cost import CostModel
from infersim.hwmodels.models.cim import CimModel
from infersim.hwmodels.models.cpu import CpuModel
from infersim.hwmodels.models.gpu import GpuModel
from infersim.hwmodels.models.lpu import LpuModel
from infersim.hwmodels.models.soc import SocModel
from infersim.hwmodels.models.tiled import MeshModel, SystolicModel
from infersim.hwmodels.models.wafer import WaferModel
from infersim.hwmodels.spec import Chip, Hardware, HardwareKind

MODELS: dict[HardwareKind, CostModel] = {
    HardwareKind.GPU: GpuModel(),
    HardwareKind.WAFER: WaferModel(),
    HardwareKind.LPU: LpuModel(),
    HardwareKind.CIM: CimModel(),
    HardwareKind.CPU: CpuModel(),
    HardwareKind.SYSTOLIC: SystolicModel(),
    HardwareKind.MESH: MeshModel(),
    HardwareKind.SOC: SocModel(),
}


def cost_model(chip: Chip | Hardware) -> CostModel:
    """The cost model of the chip's kind."""
    return MODELS[chip.kind]
