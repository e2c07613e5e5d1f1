"""Hardware models: YAML specs → frozen `Hardware` objects, and one cost interface per kind."""

from infersim.hwmodels.cost import (
    Bound,
    CostContext,
    CostModel,
    Infeasibility,
    OpCost,
    Runtime,
)
from infersim.hwmodels.loader import list_hardware, load_hardware
from infersim.hwmodels.registry import cost_model
from infersim.hwmodels.spec import Chip, Hardware, HardwareKind

__all__ = [
    "Bound", "Chip", "CostContext", "CostModel", "Hardware", "HardwareKind", "Infeasibility",
    "OpCost", "Runtime", "cost_model", "list_hardware", "load_hardware",
]
