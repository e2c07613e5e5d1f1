"""Hopper `gpu.attention_efficiency` (the chip's own flash-attention kernels) and
`gpu.attention_efficiency_sm80` (FlashAttention-2-class kernels), each from one measurement.

- Native: the H200 session's cuDNN SDPA kernel (`cudnn_generated_fort_native_sdpa_sm90_flash_
  fprop_wgmma_...`, Hopper's wgmma + TMA) over 8,192 causal tokens, 32 query / 8 KV heads of
  128, batch 1: 888.8 us of device time in `validation/data/gpu/h200-sxm-2026-12-04/run4/
  kernel_census.csv`. Solved so the model's kernel body (the `graph` runtime's op time from
  idle, less `gpu.kernel_launch_us`) equals it. The H100 takes the value: the same GH100
  die, SMs, tensor cores and clocks run the same kernels.
- FlashAttention-2 class: FlashAttention-2 at 16k tokens, head dim 128, non-causal, on an
  H100 SXM (370 TFLOP/s, the FlashAttention-3 paper's Figure 5, one row of
  `validation/data/published/flash_attention_h100.csv`). Solved so the model's time with
  engine knob `attention_sm80` equals it. The H200 takes the value.

Every other row of both sources is graded, held out: the H200's SDPA op rows at 512-8,192
tokens (`gpu_measurements`), and the paper's other 17 points and PyTorch's FlashAttention-3
sweep (`attention_kernels`), which test the Q / O traffic that makes short sequences slower.

    python -m infersim.validation.fitting.attention [--check]

writes `validation/data/published/attention_fit.json`; the H100 and H200 specs carry the values.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infersim.validation.fitting import bisect_rising, fit_main

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "published" / "attention_fit.json"
CENSUS = ROOT / "data" / "gpu" / "h200-sxm-2026-12-04" / "run4" / "kernel_census.csv"
CENSUS_CASE = "sdpa b1 q8192 kv8192"
NATIVE_SHAPE = {"batch": 1, "heads": 32, "kv_heads": 8, "head_dim": 128, "seq": 8192}
SM80_KERNEL, SM80_SEQ = "FlashAttention-2", 16384


def census_kernel_s() -> float:
    """Device seconds of the SDPA kernel of `CENSUS_CASE` (its attention kernel only)."""
    with CENSUS.open(newline="") as f:
        ts = [float(r["device_s_per_step"]) for r in csv.DictReader(f)
              if r["case"] == CENSUS_CASE and "sdpa" in r["kernel"]]
    if len(ts) != 1:
        raise ValueError(f"{CENSUS}: expected one SDPA kernel of case {CENSUS_CASE!r}, "
                         f"found {len(ts)}")
    return ts[0]


def native_body_s(efficiency: float) -> float:
    """The H200 model's kernel body for the census shape at `attention_efficiency`: the
    `attention_kernels` prediction (graph runtime from idle) less `gpu.kernel_launch_us`."""
    from infersim.hwmodels import load_hardware
    from infersim.hwmodels.models.gpu.figures import figures
    from infersim.validation.datasets.attention_kernels import model_time_s

    hw = load_hardware("h200-sxm", {"gpu.attention_efficiency": efficiency})
    sh = NATIVE_SHAPE
    row = {"hardware": "h200-sxm", "kernel_class": "native", "batch": sh["batch"],
           "heads": sh["heads"], "kv_heads": sh["kv_heads"], "head_dim": sh["head_dim"],
           "seq_len": sh["seq"], "causal": "True", "dtype": "bf16"}
    return model_time_s(row, hw) - figures(hw).launch


def sm80_row() -> dict[str, str]:
    from infersim.validation.datasets.attention_kernels import rows

    found = [r for r in rows() if r["kernel"] == SM80_KERNEL and int(r["seq_len"]) == SM80_SEQ
             and r["use"] == "fit"]
    if len(found) != 1:
        raise ValueError(f"expected one fit row of {SM80_KERNEL} at {SM80_SEQ} tokens")
    return found[0]


def sm80_time_s(efficiency: float, row: dict[str, str]) -> float:
    from infersim.hwmodels import load_hardware
    from infersim.validation.datasets.attention_kernels import model_time_s

    hw = load_hardware(row["hardware"], {"gpu.attention_efficiency_sm80": efficiency})
    return model_time_s(row, hw)


def fit() -> dict[str, Any]:
    from infersim.validation.datasets.attention_kernels import flops

    measured = census_kernel_s()
    # the time falls as the efficiency rises: bisect on -time
    native = bisect_rising(lambda e: -native_body_s(e), -measured, 0.3, 1.0, 1e-4,
                           "gpu.attention_efficiency")
    row = sm80_row()
    target = flops(row) / (float(row["tflops"]) * 1e12)
    sm80 = bisect_rising(lambda e: -sm80_time_s(e, row), -target, 0.2, 1.0, 1e-4,
                         "gpu.attention_efficiency_sm80")
    native, sm80 = round(native, 3), round(sm80, 3)
    return {
        "native": {"parameter": "gpu.attention_efficiency", "hardware": ["h200-sxm", "h100-sxm"],
                   "value": native, "measured_s": measured,
                   "model_s_at_value": native_body_s(native),
                   "source": f"{CENSUS.relative_to(ROOT.parent)}: {CENSUS_CASE}",
                   "shape": NATIVE_SHAPE, "causal": True},
        "sm80": {"parameter": "gpu.attention_efficiency_sm80",
                 "hardware": ["h100-sxm", "h200-sxm"], "value": sm80,
                 "measured_tflops": float(row["tflops"]), "measured_s": target,
                 "model_s_at_value": sm80_time_s(sm80, row), "source": row["source"],
                 "row": {k: row[k] for k in ("kernel", "batch", "heads", "head_dim", "seq_len",
                                             "causal")}},
        "method": "bisection on infersim's flash-attention model, one measurement each",
    }


def summary(res: dict[str, Any]) -> str:
    n, s = res["native"], res["sm80"]
    return (f"gpu.attention_efficiency = {n['value']} (H200 cuDNN SDPA, {CENSUS_CASE}: measured "
            f"{n['measured_s'] * 1e6:.1f} us, model {n['model_s_at_value'] * 1e6:.1f} us)\n"
            f"gpu.attention_efficiency_sm80 = {s['value']} (FlashAttention-2, H100, "
            f"{s['row']['seq_len']} tokens: {s['measured_tflops']:.0f} TFLOP/s published, "
            f"model time {s['model_s_at_value'] * 1e3:.3f} ms vs {s['measured_s'] * 1e3:.3f})")


def main(argv: Sequence[str] | None = None) -> int:
    return fit_main(argv, "infersim.validation.fitting.attention", __doc__, fit, summary, OUT)


if __name__ == "__main__":
    sys.exit(main())
