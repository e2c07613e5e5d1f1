"""Built-in cost models, one module per hardware kind. Importing this package registers them.

Each kind registers exactly one factory (a second registration is an error). Kinds whose
refined model has not landed use the shared roofline floor.
"""

from hwmodels.cost import register
from hwmodels.models.gpu import GpuModel
from hwmodels.models.roofline import RooflineModel
from hwmodels.spec import HardwareKind

register(HardwareKind.GPU)(GpuModel)
register(HardwareKind.WAFER)(lambda: RooflineModel(HardwareKind.WAFER))
register(HardwareKind.LPU)(lambda: RooflineModel(HardwareKind.LPU))
register(HardwareKind.CIM)(lambda: RooflineModel(HardwareKind.CIM))
register(HardwareKind.CPU)(lambda: RooflineModel(HardwareKind.CPU))
