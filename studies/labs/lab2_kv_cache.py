"""Lab 2 — the KV cache, batching and the memory wall.

Every generated token appends a key and a value vector per layer and KV head to the cache; the
cache of a sequence grows with its context, and the cache of a batch with the batch size. At
batch 1 a decode step is dominated by reading the weights; as the batch grows, the weights are
shared but the KV cache is not, so the KV traffic (and capacity) becomes the wall. You will
compute the KV bytes per token of Llama-3.1-8B, the largest batch an 80 GB GPU can hold at a
long context, the batch where KV traffic equals weight traffic, and the effect of fp8 KV.
"""

from __future__ import annotations

from typing import Any

from infersim.studies.labs._lab import Exercise, figure, main
from infersim.workloads import summarize

MODEL = "llama-3.1-8b"


def kv_bytes_per_token(kv: str = "bf16") -> float:
    """KV-cache bytes per token (all layers) of Llama-3.1-8B, from the decode trace."""
    from infersim.api import load_model, make_scenario
    from infersim.workloads import build_trace

    m = load_model(MODEL)
    # One decode step of one sequence writes exactly one token's K and V in every layer.
    tr = build_trace(m, make_scenario("decode", 1, context=16, kv=kv))
    return tr.bytes.kv_write


def max_batch(context: int = 8192, kv: str = "bf16", capacity_bytes: float = 80e9) -> int:
    """Sequences of `context` tokens whose KV fits next to the bf16 weights in 80 GB."""
    from infersim.api import load_model
    from infersim.workloads.dtypes import DType

    w = summarize(load_model(MODEL)).params_total * DType.BF16.bytes  # all weights stored
    return int((capacity_bytes - w) // (kv_bytes_per_token(kv) * context))


def kv_equals_weights_batch(context: int = 8192) -> float:
    """Batch at which one decode step reads as many KV bytes as weight bytes."""
    from infersim.api import load_model, make_scenario
    from infersim.workloads import build_trace

    tr = build_trace(load_model(MODEL), make_scenario("decode", 1, context=context))
    return tr.bytes.weight / tr.bytes.kv_read


def fp8_kv_gain(context: int = 8192) -> float:
    """How many times more sequences fit with an fp8 KV cache than with bf16."""
    return max_batch(context, "fp8") / max_batch(context, "bf16")


def memory_wall_curve(context: int = 8192) -> list[tuple[int, float]]:
    """(batch, simulated step latency in s) on an H100: flat while weights dominate, then
    rising once the KV cache dominates the bytes read."""
    from infersim.api import simulate

    return [(b, simulate(MODEL, "h100-sxm", batch=b, context=context).latency_s)
            for b in (1, 2, 4, 8, 16, 32)]


def _weight_bytes() -> float:
    from infersim.api import load_model
    from infersim.workloads.dtypes import DType

    return summarize(load_model(MODEL)).params_total * DType.BF16.bytes


def _why_kv(b: float) -> str:
    return (f"2 (K and V) × 32 layers × 8 KV heads × 128 dims × 2 bytes = {b:,.0f} B = "
            f"{b / 1024:.0f} KiB per token. Grouped-query attention is why it is this small: "
            "with 32 KV heads (one per query head) it would be 4× larger.")


def _plot_kv() -> Any:
    fig = figure(5.0, 3.4)
    ax = fig.axes[0]
    vals = {dt: kv_bytes_per_token(dt) / 1024 for dt in ("bf16", "fp8")}
    ax.bar(list(vals), list(vals.values()), color=["tab:blue", "tab:orange"])
    ax.set_ylabel("KiB per token (all layers)")
    ax.set_title("Llama-3.1-8B KV cache per token")
    return fig


def _why_capacity(n: int) -> str:
    w, kv = _weight_bytes(), kv_bytes_per_token()
    return (f"Free memory = 80 GB − {w / 1e9:.2f} GB of bf16 weights = {(80e9 - w) / 1e9:.2f} GB; "
            f"one 8192-token sequence holds {kv * 8192 / 1e9:.2f} GB of KV; "
            f"{(80e9 - w) / 1e9:.2f} / {kv * 8192 / 1e9:.2f} → {n} sequences. Capacity, not "
            "compute, caps the batch at long context.")


def _plot_capacity() -> Any:
    ctxs = [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072]
    fig = figure()
    ax = fig.axes[0]
    for dt in ("bf16", "fp8"):
        ax.plot(ctxs, [max_batch(c, dt) for c in ctxs], marker="o", label=f"{dt} KV")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("context (tokens)")
    ax.set_ylabel("sequences that fit in 80 GB")
    ax.set_title("the capacity wall: max batch ∝ 1 / context")
    ax.legend(fontsize=8)
    return fig


def _why_bandwidth(b: float) -> str:
    from infersim.api import load_model, make_scenario
    from infersim.workloads import build_trace

    tr = build_trace(load_model(MODEL), make_scenario("decode", 1, context=8192))
    return (f"A decode step reads the weights once ({tr.bytes.weight / 1e9:.2f} GB) whatever the "
            f"batch, and each sequence's KV ({tr.bytes.kv_read / 1e9:.3f} GB at context 8192). "
            f"They are equal at batch {tr.bytes.weight / 1e9:.2f} / {tr.bytes.kv_read / 1e9:.3f} "
            f"= {b:.1f}. Below it, adding a sequence adds little to the bytes of a step; above "
            "it, the step's bytes (and so its memory-bound time) grow almost linearly.")


def _plot_bandwidth() -> Any:
    from infersim.api import load_model, make_scenario
    from infersim.workloads import build_trace

    tr = build_trace(load_model(MODEL), make_scenario("decode", 1, context=8192))
    bs = [1, 2, 4, 8, 16, 32, 64]
    fig = figure()
    ax = fig.axes[0]
    ax.plot(bs, [tr.bytes.weight / 1e9] * len(bs), label="weights read per step")
    ax.plot(bs, [b * tr.bytes.kv_read / 1e9 for b in bs], label="KV read per step")
    ax.axvline(kv_equals_weights_batch(), color="tab:red", ls=":", label="equal")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch")
    ax.set_ylabel("GB per decode step")
    ax.set_title("context 8192: the bandwidth wall")
    ax.legend(fontsize=8)
    return fig


def _why_fp8(g: float) -> str:
    return (f"fp8 halves the KV bytes per token ({kv_bytes_per_token('fp8'):,.0f} B instead of "
            f"{kv_bytes_per_token():,.0f} B) while the free memory is unchanged, so "
            f"{max_batch(8192, 'fp8')} sequences fit instead of {max_batch(8192)}: ×{g:.2f} "
            "(not exactly 2 because each count is rounded down).")


def _why_curve(curve: list[tuple[int, float]]) -> str:
    (b0, t0), (b1, t1) = curve[0], curve[-1]
    return (f"Batch {b0}: {t0 * 1e3:.2f} ms; batch {b1}: {t1 * 1e3:.2f} ms — {b1 / b0:.0f}× the "
            f"tokens for {t1 / t0:.1f}× the time. The step stays near the weight-read time while "
            "the weights dominate the bytes and then rises with the KV bytes (about "
            f"{kv_equals_weights_batch():.0f} sequences match the weights at this context): "
            "the bandwidth wall of exercise 3.")


def _plot_curve() -> Any:
    curve = memory_wall_curve()
    fig = figure()
    ax = fig.axes[0]
    ax.plot([b for b, _ in curve], [t * 1e3 for _, t in curve], marker="o")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch")
    ax.set_ylabel("step latency (ms)")
    ax.set_title("Llama-3.1-8B decode at context 8192 on an H100")
    return fig


EXERCISES = (
    Exercise("KV bytes per token",
             "Llama-3.1-8B has 32 layers, 8 KV heads of dimension 128. With a bf16 cache, how "
             "many bytes does one token add to the KV cache?",
             "2 tensors (K and V) × layers × kv_heads × head_dim × bytes per element.",
             kv_bytes_per_token, _why_kv, _plot_kv),
    Exercise("the capacity wall",
             "On an 80 GB GPU holding the bf16 weights (~16 GB), how many 8192-token sequences "
             "fit in the remaining memory?",
             "(capacity − weight bytes) / (KV bytes per token × context), rounded down.",
             max_batch, _why_capacity, _plot_capacity),
    Exercise("the bandwidth wall",
             "At context 8192, at what batch does a decode step read as many KV bytes as weight "
             "bytes? (Below it, batching is almost free; above it, the step time grows ~linearly.)",
             "weights are read once per step; KV once per sequence: B = W / (kv/token × context).",
             kv_equals_weights_batch, _why_bandwidth, _plot_bandwidth),
    Exercise("fp8 KV cache",
             "Store the KV cache in fp8 instead of bf16. How many times more sequences fit?",
             "Half the bytes per token, same free memory.", fp8_kv_gain, _why_fp8,
             _plot_capacity),
    Exercise("see the wall in the simulator",
             "Simulate decode steps at context 8192 for batch 1..32 on an H100 and describe the "
             "curve.", "Use infersim.simulate(..., batch=b, context=8192).", memory_wall_curve,
             _why_curve, _plot_curve),
)

if __name__ == "__main__":
    raise SystemExit(main("Lab 2: KV cache, batching and the memory wall", __doc__ or "",
                          EXERCISES))
