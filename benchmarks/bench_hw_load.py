"""Benchmark: spec loading (cache hit, sweep-style overrides, cold parse) and the wafer/LPU/CIM
cost models per op. Prints medians; no assertions (speed is measured, not tested).

    python benchmarks/bench_hw_load.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from infersim.hwmodels import CostContext, cost_model
from infersim.hwmodels.loader import SPEC_DIR, clear_cache, load_hardware, load_hardware_text
from infersim.workloads import ops

CONTEXT = CostContext()


def per_call(fn: Callable[[int], object], n: int, repeats: int = 5) -> float:
    """Median over `repeats` runs of the mean seconds per call of fn(i), i in range(n)."""
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        runs.append((time.perf_counter() - t0) / n)
    return statistics.median(runs)


def main() -> None:
    load_hardware("dgx-h100")
    hit = per_call(lambda i: load_hardware("dgx-h100"), 20000)
    counter = iter(range(10**9))  # a new override value on every call: no cache hits
    sweep = per_call(lambda i: load_hardware(
        "dgx-h100", {"chip.memory.hbm.bandwidth_tb_per_s": 3.0 + next(counter) * 1e-7}), 300)
    text = (SPEC_DIR / "h100-sxm.yaml").read_text()
    cold = per_call(lambda i: load_hardware_text(text), 50)

    def cold_lib(i: int) -> object:
        clear_cache()
        return load_hardware("dgx-h100")

    cold_sys = per_call(cold_lib, 30)
    print(f"load_hardware cache hit            : {hit * 1e6:8.2f} us/call")
    print(f"load_hardware new overrides (sweep): {sweep * 1e6:8.1f} us/call")
    print(f"parse+validate+build h100-sxm text : {cold * 1e3:8.2f} ms/call")
    print(f"cold load dgx-h100 (system + chip) : {cold_sys * 1e3:8.2f} ms/call")
    op = ops.matmul(1, 8192, 28672, "bf16", weight_dtype="int8")
    for name in ("cs-3", "groq-576", "corsair", "rram-cim"):
        hw = load_hardware(name)
        model = cost_model(hw)
        t = per_call(lambda i, m=model, h=hw: m.op_cost(op, h, CONTEXT), 20000)
        print(f"op_cost {hw.kind.value:5s} ({name:9s})        : {t * 1e6:8.2f} us/call")


if __name__ == "__main__":
    main()
