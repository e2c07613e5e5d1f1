"""Published flash-attention forward kernel speeds on an H100 re-predicted by the GPU model:
FlashAttention-2, cuDNN and FlashAttention-3 at head dim 128 over 512 to 16k tokens.

Data: `validation/data/published/flash_attention_h100.csv` (sources and caveats in that
folder's README): the FlashAttention-3 paper's forward-speed figure (Shah et al. 2024,
arXiv:2407.08608, Figure 5, non-causal, head dim 128, batch x sequence = 16k tokens, 16
heads) for FlashAttention-2, cuDNN and FlashAttention-3, and the same sweep of
FlashAttention-3 run by PyTorch's benchmark suite (pytorch/benchmark PR #2391). Speeds are
TFLOP/s of 4 x batch x heads x seq^2 x head_dim; each row is graded as the time that speed
implies, so the sign convention is the report's (negative: the model is faster).

Prediction: the GPU model's fused-attention op (`workloads.ops.attention`, bf16) under the
`graph` runtime (device time from idle, as a benchmark loop of back-to-back calls sees it);
FlashAttention-2 rows with engine knob `attention_sm80` (its kernels are written for
Ampere's `mma.sync`), the others at the chip's native rate (FlashAttention-3 and cuDNN run
Hopper's `wgmma` and TMA). With the same blocks per SM at every length (batch x seq fixed),
the rise from 512 to 16k tokens is the Q and O tiles each block moves outside its main loop
(`hwmodels.models.gpu.attention`); nothing is fitted to it.

Groups: one FlashAttention-2 row, 16k tokens, is where `gpu.attention_efficiency_sm80` is
fitted (`python -m infersim.validation.fitting.attention`; the native efficiency is fitted
on the H200's own cuDNN kernel, not on these rows); the other 23 rows are held out.

    python -m infersim.validation.datasets.attention_kernels
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from infersim.hwmodels import Hardware

NAME = "attention_kernels"
DESCRIPTION = ("Published flash-attention forward speeds on H100 SXM (FlashAttention-3 paper: "
               "FlashAttention-2, cuDNN, FlashAttention-3; PyTorch's benchmark of "
               "FlashAttention-3), head dim 128, 512-16k tokens, re-predicted")
DATA = Path(__file__).resolve().parents[1] / "data" / "published" / "flash_attention_h100.csv"
LIST_ROWS = False


def rows() -> list[dict[str, str]]:
    with DATA.open(newline="") as f:
        return list(csv.DictReader(f))


def flops(r: dict[str, Any]) -> float:
    """FLOPs the published speed counts: 4 x batch x heads x seq^2 x head_dim, halved when
    causal (the FlashAttention papers' convention)."""
    f = 4.0 * int(r["batch"]) * int(r["heads"]) * int(r["seq_len"]) ** 2 * int(r["head_dim"])
    return f / 2.0 if str(r["causal"]) == "True" else f


def model_time_s(r: dict[str, Any], hw: Hardware | None = None) -> float:
    """The model's time of the row's attention call: the `graph` runtime from idle (a
    benchmark loop's device time), `attention_sm80` for FlashAttention-2-class kernels; KV
    heads as `kv_heads` where the row has one (GQA), else one per query head."""
    from dataclasses import replace

    from infersim.hwmodels import cost_model, load_hardware
    from infersim.hwmodels.models.gpu import engines as E
    from infersim.validation.datasets.gpu_measurements import ISOLATED
    from infersim.workloads import ops as O

    hw = hw if hw is not None else load_hardware(r["hardware"])
    graph = E.lookup("graph")
    assert graph is not None  # registered by hwmodels.models.gpu.engines
    profile = graph.with_values(attention_sm80=1.0 if r["kernel_class"] == "sm80" else 0.0)
    s = int(r["seq_len"])
    op = O.attention(int(r["batch"]), int(r["heads"]), int(r.get("kv_heads") or r["heads"]),
                     int(r["head_dim"]), s, s, str(r["causal"]) == "True", r["dtype"])
    return cost_model(hw).op_cost(op, hw, replace(ISOLATED, profile=profile)).time_s


def group_of(r: dict[str, Any]) -> str:
    kind = ("FlashAttention-2 class" if r["kernel_class"] == "sm80"
            else "native (FlashAttention-3, cuDNN)")
    return f"flash-attention forward, {kind} ({'fit' if r['use'] == 'fit' else 'held-out'})"


def load() -> pd.DataFrame:
    import pandas as pd

    out = []
    for r in rows():
        out.append({
            "dataset": NAME, "group": group_of(r),
            "case": f"{r['hardware']} {r['kernel']} hd{r['head_dim']} {r['batch']}x{r['seq_len']}"
                    f"{' causal' if r['causal'] == 'True' else ''} ({r['source']})",
            "predicted": model_time_s(r), "measured": flops(r) / (float(r["tflops"]) * 1e12),
            "unit": "s", "notes": f"{r['tflops']} TFLOP/s published; {r['note']}"})
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    import argparse

    argparse.ArgumentParser(prog="python -m infersim.validation.datasets.attention_kernels",
                            description=__doc__.split("\n\n")[0]).parse_args(argv)
    for r in rows():
        t = model_time_s(r)
        pub = float(r["tflops"])
        model = flops(r) / t / 1e12
        print(f"{r['kernel']:17s} {r['batch']:>3s}x{r['seq_len']:>5s}  published {pub:6.0f}  "
              f"model {model:6.0f} TFLOP/s  time {100 * (pub / model - 1):+6.1f}%  "
              f"[{group_of(r)}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
