"""Lab 1 — the roofline and arithmetic intensity.

A chip can do at most `peak` FLOP/s and move at most `BW` bytes/s from memory. An operator with
arithmetic intensity I = FLOPs / bytes moved can therefore reach at most min(peak, I × BW)
FLOP/s. The intensity where the two limits meet, I* = peak / BW (the ridge point), separates
memory-bound operators (I < I*) from compute-bound ones. In this lab you compute the ridge point
of an H100, the intensities of decode (GEMV) and prefill (GEMM) matmuls, the batch size at which
a decode matmul stops being memory-bound, and check the simulator against the roofline floor.
Draw it all with `infersim roofline --model llama-3.1-8b --hw h100-sxm -o roof.png`.
"""

from __future__ import annotations

from typing import Any

from infersim.studies.labs._lab import Exercise, figure, main


def ridge_point() -> float:
    """H100 SXM ridge point for bf16 on HBM, in FLOP/byte."""
    from infersim.api import load_hardware
    from infersim.workloads.dtypes import DType

    chip = load_hardware("h100-sxm").chip
    return chip.peak_flops(DType.BF16) / chip.main_memory.bandwidth_Bps


def gemv_and_gemm_intensity() -> dict[str, float]:
    """Intensity of a decode GEMV (1×4096 · 4096×4096) and a prefill GEMM (4096³), bf16."""
    from infersim import ops

    return {"gemv": ops.matmul(1, 4096, 4096, "bf16").intensity,
            "gemm": ops.matmul(4096, 4096, 4096, "bf16").intensity}


def compute_bound_batch(k: int = 8192, n: int = 8192) -> int:
    """Smallest batch m at which a bf16 m×k·k×n matmul reaches the H100 ridge point."""
    from infersim import ops

    ridge = ridge_point()
    m = 1
    while ops.matmul(m, k, n, "bf16").intensity < ridge:
        m += 1
    return m


def simulator_vs_floor() -> dict[str, float]:
    """Predicted time of the decode GEMV on an H100 next to its roofline floor."""
    from infersim import ops
    from infersim.api import load_hardware, predict_op
    from infersim.workloads.dtypes import DType

    hw = load_hardware("h100-sxm")
    op = ops.matmul(1, 4096, 4096, "bf16")
    floor = max(op.flops / hw.chip.peak_flops(DType.BF16),
                op.bytes.total / hw.chip.main_memory.bandwidth_Bps)
    return {"predicted_s": predict_op(op, hw), "floor_s": floor}


def _h100() -> tuple[float, float]:
    from infersim.api import load_hardware
    from infersim.workloads.dtypes import DType

    chip = load_hardware("h100-sxm").chip
    return chip.peak_flops(DType.BF16), chip.main_memory.bandwidth_Bps


def _roof(points: dict[str, float] | None = None) -> Any:
    """The H100 bf16 roofline, with the ridge and optional (name → intensity) points on it."""
    import numpy as np

    peak, bw = _h100()
    fig = figure()
    ax = fig.axes[0]
    xs = np.geomspace(0.1, 1e4, 300)
    ax.plot(xs, np.minimum(peak, bw * xs), color="k", lw=1.5, label="attainable FLOP/s")
    ax.axvline(peak / bw, color="tab:red", ls=":", label=f"ridge {peak / bw:.0f} FLOP/B")
    for i, (name, x) in enumerate((points or {}).items()):
        ax.scatter([x], [min(peak, bw * x)], s=60, zorder=3, color=f"C{i}",
                   label=f"{name}: {x:.3g} FLOP/B")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("FLOP/s")
    ax.set_title("H100 SXM, bf16 on HBM3")
    ax.legend(fontsize=8)
    return fig


def _why_ridge(r: float) -> str:
    peak, bw = _h100()
    return (f"I* = peak / BW = {peak / 1e12:.1f} TFLOP/s / {bw / 1e12:.2f} TB/s = {r:.1f} "
            "FLOP/byte: an operator must do about 295 FLOPs for every byte it moves before the "
            "tensor cores, not HBM, limit it. Anything below that intensity waits on memory.")


def _why_intensity(d: dict[str, float]) -> str:
    return (f"GEMV: 2·4096² FLOPs over 2·(4096 + 4096² + 4096) bytes ≈ {d['gemv']:.3f} FLOP/B — "
            "every weight is read for one multiply-add, ~300× below the ridge, so decode is "
            f"memory-bound. GEMM: 2·4096³ / (2·3·4096²) = 4096/3 ≈ {d['gemm']:.0f} FLOP/B — each "
            "weight is reused for 4096 tokens, ~4.6× above the ridge, so prefill is "
            "compute-bound.")


