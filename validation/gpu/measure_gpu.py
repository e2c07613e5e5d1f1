"""Measure the GPU effects infersim's GPU cost model predicts (for a session with a GPU).

One prepared script, ~5-8 minutes on one H100/H200 (PyTorch + CUDA events, no other
dependency). Writes tidy CSVs to OUT (default `$OUT`, else ./gpu_measurements):

- `gpu_ops.csv`: one row per measured case, columns
  device, driver, torch, cuda, date, kind, name, dtype, m, k, n, batch, heads, kv_heads,
  head_dim, q_len, kv_len, causal, numel, bytes, runtime, time_s, time_p10_s, time_p90_s,
  repeats, notes
  kinds: `gemm` (torch.matmul bf16, and fp8 via torch._scaled_mm where supported; M from 1
  to 8192 over Llama-shaped K×N), `attention` (F.scaled_dot_product_attention, prefill causal
  and decode q_len=1 with GQA), `elementwise` (add, mul, silu, copy over 2^10..2^28
  elements), `overhead` (empty-ish kernel in a CUDA graph = device launch cost; eager launch
  loop = host launch cost; stream synchronize round trip), `flush_probe` (CUDA only: add /
  silu at 1-64 M elements, a GEMV and a decode attention, each with its own kernels' device
  time, the flush after it against a flush after a flush, and the idle gap from the flush
  to the op, from a profiled graph replay: what a read-flush measurement holds besides the
  op), `e2e` (prefill and decode steps of plain-PyTorch Llama models with random weights:
  eager, and decode captured in a CUDA graph), `moe` (a MoE layer's grouped gate-up and down
  X, a
  dense GEMM of the same FLOPs, the token permute and the top-k finalize; `bench_moe`).
  gemm rows also carry the kernels cuBLAS launched for that call (`kernels`, a JSON list of
  names, from one short torch.profiler run after the timed runs), what the main kernel's
  name encodes (`kernel_family`, `tile_m`, `tile_n`, `tile_k`, `stages`, `cluster_m`,
  `cluster_n`, `split_k`; validation/gpu/kernel_names.py) and `kernel_time_s`, the sum of
  the profiled kernels' durations per call (warm L2: the instrument Vidur's profiles use).
- `environment.json`: device properties, driver, versions, clocks at start.

`--gemm-sweep` runs only a Vidur-like fp16 sweep (F.linear, M = 1..4096 over the H100 shapes
of Vidur's profiles that carry the GEMM error tail, SWEEP_SHAPES; then every 8 tokens from 136
to 1,024 over STAIR_SHAPES, where cuBLAS's time is a staircase), about 2-4 minutes.

Device times of single ops are measured the way the cost model defines them: the op
replayed N times inside a CUDA graph (back-to-back kernels, no host gaps), each replay
preceded by an L2 flush (a read of a buffer 4x the L2, whose own time is measured the same
way and subtracted; `--flush memset` for the first sessions' memset), timed with CUDA events; medians over repeats. e2e steps are wall-clock
per step including the host (eager) or the graph replay, with a synchronize per step (as a
generation loop reads the sampled token).

    python validation/gpu/measure_gpu.py --out $OUT            # full (~5-8 min on an H100)
    python validation/gpu/measure_gpu.py --quick --out /tmp/x  # ~1 min
    python validation/gpu/measure_gpu.py --device cpu --quick --out /tmp/x  # code-path check
    python validation/gpu/measure_gpu.py --gemm-sweep --out $OUT  # kernel names, ~2-4 min

Then copy the CSVs to `validation/data/gpu/<device>-<date>/` and run
`python -m infersim.validation.datasets.gpu_measurements` for the predicted-vs-measured tables.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import functools
import itertools
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FIELDS = ("device", "driver", "torch", "cuda", "date", "kind", "name", "dtype", "m", "k", "n",
          "batch", "heads", "kv_heads", "head_dim", "q_len", "kv_len", "causal", "numel",
          "bytes", "runtime", "time_s", "time_p10_s", "time_p90_s", "repeats", "notes",
          # gemm rows: the kernels cuBLAS launched (torch.profiler, after the timed runs) and
          # what the main kernel's name encodes (validation/gpu/kernel_names.py)
          "kernels", "kernel_family", "tile_m", "tile_n", "tile_k", "stages", "cluster_m",
          "cluster_n", "split_k", "kernel_time_s",
          # the L2 flush before each timed op (`--flush`; files without it: memset)
          "flush")

# Llama-shaped GEMMs (K, N): 8B qkv / gate_up / down, 70B at TP=8 qkv / gate_up / down
GEMM_SHAPES = ((4096, 6144), (4096, 28672), (14336, 4096), (8192, 1280), (8192, 7168),
               (3584, 8192))
GEMM_M = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
# --gemm-sweep: the token counts Vidur profiles (the ~1.4x grid kept in
# validation/data/vidur/compute.csv) over the H100 (K, N) pairs of Vidur's Llama-2-7B,
# CodeLlama-34B and Qwen-72B projections at TP 1/2/4/8 whose per-shape p90 error against
# the GEMM model is >= 13 % (the tail; `frame()` of validation/datasets/vidur.py), plus five
# pairs below it: the outliers named in validation/data/vidur/README.md (8192x49152 at M=384,
# 4096x12288 at M=96, 11008x8192 at M=1024) and two low-error controls.
VIDUR_M = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048,
           3072, 4096)
SWEEP_SHAPES = (
    # tail: p90 >= 13 %
    (512, 4096), (8192, 11008), (4096, 22016), (1376, 4096), (4096, 1536), (1024, 4096),
    (1024, 8192), (2048, 8192), (2752, 8192), (4096, 8192), (8192, 8192), (8192, 10240),
    (3072, 8192), (12288, 8192), (8192, 3072), (8192, 12288), (4096, 2752), (2048, 4096),
    (4096, 5504), (4096, 11008), (24576, 8192), (4096, 3072), (2752, 4096),
    # controls and named outliers
    (8192, 49152), (8192, 22016), (4096, 6144), (4096, 12288), (11008, 8192))
# ... and the staircase between the grid's counts: every 8 tokens from 136 to 1,024 (Vidur's
# sweep step there) over the six H100 (K, N) pairs whose median error at those counts is
# largest or whose rows are many (`vidur.compute_sweep_lines`; validation/data/vidur/README.md,
# "Off-grid token counts"), where cuBLAS's time steps every 64-128 tokens and is not monotone:
# the kernel names say which tile each bucket ran
STAIR_SHAPES = ((2048, 8192), (8192, 8192), (8192, 11008), (8192, 24576), (4096, 5504),
                (2752, 8192))
STAIR_M = tuple(range(136, 1025, 8))
# assumed for the budget estimate only: H100-class dense fp16 rate and HBM bandwidth reached by
# cuBLAS, and the host cost per shape of graph capture + one profiler session
EST_FLOPS = 600e12
EST_BW = 2.5e12
EST_SHAPE_OVERHEAD_S = 0.06
FLUSH_BYTES = 256 << 20
SAVE_EVERY_S = 10.0  # gpu_ops.csv is rewritten at least this often while rows come in

LLAMA_CONFIGS = {
    "llama-3.2-1b": dict(hidden=2048, inter=8192, layers=16, heads=32, kv_heads=8, vocab=128256),
    "llama-3.1-8b": dict(hidden=4096, inter=14336, layers=32, heads=32, kv_heads=8,
                         vocab=128256),
}


class Bench:
    """Timing backend: CUDA (events + graphs + L2 flush) or CPU (perf_counter; for checking
    the code paths on a machine without a GPU)."""

    def __init__(self, torch: Any, device: str, repeats: int, inner: int,
                 flush: str = "read"):
        self.t = torch
        self.flush = flush
        self.device = device
        self.cuda = device == "cuda"
        self.repeats = repeats
        self.inner = inner
        self._flush_buf = None
        self._flush_s: float | None = None
        if self.cuda:
            l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 64 << 20)
            self._flush_buf = torch.zeros(max(4 * l2, 256 << 20), dtype=torch.uint8,
                                          device="cuda")
            self._flush_words = self._flush_buf.view(torch.int32)

    def _flush(self) -> None:
        """Evict the op's data from L2. `read` streams a buffer 4x the L2 through a max
        reduction and leaves L2 holding clean lines; `memset` (the first sessions' flush)
        leaves ~L2-size of dirty lines that the next op must write back to HBM, ~10 us on an
        H200 that the memset's own subtracted time does not cancel
        (validation/data/gpu/README.md)."""
        if self.flush == "memset":
            self._flush_buf.zero_()
        else:
            self._flush_words.amax()

    def sync(self) -> None:
        if self.cuda:
            self.t.cuda.synchronize()

    def capture(self, fn: Callable[[], Any] | None, flush: bool) -> Any:
        """A CUDA graph of `inner` x (an L2 flush if `flush`, then `fn`; None: the flush
        alone), warmed up outside the capture (cuBLAS handles, autotuning) and replayed
        once."""
        torch = self.t
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())

        def body() -> None:
            if flush:
                self._flush()
            if fn is not None:
                fn()

        with torch.cuda.stream(s):
            for _ in range(2):
                body()
        torch.cuda.current_stream().wait_stream(s)
        self.sync()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(self.inner):
                body()
        g.replay()
        self.sync()
        return g

    def _graph_time(self, fn: Callable[[], Any], flush: bool) -> list[float]:
        """Per-call device time of `fn` replayed `inner` times in a CUDA graph."""
        torch = self.t
        g = self.capture(fn, flush)
        out = []
        for _ in range(self.repeats):
            a = torch.cuda.Event(enable_timing=True)
            b = torch.cuda.Event(enable_timing=True)
            a.record()
            g.replay()
            b.record()
            b.synchronize()
            out.append(a.elapsed_time(b) * 1e-3 / self.inner)
        del g
        return out

    def device_time(self, fn: Callable[[], Any]) -> list[float]:
        """Device time of one call, L2 flushed before each call (flush time subtracted)."""
        if not self.cuda:
            fn()
            out = []
            for _ in range(self.repeats):
                t0 = time.perf_counter()
                fn()
                out.append(time.perf_counter() - t0)
            return out
        if self._flush_s is None:
            self._flush_s = statistics.median(self._graph_time(lambda: None, flush=True))
        return [max(0.0, x - self._flush_s) for x in self._graph_time(fn, flush=True)]

    def wall_time(self, fn: Callable[[], Any], steps: int) -> list[float]:
        """Wall-clock per call with a synchronize after each (generation-loop style)."""
        fn()
        self.sync()
        out = []
        for _ in range(steps):
            t0 = time.perf_counter()
            fn()
            self.sync()
            out.append(time.perf_counter() - t0)
        return out


def _summ(xs: list[float]) -> tuple[float, float, float]:
    xs = sorted(xs)

    def q(p: float) -> float:
        return xs[min(len(xs) - 1, int(p * (len(xs) - 1) + 0.5))]

    return statistics.median(xs), q(0.1), q(0.9)


class Writer:
    def __init__(self, out: Path, env: dict[str, Any]):
        self.rows: list[dict[str, Any]] = []
        self.env = env
        self.out = out
        self._saved = time.perf_counter()

    def add(self, kind: str, name: str, times: list[float], **kw: Any) -> None:
        med, p10, p90 = _summ(times) if times else (math.nan,) * 3
        row = {f: "" for f in FIELDS}
        row.update(device=self.env["device"], driver=self.env["driver"],
                   torch=self.env["torch"], cuda=self.env["cuda"], date=self.env["date"],
                   kind=kind, name=name, time_s=med, time_p10_s=p10, time_p90_s=p90,
                   repeats=len(times), flush=self.env.get("flush", ""))
        row.update(kw)
        self.rows.append(row)
        if time.perf_counter() - self._saved > SAVE_EVERY_S:  # a run killed mid-section
            self.save()                                         # keeps what it measured

    def save(self) -> Path:
        """Write gpu_ops.csv via a temporary file + rename (never a half-written CSV)."""
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / "gpu_ops.csv"
        tmp = path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            w.writerows(self.rows)
        os.replace(tmp, path)
        self._saved = time.perf_counter()
        return path


def _progress(msg: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:7.1f} s] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------
# sections
# ------------------------------------------------------------------------------------------


# bf16 elements of the grid-ramp sweep: 1 block up to ~1,000 blocks of a vectorized
# elementwise kernel, every size L2-resident (at most 8 MiB)
GRID_RAMP_NUMEL = (1, 4096, 32768, 131072, 524288, 1048576, 4194304)


def bench_overheads(b: Bench, w: Writer) -> None:
    torch = b.t
    x = torch.zeros(1, device=b.device)
    if b.cuda:
        # device cost of one tiny kernel back-to-back in a graph (no flush)
        times = b._graph_time(lambda: x.add_(1.0), flush=False)
        w.add("overhead", "graph_tiny_kernel", times, notes="x.add_(1) replayed in a graph")
        # the same in-place add over L2-resident operands of 1 to ~1,000 blocks, back to
        # back in a graph: separates the launch gap between dependent kernels from the grid's
        # ramp-up and tail, which the spec's one `kernel_launch_us` lumps together
        for n in GRID_RAMP_NUMEL:
            y = torch.zeros(n, device=b.device, dtype=torch.bfloat16)
            times = b._graph_time(lambda y=y: y.add_(1.0), flush=False)
            w.add("overhead", "graph_ramp_add", times, dtype="bf16", numel=n, bytes=2 * n * 2,
                  notes="y.add_(1) bf16, L2-resident, back to back in a graph")
            del y
    # host: eager launches of a tiny op, host time per op (device is faster than the host)
    n = 200

    def loop() -> None:
        for _ in range(n):
            x.add_(1.0)

    t = b.wall_time(loop, 10)
    w.add("overhead", "eager_tiny_kernel", [v / n for v in t], runtime="eager",
          notes=f"wall time of {n} eager x.add_(1) / {n}, one synchronize")
    t = b.wall_time(lambda: None, 50)
    w.add("overhead", "synchronize", t, notes="empty call + synchronize round trip")


def bench_copy_elementwise(b: Bench, w: Writer, quick: bool) -> None:
    torch = b.t
    top = 24 if quick or not b.cuda else 28
    if not b.cuda:
        top = 16
    for p in range(10, top + 1, 2 if quick else 1):
        n = 1 << p
        a = torch.randn(n, device=b.device, dtype=torch.bfloat16)
        c = torch.randn(n, device=b.device, dtype=torch.bfloat16)
        o = torch.empty_like(a)
        cases = {
            "copy": (lambda a=a, o=o: o.copy_(a), 2 * n * 2, 1.0),
            "add": (lambda a=a, c=c, o=o: torch.add(a, c, out=o), 3 * n * 2, 2.0),
            "silu": (lambda a=a, o=o: torch.nn.functional.silu(a, inplace=False), 2 * n * 2, 1.0),
            "mul": (lambda a=a, c=c, o=o: torch.mul(a, c, out=o), 3 * n * 2, 2.0),
        }
        for name, (fn, nbytes, inputs) in cases.items():
            w.add("elementwise", name, b.device_time(fn), dtype="bf16", numel=n, bytes=nbytes,
                  runtime="graph", notes=f"inputs={inputs}")
        del a, c, o


def _import_kernel_names() -> Any:
    """validation/gpu/kernel_names.py as a module, with or without infersim installed (the
    script runs from a bare checkout on the GPU machine)."""
    try:
        from infersim.validation.gpu import kernel_names
        return kernel_names
    except ImportError:
        import importlib.util

        path = Path(__file__).resolve().parent / "kernel_names.py"
        spec = importlib.util.spec_from_file_location("_measure_gpu_kernel_names", path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod


def _event_time_us(e: Any, names: tuple[str, ...]) -> float:
    for a in names:
        v = getattr(e, a, None)
        if v is not None:
            return float(v)
    return 0.0


def kernel_list(events: Any, calls: int, device: str = "CUDA") -> list[dict[str, Any]]:
    """Kernels of a profiled run of `calls` identical op calls, from
    `prof.key_averages()`: name, launches per call and device seconds per call, in the
    order key_averages lists them. Host-side events (aten ops, runtime API calls),
    memset/memcpy activity and CUPTI's buffer event are left out; `device` is the event device type kept ("CPU"
    only for the code-path check on a machine without a GPU)."""
    out = []
    for e in events:
        dt = str(getattr(e, "device_type", "")).rsplit(".", 1)[-1].upper()
        if dt and dt != device:
            continue
        name = str(e.key)
        if name.lower().startswith(("memset", "memcpy", "activity buffer request")):
            continue  # copies, fills and CUPTI's own buffer event are not the op's kernels
        attrs = (("device_time_total", "cuda_time_total") if device != "CPU"
                 else ("cpu_time_total",))
        t_us = _event_time_us(e, attrs)
        out.append({"name": name, "calls": float(getattr(e, "count", calls)) / calls,
                    "time_s": 1e-6 * t_us / calls})
    return out


def profile_kernels(b: Bench, fn: Callable[[], Any], calls: int = 3) -> list[dict[str, Any]]:
    """The kernels one call of `fn` launches: a short torch.profiler run (CUDA activity) of
    `calls` calls, made after the timed runs so timing is unaffected."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    b.sync()
    acts = [ProfilerActivity.CUDA] if b.cuda else [ProfilerActivity.CPU]
    with profile(activities=acts) as prof:
        for _ in range(calls):
            fn()
        b.sync()
    return kernel_list(prof.key_averages(), calls, "CUDA" if b.cuda else "CPU")


