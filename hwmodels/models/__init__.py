"""Built-in cost models, one module per hardware kind. Importing this package registers them.

Each kind registers exactly one factory (a second registration is an error). Kinds whose
refined model has not landed use the shared roofline floor.
"""

from infersim.hwmodels.cost import register
from infersim.hwmodels.models.cim import CimModel
from infersim.hwmodels.models.cpu import CpuModel
from infersim.hwmodels.models.gpu import GpuModel
from infersim.hwmodels.models.lpu import LpuModel
from infersim.hwmodels.models.wafer import WaferModel
from infersim.hwmodels.spec import HardwareKind

register(HardwareKind.GPU)(GpuModel)
register(HardwareKind.WAFER)(WaferModel)
register(HardwareKind.LPU)(LpuModel)
register(HardwareKind.CIM)(CimModel)
register(HardwareKind.CPU)(CpuModel)
