"""Benchmark: a serving run's speed at every depth of its caller's Python stack.

    python benchmarks/bench_call_depth.py [--depths 0:170:6] [--requests 2000] [--in-place]

Calls `serve` (Llama-3.1-8B on one H100, vLLM V0 profile, Poisson 8 req/s, prompt 1024 /
output 128, iteration-cost tables built afresh in every call) under a caller that is N plain
Python frames deep, for each N of `--depths`, and prints the wall time, the page faults and the
system time of each call. `--in-place` runs `serve` on the calling thread (the function under
its `fresh_stack` decorator); by default it runs on a thread of its own, at the depth a
command-line run has (`infersim.foundation.fresh_stack`, which says why).

Measured on the shared 2-core machine (2026-12-08), defaults (29 depths, one call each):

    --in-place: 0.15 s and ~100 faults at most depths; depths 78-108 up to 1.0 s and
                110,000 faults (0.74 s of system time); slowest / fastest 6.98x
    default:    no depth above ~300 faults; slowest / fastest 1.21x (this machine's noise)

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
    ap.add_argument("--in-place", action="store_true",
                    help="run serve on the calling thread (without its fresh stack)")
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
    from infersim.workloads import load_model

    call = serve.__wrapped__ if a.in_place else serve  # type: ignore[attr-defined]
    model, hw = load_model("llama-3.1-8b"), load_hardware("h100-sxm")
    traffic = Traffic(Poisson(8.0), FixedLengths(1024, 128), a.requests)
    dep = Deployment(runtime="vllm-v0")

    def once() -> tuple[float, int, float]:
        clear_shared()
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        call(model, hw, traffic, ServingPolicy(), deployment=dep, seed=0)
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
