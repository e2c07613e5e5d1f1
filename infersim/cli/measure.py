"""CLI of the validation layer: `infersim calibrate` and `infersim validate`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from infersim.cli.common import nonneg_float, nonneg_int, print_json, print_table
from infersim.foundation.paths import check_output_dir


def register(sub: Any) -> None:
    c = sub.add_parser(
        "calibrate", help="measure this machine with Numba kernels and write a calibrated spec",
        description="Run STREAM, reduction, vector-FMA and GEMM kernels (plus a small real "
        "transformer on the CPU), fit the machine model, and write a measurement file and a "
        "calibrated hardware spec (kind cpu, or gpu with --device cuda). Some sizes are held "
        "out of the fit and predicted by the written spec; their error is printed.")
    c.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    c.add_argument("-o", "--output", metavar="SPEC.yaml", default=None,
                   help="calibrated spec to write (default validation/data/<host>-<date>.yaml);"
                   " the measurement file goes next to it with a .csv suffix")
    c.add_argument("--quick", action="store_true",
                   help="a CI-size run of a few seconds (fewer sizes and repeats)")
    c.add_argument("--profile", default=None, choices=None, metavar="{full,quick,tiny}",
                   help="measurement profile (overrides --quick; tiny is for tests)")
    c.add_argument("--seed", type=nonneg_int, default=0, help="seed of the random inputs (default 0)")
    c.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    c.add_argument("--refit", metavar="MEASUREMENTS.csv", default=None,
                   help="do not measure: fit a spec again from an existing CPU measurement "
                   "file (default output: the same name with .yaml)")
    c.add_argument("--budget", type=nonneg_float, default=150.0, metavar="SECONDS",
                   help="wall-clock budget of the measurements (default 150; 0 = none): past "
                   "it, cases get fewer, shorter samples, then held-out cases are skipped; "
                   "fit cases are always measured")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(func=cmd_calibrate)

    v = sub.add_parser(
        "validate", help="report predicted vs measured over every validation data set",
        description="Build a markdown report with plots (predicted vs measured with ±10% "
        "bands, a roofline with measured points) over every data set module in "
        "validation/datasets/, from committed measurement files.")
    v.add_argument("-o", "--output", metavar="DIR", default="out/validation",
                   help="report folder (default out/validation)")
    v.add_argument("--measure", action="store_true",
                   help="also calibrate this machine now (quick profile) and report it")
    v.add_argument("--json", action="store_true", help="print the summary table as JSON")
    v.set_defaults(func=cmd_validate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from infersim.validation.calibrate import CalibrateOptions, calibrate, profile_of, refit

    if args.refit:
        res = refit(Path(args.refit), Path(args.output) if args.output else None)
        return _print_result(res, args.json)
    opts = CalibrateOptions(device=args.device,
                            out=Path(args.output) if args.output else None,
                            profile=profile_of(args.quick, args.profile), seed=args.seed,
                            progress=not args.no_progress,
                            budget_s=args.budget or None)
    return _print_result(calibrate(opts), args.json)


def _print_result(res: Any, as_json: bool) -> int:
    for w in res.warnings:
        print(f"infersim: {w}", file=sys.stderr)
    if as_json:
        print_json(res.to_dict())
        return 0
    print(f"measurements: {res.data_path}")
    print(f"calibrated spec: {res.spec_path}  (name {res.spec_name}; use --hw {res.spec_path})")
    print(f"elapsed: {res.elapsed_s:.1f} s\n")
    print_table(list(res.summary))
    h = res.holdout
    print(f"\nheld-out kernel cases: N={h.n}, median APE {100 * h.median_ape:.1f}%, "
          f"p90 {100 * h.p90_ape:.1f}%")
    if res.transformer is not None:
        t = res.transformer
        print(f"small transformer steps: N={t.n}, median APE {100 * t.median_ape:.1f}%, "
              f"p90 {100 * t.p90_ape:.1f}%")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from infersim.validation.report import build_report

    check_output_dir("-o", args.output)
    rep = build_report(Path(args.output), measure=args.measure)
    if args.json:
        print_json({"report": str(rep.markdown_path),
                    "summary": rep.summary.to_dict("records"),
                    "failed": {k: v for k, v in rep.failed.items()}})
        return 0
    print(f"report: {rep.markdown_path}")
    print_table(rep.summary_rows())
    for line in rep.lines:  # report.md's kernel and production lines, computed once
        print(line)
    for name, err in rep.failed.items():
        print(f"infersim: data set {name} could not be loaded: {err}", file=sys.stderr)
    return 0
