"""Hardware models: YAML specs → frozen `Hardware` objects, and one cost interface per kind."""

from hwmodels.cost import Bound, CostContext, CostModel, Infeasibility, OpCost, Runtime, cost_model
from hwmodels.loader import list_hardware, load_hardware
from hwmodels.spec import Chip, Hardware, HardwareKind

__all__ = [
    "Bound", "Chip", "CostContext", "CostModel", "Hardware", "HardwareKind", "Infeasibility",
    "OpCost", "Runtime", "cost_model", "list_hardware", "load_hardware",
]
