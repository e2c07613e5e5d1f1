"""Lab 2 — the KV cache, batching and the memory wall.

Every generated token appends a key and a value vector per layer and KV head to the cache; the
cache of a sequence grows with its context, and the cache of a batch with the batch size. At
batch 1 a decode step is dominated by reading the weights; as the batch grows, the weights are
shared but the KV cache is not, so the KV traffic (and capacity) becomes the wall. You will
compute the KV bytes per token of Llama-3.1-8B, the largest batch an 80 GB GPU can hold at a
long context, the batch where KV traffic equals weight traffic, and the effect of fp8 KV.
"""

from __future__ import annotations

from infersim.studies.labs._lab import Exercise, main

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
    from infersim.workloads import summarize
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


EXERCISES = (
    Exercise("KV bytes per token",
             "Llama-3.1-8B has 32 layers, 8 KV heads of dimension 128. With a bf16 cache, how "
             "many bytes does one token add to the KV cache?",
             "2 tensors (K and V) × layers × kv_heads × head_dim × bytes per element.",
             kv_bytes_per_token),
    Exercise("the capacity wall",
             "On an 80 GB GPU holding the bf16 weights (~16 GB), how many 8192-token sequences "
             "fit in the remaining memory?",
             "(capacity − weight bytes) / (KV bytes per token × context), rounded down.",
             max_batch),
    Exercise("the bandwidth wall",
             "At context 8192, at what batch does a decode step read as many KV bytes as weight "
             "bytes? (Below it, batching is almost free; above it, the step time grows ~linearly.)",
             "weights are read once per step; KV once per sequence: B = W / (kv/token × context).",
             kv_equals_weights_batch),
    Exercise("fp8 KV cache",
             "Store the KV cache in fp8 instead of bf16. How many times more sequences fit?",
             "Half the bytes per token, same free memory.", fp8_kv_gain),
    Exercise("see the wall in the simulator",
             "Simulate decode steps at context 8192 for batch 1..32 on an H100 and describe the "
             "curve.", "Use infersim.simulate(..., batch=b, context=8192).", memory_wall_curve),
)

if __name__ == "__main__":
    raise SystemExit(main("Lab 2: KV cache, batching and the memory wall", __doc__ or "",
                          EXERCISES))
