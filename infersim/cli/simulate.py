"""Front-door commands: `infersim simulate` and `infersim op`."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from infersim.cli.common import (
    MAX_CLI_INT,
    add_hw_args,
    add_power_cap_arg,
    add_runtime_arg,
    add_runtime_set_arg,
    add_scenario_args,
    fmt_si,
    header,
    hw_overrides,
    int_arg,
    print_diagnostics,
    print_json,
    print_table,
    runtime_knobs_field,
    runtime_label,
    runtime_label_on,
    runtime_of,
    scenario_kwargs,
)
from infersim.cli.traces import add_trace_args, check_trace_args, write_step_traces
from infersim.foundation.errors import InputError
from infersim.foundation.paths import check_output_file


def register(sub: Any) -> None:
    p = sub.add_parser("simulate", help="predict one prefill or decode step of a model",
                       description="Predict latency, throughput and energy of one model step.")
    p.add_argument("--model", default="llama-3.1-8b",
                   help="library model name or path to an HF config.json (default llama-3.1-8b)")
    add_hw_args(p)
    add_power_cap_arg(p)
    add_scenario_args(p)
    add_runtime_arg(p)
    add_runtime_set_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--ops", action="store_true", help="also print the per-operator table")
    p.add_argument("--csv", metavar="FILE", help="write the per-operator table to a CSV file")
    add_trace_args(p, chakra=True)
    p.set_defaults(func=cmd_simulate)

    q = sub.add_parser("op", help="predict the time of one operator (or a CSV of many)",
                       description="Predict one operator: matmul (--m --k --n) or attention "
                       "(--batch --heads --kv-heads --head-dim --q-len --kv-len), or every row "
                       "of --from-csv (columns: op,m,k,n,batch,heads,kv_heads,head_dim,q_len,"
                       "kv_len,causal,dtype).")
    q.add_argument("kind", nargs="?", choices=["matmul", "attention"], help="operator kind")
    add_hw_args(q)
    for name in ("m", "k", "n", "batch", "heads", "kv-heads", "head-dim", "q-len", "kv-len"):
        q.add_argument(f"--{name}", type=int_arg)
    q.add_argument("--causal", action="store_true")
    q.add_argument("--dtype", default="bf16")
    add_runtime_arg(q)
    add_runtime_set_arg(q)
    q.add_argument("--from-csv", metavar="FILE", help="predict every row of a CSV file")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_op)


def _load_hw(args: argparse.Namespace):
    from infersim.api import load_hardware

    return load_hardware(args.hw, hw_overrides(args) or None)


EXIT_DOES_NOT_FIT = 3  # the configuration does not fit: a result, not an error (README)


def _fmt_amount(x: float, unit: str) -> str:
    return fmt_si(x, unit) if unit == "B" else f"{x:g} {unit}"


def cmd_simulate(args: argparse.Namespace) -> int:
    from infersim.api import simulate, summary_rows

    if args.csv:
        check_output_file("--csv", args.csv)
    check_trace_args(args)
    hw = _load_hw(args)
    runtime = runtime_of(args, hw)
    r = simulate(args.model, hw, runtime=runtime, **scenario_kwargs(args))
    d = {**r.to_dict(), **runtime_knobs_field(runtime)}
    if r.feasible:
        write_step_traces(args, r.schedule)
    if args.csv:
        from infersim.foundation.io import atomic_write_text

        atomic_write_text(args.csv, r.ops.to_csv(index=False))
    if args.json:
        if args.csv:
            d["csv"] = str(args.csv)
        print_json(d)
        return 0 if r.feasible else EXIT_DOES_NOT_FIT
    print(header(d["model"], hw, r.scenario, runtime_label(runtime, d["runtime"])))
    from infersim.hwmodels.registry import cost_model

    for w in cost_model(hw).warnings(hw):
        print(f"  warning: {w}")
    if not r.feasible:
        inf = r.infeasible
        assert inf is not None
        print(f"  does not fit: {inf.resource}")
        print_table([{"": "demand", "value": _fmt_amount(inf.demand, inf.unit)},
                     {"": "capacity", "value": _fmt_amount(inf.capacity, inf.unit)},
                     {"": "short by", "value": _fmt_amount(inf.gap, inf.unit)}])
        for lever in inf.levers:
            print(f"  lever: {lever}")
        return EXIT_DOES_NOT_FIT
    print_diagnostics(d["diagnostics"])
    print_table([{"metric": k, "value": v} for k, v in summary_rows(r)])
    print("(energy scopes: chips only = the chips that run the step; + host & network = plus "
          "their share of the system's extra power)")
    df = r.ops
    print("\ntime by operator kind:")
    by = df.groupby("kind")["total_time_s"].sum().sort_values(ascending=False)
    print_table([{"kind": k, "time": fmt_si(v, "s"), "share": f"{100 * v / r.latency_s:.1f}%"}
                 for k, v in by.items()])
    if args.ops:
        print()
        print_table([{**row, "time_s": fmt_si(row["time_s"], "s"),
                      "flops": fmt_si(row["flops"], "FLOP")}
                     for row in df[["name", "kind", "count", "time_s", "bound", "flops"]]
                     .to_dict("records")])
    if args.csv:
        print(f"\nwrote the per-operator table ({len(df)} rows, exact values) to {args.csv}")
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
    runtime = runtime_of(args, hw)
    rows = []
    if args.from_csv:
        path = Path(args.from_csv)
        for i, rec in _read_op_csv(path):
            kind = (rec.get("op") or rec.get("kind") or "").strip()
            try:
                op = _op_from(kind, rec, (rec.get("dtype") or args.dtype).strip())
            except InputError as e:
                raise InputError(f"{path}:{i}: {e}") from None
            rec = {k: (int(v) if k in _CSV_INT and str(v).strip().lstrip("-").isdigit()
                       else v) for k, v in rec.items() if v not in (None, "")}
            rows.append({**rec,
                         "time_s": predict_op(op, hw, runtime), "flops": op.flops,
                         "bytes": op.bytes.total})
    else:
        if not args.kind:
            raise InputError("give an operator kind (matmul | attention) or --from-csv FILE")
        f: dict[str, Any] = {k: getattr(args, k) for k in _CSV_INT}
        if args.kind == "attention":
            f["causal"] = args.causal
        op = _op_from(args.kind, f, args.dtype)
        rows.append({"op": args.kind, **{k: v for k, v in f.items() if v is not None},
                     "dtype": args.dtype, "time_s": predict_op(op, hw, runtime),
                     "flops": op.flops, "bytes": op.bytes.total})
    if args.json:
        print_json(rows if args.from_csv else rows[0])
        return 0
    print(f"one execution on one chip of {hw.label}, runtime {runtime_label_on(runtime, hw)}")
    print_table([{**{k: v for k, v in r.items() if k != "time_s"},
                  "time": fmt_si(r["time_s"], "s"), "flops": fmt_si(r["flops"], "FLOP"),
                  "bytes": fmt_si(r["bytes"], "B")} for r in rows])
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
