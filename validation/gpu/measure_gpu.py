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
  loop = host launch cost; stream synchronize round trip), `e2e` (prefill and decode steps of
  plain-PyTorch Llama models with random weights: eager, and decode captured in a CUDA
  graph).
- `environment.json`: device properties, driver, versions, clocks at start.

Device times of single ops are measured the way the cost model defines them: the op
replayed N times inside a CUDA graph (back-to-back kernels, no host gaps), each replay
preceded by an L2 flush (a memset larger than L2, whose own time is measured the same way
and subtracted), timed with CUDA events; medians over repeats. e2e steps are wall-clock
per step including the host (eager) or the graph replay, with a synchronize per step (as a
generation loop reads the sampled token).

    python validation/gpu/measure_gpu.py --out $OUT            # full (~5-8 min on an H100)
    python validation/gpu/measure_gpu.py --quick --out /tmp/x  # ~1 min
    python validation/gpu/measure_gpu.py --device cpu --quick --out /tmp/x  # code-path check

Then copy the CSVs to `validation/data/gpu/<device>-<date>/` and run
`python -m infersim.validation.datasets.gpu_measurements` for the predicted-vs-measured tables.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
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
          "bytes", "runtime", "time_s", "time_p10_s", "time_p90_s", "repeats", "notes")

# Llama-shaped GEMMs (K, N): 8B qkv / gate_up / down, 70B at TP=8 qkv / gate_up / down
GEMM_SHAPES = ((4096, 6144), (4096, 28672), (14336, 4096), (8192, 1280), (8192, 7168),
               (3584, 8192))
GEMM_M = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
LLAMA_CONFIGS = {
    "llama-3.2-1b": dict(hidden=2048, inter=8192, layers=16, heads=32, kv_heads=8, vocab=128256),
    "llama-3.1-8b": dict(hidden=4096, inter=14336, layers=32, heads=32, kv_heads=8,
                         vocab=128256),
}


class Bench:
    """Timing backend: CUDA (events + graphs + L2 flush) or CPU (perf_counter; for checking
    the code paths on a machine without a GPU)."""

    def __init__(self, torch: Any, device: str, repeats: int, inner: int):
        self.t = torch
        self.device = device
        self.cuda = device == "cuda"
        self.repeats = repeats
        self.inner = inner
        self._flush_buf = None
        self._flush_s: float | None = None
        if self.cuda:
            l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 64 << 20)
            self._flush_buf = torch.empty(max(4 * l2, 256 << 20), dtype=torch.uint8,
                                          device="cuda")

    def sync(self) -> None:
        if self.cuda:
            self.t.cuda.synchronize()

    def _graph_time(self, fn: Callable[[], Any], flush: bool) -> list[float]:
        """Per-call device time of `fn` replayed `inner` times in a CUDA graph."""
        torch = self.t
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(2):  # warm-up (cuBLAS handles, autotuning) outside the capture
                if flush:
                    self._flush_buf.zero_()
                fn()
        torch.cuda.current_stream().wait_stream(s)
        self.sync()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(self.inner):
                if flush:
                    self._flush_buf.zero_()
                fn()
        g.replay()
        self.sync()
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

    def add(self, kind: str, name: str, times: list[float], **kw: Any) -> None:
        med, p10, p90 = _summ(times) if times else (math.nan,) * 3
        row = {f: "" for f in FIELDS}
        row.update(device=self.env["device"], driver=self.env["driver"],
                   torch=self.env["torch"], cuda=self.env["cuda"], date=self.env["date"],
                   kind=kind, name=name, time_s=med, time_p10_s=p10, time_p90_s=p90,
                   repeats=len(times))
        row.update(kw)
        self.rows.append(row)

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
        return path


def _progress(msg: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:7.1f} s] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------
# sections
# ------------------------------------------------------------------------------------------


def bench_overheads(b: Bench, w: Writer) -> None:
    torch = b.t
    x = torch.zeros(1, device=b.device)
    if b.cuda:
        # device cost of one tiny kernel back-to-back in a graph (no flush)
        times = b._graph_time(lambda: x.add_(1.0), flush=False)
        w.add("overhead", "graph_tiny_kernel", times, notes="x.add_(1) replayed in a graph")
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


def _fp8_ok(torch: Any, b: Bench) -> bool:
    if not b.cuda or not hasattr(torch, "_scaled_mm") or not hasattr(torch, "float8_e4m3fn"):
        return False
    return torch.cuda.get_device_capability(0) >= (8, 9)


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
            w.add("gemm", "matmul", b.device_time(lambda x=x, wt=wt: torch.matmul(x, wt)),
                  dtype="bf16", m=m, k=k, n=n, runtime="graph", notes="torch.matmul")
            if fp8 and m >= 16:  # _scaled_mm needs M a multiple of 16
                x8 = x.to(torch.float8_e4m3fn)
                one = torch.ones((), device="cuda")
                try:
                    t = b.device_time(lambda x8=x8, w8=w8, one=one: torch._scaled_mm(
                        x8, w8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16))
                    w.add("gemm", "scaled_mm", t, dtype="fp8", m=m, k=k, n=n, runtime="graph",
                          notes="torch._scaled_mm e4m3, bf16 out")
                except RuntimeError as e:  # an unsupported layout on this build
                    w.add("gemm", "scaled_mm", [], dtype="fp8", m=m, k=k, n=n,
                          notes=f"failed: {str(e)[:80]}")
            del x
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


