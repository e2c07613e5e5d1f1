"""H100 `gpu.gemm_bw_efficiency_fp8`: the weight stream of skinny fp8 GEMMs, from one kernel
measurement outside our graded data.

A decode-step GEMM (few tokens x a large weight) is bound by streaming its weight. The 16-bit
kernels' share of peak bandwidth (`gemm_bw_efficiency`) is fitted on Vidur's measured fp16
GEMMs; no fp8 GEMM is in those profiles. The fp8 figure comes from NVIDIA/cutlass issue #1139
(https://github.com/NVIDIA/cutlass/issues/1139, H100 SXM, CUTLASS 3 sm90 warp-specialized
fp8 kernels, the best of the profiler's e4m3 kernels): for M x N x K = 16 / 32 / 64 x 14336 x
4096 "the best memory b/w I get is ~2.2TB/sec", ~68 % of memory bandwidth by Nsight Compute.

The value is solved (bisection on this model's own GEMM search) so that the model times each
of the three GEMMs at the bytes it moves (fp8 A, B and output) / 2.2 TB/s; the three solutions
are averaged. No graded row enters.

    python -m infersim.validation.fitting.fp8_gemm

writes `validation/data/published/fp8_gemm_fit.json`; the H100 and H200 specs carry the value.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infersim.foundation.io import atomic_write_text

SOURCE = "https://github.com/NVIDIA/cutlass/issues/1139"
MEASURED_BPS = 2.2e12  # "~2.2TB/sec" (the issue), best CUTLASS sm90 fp8 kernel
SHAPES: tuple[tuple[int, int, int], ...] = ((16, 14336, 4096), (32, 14336, 4096),
                                            (64, 14336, 4096))  # M, N, K
HARDWARE = "h100-sxm"
OUT = Path(__file__).resolve().parents[1] / "data" / "published" / "fp8_gemm_fit.json"


def gemm_bytes(m: int, n: int, k: int) -> float:
    """Bytes an fp8 GEMM moves: A (m x k), B (k x n) and its output (m x n), 1 byte each."""
    return float(m * k + k * n + m * n)


def model_time(m: int, n: int, k: int, efficiency: float, hardware: str = HARDWARE) -> float:
    """This model's device time of the fp8 GEMM with `gemm_bw_efficiency_fp8` = efficiency."""
    from infersim.api import predict_op
    from infersim.hwmodels.loader import load_hardware
    from infersim.workloads import ops as O

    hw = load_hardware(hardware, {"gpu.gemm_bw_efficiency_fp8": efficiency})
    return predict_op(O.matmul(m, k, n, "fp8", name="fp8_gemm"), hw, "graph")


def solve(m: int, n: int, k: int, lo: float = 0.3, hi: float = 1.0, tol: float = 1e-4) -> float:
    """The efficiency at which `model_time` equals the measured time (the time falls as the
    efficiency rises)."""
    target = gemm_bytes(m, n, k) / MEASURED_BPS
    if model_time(m, n, k, hi) > target or model_time(m, n, k, lo) < target:
        raise ValueError(f"{m}x{n}x{k}: no efficiency in [{lo}, {hi}] gives {target:.3g} s")
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if model_time(m, n, k, mid) > target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def fit() -> dict[str, Any]:
    solved = [(m, n, k, round(solve(m, n, k), 4)) for m, n, k in SHAPES]
    value = round(statistics.fmean(e for *_, e in solved), 3)
    per_shape = [{"m": m, "n": n, "k": k, "bytes": gemm_bytes(m, n, k),
                  "measured_s": gemm_bytes(m, n, k) / MEASURED_BPS, "efficiency": e,
                  "model_s_at_value": model_time(m, n, k, value)} for m, n, k, e in solved]
    return {"parameter": "gpu.gemm_bw_efficiency_fp8", "hardware": HARDWARE, "value": value,
            "source": SOURCE, "measured_bandwidth_Bps": MEASURED_BPS, "shapes": per_shape,
            "method": "bisection per shape on infersim's GEMM search; value = mean"}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m infersim.validation.fitting.fp8_gemm",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    result = fit()
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    for p in result["shapes"]:
        print(f"{p['m']}x{p['n']}x{p['k']}: measured {p['measured_s'] * 1e6:.2f} us, "
              f"solved {p['efficiency']:.4f}")
    print(f"gpu.gemm_bw_efficiency_fp8 = {result['value']} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