def kernel_fields(kernels: list[dict[str, Any]]) -> dict[str, Any]:
    """Row fields of a GEMM row from its profiled kernels (empty when none were recorded)."""
    kn = _import_kernel_names()
    return {"kernels": json.dumps([k["name"] for k in kernels]) if kernels else "",
            **kn.summarize(kernels)}


def gemm_row_fields(b: Bench, fn: Callable[[], Any]) -> dict[str, Any]:
    """kernel_fields of `fn`; a profiler failure leaves the timed row and says why."""
    try:
        return kernel_fields(profile_kernels(b, fn))
    except Exception as e:  # profiling is extra: never lose the timing for it
        return {"kernels": "", "kernel_family": f"profile failed: {type(e).__name__}"}


def sweep_estimate_s(shapes: tuple[tuple[int, int], ...], ms: tuple[int, ...],
                     calls: int, elem_bytes: int = 2) -> float:
    """Rough device + host seconds of a GEMM sweep: per (M, K, N) `calls` kernel runs at the
    roofline time (EST_FLOPS, EST_BW), each after an L2 flush of FLUSH_BYTES, plus
    EST_SHAPE_OVERHEAD_S per shape."""
    total = 0.0
    for k, n in shapes:
        for m in ms:
            kernel = max(2.0 * m * k * n / EST_FLOPS, elem_bytes * (m * k + k * n + m * n) / EST_BW)
            total += calls * (kernel + 2 * FLUSH_BYTES / EST_BW) + EST_SHAPE_OVERHEAD_S
    return total


