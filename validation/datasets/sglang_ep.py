"""SGLang's DeepSeek-V3 deployment with large-scale expert parallelism on H100s, re-predicted:
throughput per node and the speed-up of its two-batch overlap (the LMSYS blog "Deploying
DeepSeek with PD Disaggregation and Large-scale Expert Parallelism on 96 H100 GPUs",
5 May 2025, https://lmsys.org/blog/2025-05-05-large-scale-ep/; its source
blog/2025-05-05-large-scale-ep.md in github.com/lm-sys/lm-sys.github.io at 2db4e40).

Deployment (published): prefill on 4 nodes of 8 H100s (EP32), decode on 9 (EP72), data-
parallel attention on every GPU (tp 1, dp = GPUs), DeepEP's all-to-all token exchange
(`moe_exchange` "deepep": normal kernels in prefill, "hierarchical", a token once per
destination node; low-latency in decode, "all_to_all", once per expert), DeepGEMM's fp8
grouped GEMMs, EPLB, and two-batch overlap (TBO): each batch split into two micro-batches
whose dispatch/combine runs under the other's compute (`Scenario.micro_batches` 2). Hardware `dgx-h100x4` (one 400 Gb/s
NIC per GPU; the decode rows with `system.num_chips` 72, assumed: the same nodes, nine of
them).

Assumed where the blog is silent (per row in `validation/data/published/sglang_ep.csv`):
fp8 weights and GEMM inputs (DeepSeek-V3's fp8 checkpoint, DeepGEMM), bf16 KV cache, 32
redundant experts (the blog's example of EPLB's 288 slots), the `graph` runtime (decode under
CUDA graphs, which DeepEP's low-latency kernels and DeepGEMM's masked layout support; a
prefill's kernels are long enough that launch costs do not matter; the `sglang` profile is
SGLang's default Triton fused-MoE path, not DeepEP + DeepGEMM), routing skew as fitted
(uniform, `routing_skew` 0, on the row of the blog's simulated perfect EPLB).
Graded:
- throughput: tok/s per node = 8 GPUs x sequences per GPU x tokens per sequence / step, a
  prefill's prompt tokens or a decode step's one token per sequence;
- tbo_speedup: that throughput with two micro-batches over the same with one, at the row's
  tokens per device (the blog's ablation).
Held out: nothing here was fitted.

    python -m infersim.validation.datasets.sglang_ep
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

NAME = "sglang_ep"
DESCRIPTION = ("SGLang's DeepSeek-V3 deployment with expert parallelism across H100 nodes (EP32 "
               "prefill, EP72 decode, DeepEP, two-batch overlap; LMSYS blog, May 2025): "
               "throughput per node and the two-batch overlap's speed-up, re-predicted")
DATA = Path(__file__).resolve().parents[1] / "data" / "published" / "sglang_ep.csv"
SOURCE = "https://lmsys.org/blog/2025-05-05-large-scale-ep/"
NODE = 8  # GPUs per node
SPEC = "dgx-h100x4"
# DeepEP's kernels per phase (the blog's "Normal Dispatch" in prefill, "Low-Latency
# Dispatch" in decode): `moe_exchange` "deepep", a token once per destination node (then
# NVLink) in prefill and once per expert in decode
DEPLOYMENT = dict(weights="fp8", activations="fp8", kv="bf16", tp=1, redundant_experts=32,
                  runtime="graph", moe_exchange="deepep")
GROUPS = {"throughput": "EP throughput per node (held-out)",
          "tbo_speedup": "two-batch overlap speed-up (held-out)"}


def rows() -> list[dict[str, str]]:
    with DATA.open(newline="") as f:
        return list(csv.DictReader(f))


def throughput(r: dict[str, Any], micro_batches: int, moe_exchange: str | None = None
               ) -> float:
    """Tokens per second per node of the row's step with `micro_batches` micro-batches
    (`moe_exchange`: DeepEP's, "deepep", unless given)."""
    from infersim.api import load_hardware, simulate

    chips = int(r["chips"])
    hw = load_hardware(SPEC, {"system.num_chips": chips} if chips != 32 else None)
    b = int(r["batch_per_gpu"])
    kw: dict[str, Any] = dict(DEPLOYMENT, dp=chips, ep=chips, micro_batches=micro_batches)
    if moe_exchange:
        kw["moe_exchange"] = moe_exchange
    if r["routing"] == "uniform":  # the blog's simulated perfect EPLB
        kw["routing_skew"] = 0.0
    if r["phase"] == "prefill":
        prompt = int(r["prompt"])
        res = simulate("deepseek-v3", hw, "prefill", b * chips, prompt=prompt, **kw)
        return NODE * b * prompt / res.latency_s
    res = simulate("deepseek-v3", hw, "decode", b * chips, context=int(r["context"]), **kw)
    return NODE * b / res.latency_s


def predict(r: dict[str, Any]) -> float:
    """The row's figure: its throughput, or its two-batch overlap's speed-up."""
    mbs = int(r["micro_batches"])
    if r["kind"] == "tbo_speedup":
        return throughput(r, mbs) / throughput(r, 1)
    return throughput(r, mbs)


def load() -> pd.DataFrame:
    import pandas as pd

    out = [{"dataset": NAME, "group": GROUPS[r["kind"]], "case": r["id"],
            "predicted": predict(r), "measured": float(r["measured"]), "unit": r["unit"],
            "notes": f"{r['notes']}; {SOURCE}"} for r in rows()]
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    from infersim.validation.stats import print_rows

    print_rows(load())
    return 0


if __name__ == "__main__":
    sys.exit(main())
