"""Workload commands: `infersim models list|show` and `infersim trace`."""

from __future__ import annotations

import argparse
from typing import Any

from infersim.cli.common import (
    add_scenario_args,
    fmt_si,
    header,
    nonneg_int,
    print_json,
    print_table,
    scenario_kwargs,
    usage_of,
)
from infersim.foundation.defaults import DEFAULT_CONTEXT
from infersim.foundation.paths import check_output_file


def register(sub: Any) -> None:
    p = sub.add_parser("models", help="list the model library or show one model",
                       description="The model library (HF config.json files shipped as data).")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")
    lp = msub.add_parser("list", help="table of library models")
    lp.add_argument("--json", action="store_true", help="print JSON")
    lp.set_defaults(func=cmd_models_list)
    sp = msub.add_parser("show", help="summary of one model (name or path to config.json)")
    sp.add_argument("model", help="library name or path to an HF config.json")
    sp.add_argument("--context", type=nonneg_int, default=DEFAULT_CONTEXT,
                    help="KV-cache length for the decode FLOPs per token "
                    f"(default {DEFAULT_CONTEXT})")
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.set_defaults(func=cmd_models_show)
    p.set_defaults(func=usage_of(p))

    t = sub.add_parser("trace", help="operator trace of one model step",
                       description="Per-operator FLOPs and bytes of one step (one chip of the "
                       "TP group) and totals by tensor class.")
    t.add_argument("model", help="library name or path to an HF config.json")
    add_scenario_args(t)
    t.add_argument("--csv", metavar="FILE", help="write the per-operator table to a CSV file")
    t.add_argument("--json", action="store_true", help="print ops and totals as JSON")
    t.set_defaults(func=cmd_trace)



def cmd_models_list(args: argparse.Namespace) -> int:
    from infersim.workloads import list_models, load_model, summarize

    rows: list[dict[str, Any]] = []
    for name in list_models():
        s = summarize(load_model(name))
        rows.append({
            "name": name, "family": s.family, "params": s.params_total,
            "active": s.params_active, "layers": s.layers, "hidden": s.hidden_size,
            "heads": f"{s.heads}/{s.kv_heads}", "context": s.max_context,
        })
    if args.json:
        print_json(rows)
        return 0
    print_table([{**r, "params": fmt_si(r["params"]), "active": fmt_si(r["active"])}
                 for r in rows])
    return 0


def cmd_models_show(args: argparse.Namespace) -> int:
    from infersim.workloads import load_model, summarize

    m = load_model(args.model)
    s = summarize(m, context=args.context)
    d = s.to_dict()
    d["source"] = m.source
    d["provenance"] = m.provenance
    if args.json:
        print_json(d)
        return 0
    print(f"{s.name} ({s.family}) — {m.source}")
    rows = [
        ("parameters", fmt_si(s.params_total)),
        ("active parameters / token", fmt_si(s.params_active)),
        ("embedding parameters", fmt_si(s.params_embedding)),
        ("layers / hidden", f"{s.layers} / {s.hidden_size}"),
        ("heads / kv heads / head dim", f"{s.heads} / {s.kv_heads} / {s.head_dim}"),
        ("experts (top-k)", f"{s.experts} ({s.experts_per_token})" if s.experts else "dense"),
        ("max context", f"{s.max_context:,}"),
        ("weights bf16 / fp8 / int4", " / ".join(fmt_si(s.weight_bytes(dt), "B")
                                                for dt in ("bf16", "fp8", "int4"))),
        ("KV bytes / token (bf16)", f"{s.kv_bytes_per_token_bf16:,.0f} B "
                                    f"({s.kv_bytes_per_token_per_layer_bf16:,.0f} B per layer)"),
        (f"FLOPs / token (decode @ {s.context})", fmt_si(s.flops_per_token_decode, "FLOP")),
    ]
    if m.quant is not None:  # what --weights checkpoint uses
        q = m.quant
        rows.append(("checkpoint weights", f"{q.weights.value} ({q.method}"
                     f"{', experts only' if q.experts_only else ''})"))
    if m.mtp_layers:
        rows.append(("MTP modules (--draft-model mtp)", str(m.mtp_layers)))
    print_table([{"field": k, "value": v} for k, v in rows])
    pub = m.provenance.get("published_params")
    if pub:
        print(f"published: {fmt_si(pub)} parameters — "
              f"{m.provenance.get('published_params_source', '')}")
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from infersim.api import make_scenario, scenario_fields
    from infersim.workloads.builder import build_trace

    kw = scenario_kwargs(args)
    if args.csv:
        check_output_file("--csv", args.csv)
    sc = make_scenario(**kw)
    trace = build_trace(args.model, sc)
    if args.csv:
        trace.to_csv(args.csv)
    b = trace.bytes
    totals = {"flops": trace.flops, "matmul_flops": trace.matmul_flops(),
              "weight_bytes": b.weight, "act_in_bytes": b.act_in, "act_out_bytes": b.act_out,
              "kv_read_bytes": b.kv_read, "kv_write_bytes": b.kv_write, "bytes": b.total}
    if args.json:
        print_json({"model": trace.model, "phase": sc.phase.value, "batch": sc.batch,
                    **scenario_fields(sc), "scope": "per chip of the TP group",
                    "totals": totals,
                    "ops": [o.to_row() for o in trace.ops]})
        return 0
    print(header(trace.model, None, sc) + " (per chip; FLOPs and bytes per execution × count)")
    print_table([{"op": o.name, "kind": o.kind.value, "block": o.block, "count": o.count,
                  "flops": fmt_si(o.flops), "weight": fmt_si(o.bytes.weight, "B"),
                  "act": fmt_si(o.bytes.act_in + o.bytes.act_out, "B"),
                  "kv": fmt_si(o.bytes.kv_read + o.bytes.kv_write, "B")}
                 for o in trace.ops])
    print("\ntotals per step:")
    print_table([{"quantity": k, "value": fmt_si(v, "FLOP" if "flops" in k else "B")}
                 for k, v in totals.items()])
    if args.csv:
        print(f"\nwrote the per-operator table ({len(trace.ops)} rows, exact values) to "
              f"{args.csv}")
    return 0