def _plot_batch() -> Any:
    from infersim import ops

    peak, bw = _h100()
    ms = list(range(1, 1025, 8))
    fig = figure()
    ax = fig.axes[0]
    ax.plot(ms, [ops.matmul(m, 8192, 8192, "bf16").intensity for m in ms], label="intensity")
    ax.axhline(peak / bw, color="tab:red", ls=":", label="ridge")
    ax.axvline(compute_bound_batch(), color="tab:green", ls="--",
               label=f"m = {compute_bound_batch()}")
    ax.set_xlabel("batch m (tokens per step)")
    ax.set_ylabel("FLOP/byte")
    ax.set_title("m×8192 · 8192×8192 bf16: intensity grows ~linearly with m")
    ax.legend(fontsize=8)
    return fig


def _why_batch(m: int) -> str:
    r = ridge_point()
    return (f"2mkn / 2(mk + kn + mn) ≥ I* ⇔ m ≥ I*·k·n / (k·n − I*(k + n)) = {r:.1f}·8192² / "
            f"(8192² − {r:.1f}·16384) → m = {m}. The weights (k·n) dominate the bytes, so the "
            "intensity is ≈ m FLOP/B until m nears k: a decode batch must be about the ridge "
            "point (~300 sequences) before batching stops being free.")


def _plot_floor() -> Any:
    d = simulator_vs_floor()
    fig = figure(5.0, 3.4)
    ax = fig.axes[0]
    ax.bar(["roofline floor", "infersim"], [d["floor_s"] * 1e6, d["predicted_s"] * 1e6],
           color=["0.6", "tab:blue"])
    ax.set_ylabel("µs")
    ax.set_title("1×4096 · 4096×4096 bf16 on an H100")
    return fig


def _why_floor(d: dict[str, float]) -> str:
    from infersim.api import load_hardware

    g: Any = load_hardware("h100-sxm").chip.params
    eff, launch = g.hbm_read_efficiency, g.kernel_launch_s
    stream = d["floor_s"] / eff
    return (f"Floor = bytes / BW = 33.6 MB / 3.35 TB/s = {d['floor_s'] * 1e6:.1f} µs; infersim "
            f"predicts {d['predicted_s'] * 1e6:.1f} µs ({d['predicted_s'] / d['floor_s']:.2f}×). "
            f"The floor assumes peak bandwidth from the first byte. The spec's achieved HBM "
            f"read efficiency ({eff:g}) makes the stream {stream * 1e6:.1f} µs and a kernel "
            f"launch / ramp of {launch * 1e6:.1f} µs brings it to "
            f"{(stream + launch) * 1e6:.1f} µs; the rest is the kernel's tiling (waves of "
            "thread blocks that do not fill the last wave).")


EXERCISES = (
    Exercise("the ridge point",
             "The H100 SXM does 989.4 TFLOP/s dense bf16 and reads HBM3 at 3.35 TB/s. At what "
             "arithmetic intensity (FLOP/byte) does an operator become compute-bound?",
             "I* = peak / bandwidth; use the library spec (`load_hardware('h100-sxm')`).",
             ridge_point, _why_ridge, _roof),
    Exercise("GEMV vs GEMM",
             "A decode step multiplies ONE token's activations (1×4096) by a 4096×4096 weight "
             "matrix; a prefill of 4096 tokens multiplies 4096×4096 by 4096×4096. In bf16 "
             "(2 bytes), each operand read once and the result written once, what are their "
             "intensities? Which side of the ridge is each on?",
             "FLOPs = 2mkn; bytes = 2(mk + kn + mn). For m=1 this is about 1 FLOP/byte.",
             gemv_and_gemm_intensity, _why_intensity,
             lambda: _roof(gemv_and_gemm_intensity())),
    Exercise("when does batching stop helping?",
             "Decode of a batch of m sequences turns the GEMV into an m×8192·8192×8192 GEMM. "
             "What is the smallest m that reaches the H100 ridge point?",
             "Solve 2mkn / (2(mk + kn + mn)) ≥ I* for m; the weights (kn) dominate the bytes.",
             compute_bound_batch, _why_batch, _plot_batch),
    Exercise("the simulator never beats physics",
             "Predict the decode GEMV's time with `infersim.predict_op` and compare it with "
             "max(FLOPs/peak, bytes/BW). Why is the prediction larger?",
             "Kernel launch latency and achieved (not peak) bandwidth; see hwmodels/models/gpu.py.",
             simulator_vs_floor, _why_floor, _plot_floor),
)

if __name__ == "__main__":
    raise SystemExit(main("Lab 1: the roofline and arithmetic intensity", __doc__ or "",
                          EXERCISES))

__all__ = ["EXERCISES", "compute_bound_batch", "gemv_and_gemm_intensity",
           "ridge_point", "simulator_vs_floor"]
