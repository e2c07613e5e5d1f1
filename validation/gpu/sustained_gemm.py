"""Sustained GEMM rate under the power limit (for a session with a GPU): each GEMM shape run
back to back for seconds, bf16 (torch.matmul) and fp8 (torch._scaled_mm, e4m3, bf16 out),
with the SM clock and board power sampled meanwhile.

The model prices GEMMs inside a busy step at `gpu.mma_efficiency` (bf16) and
`gpu.mma_efficiency_fp8` of the dense peak, both fitted on Vidur's H100 profiles. An isolated
op from idle runs boosted (`clock_boost`); a long loop settles where the power limiter holds
it. fp8 MMAs move half the operand bytes per FLOP but may draw more power per second at
twice the rate, so its sustained share need not be the bf16 one. The shapes are Llama-3.1-
405B's per-GPU GEMMs at TP8 (gate-up 16,384 x 13,312, down 6,656 x 16,384) at decode batches
512-1,536 and a 4,096-token prefill, and the 8192^3 square.

    python validation/gpu/sustained_gemm.py --out $OUT   # ~1 min on an H200

Writes `sustained_gemm.csv`: dtype, m, k, n, seconds, samples, tflops_first (the first 30 ms),
tflops_sustained (median after 0.5 s), sm_mhz and power_w (medians of the samples taken after
0.5 s of that shape).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

SHAPES = ((512, 16384, 13312), (1536, 16384, 13312), (1536, 6656, 16384),
          (4096, 16384, 13312), (8192, 8192, 8192))


def _power_states() -> Any:
    """power_states.py (its clock sampler and --seconds check), installed or beside this
    script."""
    try:
        from infersim.validation.gpu import power_states
    except ImportError:
        import power_states  # type: ignore[no-redef]
    return power_states


def main(argv: list[str] | None = None) -> int:
    ps = _power_states()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu_sustained"))
    ap.add_argument("--seconds", type=ps.positive_seconds, default=3.0,
                    help="length of each loop")
    args = ap.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("sustained_gemm: no CUDA device", file=sys.stderr)
        return 2
    fp8 = hasattr(torch, "_scaled_mm") and torch.cuda.get_device_capability(0) >= (8, 9)
    samples: list[dict[str, Any]] = []
    phase = ["idle"]
    stop = threading.Event()
    t0 = time.perf_counter()
    th = threading.Thread(target=ps.sample_clocks, args=(samples, phase, stop, t0),
                          daemon=True)
    th.start()
    out_rows: list[dict[str, Any]] = []
    one = torch.ones((), device="cuda")
    for m, k, n in SHAPES:
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        wt = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
        cases = [("bf16", lambda x=x, wt=wt: torch.matmul(x, wt))]
        if fp8:
            x8 = x.to(torch.float8_e4m3fn)
            w8 = wt.to(torch.float8_e4m3fn).t().contiguous().t()
            cases.append(("fp8", lambda x8=x8, w8=w8: torch._scaled_mm(
                x8, w8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)))
        for dtype, fn in cases:
            torch.cuda.synchronize()
            phase[0] = "idle"
            time.sleep(1.0)  # idle between loops: each starts from the boost clock
            reps = max(1, int(2e-3 / max(2 * m * k * n / 1e15, 1e-6)))  # ~2 ms per sample
            rates: list[tuple[float, float]] = []
            start = time.perf_counter()
            phase[0] = label = f"{dtype} {m}x{k}x{n}"
            while time.perf_counter() - start < args.seconds:
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record()
                for _ in range(reps):
                    fn()
                e.record()
                e.synchronize()
                rates.append((time.perf_counter() - start,
                              2 * m * k * n * reps / (s.elapsed_time(e) * 1e-3) / 1e12))
            end = time.perf_counter()
            late = [r for t, r in rates if t > 0.5]
            first = [r for t, r in rates if t <= 0.03] or [rates[0][1]]
            window = [sm for sm in samples
                      if sm["phase"] == label and sm["t_s"] > start - t0 + 0.5]
            out_rows.append({
                "dtype": dtype, "m": m, "k": k, "n": n, "seconds": round(end - start, 3),
                "samples": len(rates), "tflops_first": round(statistics.median(first), 1),
                "tflops_sustained": round(statistics.median(late or [r for _, r in rates]), 1),
                "sm_mhz": statistics.median(w["sm_mhz"] for w in window) if window else "",
                "power_w": statistics.median(w["power_w"] for w in window) if window else ""})
            print(out_rows[-1], file=sys.stderr)
        del x, wt
        torch.cuda.empty_cache()
    stop.set()
    th.join(timeout=5)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "sustained_gemm.csv.tmp"  # written whole, then renamed
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(out_rows[0]))
        w.writeheader()
        w.writerows(out_rows)
    os.replace(tmp, out / "sustained_gemm.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
