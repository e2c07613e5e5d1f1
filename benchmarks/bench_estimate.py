"""Speed of whole-model estimates (trace + mapping + costing), warm and cold cost cache.

    python benchmarks/bench_estimate.py            # full run (~1 min on 2 cores)
    python benchmarks/bench_estimate.py --quick    # a few seconds

Measures (wall clock, `time.perf_counter`, single process):
1. one Llama-3.1-70B decode-step estimate on dgx-h100 with TP=8 (runtime fused, batch 1,
   context 2048), mapping included: `build_trace` + `map_trace`, median and p90 over repeats,
   with a warm cost cache (repeated estimate) and a cold one (cache cleared before each);
2. a sweep of N (hardware variant × scenario) points: 100 H100 variants (HBM bandwidth ×
   matrix peak × L2 bandwidth, built with `dataclasses.replace`, i.e. new objects with new
   fingerprints) × 100 decode/prefill scenarios of Llama-3.1-8B, each point a full estimate.
Target (design §9 / issue 4): (1) ≤ 5 ms median warm; (2) 10,000 points ≤ 60 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace

from infersim.api import make_scenario
from infersim.hwmodels import load_hardware
from infersim.hwmodels.spec import Hardware
from infersim.mapper import clear_cache, map_trace
from infersim.workloads import build_trace, load_model


def _stats(xs: list[float]) -> str:
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, int(0.9 * len(xs)))]
    return f"median {statistics.median(xs) * 1e3:.3f} ms, p90 {p90 * 1e3:.3f} ms (n={len(xs)})"


def bench_single(repeats: int) -> None:
    hw = load_hardware("dgx-h100")
    m = load_model("llama-3.1-70b")
    sc = make_scenario("decode", 1, context=2048, tp=8)

    def one() -> float:
        t0 = time.perf_counter()
        map_trace(build_trace(m, sc), hw, "fused")
        return time.perf_counter() - t0

    one()  # imports, first-use compilation of everything
    warm = [one() for _ in range(repeats)]
    cold = []
    for _ in range(max(5, repeats // 5)):
        clear_cache()
        cold.append(one())
    s = map_trace(build_trace(m, sc), hw, "fused")
    print(f"llama-3.1-70b decode, dgx-h100 TP=8, fused: {s.latency_s * 1e3:.2f} ms/token "
          f"predicted, {s.kernels} kernels")
    print(f"  estimate, warm cache: {_stats(warm)}")
    print(f"  estimate, cold cache: {_stats(cold)}")


def _variants(base: Hardware, n: int) -> list[Hardware]:
    chip = base.chip
    out = []
    for i in range(n):
        bw = 2e12 + 6e12 * (i % 10) / 9  # 2 .. 8 TB/s
        peak = 0.5 + (i // 10) / 9  # 0.5x .. 1.5x matrix peak
        mem = tuple(replace(lv, bandwidth_Bps=bw) if lv is chip.main_memory else
                    replace(lv, bandwidth_Bps=lv.bandwidth_Bps * (0.5 + (i % 3) / 2))
                    for lv in chip.memory)
        units = tuple(replace(u, peak_flops={d: v * peak for d, v in u.peak_flops.items()})
                      for u in chip.compute)
        out.append(replace(base, name=f"h100-var{i}",
                           chip=replace(chip, memory=mem, compute=units)))
    return out


def bench_sweep(points: int) -> None:
    base = load_hardware("h100-sxm")
    m = load_model("llama-3.1-8b")
    n_hw = 100
    hws = _variants(base, n_hw)
    scen = []
    for b in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512):
        for ctx in (128, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 100000):
            if b * ctx <= 4_000_000:
                scen.append(make_scenario("decode", b, context=ctx))
            else:
                scen.append(make_scenario("prefill", max(1, b // 64), prompt=min(ctx, 8192)))
    n_sc = len(scen)
    clear_cache()
    t0 = time.perf_counter()
    done = 0
    lat_sum = 0.0
    traces = {}
    for i in range(points):
        hw = hws[(i // n_sc) % n_hw]
        sc = scen[i % n_sc]
        key = id(sc)
        tr = traces.get(key)
        if tr is None:  # the trace depends only on the scenario (a sweep driver caches it)
            tr = traces[key] = build_trace(m, sc)
        lat_sum += map_trace(tr, hw, "graph").latency_s
        done += 1
    dt = time.perf_counter() - t0
    print(f"sweep: {done} points ({n_hw} H100 variants x {n_sc} scenarios, llama-3.1-8b, "
          f"graph) in {dt:.2f} s = {done / dt:,.0f} points/s ({dt / done * 1e3:.3f} ms/point); "
          f"checksum {lat_sum:.6f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small repeat counts")
    ap.add_argument("--points", type=int, default=None, help="sweep points (default 10000)")
    args = ap.parse_args(argv)
    bench_single(20 if args.quick else 200)
    bench_sweep(args.points or (1000 if args.quick else 10_000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
