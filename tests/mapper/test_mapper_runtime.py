"""Runtime, fusion, partition, caching and inspection behaviour of `map_trace`."""

from __future__ import annotations

from dataclasses import replace

import pytest

from infersim.api import make_scenario
from infersim.hwmodels.spec import Hardware
from infersim.mapper import cache_info, clear_cache, hw_fingerprint, map_trace
from infersim.mapper import kernels as K
from infersim.workloads import build_trace, load_model
from tests._support import double_main_bandwidth


def _trace(model: str = "llama-3.1-8b", **kw):
    kw.setdefault("phase", "decode")
    kw.setdefault("batch", 1)
    kw.setdefault("context", 1024)
    return build_trace(load_model(model), make_scenario(**kw))


def test_eager_ge_graph_ge_fused_at_batch_1(h100: Hardware) -> None:
    t = _trace()
    lat = {rt: map_trace(t, h100, rt).latency_s for rt in ("eager", "graph", "fused")}
    assert lat["eager"] >= lat["graph"] >= lat["fused"]
    assert lat["eager"] > lat["fused"]


def test_eager_is_host_bound_for_a_small_model(h100: Hardware) -> None:
    s = map_trace(_trace("llama-3.2-1b"), h100, "eager")
    g = map_trace(_trace("llama-3.2-1b"), h100, "graph")
    # the host launches the same kernels the graph replays; launching them takes longer than
    # the device needs to run them, so the step ends when the host is done (+ last kernel)
    assert s.kernels == g.kernels
    assert s.host_s > s.device_s
    assert s.latency_s >= s.host_s
    assert s.host_bound_s > 0.5 * s.device_s
    assert g.host_bound_s == pytest.approx(0.0, abs=1e-12)


def test_eager_splits_ops_into_pytorch_kernels(h100: Hardware) -> None:
    df = map_trace(_trace(), h100, "eager").to_frame().set_index("name")
    assert df.loc["input_norm", "kernels"] == 1  # plain PyTorch: F.rms_norm
    hf = map_trace(_trace(), h100, "hf-eager").to_frame().set_index("name")
    # HF LlamaRMSNorm: to(fp32), pow, mean, add eps, rsqrt, mul, to(bf16), mul weight
    assert hf.loc["input_norm", "kernels"] == 8
    # apply_rotary_pos_emb on q and k: mul cos, neg, cat, mul sin, add — 5 each
    assert df.loc["rope", "kernels"] == 10
    assert df.loc["act", "kernels"] == 2  # silu(gate), * up
    assert df.loc["kv_write", "kernels"] == 2  # K and V cache copies
    assert df.loc["qkv_proj", "kernels"] == 1


def test_fused_runtime_has_visible_fusion_groups(h100: Hardware) -> None:
    s = map_trace(_trace(), h100, "fused")
    df = s.to_frame().set_index("name")
    assert df.loc["attn_residual", "fusion_group"] == "attn_residual+post_attn_norm"
    assert df.loc["post_attn_norm", "fusion_group"] == "attn_residual+post_attn_norm"
    assert df.loc["rope", "fusion_group"] == "rope+kv_write"
    assert df.loc["mlp_residual", "fusion_group"] == "mlp_residual+input_norm"
    # the group's kernel is carried by its first member
    assert df.loc["rope", "kernels"] == 1 and df.loc["kv_write", "kernels"] == 0
    assert df.loc["kv_write", "time_s"] == 0.0
    eager = map_trace(_trace(), h100, "eager")
    assert s.kernels < eager.kernels


def test_fused_residual_norm_reads_the_handed_over_tensor_once() -> None:
    t = _trace()
    ops = {o.name: o for o in t.ops}
    a, b = ops["attn_residual"], ops["post_attn_norm"]
    fused = K.fuse_vector(a, b, "add_rmsnorm")
    # residual add reads x and h (2 tensors), writes h'; norm reads h', writes y, reads gain.
    # Fused: reads x and h, writes h' and y, reads the gain: saves one read of h'.
    assert fused.bytes.total == pytest.approx(a.bytes.total + b.bytes.total - b.bytes.act_in)
    assert fused.flops == pytest.approx(a.flops + b.flops)


def test_to_frame_has_mapping_columns(h100: Hardware) -> None:
    df = map_trace(_trace(), h100, "fused").to_frame()
    for col in ("fusion_group", "kernels", "host_s", "stage", "map_kernel", "map_tile",
                "map_split_k", "map_waves", "map_split_kv"):
        assert col in df.columns, col
    qkv = df.set_index("name").loc["qkv_proj"]
    tm, tn = (int(x) for x in qkv["map_tile"].split("x"))
    assert (tm, tn) in [(a, b) for a, b in __import__("infersim.hwmodels.models.gpu.gemm",
                                                       fromlist=["TILES"]).TILES]


def test_cached_and_uncached_results_are_identical(dgx_h100: Hardware) -> None:
    t = _trace("llama-3.1-70b", tp=8)
    clear_cache()
    cold = map_trace(t, dgx_h100, "fused")
    assert cache_info()["misses"] > 0
    warm = map_trace(t, dgx_h100, "fused")
    assert cache_info()["hits"] > 0
    assert warm.latency_s == cold.latency_s
    assert warm.energy_j == cold.energy_j
    assert warm.to_frame().equals(cold.to_frame())


def test_set_variants_do_not_collide_in_the_cache(h100: Hardware) -> None:
    fast = double_main_bandwidth(h100)
    same = replace(h100, description="another object, same content")
    assert hw_fingerprint(fast) != hw_fingerprint(h100)
    assert hw_fingerprint(same) == hw_fingerprint(h100)
    t = _trace()
    a = map_trace(t, h100, "graph").latency_s
    b = map_trace(t, fast, "graph").latency_s
    c = map_trace(t, h100, "graph").latency_s
    assert b < a and c == a


def test_pipeline_stages_sum_to_the_step(dgx_h100: Hardware) -> None:
    s = map_trace(_trace("llama-3.1-70b", tp=4, pp=2), dgx_h100, "fused")
    assert len(s.stage_times_s) == 2
    assert s.latency_s == pytest.approx(sum(s.stage_times_s) + s.step_overhead_s)
    df = s.to_frame()
    assert set(df["stage"]) == {0, 1}
    # layers split evenly: each stage runs 40 of the 80 layers
    qkv = df[df["name"] == "qkv_proj"]
    assert sorted(qkv["count"]) == [40, 40]
    assert df[df["name"] == "lm_head"]["stage"].tolist() == [1]
    assert df[df["name"] == "embed_tokens"]["stage"].tolist() == [0]


def test_energy_includes_static_power_of_waiting_chips(h100: Hardware) -> None:
    s = map_trace(_trace("llama-3.2-1b"), h100, "eager")
    dyn = sum(mo.energy_j for mo in s.ops)
    idle = h100.chip.power.idle_w * (s.latency_s - s.device_s)
    assert s.energy_j == pytest.approx(dyn + idle, rel=1e-9)
