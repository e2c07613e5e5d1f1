"""Vidur's measured A100 attention (`validation.datasets.vidur_attention`): the decode
attention's KV stream share fitted on one call reproduces it and holds on the held-out calls
without a lean; the share is the KV bytes over the bandwidth, by hand; the knob moves paged
decode only (engine knob `paged_kv`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from infersim.hwmodels import load_hardware
from infersim.validation.datasets import vidur_attention as VA
from infersim.validation.fitting import paged_decode
from infersim.workloads import ops as O


def test_the_extract_holds_the_profiled_grid():
    d = VA.rows()
    assert set(d["phase"]) == {"decode", "prefill"}
    dec, pre = d[d["phase"] == "decode"], d[d["phase"] == "prefill"]
    assert len(dec) == 10112 and len(pre) == 4206  # the source's rows, repeats dropped
    assert dec["batch"].min() == 1 and dec["batch"].max() == 128
    assert dec["kv_cache"].min() == 32 and dec["kv_cache"].max() == 4032
    assert (pre["batch"] == 1).all() and pre["chunk"].max() == 4096
    assert not d.duplicated(["phase", "batch", "chunk", "kv_cache"]).any()


def test_the_committed_share_is_the_fit_and_reproduces_its_call():
    fit = json.loads(paged_decode.OUT.read_text())
    hw = load_hardware(VA.SPEC)
    assert hw.chip.params.decode_attention_bw_efficiency == fit["value"]
    assert paged_decode.fit()["value"] == pytest.approx(fit["value"], abs=1e-4)
    b, kv = VA.FIT_ROW
    assert VA.model_time_s("decode", b, 0, kv, hw) == pytest.approx(
        fit["row"]["measured_us"] * 1e-6, rel=1e-3)


def test_the_fitted_call_is_its_kv_bytes_over_the_share_of_the_bandwidth():
    # 128 x 4,033 keys x 4 KV heads x 128 x (K, V) x 2 B = 1.057 GB at 0.7822 x 2.039 TB/s:
    # 663 us; the call's latency and its Q / O traffic add well under 2%
    hw = load_hardware(VA.SPEC)
    kv = 128 * 4033 * 4 * 128 * 2 * 2
    assert VA.kv_bytes(128, 4032) == kv
    by_hand = kv / (hw.chip.params.decode_attention_bw_efficiency * 2.039e12)
    assert VA.model_time_s("decode", 128, 0, 4032, hw) == pytest.approx(by_hand, rel=0.02)


def test_held_out_kv_bound_decode_calls_without_a_lean():
    df = VA.load()
    held = df[df["group"] == f"{VA.DECODE_GROUP} (held-out)"]
    assert len(held) > 3000
    err = held["predicted"].to_numpy() / held["measured"].to_numpy() - 1.0
    assert np.median(np.abs(err)) < 0.10
    assert abs(np.median(err)) < 0.05
    assert 0.35 < (err < 0).mean() < 0.65
    # the one fitted call is not among them
    assert (df["group"] == f"{VA.DECODE_GROUP} (fit)").sum() == 1


def test_the_share_moves_decode_attention_only():
    dec = O.attention(64, 32, 4, 128, 1, 2048, True, "fp16")
    pre = O.attention(1, 32, 4, 128, 2048, 2048, True, "fp16")
    from infersim.api import predict_op

    lo = load_hardware(VA.SPEC, {"gpu.decode_attention_bw_efficiency": 0.6})
    hi = load_hardware(VA.SPEC, {"gpu.decode_attention_bw_efficiency": 0.9})
    # an engine's paged cache (vLLM's 16-token blocks) pays the share; prompts do not
    assert predict_op(dec, lo, "vllm-v1") > predict_op(dec, hi, "vllm-v1")
    assert predict_op(pre, lo, "vllm-v1") == predict_op(pre, hi, "vllm-v1")
    # plain PyTorch's contiguous cache streams at the generic read share, either way
    assert predict_op(dec, lo, "graph") == predict_op(dec, hi, "graph")
    generic = load_hardware(VA.SPEC, {"gpu.decode_attention_bw_efficiency": 0.0})
    assert predict_op(dec, lo, "graph") == predict_op(dec, generic, "graph")


def test_the_paged_kv_knob_moves_decode_in_its_direction():
    # engine knob paged_kv: 1 (a paged cache) streams the A100's KV at the fitted 0.782 share,
    # 0 (contiguous) at the generic read share 0.910: the paged step is slower by about
    # 0.910 / 0.782 on a KV-bound call (128 x 4,032 keys, 1.06 GB)
    from dataclasses import replace

    from infersim.hwmodels import CostContext, cost_model
    from infersim.hwmodels.models.gpu import engines as E

    hw = load_hardware(VA.SPEC)
    dec = O.attention(128, 32, 4, 128, 1, 4033, True, "fp16")
    graph = E.lookup("graph")
    assert E.knob(graph, "paged_kv") == 0.0 and E.knob(E.lookup("vllm-v1"), "paged_kv") == 1.0
    ctx = CostContext(from_idle=True)
    paged = cost_model(hw).op_cost(dec, hw, replace(ctx, profile=graph.with_values(paged_kv=1.0)))
    flat = cost_model(hw).op_cost(dec, hw, replace(ctx, profile=graph))
    assert paged.time_s > flat.time_s
    assert paged.memory_s / flat.memory_s == pytest.approx(0.910 / 0.782, rel=0.02)
