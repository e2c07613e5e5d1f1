"""Software-stack commands: `infersim runtimes list|show|diff`: the runtime profiles a
`--runtime` names and the constants `--runtime-set` can change (`hwmodels.runtime_knobs`)."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

from infersim.cli.common import print_json, print_table, usage_of


def register(sub: Any) -> None:
    p = sub.add_parser("runtimes", help="software stacks: list, show, diff (the knobs of "
                                        "--runtime-set)",
                       description="The runtime profiles (GPU serving engines and frameworks, "
                       "the compiled software of wafer, LPU and other kinds) and their "
                       "constants, each changeable with --runtime-set KNOB=VALUE.")
    rs = p.add_subparsers(dest="runtimes_command", metavar="ACTION")
    lp = rs.add_parser("list", help="table of runtime profiles")
    lp.add_argument("--kind", default=None, help="only this hardware kind (gpu, wafer, lpu, ...)")
    lp.add_argument("--json", action="store_true", help="print JSON")
    lp.set_defaults(func=cmd_list)
    sp = rs.add_parser("show", help="every constant of one profile, its meaning and source")
    sp.add_argument("runtime", help="profile name, e.g. sglang, vllm-v0, cerebras-2024-10")
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.set_defaults(func=cmd_show)
    dp = rs.add_parser("diff", help="the constants in which two profiles differ")
    dp.add_argument("a", help="first profile")
    dp.add_argument("b", help="second profile")
    dp.add_argument("--json", action="store_true", help="print JSON")
    dp.set_defaults(func=cmd_diff)
    p.set_defaults(func=usage_of(p))



def _first_clause(text: str, width: int = 72) -> str:
    """The source's opening words, shortened to `width` at a word boundary."""
    return textwrap.shorten(text, width=width, placeholder=" …")


def cmd_list(args: argparse.Namespace) -> int:
    from infersim.foundation.errors import InputError
    from infersim.hwmodels.models.gpu.engines import ALIASES
    from infersim.hwmodels.runtime_knobs import catalog
    from infersim.hwmodels.spec import HardwareKind

    profiles = catalog()
    if args.kind is not None:
        kinds = [k.value for k in HardwareKind]
        if args.kind not in kinds:
            raise InputError(f"--kind {args.kind[:30]!r}: use one of {', '.join(kinds)}")
        profiles = [p for p in profiles if p.kind.value == args.kind]
    alias_of: dict[str, list[str]] = {}
    for a, target in ALIASES.items():
        alias_of.setdefault(target, []).append(a)
    rows = [{"name": p.name, "kind": p.kind.value, "base": p.base.value,
             "aliases": ", ".join(alias_of.get(p.name, [])), "constants_set": len(p.values),
             "what": _first_clause(p.source)} for p in profiles]
    if args.json:
        print_json(rows)
        return 0
    print_table(rows)
    print("\n(constants: `infersim runtimes show NAME`; change one with --runtime-set KNOB=VALUE)")
    return 0


def _fmt(v: Any) -> str:
    return "" if v is None else f"{v:g}"


def cmd_show(args: argparse.Namespace) -> int:
    from infersim.hwmodels.runtime_knobs import knob_rows, profile_named

    prof = profile_named(args.runtime)
    rows = knob_rows(prof)
    if args.json:
        print_json({"name": prof.name, "kind": prof.kind.value, "base": prof.base.value,
                    "source": prof.source, "constants": rows})
        return 0
    print(f"{prof.name} ({prof.kind.value}, base launch mode {prof.base.value})")
    print_table([{"knob": r["knob"], "value": _fmt(r["value"]),
                  "default": _fmt(r["default"]), "set": "*" if r["set"] else "",
                  "meaning": r["meaning"]} for r in rows])
    print("\n(* set by this profile; change any with --runtime-set KNOB=VALUE)")
    print("source:")
    print(textwrap.fill(prof.source, width=96, initial_indent="  ", subsequent_indent="  "))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from infersim.hwmodels.runtime_knobs import knob_rows, profile_named

    a, b = profile_named(args.a), profile_named(args.b)
    va = {r["knob"]: r["value"] for r in knob_rows(a)}
    vb = {r["knob"]: r["value"] for r in knob_rows(b)}
    rows = [{"knob": k, a.name: va.get(k), b.name: vb.get(k)}
            for k in dict.fromkeys([*va, *vb]) if va.get(k) != vb.get(k)]
    if a.kind is not b.kind:
        rows.insert(0, {"knob": "(kind)", a.name: a.kind.value, b.name: b.kind.value})
    if a.base is not b.base:
        rows.insert(0, {"knob": "(base launch mode)", a.name: a.base.value, b.name: b.base.value})
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(f"{a.name} and {b.name}: the same constants")
        return 0
    print_table([{k: (_fmt(v) if isinstance(v, float) else ("" if v is None else v))
                  for k, v in r.items()} for r in rows])
    return 0
