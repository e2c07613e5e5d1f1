"""`_TRTLLM_MOE_ROWS` (engine knob `moe_row_ops` of the `trtllm` runtimes): the issue rate of
TensorRT-LLM's CUTLASS-MoE activation kernel, from its published kernel timings on a B200.

TensorRT-LLM's CUTLASS fused MoE (`CutlassMoeFCRunner`, cpp/tensorrt_llm/kernels/
cutlass_kernels/moe_gemm/moe_kernels.cu) runs the activation between its two grouped GEMMs
as `doActivationKernel`: one thread block of 256 threads per (token, expert) row, SiLU of the
gate times the up half, then the next GEMM's input quantization (per-tensor fp8, or NVFP4
with a scale per 16 values and zero scale-factor padding for TMA alignment). NVIDIA's PR
#11165 (https://github.com/NVIDIA/TensorRT-LLM/pull/11165, "Recover from CUTLASS MoE
doActivation perf regression for MXFP4/NVFP4 dtype") times that kernel alone on a B200:
BF16 in, NVFP4 out, intermediate 2,048, 128 experts, top-8 ("simulating DS-R1 DEP2"), at
512 / 1,024 / 4,096 tokens. Its column "before #9838" is the kernel as TensorRT-LLM shipped
it until PR #9838 (2025-12), so in v1.0, whose published runs `serving_published` grades:
42.685 / 69.843 / 248.408 µs. The rows are taken as tokens x 8 (every pick on the chip, as
the benchmark's 128 experts hold all of them).

The kernel moves ~9 KB a row (two bf16 halves of 2,048 in, 1 KB of NVFP4 out): 38 MB at
4,096 rows, 305 MB at 32,768, so at the B200's 7.67 TB/s it would take 5-40 µs; it takes
43-248 µs. Its time grows with the rows at ~3.4 ps per activated element and the same
shapes on a Hopper GPU in NVIDIA's PR #9838 (W4A8, fp8 out: 225 / 60 / 31 / 17 µs at 4,096 /
1,024 / 512 / 256 tokens; the GPU is not named, so it is a cross-check of scale only) take
about as long, where HBM bandwidth would make the B200 ~2x faster: the kernel is bound by
its instruction issue, not by its bytes (PR #11165 names load imbalance over short CTAs and
instruction-cache stalls; flashinfer-ai/flashinfer PR #3761 unvectorized loads and 256
threads per row; PR #3014 the scale-factor padding loops). The model: the kernel costs at
least `moe_row_ops` vector-unit operations per activated element at the chip's vector rate
(`figures.vector_peak`, which scales with SMs x clock), fitted here as the one value that
minimizes the squared log error of the three B200 timings. The kernel's fixed part (the
padding loops over 128 x experts scale-factor rows, launch) is not separate, so the
smallest call reads short.

The same rate prices TensorRT-LLM's permute (`expandInputRowsKernel`) where it quantizes the
rows to NVFP4: the same skeleton and quantization routine (see `_TRTLLM_MOE_ROWS`); no
timing of that kernel was found, so that part is an inference from the source, not a fit.

    python -m infersim.validation.fitting.trtllm_moe_act

writes `validation/data/published/trtllm_moe_act_fit.json`; `hwmodels.models.gpu.engines`
carries the value (`_TRTLLM_MOE_ROWS`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infersim.validation.fitting import fit_main

SOURCE = "https://github.com/NVIDIA/TensorRT-LLM/pull/11165"
HARDWARE = "b200"
RUNTIME = "trtllm-pytorch"
INTERMEDIATE, TOP_K = 2048, 8
# tokens -> µs, PR #11165's table, column "before #9838" (ns / 1000)
MEASURED_US = {512: 42.685, 1024: 69.843, 4096: 248.408}
KNOB = "moe_row_ops"
OUT = Path(__file__).resolve().parents[1] / "data" / "published" / "trtllm_moe_act_fit.json"


def predicted_us(tokens: int, ops_per_elem: float, hardware: str = HARDWARE) -> float:
    """The model's time of the kernel at `tokens` x TOP_K rows under `RUNTIME` with the knob
    at `ops_per_elem` (µs)."""
    import infersim as isim
    from infersim.workloads.builder import moe_act_op
    from infersim.workloads.dtypes import DType
    from infersim.workloads.model import MLPKind

    hw = isim.load_hardware(hardware)
    rt = isim.tune_runtime(hw, RUNTIME, {KNOB: ops_per_elem})
    op = moe_act_op(tokens * TOP_K, INTERMEDIATE, DType.BF16, MLPKind.SILU_GATED)
    return isim.predict_op(op, hw, runtime=rt) * 1e6


def log_error(ops_per_elem: float) -> float:
    """Sum of squared log(predicted / measured) over the three timings."""
    return sum(math.log(predicted_us(t, ops_per_elem) / m) ** 2
               for t, m in MEASURED_US.items())


def fit() -> dict[str, Any]:
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(log_error, bounds=(1.0, 2000.0), method="bounded",
                          options={"xatol": 0.05})
    value = round(float(res.x), 1)
    rows = {str(t): {"measured_us": m, "model_us": predicted_us(t, value),
                     "model_us_without": predicted_us(t, 0.0)}
            for t, m in MEASURED_US.items()}
    return {
        "parameter": "hwmodels.models.gpu.engines._TRTLLM_MOE_ROWS['moe_row_ops']",
        "value": value, "source": SOURCE,
        "fitted_on": {"hardware": HARDWARE, "runtime": RUNTIME, "kernel": "doActivationKernel",
                      "intermediate": INTERMEDIATE, "top_k": TOP_K, "experts": 128,
                      "column": "before #9838 (the kernel of TensorRT-LLM up to v1.x, 2025)",
                      "rows": rows},
        "method": "bounded scalar minimization of the squared log error over the three "
                  "timings; value rounded to 0.1"}


def summary(r: dict[str, Any]) -> str:
    """One line: the value and each timing against the model with and without it."""
    parts = [f"{t} tokens {v['model_us']:.1f} us (measured {v['measured_us']:.1f}, "
             f"{100 * (v['model_us'] / v['measured_us'] - 1):+.1f}%; without "
             f"{v['model_us_without']:.1f})" for t, v in r["fitted_on"]["rows"].items()]
    return f"moe_row_ops = {r['value']}: " + "; ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    return fit_main(argv, "infersim.validation.fitting.trtllm_moe_act", __doc__ or "", fit,
                    summary, OUT)


if __name__ == "__main__":
    sys.exit(main())
