"""Hardware commands: `infersim hw list | show | validate | diff`."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from infersim.cli.common import fmt_si, parse_set, print_json, print_table, usage_of
from infersim.foundation.errors import InfersimError


def register(sub: Any) -> None:
    p = sub.add_parser("hw", help="hardware specs: list, show, validate, diff",
                       description="The hardware spec library (hwmodels/specs/*.yaml) and "
                       "tools for writing specs; see docs/hardware-spec.md.")
    hs = p.add_subparsers(dest="hw_command", metavar="ACTION")
    lp = hs.add_parser("list", help="table of library specs (system totals)")
    lp.add_argument("--json", action="store_true", help="print JSON")
    lp.set_defaults(func=cmd_list)
    sp = hs.add_parser("show", help="all fields and derived figures of one spec")
    sp.add_argument("name", help="library name or path to a YAML spec")
    sp.add_argument("--set", action="append", metavar="FIELD.PATH=VALUE", dest="set",
                    help="override a spec field (repeatable), e.g. memory.hbm.capacity_gb=96")
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.set_defaults(func=cmd_show)
    vp = hs.add_parser("validate", help="check spec files; exit 2 listing every problem")
    vp.add_argument("files", nargs="+", metavar="FILE", help="YAML spec files")
    vp.add_argument("--json", action="store_true",
                    help="print one JSON object per file (ok, problems)")
    vp.set_defaults(func=cmd_validate)
    dp = hs.add_parser("diff", help="fields that differ between two specs")
    dp.add_argument("a", help="library name or YAML path")
    dp.add_argument("b", help="library name or YAML path")
    dp.add_argument("--json", action="store_true", help="print JSON")
    dp.set_defaults(func=cmd_diff)
    p.set_defaults(func=usage_of(p))



def _peak_total(hw: Any, *names: str) -> float:
    from infersim.workloads.dtypes import DType

    best = 0.0
    for n in names:
        best = max(best, hw.chip.peak_flops(DType(n)))
    return best * hw.num_chips


def list_rows() -> list[dict[str, Any]]:
    from infersim.hwmodels.capex import capex_usd
    from infersim.hwmodels.loader import list_hardware, load_hardware

    rows = []
    for name in list_hardware():
        hw = load_hardware(name)
        main = hw.chip.main_memory
        rows.append({
            "name": name, "kind": hw.kind.value, "chips": hw.num_chips,
            "bf16_flops": _peak_total(hw, "bf16", "fp16"),
            "fp8_flops": _peak_total(hw, "fp8", "int8"),
            "memory": main.name, "capacity_bytes": hw.capacity_bytes(),
            "bandwidth_Bps": main.bandwidth_Bps * hw.num_chips,
            "power_w": hw.total_power_w, "price_usd": capex_usd(hw),
        })
    return rows


def cmd_list(args: argparse.Namespace) -> int:
    rows = list_rows()
    if args.json:
        print_json(rows)
        return 0
    print_table([{
        "name": r["name"], "kind": r["kind"], "chips": r["chips"],
        "bf16/fp16": fmt_si(r["bf16_flops"], "FLOP/s") if r["bf16_flops"] else "-",
        "fp8/int8": fmt_si(r["fp8_flops"], "OP/s") if r["fp8_flops"] else "-",
        "memory": f"{fmt_si(r['capacity_bytes'], 'B')} {r['memory']}",
        "bandwidth": fmt_si(r["bandwidth_Bps"], "B/s"),
        "power": fmt_si(r["power_w"], "W"),
        "price": f"${r['price_usd']:,.0f}" if r["price_usd"] else "-",
    } for r in rows])
    print("\n(system totals: peaks, capacity and bandwidth of the main memory level × chips; "
          "power = TDP × chips + extra)")
    return 0


def _fmt(value: Any, unit: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if value != value:  # NaN: a derived figure the spec cannot give (source says why)
        return "not derivable"
    if unit.startswith("J/"):  # energies per bit / per FLOP read best in pJ
        return f"{value * 1e12:.4g} p{unit}"
    if unit in ("FLOP/B", "B/FLOP"):
        return f"{value:.4g} {unit}"
    if unit in ("", "USD", "mm²", "nm"):
        return f"{value:,.6g}" + (f" {unit}" if unit else "")
    return fmt_si(float(value), unit)


def cmd_show(args: argparse.Namespace) -> int:
    from infersim.hwmodels.loader import load_hardware
    from infersim.hwmodels.summary import derived, flatten, physical

    hw = load_hardware(args.name, parse_set(args.set) or None)
    fields = flatten(hw)
    der = derived(hw)
    phys = physical(hw)
    if args.json:
        print_json({"name": hw.name, "origin": hw.origin,
                    "fields": {k: {"value": v, "unit": u} for k, (v, u) in fields.items()},
                    "derived": {k: {"value": v, "unit": u}
                                | ({"source": phys[k][2]} if k in phys else {})
                                for k, (v, u) in der.items()},
                    "sources": dict(hw.sources), "chip_sources": dict(hw.chip.sources)})
        return 0
    print(f"{hw.label} ({hw.kind.value}, {hw.num_chips} × {hw.chip.name}) — {hw.description}")
    print(f"from {hw.origin}\n")
    chip_prefix = "chip." if hw.num_chips > 1 or any(k.startswith("chip.") for k in fields) \
        else ""
    srcs = {**{f"{chip_prefix}{k}": v for k, v in hw.chip.sources.items()},
            **{k.removeprefix("system.") if k == "system.num_chips" else k: v
               for k, v in hw.sources.items()}}
    print_table([{"field": k, "value": _fmt(v, u), "source": _source_of(k, srcs)}
                 for k, (v, u) in fields.items()])
    print("\nderived:")
    print_table([{"figure": k, "value": _fmt(v, u),
                  "source": _clip(phys[k][2]) if k in phys else ""}
                 for k, (v, u) in der.items()])
    return 0


def _clip(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


_UNIT_SUFFIX = re.compile(r"_(tflops|tops|tb_per_s|gb_per_s|gb|mb|kb|ns|us|ms|ghz|mhz|"
                          r"pj_per_bit|pj_per_flop|w|mm2|nm|usd)(?=\.|$)")


def _source_of(field: str, sources: dict[str, str], width: int = 70) -> str:
    """The provenance of a flattened field (YAML source keys carry unit suffixes: strip them,
    then take the longest key equal to the field or a parent of it)."""
    best, text = -1, ""
    for k, v in sources.items():
        bare = _UNIT_SUFFIX.sub("", k)
        if (field == bare or field.startswith(bare + ".")) and len(bare) > best:
            best, text = len(bare), v
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_validate(args: argparse.Namespace) -> int:
    from infersim.hwmodels.loader import check_spec

    rc = 0
    results = []
    for f in args.files:
        try:
            hw = check_spec(f)
        except InfersimError as e:
            problems = [str(p) for p in getattr(e, "problems", ())] or [str(e)]
            results.append({"file": f, "ok": False, "problems": problems})
            if not args.json:
                print(str(e), file=sys.stderr)
            rc = 2
        else:
            from infersim.hwmodels.summary import cross_checks

            warnings = cross_checks(hw)
            results.append({"file": f, "ok": True, "name": hw.name, "problems": [],
                            "warnings": warnings})
            if not args.json:
                print(f"{f}: ok")
                for w in warnings:
                    print(f"{f}: warning: {w}")
    if args.json:
        print_json(results)
    return rc


def cmd_diff(args: argparse.Namespace) -> int:
    from infersim.hwmodels.loader import load_hardware
    from infersim.hwmodels.summary import flatten

    a, b = flatten(load_hardware(args.a)), flatten(load_hardware(args.b))
    rows = []
    for k in list(dict.fromkeys([*a, *b])):
        va, ua = a.get(k, (None, ""))
        vb, ub = b.get(k, (None, ""))
        if va != vb:
            rows.append({"field": k, "a": va, "b": vb, "unit": ua or ub})
    if args.json:
        print_json({"a": args.a, "b": args.b, "differences": rows})
        return 0
    if not rows:
        print(f"{args.a} and {args.b}: no differences")
        return 0
    print_table([{"field": r["field"],
                  args.a: "-" if r["a"] is None else _fmt(r["a"], r["unit"]),
                  args.b: "-" if r["b"] is None else _fmt(r["b"], r["unit"]),
                  "unit": r["unit"]} for r in rows])
    return 0
