"""Sweep throughput on the local executor: points per minute of a decode-step design sweep.

    python benchmarks/bench_sweep.py                 # 100,000 points (10^5 grid), 2 workers
    python benchmarks/bench_sweep.py --size 10000    # 10,000 (hardware variant × scenario)
    python benchmarks/bench_sweep.py --profile 2000  # where the time of one point goes

The grid: HBM bandwidth × HBM capacity × bf16 peak (hardware variants through `--set`
overrides of h100-sxm) × batch × context, Llama-3.1-8B decode, runtime graph. Results go to a
temporary store (deleted afterwards). Reports wall time, points/minute and the split of
per-point time between spec loading, trace building, mapping and the sweep's own overhead.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def study_dict(size: int) -> dict:
    if size >= 100_000:
        n = 10  # 10^5
        bws = [1.0 + 0.5 * i for i in range(n)]
        caps = [40 + 8 * i for i in range(n)]
        peaks = [400 + 100 * i for i in range(n)]
        batches = [1, 2, 4, 8, 16, 32, 64, 96, 128, 256]
        ctxs = [256 * (i + 1) for i in range(n)]
    else:  # 10,000 = 100 hardware variants × 100 scenarios
        bws = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0, 20.0]
        caps = [40, 80]
        peaks = [500, 1000, 1500, 2000, 4000]
        batches = [1, 2, 4, 8, 16, 32, 64, 128, 192, 256]
        ctxs = [512, 1024, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 32768]
    return {
        "name": f"bench-{size}", "fixed": {
            "model": "llama-3.1-8b", "hardware": "h100-sxm", "runtime": "graph",
            "scenario": {"phase": "decode"}},
        "sweep": {"hw.memory.hbm.bandwidth_tb_per_s": bws, "hw.memory.hbm.capacity_gb": caps,
                  "hw.compute.tensor.peak_tflops.bf16": peaks, "scenario.batch": batches,
                  "scenario.context": ctxs},
        "search": {"method": "grid"},
        "metrics": ["latency_s", "tokens_per_s", "cost_per_mtok_usd"]}


def profile(n: int) -> None:
    """Profile n points evaluated in-process (as one worker does) and print the top costs."""
    from infersim.studies.evaluate import evaluate_chunk
    from infersim.studies.space import grid_points
    from infersim.studies.spec import parse_study

    pts = grid_points(parse_study(study_dict(10_000)))
    rows = list(pts.rows[:n])
    evaluate_chunk("simulate", pts.names, rows[:50])  # warm imports
    pr = cProfile.Profile()
    t = time.perf_counter()
    pr.enable()
    evaluate_chunk("simulate", pts.names, rows)
    pr.disable()
    dt = time.perf_counter() - t
    print(f"in-process: {n} points in {dt:.2f} s = {1e3 * dt / n:.3f} ms/point")
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("cumulative").print_stats(25)
    print(s.getvalue())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=100_000, choices=[10_000, 100_000])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--profile", type=int, metavar="N", help="profile N points in-process")
    args = ap.parse_args()
    if args.profile:
        profile(args.profile)
        return 0
    from infersim.studies.runner import run_sweep
    from infersim.studies.spec import parse_study

    study = parse_study(study_dict(args.size))
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as d:
        t0 = time.perf_counter()
        res = run_sweep(study, d, workers=args.workers, progress=True)
        wall = time.perf_counter() - t0
    ok = int((res.frame["status"] == "ok").sum())
    print(f"{args.size:,} points, {args.workers} workers: {wall:.1f} s wall, "
          f"{60 * res.n_points / wall:,.0f} points/minute ({ok:,} ok, "
          f"{res.n_invalid} invalid, {res.n_errors} errors)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
