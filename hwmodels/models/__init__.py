"""Built-in cost models, one module per hardware kind. Importing this package registers them.

Each kind registers exactly one factory (a second registration is an error). Kinds whose
refined model has not landed use the shared roofline floor.
"""

from hwmodels.cost import register
from hwmodels.models.cim import CimModel
from hwmodels.models.cpu import CpuModel
from hwmodels.models.gpu import GpuModel
from hwmodels.models.lpu import LpuModel
from hwmodels.models.wafer import WaferModel
from hwmodels.spec import HardwareKind

register(HardwareKind.GPU)(GpuModel)
register(HardwareKind.WAFER)(WaferModel)
register(HardwareKind.LPU)(LpuModel)
register(HardwareKind.CIM)(CimModel)
register(HardwareKind.CPU)(CpuModel)
