"""SM clock and board power while a GPU runs model steps back to back (for a session with a
GPU): does a memory-bound decode keep the boost clock that a compute-bound prefill loses to
the power limit? (The cost model runs steps at the sustained clock, `gpu.mma_efficiency`,
and only isolated kernels from idle at `gpu.clock_boost`.)

For each phase (Llama-3.1-8B decode steps at batch 1 and 64 replayed from a CUDA graph,
512- and 2,048-token eager prefills, each ~4 s back to back, 1 s idle between), `nvidia-smi` samples the SM
clock, power and temperature every 100 ms and the script records each phase's step time.

    python validation/gpu/power_states.py --out $OUT   # ~25 s on an H200

Writes `power_states.csv` (phase, t_s, sm_mhz, power_w, temp_c) and `phases.csv` (phase,
steps, step_s_median).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any


def sample_clocks(rows: list[dict[str, Any]], phase: list[str], stop: threading.Event,
                  t0: float) -> None:
    """Append {phase, t_s, sm_mhz, power_w, temp_c} from nvidia-smi every ~100 ms until
    `stop`, labelled with `phase[0]` at the time of the sample (the caller relabels it)."""
    q = ["nvidia-smi", "--query-gpu=clocks.sm,power.draw,temperature.gpu",
         "--format=csv,noheader,nounits"]
    while not stop.is_set():
        try:
            out = subprocess.run(q, capture_output=True, text=True, timeout=5).stdout
            mhz, watts, temp = (float(x) for x in out.strip().split(",")[:3])
            rows.append({"phase": phase[0], "t_s": round(time.perf_counter() - t0, 3),
                         "sm_mhz": mhz, "power_w": watts, "temp_c": temp})
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
        stop.wait(0.1)


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds > 0 (one-line usage error otherwise)."""
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds > 0, e.g. 4")
    return v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu_power"))
    ap.add_argument("--seconds", type=positive_seconds, default=4.0, help="length of each phase")
    args = ap.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("power_states: no CUDA device", file=sys.stderr)
        return 2
    try:
        from infersim.validation.gpu import measure_gpu as mg
    except ImportError:
        import measure_gpu as mg  # type: ignore[no-redef]
    cfg = mg.LLAMA_CONFIGS["llama-3.1-8b"]
    samples: list[dict[str, Any]] = []
    phases: list[dict[str, Any]] = []
    phase = ["idle"]
    stop = threading.Event()
    t0 = time.perf_counter()
    th = threading.Thread(target=sample_clocks, args=(samples, phase, stop, t0), daemon=True)
    th.start()
    with torch.no_grad():
        m = mg._llama(torch, cfg, "cuda", 2 * 1024 + 8, 64)

        def graphed(bsz: int) -> Any:
            ids = torch.randint(0, cfg["vocab"], (bsz, 1), device="cuda")
            pos = torch.tensor([1024], device="cuda")
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    m(ids, pos, 1025, False)
            torch.cuda.current_stream().wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                m(ids, pos, 1025, False)
            return g.replay

        ids = torch.randint(0, cfg["vocab"], (1, 2048), device="cuda")
        pos = torch.arange(2048, device="cuda")
        work = [("decode b1 (graph)", graphed(1)), ("decode b64 (graph)", graphed(64)),
                ("prefill 512 (eager)", lambda: m(ids[:, :512], pos[:512], 512, True)),
                ("prefill 2048 (eager)", lambda: m(ids, pos, 2048, True))]
        torch.cuda.synchronize()
        for name, fn in work:
            phase[0] = "idle"
            time.sleep(1.0)
            phase[0] = name
            times = []
            start = time.perf_counter()
            while time.perf_counter() - start < args.seconds:
                a = time.perf_counter()
                fn()
                torch.cuda.synchronize()
                times.append(time.perf_counter() - a)
            phases.append({"phase": name, "steps": len(times),
                           "step_s_median": statistics.median(times),
                           "step_s_first10": statistics.median(times[:10]),
                           "step_s_last10": statistics.median(times[-10:])})
        phase[0] = "idle"
        time.sleep(1.0)
    stop.set()
    th.join(timeout=10)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for fname, data in (("power_states.csv", samples), ("phases.csv", phases)):
        tmp = out / f"{fname}.tmp"  # written whole, then renamed: never a half-written file
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(data[0]))
            w.writeheader()
            w.writerows(data)
        os.replace(tmp, out / fname)
    for p in phases:
        sm = [s["sm_mhz"] for s in samples if s["phase"] == p["phase"]]
        pw = [s["power_w"] for s in samples if s["phase"] == p["phase"]]
        print(f"{p['phase']}: {p['steps']} steps, median {p['step_s_median'] * 1e3:.2f} ms "
              f"(first 10 {p['step_s_first10'] * 1e3:.2f}, last 10 "
              f"{p['step_s_last10'] * 1e3:.2f}); SM clock median "
              f"{statistics.median(sm) if sm else float('nan'):.0f} MHz, power median "
              f"{statistics.median(pw) if pw else float('nan'):.0f} W", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
