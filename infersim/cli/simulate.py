"""Front-door commands: `infersim simulate` and `infersim op`."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from infersim.cli.common import (
    MAX_CLI_INT,
    _int,
    add_hw_args,
    add_scenario_args,
    check_output_file,
    fmt_si,
    parse_set,
    print_json,
    print_table,
    scenario_kwargs,
)
from infersim.foundation.errors import InputError


def register(sub: Any) -> None:
    p = sub.add_parser("simulate", help="predict one prefill or decode step of a model",
                       description="Predict latency, throughput and energy of one model step.")
    p.add_argument("--model", default="llama-3.1-8b",
                   help="library model name or path to an HF config.json (default llama-3.1-8b)")
    add_hw_args(p)
    add_scenario_args(p)
    p.set_defaults(context=1024)
    p.add_argument("--runtime", default="graph", help="eager | graph | fused (default graph)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--ops", action="store_true", help="also print the per-operator table")
    p.add_argument("--csv", metavar="FILE", help="write the per-operator table to a CSV file")
    p.set_defaults(func=cmd_simulate)

    q = sub.add_parser("op", help="predict the time of one operator (or a CSV of many)",
                       description="Predict one operator: matmul (--m --k --n) or attention "
                       "(--batch --heads --kv-heads --head-dim --q-len --kv-len), or every row "
                       "of --from-csv (columns: op,m,k,n,batch,heads,kv_heads,head_dim,q_len,"
                       "kv_len,causal,dtype).")
    q.add_argument("kind", nargs="?", choices=["matmul", "attention"], help="operator kind")
    add_hw_args(q)
    for name in ("m", "k", "n", "batch", "heads", "kv-heads", "head-dim", "q-len", "kv-len"):
        q.add_argument(f"--{name}", type=_int)
    q.add_argument("--causal", action="store_true")
    q.add_argument("--dtype", default="bf16")
    q.add_argument("--runtime", default="graph")
    q.add_argument("--from-csv", metavar="FILE", help="predict every row of a CSV file")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_op)


def _load_hw(args: argparse.Namespace):
    from infersim.api import load_hardware

    return load_hardware(args.hw, parse_set(args.set) or None)


def cmd_simulate(args: argparse.Namespace) -> int:
    from infersim.api import simulate

    if args.csv:
        check_output_file("--csv", args.csv)
    hw = _load_hw(args)
    kw = scenario_kwargs(args)
    if kw["phase"] == "prefill" and not kw["prompt"]:
        kw["prompt"] = kw["context"]
        kw["context"] = 0
    r = simulate(args.model, hw, runtime=args.runtime, **kw)
    d = r.to_dict()
    if args.csv:
        from infersim.foundation.io import atomic_write_text

        atomic_write_text(args.csv, r.ops.to_csv(index=False))
    if args.json:
        print_json(d)
        return 0
    sc = r.schedule.trace.scenario
    print(f"{d['model']} on {d['hardware']} — {sc.phase.value}, batch {sc.batch}, "
          f"prompt {sc.prompt}, context {sc.context}, runtime {d['runtime']}, "
          f"tp {sc.parallel.tp} pp {sc.parallel.pp}")
    if not r.feasible:
        print(f"  {d['reason']}")
    if d["chips_used"] < d["chips_in_system"]:
        print(f"  note: this step uses {d['chips_used']} of the system's "
              f"{d['chips_in_system']} chips; spread the model with --tp/--pp "
              f"(e.g. --pp {d['chips_in_system']})")
    rows = [
        {"metric": "step latency", "value": fmt_si(r.latency_s, "s")},
        {"metric": "tokens/s (batch)", "value": f"{r.tokens_per_s:,.1f}"},
        {"metric": "tokens/s per user", "value": f"{d['tokens_per_s_per_user']:,.1f}"},
        {"metric": "energy per step", "value": fmt_si(r.energy_j, "J")},
        {"metric": "energy per token", "value": fmt_si(r.energy_per_token_j, "J")},
        {"metric": "FLOPs per step", "value": fmt_si(d["flops"], "FLOP")},
        {"metric": "bytes per step", "value": fmt_si(d["bytes"], "B")},
    ]
    print_table(rows)
    df = r.ops
    print("\ntime by operator kind:")
    by = df.groupby("kind")["total_time_s"].sum().sort_values(ascending=False)
    print_table([{"kind": k, "time": fmt_si(v, "s"), "share": f"{100 * v / r.latency_s:.1f}%"}
                 for k, v in by.items()])
    if args.ops:
        print()
        print_table(df[["name", "kind", "count", "time_s", "bound", "flops"]]
                    .to_dict("records"))
    return 0


_CSV_INT = ("m", "k", "n", "batch", "heads", "kv_heads", "head_dim", "q_len", "kv_len")


def _op_from(kind: str, f: dict[str, Any], dtype: str):
    from infersim import ops

    def need(*names: str) -> list[int]:
        missing = [n for n in names if f.get(n) in (None, "")]
        if missing:
            raise InputError(f"{kind}: missing {', '.join('--' + n.replace('_', '-') for n in missing)}")
        out = []
        for n in names:
            try:
                v = int(str(f[n]).strip())
            except ValueError:
                raise InputError(f"{n}: expected an integer, got {str(f[n])[:40]!r}") from None
            if abs(v) > MAX_CLI_INT:
                raise InputError(f"{n}: {str(v)[:30]} is too large (at most {MAX_CLI_INT:.0e})")
            out.append(v)
        return out

    if kind == "matmul":
        m, k, n = need("m", "k", "n")
        return ops.matmul(m, k, n, dtype)
    if kind == "attention":
        b, h, kvh, hd, ql, kl = need("batch", "heads", "kv_heads", "head_dim", "q_len", "kv_len")
        causal = str(f.get("causal", False)).lower() in ("1", "true", "yes")
        return ops.attention(b, h, kvh, hd, ql, kl, causal, dtype)
    raise InputError(f"unknown op kind {kind!r}; use matmul or attention")


def cmd_op(args: argparse.Namespace) -> int:
    from infersim.api import predict_op

    hw = _load_hw(args)
    rows = []
    if args.from_csv:
        path = Path(args.from_csv)
        for i, rec in _read_op_csv(path):
            kind = (rec.get("op") or rec.get("kind") or "").strip()
            try:
                op = _op_from(kind, rec, (rec.get("dtype") or args.dtype).strip())
            except InputError as e:
                raise InputError(f"{path}:{i}: {e}") from None
            rows.append({**{k: v for k, v in rec.items() if v not in (None, "")},
                         "time_s": predict_op(op, hw, args.runtime), "flops": op.flops,
                         "bytes": op.bytes.total})
    else:
        if not args.kind:
            raise InputError("give an operator kind (matmul | attention) or --from-csv FILE")
        f = {k: getattr(args, k) for k in _CSV_INT}
        f["causal"] = args.causal
        op = _op_from(args.kind, f, args.dtype)
        rows.append({"op": args.kind, **{k: v for k, v in f.items() if v is not None},
                     "dtype": args.dtype, "time_s": predict_op(op, hw, args.runtime),
                     "flops": op.flops, "bytes": op.bytes.total})
    if args.json:
        print_json(rows if args.from_csv else rows[0])
    else:
        print_table(rows)
    return 0


def _read_op_csv(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """Rows of an operator CSV as (line number, record); errors name the file and fix."""
    cols = "op,m,k,n,batch,heads,kv_heads,head_dim,q_len,kv_len,causal,dtype"
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "no such file"
        raise InputError(f"--from-csv {path}: {what}; give a CSV file with columns {cols}")
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in reader.fieldnames or ()]
            if not header:
                raise InputError(f"--from-csv {path}: empty file; expected a header line {cols}")
            if "op" not in header and "kind" not in header:
                raise InputError(f"--from-csv {path}:1: no 'op' column in the header "
                                 f"{','.join(header)!r}; expected columns {cols}")
            rows = [(i, {(k or "").strip(): v for k, v in rec.items()})
                    for i, rec in enumerate(reader, start=2)
                    if any((v or "").strip() for v in rec.values() if isinstance(v, str))]
    except UnicodeDecodeError as e:
        raise InputError(f"--from-csv {path}: not a UTF-8 text CSV file ({e.reason})") from None
    if not rows:
        raise InputError(f"--from-csv {path}: no data rows after the header")
    return rows
