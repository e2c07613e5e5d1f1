"""Commands: `infersim sweep`, `infersim study list|run`, `infersim roofline`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from infersim.cli.common import (
    add_hw_args,
    add_runtime_arg,
    add_runtime_set_arg,
    add_scenario_args,
    header,
    nonneg_float,
    parse_set,
    positive_float,
    positive_int,
    print_json,
    print_table,
    runtime_knobs_field,
    runtime_label,
    runtime_of,
    scenario_kwargs,
    usage_of,
)
from infersim.foundation.errors import InputError
from infersim.foundation.paths import check_output_dir, check_output_file


def _add_executor_args(p: argparse.ArgumentParser) -> None:
    """Where the points run; the same options on `sweep` and `study run`."""
    p.add_argument("--executor", default="local", choices=["local", "dask"],
                   help="local processes (default) or a Dask distributed cluster")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: start a "
                   "local cluster)")
    p.add_argument("--tls-ca", metavar="PEM", help="tls:// scheduler: CA certificate that "
                   "signed the cluster's certificates (or Dask config distributed.comm.tls.*)")
    p.add_argument("--tls-cert", metavar="PEM", help="tls:// scheduler: this client's "
                   "certificate (may include its key)")
    p.add_argument("--tls-key", metavar="PEM", help="tls:// scheduler: this client's key")
    p.add_argument("--worker-timeout", type=positive_float, default=60.0, metavar="SECONDS",
                   help="Dask: give up when no worker has joined after this long (default 60)")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sweep", help="run a design study (YAML): grid, random or multi-objective search",
        description="Evaluate every point of a study file in parallel, streaming results to a "
        "crash-safe store (a killed sweep resumes where it stopped), then write results.csv, "
        "plots and report.html into the output directory. See docs/studies.md.")
    p.add_argument("study", help="study YAML file")
    p.add_argument("-o", "--out", metavar="DIR",
                   help="output directory (default: runs/<study name>)")
    _add_executor_args(p)
    p.add_argument("--workers", type=positive_int, default=None,
                   help="worker processes (default: all cores; 1 runs in this process)")
    p.add_argument("--chunk-size", type=positive_int, default=None,
                   help="points per task (default: automatic)")
    p.add_argument("--commit-every", type=nonneg_float, default=0.5, metavar="SECONDS",
                   help="commit results to the store at least this often (default 0.5; "
                   "0 = after every chunk)")
    p.add_argument("--fresh", action="store_true",
                   help="discard stored results in DIR and start over")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--no-report", action="store_true", help="skip plots and report.html")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=cmd_sweep)

    s = sub.add_parser("study", help="list or run the shipped studies",
                       description="Shipped design studies (data, plots and an HTML report).")
    ssub = s.add_subparsers(dest="study_command", metavar="ACTION")
    ls = ssub.add_parser("list", help="list the shipped studies")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_study_list)
    rn = ssub.add_parser("run", help="run a shipped study into a directory")
    rn.add_argument("name", help="study name (see `infersim study list`)")
    rn.add_argument("-o", "--out", metavar="DIR", help="output directory (default: runs/NAME)")
    rn.add_argument("--quick", action="store_true",
                    help="reduced size (for CI and a first look)")
    rn.add_argument("--workers", type=positive_int, default=None, help="worker processes")
    _add_executor_args(rn)
    rn.add_argument("--json", action="store_true", help="print the files written as JSON")
    rn.set_defaults(func=cmd_study_run)
    s.set_defaults(func=usage_of(s))

    r = sub.add_parser("roofline", help="roofline plot of one model step (each op as a point)",
                       description="Draw the hardware's compute and memory roofs and each "
                       "operator of one simulated step at (arithmetic intensity, achieved FLOP/s).")
    r.add_argument("--model", default="llama-3.1-8b", help="model name or config.json path")
    add_hw_args(r)
    add_scenario_args(r)
    add_runtime_arg(r)
    add_runtime_set_arg(r)
    r.add_argument("-o", "--out", metavar="FILE", default="roofline.png",
                   help="output image: .png, .svg or .pdf (default roofline.png)")
    r.add_argument("--title", default="",
                   help="plot title (default: model, hardware, scenario and runtime)")
    r.add_argument("--json", action="store_true",
                   help="print the file written and each operator's point as JSON")
    r.set_defaults(func=cmd_roofline)



def cmd_sweep(args: argparse.Namespace) -> int:
    from infersim.studies.lock import output_lock
    from infersim.studies.outputs import finish
    from infersim.studies.runner import check_study, run_sweep
    from infersim.studies.spec import load_study

    study = load_study(args.study)
    out = check_output_dir("-o", args.out) if args.out else Path("runs") / study.name
    check_study(study)  # before the folder is made or locked
    with output_lock(out):  # held through the plots and report too
        res = run_sweep(study, out, executor=args.executor, workers=args.workers,
                        scheduler=args.scheduler, chunk_size=args.chunk_size,
                        progress=not args.no_progress, fresh=args.fresh,
                        commit_every_s=args.commit_every, tls=_tls(args),
                        worker_wait_s=args.worker_timeout)
        files = [str(f) for f in res.files]
        parquet_note = "" if any(f.endswith("results.parquet") for f in files) else (
            "results.parquet not written: pyarrow is not installed (pip install "
            "'infersim[parquet]'); results.csv has every column")
        if not args.no_report:
            report, plots = finish(study, res)
            files += [str(p) for p in plots] + [str(report)]
    print(res.summary(), file=sys.stderr)
    if args.json:
        print_json({"study": study.name, "out": str(out), "points": res.n_points,
                    "evaluated": res.n_evaluated, "reused": res.n_reused,
                    "invalid": res.n_invalid, "errors": res.n_errors, "wall_s": res.wall_s,
                    "points_per_minute": res.points_per_minute, "files": files,
                    "notes": [parquet_note] if parquet_note else []})
    else:
        print(f"results: {out / 'results.csv'}")
        if parquet_note:
            print(f"note: {parquet_note}")
        if not args.no_report:
            print(f"report:  {out / 'report.html'}")
    return 1 if res.n_errors else 0


def _tls(args: argparse.Namespace) -> Any:
    from infersim.studies.executors import TlsFiles

    if not (args.tls_ca or args.tls_cert or args.tls_key):
        return None
    if not (args.tls_ca and args.tls_cert):
        raise InputError("TLS to a scheduler needs --tls-ca and --tls-cert (and --tls-key "
                         "unless the certificate file holds the key)")
    return TlsFiles(args.tls_ca, args.tls_cert, args.tls_key)


def cmd_study_list(args: argparse.Namespace) -> int:
    from infersim.studies.registry import list_studies

    rows = [{"name": s.name, "kind": s.kind, "description": s.description}
            for s in list_studies()]
    if args.json:
        print_json(rows)
    else:
        print_table(rows)
    return 0


def cmd_study_run(args: argparse.Namespace) -> int:
    from infersim.studies.lock import output_lock
    from infersim.studies.registry import find_study, run_study

    find_study(args.name)  # an unknown name fails before any folder is checked or made
    out = check_output_dir("-o", args.out) if args.out else Path("runs") / args.name
    with output_lock(out):  # held through the plots and report too
        res = run_study(args.name, out, quick=args.quick, workers=args.workers,
                        executor=args.executor, scheduler=args.scheduler, tls=_tls(args),
                        worker_wait_s=args.worker_timeout)
    if args.json:
        print_json({"study": args.name, "out": str(out), "wall_s": res.wall_s,
                    "report": str(res.report), "files": [str(f) for f in res.files]})
        return 0
    print(f"{args.name}: {res.wall_s:.1f} s; report: {res.report}")
    for f in res.files:
        print(f"  {f}")
    return 0


def cmd_roofline(args: argparse.Namespace) -> int:
    from infersim.api import load_hardware, simulate
    from infersim.studies import plots

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise InputError(f"-o {out}: use a .png, .svg or .pdf file name")
    check_output_file("-o", args.out, example="roofline.png")
    hw = load_hardware(args.hw, parse_set(args.set) or None)
    runtime = runtime_of(args, hw)
    r = simulate(args.model, hw, runtime=runtime, **scenario_kwargs(args))
    title = args.title or header(r.schedule.trace.model, hw, r.scenario,
                                 runtime_label(runtime) if runtime is not None else None)
    fig = plots.roofline(r.schedule, title=title)
    plots.save_figure(fig, out)
    if not r.feasible:
        print(f"note: {r.infeasible}", file=sys.stderr)
    if args.json:
        points = []
        for mo in r.schedule.ops:
            op, t = mo.op, mo.time_s
            b = op.bytes.total
            points.append({"name": op.name, "kind": op.kind.value, "flops": op.flops,
                           "bytes": b, "intensity_flop_per_b": op.flops / b if b else None,
                           "time_s": t, "achieved_flop_per_s": op.flops / t if t > 0 else None,
                           "bound": mo.cost.bound.value})
        print_json({"file": str(out), "title": title, "model": r.schedule.trace.model,
                    "hardware": hw.name, "hardware_overrides": dict(hw.overrides),
                    "runtime": args.runtime, **runtime_knobs_field(runtime),
                    "ops": points})
        return 0
    print(f"wrote {out} ({title})")
    return 0
