"""Lab 1 — the roofline and arithmetic intensity.

A chip can do at most `peak` FLOP/s and move at most `BW` bytes/s from memory. An operator with
arithmetic intensity I = FLOPs / bytes moved can therefore reach at most min(peak, I × BW)
FLOP/s. The intensity where the two limits meet, I* = peak / BW (the ridge point), separates
memory-bound operators (I < I*) from compute-bound ones. In this lab you compute the ridge point
of an H100, the intensities of decode (GEMV) and prefill (GEMM) matmuls, the batch size at which
a decode matmul stops being memory-bound, and check the simulator against the roofline floor.
Draw it all with `infersim roofline --model llama-3.1-8b --hw h100-sxm -o roof.png`.
"""

from __future__ import annotations

from infersim.studies.labs._lab import Exercise, main


def ridge_point() -> float:
    """H100 SXM ridge point for bf16 on HBM, in FLOP/byte."""
    from infersim.api import load_hardware
    from infersim.workloads.dtypes import DType

    chip = load_hardware("h100-sxm").chip
    return chip.peak_flops(DType.BF16) / chip.main_memory.bandwidth_Bps


def gemv_and_gemm_intensity() -> dict[str, float]:
    """Intensity of a decode GEMV (1×4096 · 4096×4096) and a prefill GEMM (4096³), bf16."""
    from infersim import ops

    return {"gemv": ops.matmul(1, 4096, 4096, "bf16").intensity,
            "gemm": ops.matmul(4096, 4096, 4096, "bf16").intensity}


def compute_bound_batch(k: int = 8192, n: int = 8192) -> int:
    """Smallest batch m at which a bf16 m×k·k×n matmul reaches the H100 ridge point."""
    from infersim import ops

    ridge = ridge_point()
    m = 1
    while ops.matmul(m, k, n, "bf16").intensity < ridge:
        m += 1
    return m


def simulator_vs_floor() -> dict[str, float]:
    """Predicted time of the decode GEMV on an H100 next to its roofline floor."""
    from infersim import ops
    from infersim.api import load_hardware, predict_op
    from infersim.workloads.dtypes import DType

    hw = load_hardware("h100-sxm")
    op = ops.matmul(1, 4096, 4096, "bf16")
    floor = max(op.flops / hw.chip.peak_flops(DType.BF16),
                op.bytes.total / hw.chip.main_memory.bandwidth_Bps)
    return {"predicted_s": predict_op(op, hw), "floor_s": floor}


EXERCISES = (
    Exercise("the ridge point",
             "The H100 SXM does 989.4 TFLOP/s dense bf16 and reads HBM3 at 3.35 TB/s. At what "
             "arithmetic intensity (FLOP/byte) does an operator become compute-bound?",
             "I* = peak / bandwidth; use the library spec (`load_hardware('h100-sxm')`).",
             ridge_point),
    Exercise("GEMV vs GEMM",
             "A decode step multiplies ONE token's activations (1×4096) by a 4096×4096 weight "
             "matrix; a prefill of 4096 tokens multiplies 4096×4096 by 4096×4096. In bf16 "
             "(2 bytes), each operand read once and the result written once, what are their "
             "intensities? Which side of the ridge is each on?",
             "FLOPs = 2mkn; bytes = 2(mk + kn + mn). For m=1 this is about 1 FLOP/byte.",
             gemv_and_gemm_intensity),
    Exercise("when does batching stop helping?",
             "Decode of a batch of m sequences turns the GEMV into an m×8192·8192×8192 GEMM. "
             "What is the smallest m that reaches the H100 ridge point?",
             "Solve 2mkn / (2(mk + kn + mn)) ≥ I* for m; the weights (kn) dominate the bytes.",
             compute_bound_batch),
    Exercise("the simulator never beats physics",
             "Predict the decode GEMV's time with `infersim.predict_op` and compare it with "
             "max(FLOPs/peak, bytes/BW). Why is the prediction larger?",
             "Kernel launch latency and achieved (not peak) bandwidth; see hwmodels/models/gpu.py.",
             simulator_vs_floor),
)

if __name__ == "__main__":
    raise SystemExit(main("Lab 1: the roofline and arithmetic intensity", __doc__ or "",
                          EXERCISES))

__all__ = ["EXERCISES", "compute_bound_batch", "gemv_and_gemm_intensity",
           "ridge_point", "simulator_vs_floor"]
