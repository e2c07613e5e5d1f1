"""Mapper command: `infersim map MODEL --hw H [scenario] [--runtime R]`.

Prints the mapping of one model step: per op, its kernels (eager split / fusion group), the
chosen tile and split-K of GEMMs, the attention algorithm and KV split, the collective
algorithm, waves, the bound, and the time; then the step totals (latency, host/device time,
kernels, per-stage times, fit check).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from typing import Any

from infersim.cli.common import (
    add_hw_args,
    add_runtime_arg,
    add_runtime_set_arg,
    add_scenario_args,
    fmt_si,
    header,
    parse_set,
    print_diagnostics,
    print_json,
    print_table,
    runtime_knobs_field,
    runtime_label,
    runtime_of,
    scenario_kwargs,
)
from infersim.cli.traces import add_trace_args, check_trace_args, write_step_traces
from infersim.foundation.paths import check_output_file

_COLUMNS = ("name", "count", "stage", "fusion_group", "kernels", "kernel", "tile", "split",
            "waves", "algorithm", "bound", "time", "total")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "map", help="show how one model step maps onto hardware (kernels, fusion, tiling)",
        description="Map one step of MODEL onto the hardware under a runtime and print the "
        "per-op mapping: eager kernel splits or fusion groups, GEMM tiles and split-K, "
        "attention algorithm and KV splits, collective algorithm, waves, bound and time.")
    p.add_argument("model", help="library name or path to an HF config.json")
    add_hw_args(p)
    add_scenario_args(p)
    add_runtime_arg(p)
    add_runtime_set_arg(p)
    p.add_argument("--csv", metavar="FILE", help="write the full mapping table to a CSV file")
    p.add_argument("--json", action="store_true", help="print totals and rows as JSON")
    add_trace_args(p, chakra=True)
    p.set_defaults(func=cmd_map)


def _cell(row: Mapping[Any, Any], key: str) -> Any:
    v = row.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return v


def cmd_map(args: argparse.Namespace) -> int:
    from infersim.api import (
        load_hardware,
        make_scenario,
        result_of,
        scenario_fields,
    )
    from infersim.foundation.io import atomic_write_text
    from infersim.mapper import engine_scenario, map_trace
    from infersim.workloads import build_trace, load_model

    if args.csv:
        check_output_file("--csv", args.csv)
    check_trace_args(args)
    hw = load_hardware(args.hw, parse_set(args.set) or None)
    runtime = runtime_of(args, hw)
    trace = build_trace(load_model(args.model),
                        engine_scenario(make_scenario(**scenario_kwargs(args)), hw, runtime))
    s = map_trace(trace, hw, runtime)
    if s.infeasible is None:
        write_step_traces(args, s)
    diags = result_of(s).diagnostics()
    df = s.to_frame()
    if args.csv:
        atomic_write_text(args.csv, df.to_csv(index=False))
    if args.json:
        print_json({**s.to_dict(), "hardware_overrides": dict(hw.overrides),
                    "runtime": s.runtime_name, **runtime_knobs_field(runtime),
                    "scenario": {"phase": trace.scenario.phase.value,
                                                      "batch": trace.scenario.batch,
                                                      **scenario_fields(trace.scenario)},
                    "diagnostics": diags, "ops": df.to_dict(orient="records")})
        return 0
    rows = []
    for r in df.to_dict(orient="records"):
        split = _cell(r, "map_split_k") or _cell(r, "map_split_kv")
        rows.append({
            "name": r["name"], "count": r["count"], "stage": r["stage"],
            "fusion_group": r["fusion_group"], "kernels": r["kernels"],
            "kernel": _cell(r, "map_kernel"), "tile": _cell(r, "map_tile"),
            "split": split, "waves": _cell(r, "map_waves"),
            "algorithm": _cell(r, "map_algorithm"), "bound": r["bound"],
            "time": fmt_si(r["time_s"], "s"), "total": fmt_si(r["total_time_s"], "s"),
        })
    print(header(trace.model, hw, trace.scenario, runtime_label(runtime, s.runtime_name)))
    print_diagnostics(diags)
    print_table(rows, _COLUMNS)
    print()
    totals = [
        ("latency", fmt_si(s.latency_s, "s")),
        ("device time (Σ kernels)", fmt_si(s.device_s, "s")),
        ("host launch time", fmt_si(s.host_s, "s")),
        ("device idle waiting on host", fmt_si(s.host_bound_s, "s")),
        ("per-step sync", fmt_si(s.step_overhead_s, "s")),
        *([("serving CPU beside the GPU (step floor)", fmt_si(s.frontend_floor_s, "s"))]
          if s.frontend_floor_s > 0 else []),
        ("kernels per step", str(s.kernels)),
        ("stage times", ", ".join(fmt_si(t, "s") for t in s.stage_times_s)),
        ("energy per step (chips only)", fmt_si(s.energy_j, "J")),
        ("memory per chip", fmt_si(s.memory_per_chip_bytes, "B")),
        ("fits", "yes" if s.feasible else f"NO — {s.infeasible}"),
    ]
    print_table([{"quantity": k, "value": v} for k, v in totals])
    if args.csv:
        print(f"\nwrote the mapping table ({len(df)} rows, exact values) to {args.csv}")
    return 0
