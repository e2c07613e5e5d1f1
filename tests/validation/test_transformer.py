"""The small transformer: the same computation as HF Llama (independent reference), and the
same operators and weight bytes as the infersim trace it is compared with."""

import numba
import numpy as np
import pytest

from infersim.validation.kernels.timing import TimingPolicy
from infersim.validation.transformer import (
    SMALL_LLAMA,
    SmallLlama,
    init_weights,
    time_step,
    to_hf_state_dict,
)


def _small(layers=2):
    cfg = dict(SMALL_LLAMA)
    cfg["num_hidden_layers"] = layers
    return cfg


@pytest.mark.torch
def test_logits_match_hf_llama_prefill_and_decode():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    cfg = _small(2)
    w = init_weights(cfg, seed=3)
    model = SmallLlama(cfg, w, numba.get_num_threads(), max_tokens=32)
    ids = np.random.default_rng(5).integers(0, cfg["vocab_size"], 13)
    prefill_logits = model.forward(ids[:12], 0).copy()
    decode_logits = model.forward(ids[12:], 12).copy()
    hf_cfg = transformers.LlamaConfig(**{k: v for k, v in cfg.items()
                                         if k not in ("architectures", "model_type",
                                                      "torch_dtype")})
    hf = transformers.LlamaForCausalLM(hf_cfg).eval()
    hf.load_state_dict({k: torch.from_numpy(v) for k, v in to_hf_state_dict(cfg, w).items()})
    with torch.no_grad():
        ref = hf(torch.from_numpy(ids[None, :])).logits[0].numpy()
    scale = np.abs(ref).max()
    assert np.abs(prefill_logits - ref[11]).max() <= 1e-4 * scale
    assert np.abs(decode_logits - ref[12]).max() <= 1e-4 * scale


def test_weights_match_the_trace_weight_bytes():
    from infersim.workloads import build_trace, load_model
    from infersim.workloads.dtypes import DType
    from infersim.workloads.scenario import Phase, Precision, Scenario

    h, inter, q, kv, vocab, layers = 512, 1536, 8 * 64, 2 * 64, 4096, 4
    per_layer = h * (q + 2 * kv) + q * h + h * 2 * inter + inter * h + 2 * h  # + 2 norm gains
    # a decode step reads every weight once, but only ONE row of the embedding table
    step_params = layers * per_layer + h + h * vocab + h
    w = init_weights(SMALL_LLAMA, seed=0)
    assert w.nbytes == 4 * (layers * per_layer + h + h * vocab + vocab * h)
    fp32 = Precision(DType.FP32, DType.FP32, DType.FP32)
    trace = build_trace(load_model(dict(SMALL_LLAMA)),
                        Scenario(Phase.DECODE, 1, context=64, precision=fp32))
    assert trace.weight_bytes() == 4 * step_params


def test_trace_op_names_are_the_kernels_the_model_runs():
    from infersim.workloads import build_trace, load_model
    from infersim.workloads.dtypes import DType
    from infersim.workloads.scenario import Phase, Precision, Scenario

    fp32 = Precision(DType.FP32, DType.FP32, DType.FP32)
    trace = build_trace(load_model(dict(SMALL_LLAMA)),
                        Scenario(Phase.PREFILL, 1, prompt=16, precision=fp32))
    # one Numba kernel per trace op in SmallLlama.forward, in this order
    assert [o.name for o in trace.ops] == [
        "embed_tokens", "input_norm", "qkv_proj", "rope", "kv_write", "attention", "o_proj",
        "attn_residual", "post_attn_norm", "gate_up_proj", "act", "down_proj", "mlp_residual",
        "final_norm", "lm_head"]
    assert {o.count for o in trace.ops[1:13]} == {4}


def test_time_step_is_positive():
    cfg = _small(1)
    model = SmallLlama(cfg, init_weights(cfg, 0), numba.get_num_threads(), max_tokens=8)
    pol = TimingPolicy(warmup=1, repeats=2, target_sample_s=1e-4, max_retries=0)
    for phase, tokens in (("prefill", 8), ("decode", 16)):
        t = time_step(model, phase, tokens, pol)
        assert np.isfinite(t.median_s) and t.median_s > 0
    with pytest.raises(ValueError):
        time_step(model, "train", 1, pol)
