"""`infersim plan`: search TP × PP × EP × DP × CP layouts of a model on a system under TTFT/TPOT
SLOs, ranked by cost per 1M output tokens (`infersim.planner`)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from infersim.cli.common import (
    add_hw_args,
    add_runtime_arg,
    add_runtime_set_arg,
    fmt_si,
    parse_set,
    print_json,
    print_table,
    runtime_label_on,
    runtime_of,
)


def register(sub: Any) -> None:
    p = sub.add_parser("plan", help="search parallel layouts that meet TTFT/TPOT SLOs",
                       description="Try every TP x PP x EP layout (MoE: also EP across "
                       "data-parallel attention groups; dense: context-parallel prefill) whose "
                       "replica divides the system's chips (DP = the replicas that fit), keep "
                       "for each the largest batch meeting the SLOs, and rank by cost per 1M "
                       "output tokens.")
    p.add_argument("--model", default="llama-3.1-8b", help="library model name or config.json")
    add_hw_args(p, default="dgx-h100")
    p.add_argument("--prompt", type=int, default=1024, help="prompt tokens per request")
    p.add_argument("--output", type=int, default=256, help="output tokens per request")
    p.add_argument("--ttft-ms", type=float, default=2000.0, help="TTFT SLO in ms")
    p.add_argument("--tpot-ms", type=float, default=50.0, help="TPOT SLO in ms")
    p.add_argument("--weights", default="bf16",
                   help="weight dtype (bf16, fp8, int4...; checkpoint: the model's "
                        "quantization_config)")
    p.add_argument("--kv", default=None, help="KV-cache dtype (default: activations)")
    p.add_argument("--max-batch", type=int, default=1024, help="largest batch per replica")
    add_runtime_arg(p)
    add_runtime_set_arg(p)
    p.add_argument("--top", type=int, default=10, help="rows to print (0: all)")
    p.add_argument("--json", action="store_true", help="print every row as JSON")
    p.set_defaults(func=cmd_plan)


def cmd_plan(args: argparse.Namespace) -> int:
    from infersim.api import load_hardware
    from infersim.planner import plan

    hw = load_hardware(args.hw, parse_set(args.set) or None)
    runtime = runtime_of(args, hw)
    rows = plan(args.model, hw, prompt=args.prompt, output=args.output,
                ttft_slo_s=args.ttft_ms / 1e3, tpot_slo_s=args.tpot_ms / 1e3,
                weights=args.weights, kv=args.kv, runtime=runtime, max_batch=args.max_batch)
    if args.json:
        print_json([r.to_dict() for r in rows])
        return 0
    ok = [r for r in rows if r.meets_slo]
    print(f"{args.model} on {hw.name} ({hw.num_chips} chips), runtime "
          f"{runtime_label_on(runtime, hw)}: prompt "
          f"{args.prompt}, output {args.output}, SLO TTFT ≤ {args.ttft_ms:g} ms, TPOT ≤ "
          f"{args.tpot_ms:g} ms — {len(ok)} of {len(rows)} layouts meet it")
    shown = rows if args.top == 0 else rows[:args.top]
    print_table([{
        "tp": r.tp, "pp": r.pp, "ep": r.ep, "attn dp": r.attn_dp, "cp": r.cp,
        "replicas": r.dp, "batch": r.batch or "-",
        "TTFT": fmt_si(r.ttft_s, "s") if r.meets_slo else "-",
        "TPOT": fmt_si(r.tpot_s, "s") if r.meets_slo else "-",
        "tok/s": f"{r.tokens_per_s:,.0f}" if r.meets_slo else "-",
        "$/1M tok": (f"{r.usd_per_mtok:.3f}" if not math.isnan(r.usd_per_mtok) else "n/a")
        if r.meets_slo else "-",
        "note": r.reason} for r in shown])
    return 0 if ok else 1
