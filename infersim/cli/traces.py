"""`--trace FILE.json` (Chrome/Perfetto trace) and `--chakra PREFIX` (ASTRA-sim execution
traces) for the commands that produce a step or a serving run."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from infersim.foundation.paths import check_output_file


def add_trace_args(p: argparse.ArgumentParser, *, chakra: bool) -> None:
    p.add_argument("--trace", metavar="FILE.json",
                   help="write a Chrome/Perfetto trace (open it at https://ui.perfetto.dev)")
    if chakra:
        p.add_argument("--chakra", metavar="PREFIX",
                       help="write Chakra execution traces of the step for ASTRA-sim: "
                       "PREFIX.<rank>.et, one per chip (needs the `chakra` extra)")


def check_trace_args(args: argparse.Namespace) -> None:
    """Refuse unwritable outputs before any work is done."""
    if getattr(args, "trace", None):
        check_output_file("--trace", args.trace, example="trace.json")
    if getattr(args, "chakra", None):
        check_output_file("--chakra", f"{args.chakra}.0.et", example="step")


def write_step_traces(args: argparse.Namespace, schedule: Any) -> None:
    """The op timeline of one step (--trace) and its Chakra traces (--chakra)."""
    from infersim.foundation.io import atomic_write_text

    if getattr(args, "trace", None):
        from infersim.simulator.timeline import simulate_timeline

        tl = simulate_timeline(schedule)
        atomic_write_text(args.trace, json.dumps(tl.chrome_trace()))
        print(f"wrote {args.trace} (op timeline, {len(tl.spans)} spans)", file=sys.stderr)
    if getattr(args, "chakra", None):
        from infersim.simulator.chakra import write_chakra

        paths = write_chakra(schedule, args.chakra)
        print(f"wrote {len(paths)} Chakra traces {args.chakra}.<rank>.et", file=sys.stderr)


def write_serving_trace(args: argparse.Namespace, result: Any) -> None:
    """The request lifecycles and engine iterations of a serving run (--trace)."""
    from infersim.foundation.io import atomic_write_text
    from infersim.simulator.traces import serving_chrome_trace

    if getattr(args, "trace", None):
        obj = serving_chrome_trace(result)
        atomic_write_text(args.trace, json.dumps(obj))
        print(f"wrote {args.trace} ({len(obj['traceEvents'])} trace events)", file=sys.stderr)
