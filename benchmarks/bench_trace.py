"""Benchmark: time to build a trace (the `infersim trace` hot path), median of repeats.

    python benchmarks/bench_trace.py [--model llama-3.1-405b] [--prompt 8192] [--repeats 200]

Prints the median build time of `build_trace` for a prefill (model config already parsed and
cached, as in a sweep), the first (uncached) load+build, and decode/MoE cases for context.
"""

from __future__ import annotations

import argparse
import statistics
import time

from infersim.api import make_scenario
from infersim.workloads import build_trace, load_model


def _median_s(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="llama-3.1-405b")
    ap.add_argument("--prompt", type=int, default=8192)
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args()

    t0 = time.perf_counter()
    m = load_model(args.model)
    sc = make_scenario("prefill", 1, prompt=args.prompt)
    tr = build_trace(m, sc)
    first = time.perf_counter() - t0
    print(f"{args.model} prefill {args.prompt}: first load+build {first * 1e3:.2f} ms, "
          f"{len(tr.ops)} ops, {tr.flops:.4g} FLOP")
    med = _median_s(lambda: build_trace(m, sc), args.repeats)
    print(f"  build_trace median {med * 1e6:.1f} µs over {args.repeats} runs")
    med_name = _median_s(lambda: build_trace(args.model, sc), args.repeats)
    print(f"  build_trace by name (cached config) median {med_name * 1e6:.1f} µs")
    for name, phase, kw in (("llama-3.1-405b", "decode", dict(context=8192, tp=8)),
                            ("deepseek-v3", "decode", dict(batch=64, context=4096, tp=8, ep=8)),
                            ("mixtral-8x7b", "spec_decode", dict(context=2048,
                                                                 draft_model="mistral-7b"))):
        s = make_scenario(phase, **kw)
        med = _median_s(lambda s=s, name=name: build_trace(name, s), args.repeats)
        print(f"  {name} {phase} {kw}: median {med * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