def _fp8_ok(torch: Any, b: Bench) -> bool:
    if not b.cuda or not hasattr(torch, "_scaled_mm") or not hasattr(torch, "float8_e4m3fn"):
        return False
    return torch.cuda.get_device_capability(0) >= (8, 9)


def bench_gemm_sweep(b: Bench, w: Writer, quick: bool) -> None:
    """Vidur-like sweep: fp16 F.linear (weight N x K, the layout vLLM's linear layers hand to
    cuBLAS) over VIDUR_M x SWEEP_SHAPES, then STAIR_M x STAIR_SHAPES (notes say which), each
    row with the kernels cuBLAS ran."""
    torch = b.t
    F = torch.nn.functional
    parts = [("Vidur-like sweep", VIDUR_M, SWEEP_SHAPES),
             ("staircase, every 8 tokens", STAIR_M, STAIR_SHAPES)]
    if quick:
        parts = [("Vidur-like sweep", VIDUR_M[::4], SWEEP_SHAPES[:4]),
                 ("staircase, every 8 tokens", STAIR_M[::4], STAIR_SHAPES[:1])]
    if not b.cuda:
        parts = [("Vidur-like sweep", (1, 24), ((64, 96),))]
    calls = 2 + b.inner * (1 + b.repeats)
    count = sum(len(ms) * len(shapes) for _, ms, shapes in parts)
    est = sum(sweep_estimate_s(shapes, ms, calls) for _, ms, shapes in parts)
    print(f"gemm sweep: {count} GEMMs, estimated {est:.0f} s", file=sys.stderr, flush=True)
    dt = torch.float16
    for name, ms, shapes in parts:
        for k, n in shapes:
            wt = torch.randn(n, k, device=b.device, dtype=dt)
            for m in ms:
                x = torch.randn(m, k, device=b.device, dtype=dt)
                fn = functools.partial(F.linear, x, wt)
                t = b.device_time(fn)
                w.add("gemm", "linear", t, dtype="fp16", m=m, k=k, n=n, runtime="graph",
                      notes=f"F.linear, weight N x K (vLLM layout); {name}",
                      **gemm_row_fields(b, fn))
                del x
            b.sync()


