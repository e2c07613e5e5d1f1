"""One-off fuzz campaign over the CLI and the API (see tests/fuzzing.py for what is judged).

    python benchmarks/fuzz_campaign.py --cli 2000 --api 2000 [--seed 0] [--limit 30]

Prints one line per finding (traceback, hang, bad exit, wrong answer) and a summary; exit 1
when anything was found. Runs in this process (no subprocess per case); outputs go to a
temporary folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fuzzing import argv, commands, run_api, run_cli, write_files


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli", type=int, default=2000, help="CLI invocations")
    ap.add_argument("--api", type=int, default=2000, help="API calls")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=float, default=30.0, help="seconds per case before a hang")
    ap.add_argument("--skip-yaml-owned", action="store_true",
                    help="leave out the alias-bomb and deep-nesting YAML inputs (the YAML "
                    "loader's limits are tested with the loader)")
    a = ap.parse_args()
    from infersim.cli import build_parser
    from infersim.cli import main as cli_main

    cmds = commands(build_parser())
    found: list[str] = []
    codes: collections.Counter[str] = collections.Counter()
    per_cmd: collections.Counter[str] = collections.Counter()
    slowest = (0.0, "")
    skipped = 0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="infersim-fuzz-") as d:
        tmp = Path(d)
        write_files(tmp)
        cwd = os.getcwd()
        os.chdir(tmp)  # default output folders (runs/...) land in the temporary folder
        try:
            for i in range(a.cli):
                args = argv(a.seed * 1_000_003 + i, cmds, tmp)
                if a.skip_yaml_owned and any(m in w for w in args
                                             for m in ("bomb.yaml", "deep.yaml", "&a")):
                    skipped += 1
                    continue
                o = run_cli(cli_main, args, a.limit)
                codes[str(o.rc)] += 1
                per_cmd[" ".join(args[:2]) if args[0] in ("hw", "models", "study")
                        else args[0]] += 1
                if o.wall_s > slowest[0]:
                    slowest = (o.wall_s, " ".join(args)[:200])
                if o.problem:
                    found.append(f"CLI {o.problem} :: infersim {' '.join(args)[:300]}")
                    print(found[-1], flush=True)
        finally:
            os.chdir(cwd)
    cli_s = time.perf_counter() - t0
    api_problems: collections.Counter[str] = collections.Counter()
    t1 = time.perf_counter()
    for i in range(a.api):
        label, problem = run_api(a.seed * 1_000_003 + i, a.limit)
        if problem:
            kind = problem.split(":")[0]
            api_problems[kind] += 1
            found.append(f"API {problem} :: {label[:200]}")
            print(found[-1], flush=True)
    api_s = time.perf_counter() - t1
    kinds = collections.Counter(f.split(":")[0] for f in found)
    print(f"\nCLI: {a.cli - skipped} invocations ({skipped} YAML-loader cases skipped) in "
          f"{cli_s:.0f} s; exit codes {dict(codes)}; "
          f"per command {dict(per_cmd)}; slowest {slowest[0]:.1f} s ({slowest[1]})")
    print(f"API: {a.api} calls in {api_s:.0f} s")
    print(f"findings: {len(found)} {dict(kinds)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
