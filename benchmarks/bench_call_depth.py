"""Benchmark: a serving run's (or a sweep chunk's) speed at every depth of its caller's stack.

    python benchmarks/bench_call_depth.py [--depths 0:170:6] [--requests 2000] [--in-place]
    python benchmarks/bench_call_depth.py --sweep [--in-place]

Calls `serve` (Llama-3.1-8B on one H100, vLLM V0 profile, Poisson 8 req/s, prompt 1024 /
output 128, iteration-cost tables built afresh in every call) under a caller that is N plain
Python frames deep, for each N of `--depths`, and prints the wall time, the page faults and the
system time of each call. `--sweep` calls a sweep's `evaluate_chunk` instead: 59 decode
points of Llama-3.1-8B on an H100 (batch 1-59, the HBM bandwidth changed a little at each
depth so that no point is cached). `--in-place` runs the call on the calling thread (the
function under its `fresh_stack` decorator); by default it runs on a thread of its own, at
one depth whoever calls it (`infersim.foundation.fresh_stack`, which says why).

Measured on the shared 2-core machine (2026-12-08), defaults (29 depths, one call each):

    serve, --in-place: 0.13-0.15 s and ~100 faults at most depths; depths 78-108 up to
                       0.47 s and 44,000 faults (0.28 s of system time); slowest/fastest 3.48x
    serve:             no depth above a few hundred faults; slowest / fastest 1.08x
    --sweep --in-place: 0.09 s and ~515 faults at most depths; depths 84-114 up to 0.35 s
                       and 39,000 faults; slowest / fastest 4.03x
    --sweep:           no depth above 835 faults; slowest / fastest 2.15x, from a few chunks
                       of 0.12-0.21 s that are slow in place too, at the same call of the
                       scan (the 3rd, 7th, 12th, 17th, 23rd: not the stack)

Through the serving_published grader (two of its runs, iteration-cost tables cold), before
the decorator existed: 0.49 s at most depths, 1.59 s and 140,000 faults at depth 78.
"""

from __future__ import annotations

import argparse
import resource
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--depths", default="0:170:6", help="start:stop:step of caller depths")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--sweep", action="store_true",
                    help="call a sweep's evaluate_chunk (59 decode points) instead of serve")
    ap.add_argument("--in-place", action="store_true",
                    help="run the call on the calling thread (without its fresh stack)")
    a = ap.parse_args()
    start, stop, step = (int(x) for x in a.depths.split(":"))

    from infersim.hwmodels import load_hardware
    from infersim.simulator.serving import (
        Deployment,
        FixedLengths,
        Poisson,
        ServingPolicy,
        Traffic,
        serve,
    )
    from infersim.simulator.serving.costs import clear_shared
    from infersim.studies.evaluate import evaluate_chunk
    from infersim.workloads import load_model

    model, hw = load_model("llama-3.1-8b"), load_hardware("h100-sxm")
    traffic = Traffic(Poisson(8.0), FixedLengths(1024, 128), a.requests)
    dep = Deployment(runtime="vllm-v0")
    names = ("model", "hardware", "scenario.phase", "scenario.batch", "scenario.context",
             "hw.memory.hbm.bandwidth_tb_per_s")
    calls = 0

    def work() -> None:
        nonlocal calls
        calls += 1
        if a.sweep:  # a bandwidth not seen before: no point comes from a cache
            rows = [("llama-3.1-8b", "h100-sxm", "decode", b, 1024, 3.0 + 0.001 * calls)
                    for b in range(1, 60)]
            run = evaluate_chunk.__wrapped__ if a.in_place else evaluate_chunk
            assert all(status == "ok" for status, _ in run("simulate", names, rows))
        else:
            clear_shared()
            run = serve.__wrapped__ if a.in_place else serve
            run(model, hw, traffic, ServingPolicy(), deployment=dep, seed=0)

    def once() -> tuple[float, int, float]:
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        work()
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        return time.perf_counter() - t0, r1.ru_minflt - r0.ru_minflt, r1.ru_stime - r0.ru_stime

    def at(depth: int) -> tuple[float, int, float]:
        return once() if depth == 0 else at(depth - 1)

    once()  # warm the per-op price cache
    walls = []
    print(f"{'depth':>5} {'wall s':>7} {'faults':>8} {'sys s':>6}")
    for depth in range(start, stop, step):
        wall, faults, sys_s = at(depth)
        walls.append(wall)
        print(f"{depth:>5} {wall:>7.3f} {faults:>8} {sys_s:>6.2f}", flush=True)
    print(f"slowest / fastest: {max(walls) / min(walls):.2f}x "
          f"({'in place' if a.in_place else 'fresh stack'})")


if __name__ == "__main__":
    main()