def bench_gemm(b: Bench, w: Writer, quick: bool) -> None:
    torch = b.t
    ms = (*GEMM_M[::2], 8192) if quick else GEMM_M
    shapes = GEMM_SHAPES[:3] if quick else GEMM_SHAPES
    if not b.cuda:
        ms, shapes = (1, 16), ((64, 96),)
    fp8 = _fp8_ok(torch, b)
    for k, n in shapes:
        wt = torch.randn(k, n, device=b.device, dtype=torch.bfloat16)
        w8 = wt.to(torch.float8_e4m3fn).t().contiguous().t() if fp8 else None
        for m in ms:
            x = torch.randn(m, k, device=b.device, dtype=torch.bfloat16)
            fn = functools.partial(torch.matmul, x, wt)
            w.add("gemm", "matmul", b.device_time(fn), dtype="bf16", m=m, k=k, n=n,
                  runtime="graph", notes="torch.matmul", **gemm_row_fields(b, fn))
            if fp8 and m >= 16:  # _scaled_mm needs M a multiple of 16
                x8 = x.to(torch.float8_e4m3fn)
                one = torch.ones((), device="cuda")
                try:
                    f8 = functools.partial(torch._scaled_mm, x8, w8, scale_a=one, scale_b=one,
                                           out_dtype=torch.bfloat16)
                    t = b.device_time(f8)
                    w.add("gemm", "scaled_mm", t, dtype="fp8", m=m, k=k, n=n, runtime="graph",
                          notes="torch._scaled_mm e4m3, bf16 out", **gemm_row_fields(b, f8))
                except RuntimeError as e:  # an unsupported layout on this build
                    w.add("gemm", "scaled_mm", [], dtype="fp8", m=m, k=k, n=n,
                          notes=f"failed: {str(e)[:80]}")
            del x
        b.sync()


# MoE layers of the published MoE serving rows (validation/data/published/serving.csv):
# (model, experts, top_k, hidden, expert intermediate); all experts on one GPU
MOE_SHAPES = (("qwen3-30b-a3b", 128, 8, 2048, 768), ("qwen3-235b-a22b", 128, 8, 4096, 1536),
              ("llama-4-scout", 16, 1, 5120, 8192))
MOE_TOKENS = (256, 512, 2048, 8192, 16384)


