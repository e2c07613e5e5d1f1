"""GPU (HBM) cost model, one module per kernel family: `gemm` (tile and split-K search),
`attention` (flash prefill, flash-decoding), `vector` (elementwise and row reductions),
`figures` (per-GPU parameters and the memory stream), `model` (the `CostModel`)."""

from infersim.hwmodels.models.gpu.figures import default_params, figures, params
from infersim.hwmodels.models.gpu.gemm import TILES
from infersim.hwmodels.models.gpu.model import GpuModel
from infersim.hwmodels.models.gpu.vector import vector_plan

__all__ = ["TILES", "GpuModel", "default_params", "figures", "params", "vector_plan"]