# ------------------------------------------------------------------------------------------
# end to end: a plain-PyTorch Llama (Hugging Face style ops), random weights
# ------------------------------------------------------------------------------------------


def _llama(torch: Any, cfg: dict[str, int], device: str, max_seq: int, batch: int) -> Any:
    nn = torch.nn
    F = torch.nn.functional
    h, inter, heads, kvh = cfg["hidden"], cfg["inter"], cfg["heads"], cfg["kv_heads"]
    hd = h // heads
    dt = torch.bfloat16
    doc = F.scaled_dot_product_attention.__doc__ or ""
    gqa = "enable_gqa" in doc

    def rms(x: Any, wgt: Any) -> Any:  # Hugging Face LlamaRMSNorm, op by op
        xf = x.to(torch.float32)
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
            self.kc.index_copy_(2, pos, k)
            self.vc.index_copy_(2, pos, v)
            kk, vv = self.kc[:, :, :n], self.vc[:, :, :n]
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

    m = Model().to(device)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0.0, 0.02)
    return m.eval()


def bench_e2e(b: Bench, w: Writer, quick: bool) -> None:
    torch = b.t
    models = ("llama-3.2-1b",) if quick else ("llama-3.2-1b", "llama-3.1-8b")
    if not b.cuda:
        LLAMA_CONFIGS["tiny"] = dict(hidden=64, inter=128, layers=2, heads=4, kv_heads=2,
                                     vocab=256)
        models = ("tiny",)
    for name in models:
        cfg = LLAMA_CONFIGS[name]
        ctx = 1024 if b.cuda else 16
        max_seq = 2 * ctx + 8
        with torch.no_grad():
            m = _llama(torch, cfg, b.device, max_seq, 1)
            for prompt in ((128, 1024) if b.cuda else (8,)):
                ids = torch.randint(0, cfg["vocab"], (1, prompt), device=b.device)
                pos = torch.arange(prompt, device=b.device)
                t = b.wall_time(lambda m=m, ids=ids, pos=pos, p=prompt: m(ids, pos, p, True),
                                5 if quick else 10)
                w.add("e2e", name, t, dtype="bf16", batch=1, q_len=prompt, kv_len=prompt,
                      runtime="eager", notes="prefill, wall time incl. host, synchronize")
            ids = torch.randint(0, cfg["vocab"], (1, 1), device=b.device)
            pos = torch.tensor([ctx], device=b.device)
            steps = 20 if quick else 50
            t = b.wall_time(lambda m=m, ids=ids, pos=pos, n=ctx + 1: m(ids, pos, n, False),
                            steps)
            w.add("e2e", name, t, dtype="bf16", batch=1, q_len=1, kv_len=ctx + 1,
                  runtime="eager", notes="decode step, wall time incl. host, synchronize")
            if b.cuda:
                s = torch.cuda.Stream()
                s.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(s):
                    for _ in range(3):
                        m(ids, pos, ctx + 1, False)
                torch.cuda.current_stream().wait_stream(s)
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    m(ids, pos, ctx + 1, False)
                t = b.wall_time(g.replay, steps)
                w.add("e2e", name, t, dtype="bf16", batch=1, q_len=1, kv_len=ctx + 1,
                      runtime="graph", notes="decode step captured in a CUDA graph, replay + "
                      "synchronize")
                del g
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu_measurements"),
                    help="output folder (default $OUT or ./gpu_measurements)")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--quick", action="store_true", help="fewer shapes and repeats (~1 min)")
    ap.add_argument("--only", default="overhead,elementwise,gemm,attention,e2e",
                    help="comma-separated sections")
    args = ap.parse_args(argv)
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
    bench = Bench(torch, args.device, repeats=5 if args.quick else 9,
                  inner=5 if args.quick else 10)
    w = Writer(out, env)
    t0 = time.perf_counter()
    sections = {"overhead": lambda: bench_overheads(bench, w),
                "elementwise": lambda: bench_copy_elementwise(bench, w, args.quick),
                "gemm": lambda: bench_gemm(bench, w, args.quick),
                "attention": lambda: bench_attention(bench, w, args.quick),
                "e2e": lambda: bench_e2e(bench, w, args.quick)}
    torch.manual_seed(0)
    for name in args.only.split(","):
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