def bench_moe(b: Bench, w: Writer, quick: bool) -> None:
    """A MoE layer's pieces at the published MoE models' shapes, tokens routed evenly (every
    expert T·k/E rows): the grouped gate-up and down GEMMs (torch._grouped_mm, bf16, one
    kernel over all experts), the same FLOPs as one dense GEMM of T·k rows (the grouped
    kernel's efficiency is the ratio), the permute (rows gathered in expert order) and the
    finalize (rows gathered back, weighted, summed over top-k). m = rows per expert, batch =
    tokens, heads = experts, kv_heads = top_k."""
    torch = b.t
    if not hasattr(torch, "_grouped_mm"):
        w.add("moe", "section_skipped", [], notes="torch._grouped_mm missing (PyTorch < 2.8)")
        return
    shapes, tokens = MOE_SHAPES, MOE_TOKENS
    if quick:
        tokens = (512, 8192)
    if not b.cuda:
        shapes, tokens = (("tiny", 8, 2, 64, 32),), (64,)
    bf = torch.bfloat16
    for model, e, k, h, inter in shapes:
        w_up = torch.randn(e, h, 2 * inter, device=b.device, dtype=bf) * 0.02
        w_dn = torch.randn(e, inter, h, device=b.device, dtype=bf) * 0.02
        for t in tokens:
            rows = t * k
            if rows % e or (rows // e) % 16:  # _grouped_mm: every group's rows a multiple of 16
                continue
            per = rows // e
            offs = torch.arange(per, rows + 1, per, device=b.device, dtype=torch.int32)
            x = torch.randn(t, h, device=b.device, dtype=bf)
            xs = torch.randn(rows, h, device=b.device, dtype=bf)
            mid = torch.randn(rows, inter, device=b.device, dtype=bf)
            idx = torch.randint(0, t, (rows,), device=b.device)
            inv = torch.randperm(rows, device=b.device)
            gate = torch.rand(t, k, 1, device=b.device, dtype=bf)
            note = f"{model}: E={e} top_k={k} tokens={t}, even routing"
            cases = (
                ("grouped_gate_up", h, 2 * inter, functools.partial(
                    torch._grouped_mm, xs, w_up, offs=offs)),
                ("grouped_down", inter, h, functools.partial(
                    torch._grouped_mm, mid, w_dn, offs=offs)),
                ("dense_gate_up_equiv", h, 2 * inter, functools.partial(
                    torch.matmul, xs, w_up[0])),
                ("permute", h, h, functools.partial(torch.index_select, x, 0, idx)),
                ("finalize", h, h,
                 lambda xs=xs, inv=inv, gate=gate, t=t, k=k, h=h:
                     (xs.index_select(0, inv).view(t, k, h) * gate).sum(1)),
            )
            for name, kk, nn, fn in cases:
                w.add("moe", name, b.device_time(fn), dtype="bf16", m=per, k=kk, n=nn,
                      batch=t, heads=e, kv_heads=k, runtime="graph", notes=note,
                      **gemm_row_fields(b, fn))
            del x, xs, mid
        del w_up, w_dn
        b.sync()


def bench_attention(b: Bench, w: Writer, quick: bool) -> None:
    torch = b.t
    F = torch.nn.functional
    gqa = "enable_gqa" in (F.scaled_dot_product_attention.__doc__ or "")
    H, KVH, D = 32, 8, 128
    pre = ((1, 512), (1, 2048), (1, 8192), (4, 2048)) if not quick else ((1, 2048), (1, 8192))
    dec = ((1, 1024), (1, 8192), (1, 32768), (8, 4096), (64, 4096), (256, 2048))
    if quick:
        dec = dec[::2]
    if not b.cuda:
        pre, dec, H, KVH = ((1, 64),), ((2, 64),), 4, 2
    kvh = KVH if gqa else H
    for bsz, s in pre:
        q = torch.randn(bsz, H, s, D, device=b.device, dtype=torch.bfloat16)
        k = torch.randn(bsz, kvh, s, D, device=b.device, dtype=torch.bfloat16)
        v = torch.randn_like(k)
        kw = {"enable_gqa": True} if gqa else {}
        t = b.device_time(lambda q=q, k=k, v=v, kw=kw: F.scaled_dot_product_attention(
            q, k, v, is_causal=True, **kw))
        w.add("attention", "sdpa_prefill", t, dtype="bf16", batch=bsz, heads=H, kv_heads=kvh,
              head_dim=D, q_len=s, kv_len=s, causal=True, runtime="graph")
        del q, k, v
    for bsz, kv in dec:
        q = torch.randn(bsz, H, 1, D, device=b.device, dtype=torch.bfloat16)
        k = torch.randn(bsz, kvh, kv, D, device=b.device, dtype=torch.bfloat16)
        v = torch.randn_like(k)
        kw = {"enable_gqa": True} if gqa else {}
        t = b.device_time(lambda q=q, k=k, v=v, kw=kw: F.scaled_dot_product_attention(
            q, k, v, **kw))
        w.add("attention", "sdpa_decode", t, dtype="bf16", batch=bsz, heads=H, kv_heads=kvh,
              head_dim=D, q_len=1, kv_len=kv, causal=False, runtime="graph")
        del q, k, v
    b.sync()


# The flush probe: what a timed op's read-flush measurement holds besides the op's kernel.
# Elementwise sizes where the H200 session's read-flush rows read 10-25 % slower than the
# model (4-64 MB per tensor), with one size each side; add writes half of what it reads, silu
# as much as it reads; a GEMV and a decode attention write next to nothing (controls).
# bf16 elements of the flush probe: from a few blocks (the tiny kernels' launch and ramp) to
# 128 MB per operand (the mid-size lean)
FLUSH_PROBE_NUMEL = (1 << 12, 1 << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24, 1 << 26)


def graph_kernels(b: Bench, fn: Callable[[], Any] | None) -> list[tuple[str, float, float]]:
    """(name, start s, duration s) of every kernel of one replay of `b.inner` x (flush, fn)
    captured in a CUDA graph (fn None: the flushes alone), in start order, from a
    torch.profiler run of that replay."""
    from torch.profiler import ProfilerActivity, profile

    g = b.capture(fn, flush=True)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        g.replay()
        b.sync()
    del g
    out = []
    for e in prof.events():
        if str(getattr(e, "device_type", "")).rsplit(".", 1)[-1].upper() != "CUDA":
            continue
        name = str(e.name)
        if name.lower().startswith(("memset", "memcpy", "activity buffer request")):
            continue
        tr = e.time_range
        out.append((name, 1e-6 * float(tr.start), 1e-6 * float(tr.end - tr.start)))
    return sorted(out, key=lambda k: k[1])


def flush_probe_summary(kernels: list[tuple[str, float, float]], flush_names: set[str]
                        ) -> dict[str, float]:
    """What one replay of (flush, op) x inner holds, from its kernels in start order
    (`graph_kernels`), each run of consecutive flush kernels (`flush_names`) one flush and
    each run of other kernels one op call: `op_kernel_s`, the median over calls of the op's
    kernels' summed device time; `flush_after_op_s`, the median device time of a flush that
    follows an op call; `gap_s`, the median idle time from a flush's last kernel to the op
    call's first (the launch a kernel exposes after a long one)."""
    segs: list[list[Any]] = []  # [is_flush, start, end, summed device time]
    for name, start, dur in kernels:
        fl = name in flush_names
        if segs and segs[-1][0] == fl:
            segs[-1][2] = start + dur
            segs[-1][3] += dur
        else:
            segs.append([fl, start, start + dur, dur])
    calls = [sg[3] for sg in segs if not sg[0]]
    flushes = [b[3] for a, b in itertools.pairwise(segs) if b[0] and not a[0]]
    gaps = [b[1] - a[2] for a, b in itertools.pairwise(segs) if a[0] and not b[0]]
    med = statistics.median
    return {"op_kernel_s": med(calls) if calls else math.nan,
            "flush_after_op_s": med(flushes) if flushes else math.nan,
            "gap_s": med(gaps) if gaps else math.nan}


def bench_flush_probe(b: Bench, w: Writer) -> None:
    """Per probed op: the read-flush measurement (`device_time`), the op's own kernels'
    device time, how much longer the flush after it runs than a flush after a flush (the
    op's dirty lines written back there), and the idle gap from the flush to the op; one row
    each, kind `flush_probe` (CUDA only: it profiles a graph replay)."""
    if not b.cuda:
        return
    torch = b.t
    F = torch.nn.functional
    flush_only = graph_kernels(b, None)
    flush_names = {k[0] for k in flush_only}
    flush_alone = sum(k[2] for k in flush_only) / b.inner  # per flush, its kernels summed
    cases: list[tuple[str, dict[str, Any], Callable[[], Any]]] = []
    for n in FLUSH_PROBE_NUMEL:
        a = torch.randn(n, device=b.device, dtype=torch.bfloat16)
        c = torch.randn_like(a)
        o = torch.empty_like(a)
        cases.append(("add", {"numel": n, "bytes": 3 * n * 2},
                      lambda a=a, c=c, o=o: torch.add(a, c, out=o)))
        cases.append(("silu", {"numel": n, "bytes": 2 * n * 2},
                      lambda a=a: F.silu(a, inplace=False)))
    x = torch.randn(1, 4096, device=b.device, dtype=torch.bfloat16)
    wt = torch.randn(14336, 4096, device=b.device, dtype=torch.bfloat16)
    cases.append(("gemv", {"m": 1, "k": 4096, "n": 14336},
                  lambda x=x, wt=wt: F.linear(x, wt)))
    gqa = "enable_gqa" in (F.scaled_dot_product_attention.__doc__ or "")
    kvh = 8 if gqa else 32  # as bench_attention: without GQA support, K/V per query head
    kw = {"enable_gqa": True} if gqa else {}
    q = torch.randn(1, 32, 1, 128, device=b.device, dtype=torch.bfloat16)
    k = torch.randn(1, kvh, 8192, 128, device=b.device, dtype=torch.bfloat16)
    v = torch.randn_like(k)
    cases.append(("sdpa_decode", {"batch": 1, "heads": 32, "kv_heads": kvh, "head_dim": 128,
                                  "q_len": 1, "kv_len": 8192},
                  lambda q=q, k=k, v=v, kw=kw: F.scaled_dot_product_attention(q, k, v, **kw)))
    for name, fields, fn in cases:  # each lambda holds its tensors
        t = b.device_time(fn)
        try:
            sm = flush_probe_summary(graph_kernels(b, fn), flush_names)
            note = (f"op_kernel_s={sm['op_kernel_s']:.6g}; flush_alone_s={flush_alone:.6g}; "
                    f"flush_after_op_s={sm['flush_after_op_s']:.6g}; gap_s={sm['gap_s']:.6g}")
        except Exception as e:  # the profile is extra: keep the timed row
            sm, note = {}, f"probe failed: {type(e).__name__}"
        w.add("flush_probe", name, t, dtype="bf16", runtime="graph",
              kernel_time_s=sm.get("op_kernel_s", ""), notes=note, **fields)
    del cases
    b.sync()


# ------------------------------------------------------------------------------------------
# end to end: a plain-PyTorch Llama (Hugging Face style ops), random weights
# ------------------------------------------------------------------------------------------


def _llama(torch: Any, cfg: dict[str, int], device: str, max_seq: int, batch: int) -> Any:
    """Plain-PyTorch Llama: F.rms_norm (Hugging Face's op-by-op RMSNorm on a PyTorch without
    it), fused QKV and gate-up weights, RoPE by rotate_half, SDPA with GQA, a static KV cache
    written by index_copy_; built directly on `device`."""
    nn = torch.nn
    F = torch.nn.functional
    h, inter, heads, kvh = cfg["hidden"], cfg["inter"], cfg["heads"], cfg["kv_heads"]
    hd = h // heads
    dt = torch.bfloat16
    doc = F.scaled_dot_product_attention.__doc__ or ""
    gqa = "enable_gqa" in doc
    fused_norm = hasattr(F, "rms_norm")

    def rms(x: Any, wgt: Any) -> Any:
        if fused_norm:  # plain PyTorch >= 2.4, what the `eager` runtime models
            return F.rms_norm(x, (x.shape[-1],), wgt, 1e-5)
        xf = x.to(torch.float32)  # Hugging Face LlamaRMSNorm, op by op
        var = xf.pow(2).mean(-1, keepdim=True)
        xf = xf * torch.rsqrt(var + 1e-5)
        return wgt * xf.to(dt)

    def rotate_half(x: Any) -> Any:
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
        return torch.cat((-x2, x1), dim=-1)

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.n1 = nn.Parameter(torch.ones(h, dtype=dt))
            self.n2 = nn.Parameter(torch.ones(h, dtype=dt))
            self.qkv = nn.Linear(h, (heads + 2 * kvh) * hd, bias=False, dtype=dt)
            self.o = nn.Linear(heads * hd, h, bias=False, dtype=dt)
            self.gu = nn.Linear(h, 2 * inter, bias=False, dtype=dt)
            self.down = nn.Linear(inter, h, bias=False, dtype=dt)
            self.register_buffer("kc", torch.zeros(batch, kvh, max_seq, hd, dtype=dt))
            self.register_buffer("vc", torch.zeros(batch, kvh, max_seq, hd, dtype=dt))

        def forward(self, x: Any, pos: Any, cos: Any, sin: Any, n: int, causal: bool) -> Any:
            bsz, s, _ = x.shape
            r = x
            x = rms(x, self.n1)
            q, k, v = self.qkv(x).split([heads * hd, kvh * hd, kvh * hd], dim=-1)
            q = q.view(bsz, s, heads, hd).transpose(1, 2)
            k = k.view(bsz, s, kvh, hd).transpose(1, 2)
            v = v.view(bsz, s, kvh, hd).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            kc, vc = self.kc[:bsz], self.vc[:bsz]  # the cache holds up to `batch` sequences
            kc.index_copy_(2, pos, k)
            vc.index_copy_(2, pos, v)
            kk, vv = kc[:, :, :n], vc[:, :, :n]
            if gqa:
                a = F.scaled_dot_product_attention(q, kk, vv, is_causal=causal,
                                                   enable_gqa=True)
            else:  # older PyTorch: Hugging Face repeat_kv
                kk = kk.repeat_interleave(heads // kvh, dim=1)
                vv = vv.repeat_interleave(heads // kvh, dim=1)
                a = F.scaled_dot_product_attention(q, kk, vv, is_causal=causal)
            x = r + self.o(a.transpose(1, 2).reshape(bsz, s, heads * hd))
            r = x
            g, u = self.gu(rms(x, self.n2)).chunk(2, dim=-1)
            return r + self.down(F.silu(g) * u)

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(cfg["vocab"], h, dtype=dt)
            self.layers = nn.ModuleList(Layer() for _ in range(cfg["layers"]))
            self.norm = nn.Parameter(torch.ones(h, dtype=dt))
            self.head = nn.Linear(h, cfg["vocab"], bias=False, dtype=dt)
            inv = 1.0 / (500000.0 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
            ang = torch.outer(torch.arange(max_seq, dtype=torch.float32), inv)
            ang = torch.cat((ang, ang), dim=-1)
            self.register_buffer("cos", ang.cos().to(dt))
            self.register_buffer("sin", ang.sin().to(dt))

        def forward(self, ids: Any, pos: Any, n: int, causal: bool) -> Any:
            x = self.emb(ids)
            cos, sin = self.cos[pos], self.sin[pos]
            for layer in self.layers:
                x = layer(x, pos, cos, sin, n, causal)
            return self.head(rms(x[:, -1:], self.norm))

    with torch.device(device):  # parameters made on the GPU: no host init of 8B weights
        m = Model()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0.0, 0.02)
    return m.eval()


def _kernel_census(b: Bench, fn: Callable[[], Any]) -> str:
    """'kernels_per_step=N; kernel_s_per_step=T' of one call of `fn` (torch.profiler), so
    the measured kernel count and device-busy time sit beside the wall time."""
    try:
        ks = profile_kernels(b, fn)
    except Exception as e:  # the census is extra: never lose the timing for it
        return f"census failed: {type(e).__name__}"
    return (f"kernels_per_step={sum(k['calls'] for k in ks):.0f}; "
            f"kernel_s_per_step={sum(k['time_s'] for k in ks):.6g}")


E2E_PROMPTS = (128, 512, 1024, 2048)
E2E_DECODE_BATCHES = (1, 8, 32)


def bench_e2e(b: Bench, w: Writer, quick: bool) -> None:
    """Plain-PyTorch Llama steps: eager prefill at E2E_PROMPTS (batch 1), and decode at
    context 1024 for E2E_DECODE_BATCHES, eager and replayed from a CUDA graph; each decode
    row notes the kernels one step launched and their device time."""
    torch = b.t
    models = ("llama-3.2-1b",) if quick else ("llama-3.2-1b", "llama-3.1-8b")
    prompts, batches = (E2E_PROMPTS[::2], E2E_DECODE_BATCHES[:2]) if quick else \
        (E2E_PROMPTS, E2E_DECODE_BATCHES)
    if not b.cuda:
        LLAMA_CONFIGS["tiny"] = dict(hidden=64, inter=128, layers=2, heads=4, kv_heads=2,
                                     vocab=256)
        models, prompts, batches = ("tiny",), (8,), (1, 2)
    for name in models:
        cfg = LLAMA_CONFIGS[name]
        ctx = 1024 if b.cuda else 16
        max_seq = max(2 * ctx, max(prompts)) + 8
        with torch.no_grad():
            m = _llama(torch, cfg, b.device, max_seq, max(batches))
            for prompt in prompts:
                ids = torch.randint(0, cfg["vocab"], (1, prompt), device=b.device)
                pos = torch.arange(prompt, device=b.device)
                fn = functools.partial(m, ids, pos, prompt, True)
                for _ in range(3):  # lazy kernel loading and cuBLAS heuristics off the clock
                    fn()
                t = b.wall_time(fn, 5 if quick else 10)
                w.add("e2e", name, t, dtype="bf16", batch=1, q_len=prompt, kv_len=prompt,
                      runtime="eager", notes="prefill, wall time incl. host, synchronize")
            steps = 20 if quick else 50
            for bsz in batches:
                ids = torch.randint(0, cfg["vocab"], (bsz, 1), device=b.device)
                pos = torch.tensor([ctx], device=b.device)
                step = functools.partial(m, ids, pos, ctx + 1, False)
                for _ in range(3):
                    step()
                t = b.wall_time(step, steps)
                w.add("e2e", name, t, dtype="bf16", batch=bsz, q_len=1, kv_len=ctx + 1,
                      runtime="eager", notes="decode step, wall time incl. host, synchronize; "
                      + _kernel_census(b, step))
                if not b.cuda:
                    continue
                s = torch.cuda.Stream()
                s.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(s):
                    for _ in range(3):
                        step()
                torch.cuda.current_stream().wait_stream(s)
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    step()
                t = b.wall_time(g.replay, steps)
                w.add("e2e", name, t, dtype="bf16", batch=bsz, q_len=1, kv_len=ctx + 1,
                      runtime="graph", notes="decode step captured in a CUDA graph, replay + "
                      "synchronize")
                del g
        del m
        if b.cuda:
            torch.cuda.empty_cache()


def environment(torch: Any, device: str) -> dict[str, Any]:
    env: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "torch": torch.__version__, "python": platform.python_version(),
        "host": platform.node(), "cuda": getattr(torch.version, "cuda", "") or "",
        "device": "cpu", "driver": "",
    }
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        env.update(device=p.name, sm_count=p.multi_processor_count,
                   memory_bytes=p.total_memory,
                   l2_bytes=getattr(p, "L2_cache_size", None),
                   capability=".".join(map(str, torch.cuda.get_device_capability(0))))
        try:
            import subprocess

            q = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,clocks.sm,"
                                "clocks.mem,power.limit", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=20)
            parts = [x.strip() for x in q.stdout.strip().split(",")]
            env["driver"] = parts[0] if parts else ""
            env["nvidia_smi"] = q.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            env["driver"] = "unknown"
    return env


SECTIONS = ("overhead", "elementwise", "gemm", "gemm_sweep", "attention", "flush_probe", "e2e",
            "moe")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu_measurements"),
                    help="output folder (default $OUT or ./gpu_measurements)")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--quick", action="store_true", help="fewer shapes and repeats (~1 min)")
    ap.add_argument("--only", default=None,
                    help="comma-separated sections (default overhead,elementwise,gemm,"
                    "attention,flush_probe,e2e,moe; gemm_sweep with --gemm-sweep)")
    ap.add_argument("--gemm-sweep", action="store_true",
                    help="only the Vidur-like fp16 GEMM sweep (M = 1..4096 over the H100 "
                    "Vidur shapes with the error tail, then every 8 tokens from 136 to 1024 "
                    "over six of them) with the kernels cuBLAS ran; ~2-4 min on an H100 "
                    "(estimate printed at start)")
    ap.add_argument("--flush", choices=("read", "memset"), default="read",
                    help="L2 flush before each timed op: read a large buffer (default; leaves "
                    "clean lines) or memset it (leaves dirty lines the op writes back)")
    args = ap.parse_args(argv)
    only = args.only or ("gemm_sweep" if args.gemm_sweep
                         else "overhead,elementwise,gemm,attention,flush_probe,e2e,moe")
    bad = [n for n in (x.strip() for x in only.split(",")) if n not in SECTIONS]
    if bad:
        print(f"measure_gpu: --only: unknown section {bad[0]!r}; use any of "
              f"{', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    try:
        import torch
    except ImportError:
        print("measure_gpu: PyTorch is required", file=sys.stderr)
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        print("measure_gpu: no CUDA device (use --device cpu to check the code paths)",
              file=sys.stderr)
        return 2
    out = Path(args.out)
    env = environment(torch, args.device)
    short = args.quick or args.gemm_sweep  # the sweep's budget: 5 x 5 timed calls per shape
    bench = Bench(torch, args.device, repeats=5 if short else 9, inner=5 if short else 10,
                  flush=args.flush)
    env["flush"] = args.flush
    w = Writer(out, env)
    t0 = time.perf_counter()
    sections = {"overhead": lambda: bench_overheads(bench, w),
                "elementwise": lambda: bench_copy_elementwise(bench, w, args.quick),
                "gemm": lambda: bench_gemm(bench, w, args.quick),
                "gemm_sweep": lambda: bench_gemm_sweep(bench, w, args.quick),
                "attention": lambda: bench_attention(bench, w, args.quick),
                "flush_probe": lambda: bench_flush_probe(bench, w),
                "e2e": lambda: bench_e2e(bench, w, args.quick),
                "moe": lambda: bench_moe(bench, w, args.quick)}
    assert set(sections) == set(SECTIONS)  # the names --only is checked against
    torch.manual_seed(0)
    for name in only.split(","):
        _progress(f"{name} ...", t0)
        try:
            sections[name.strip()]()
        except Exception as e:  # keep what was measured; record the failure and go on
            w.add(name, "section_failed", [], notes=f"{type(e).__name__}: {str(e)[:200]}")
            _progress(f"{name} failed: {e}", t0)
        w.save()  # after every section: a killed run keeps what it measured
    out.mkdir(parents=True, exist_ok=True)
    env["elapsed_s"] = time.perf_counter() - t0
    tmp = out / "environment.json.tmp"
    tmp.write_text(json.dumps(env, indent=2, default=str))
    os.replace(tmp, out / "environment.json")
    _progress(f"done: {len(w.rows)} rows in {out}", t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
