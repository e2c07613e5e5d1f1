"""Published fused-MoE layer timings (the Triton fused-MoE kernels of vLLM and SGLang, and
TensorRT-LLM's CUTLASS and TRTLLM-Gen fused MoE as FlashInfer ships them) re-predicted by the
GPU model: the grouped-GEMM experts at 1 to 4,096 tokens, held out.

Data: `validation/data/published/fused_moe_kernels.csv` (sources and caveats in that folder's
README). Each row is the kernel time the engine's tuning harness printed for one token count
M: vLLM's `benchmarks/kernels/benchmark_moe.py` (SGLang's `tuning_fused_moe_triton.py` is a
copy) captures 10 calls of the MoE layer (`fused_topk` on random gating logits, then
`fused_experts`: the gate-up grouped GEMM, SiLU-and-mul, the down grouped GEMM, the top-k
sum) in one CUDA graph, replays it and divides by 10, so the time is the device time of the
layer's kernels back to back, launch gaps inside the graph included. FlashInfer's
`flashinfer_benchmark.py --routine cutlass_fused_moe` (flashinfer-ai/flashinfer#3014) times
one `cutlass_fused_moe` call with CUDA events, no graph: rows of 128 tokens, where the
kernels' milliseconds dwarf the host's launches. FlashInfer's `bench_moe_deepseek.py`
(flashinfer-ai/flashinfer#3976) times TensorRT-LLM's TRTLLM-Gen NVFP4 MoE (routing, both
expert GEMMs, finalize) in a CUDA graph with CUPTI: rows of 1-64 tokens.

Prediction: the same layer in a prefill trace of M tokens (`infersim.api.simulate`, the row's
model, tensor parallelism and dtype, the row's engine runtime), summing the device time of
its MoE ops (router top-k, expert GEMMs, activation, weighted sum). Routing is uniform
(`routing_skew` 0): the harness draws its gating logits at random. Nothing is fitted to these
rows; they test the grouped-GEMM model (tokens per expert, tile padding, the expert weight
stream) against kernels nobody here measured.

Groups: rows measured with a tuned or a sane default kernel config are graded (held out);
rows of vLLM main's default config before vllm-project/vllm#24700 are informative only: its
default heuristic set no `num_warps` / `num_stages` (the PR names that as its main
improvement), so its compute-bound rows time a mis-configured Triton kernel.

    python -m infersim.validation.datasets.moe_kernels
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

NAME = "moe_kernels"
DESCRIPTION = ("Published fused-MoE layer timings (vLLM / SGLang Triton fused-MoE tuning "
               "harness on H100, H200 and B200: Mixtral-8x7B, Qwen3-30B-A3B, Qwen3-235B-A22B, "
               "1-4096 tokens; TensorRT-LLM's CUTLASS MoE on RTX PRO 6000, Llama-4 Maverick "
               "shape, 128 tokens; its TRTLLM-Gen NVFP4 MoE on B200, DeepSeek-V3 shape, 1-64 "
               "tokens) re-predicted; held out")
DATA = Path(__file__).resolve().parents[1] / "data" / "published" / "fused_moe_kernels.csv"
LIST_ROWS = False
# the MoE layer's ops in a trace
MOE_OPS = frozenset({"router_topk", "experts_gate_up", "experts_act", "experts_down",
                     "experts_weighted_sum"})


def rows() -> list[dict[str, str]]:
    with DATA.open(newline="") as f:
        return list(csv.DictReader(f))


def moe_layer_s(model: str, hardware: str, tokens: int, *, tp: int, dtype: str,
                runtime: str) -> float:
    """Device seconds of one MoE layer over `tokens` tokens under uniform routing: the MoE
    ops of a prefill trace, each once (a layer, not the model's count of them)."""
    from infersim.api import simulate

    r = simulate(model, hardware, "prefill", 1, prompt=tokens, runtime=runtime,
                 weights=dtype, activations=dtype, tp=tp, routing_skew=0.0)
    ops = r.ops
    return float(ops.loc[ops["name"].isin(MOE_OPS), "time_s"].sum())


def group_of(r: dict[str, Any]) -> str:
    if r["use"] == "pass_fail":
        return "fused MoE layer (held-out)"
    return "fused MoE layer, mis-configured default kernel (informative)"


def load() -> pd.DataFrame:
    import pandas as pd

    out = []
    for r in rows():
        pred = moe_layer_s(r["model"], r["hardware"], int(r["tokens"]), tp=int(r["tp"]),
                           dtype=r["dtype"], runtime=r["runtime"])
        out.append({
            "dataset": NAME, "group": group_of(r),
            "case": f"{r['hardware']} {r['model']} tp{r['tp']} {r['dtype']} {r['config']} "
                    f"M={r['tokens']}",
            "predicted": pred, "measured": float(r["measured_us"]) * 1e-6, "unit": "s",
            "notes": f"runtime {r['runtime']}; {r['note']}; {r['source']}"})
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    import argparse

    argparse.ArgumentParser(prog="python -m infersim.validation.datasets.moe_kernels",
                            description=__doc__.split("\n\n")[0]).parse_args(argv)
    df = load()
    for r in df.itertuples(index=False):
        err = r.predicted / r.measured - 1.0
        print(f"{r.case:60s} meas {r.measured * 1e6:8.1f} us  pred {r.predicted * 1e6:8.1f} us"
              f"  {100 * err:+6.1f}%  [{r.group}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
