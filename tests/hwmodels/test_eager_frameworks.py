"""Plain-PyTorch eager frameworks (issue 12): kernels per decoder layer counted by hand from
each framework's source, split projection GEMMs that keep bytes and FLOPs, the host cost of a
collective called from Python, the host-dispatch constant's fit, and its direction (a faster
host gives a faster eager step and leaves graph replay alone)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from infersim.api import make_scenario, predict_op
from infersim.hwmodels import load_hardware
from infersim.hwmodels.cost import RuntimeProfile
from infersim.hwmodels.models.gpu import engines as E
from infersim.hwmodels.spec import GpuParams
from infersim.mapper import map_trace
from infersim.mapper.kernels import EagerStyle, Role, eager_kernels
from infersim.workloads import build_trace, ops

US = 1e-6
LAYERS = 2
GQA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256,
       "intermediate_size": 512, "num_hidden_layers": LAYERS, "num_attention_heads": 8,
       "num_key_value_heads": 2, "vocab_size": 1024, "max_position_embeddings": 4096,
       "rms_norm_eps": 1e-5, "torch_dtype": "bfloat16"}
MHA = {**GQA, "num_key_value_heads": 8}


def _sched(runtime: str | RuntimeProfile, model: dict = GQA, tp: int = 1, hw: str = "h100-sxm",
           overrides: dict | None = None):
    trace = build_trace(model, make_scenario("decode", 1, context=128, tp=tp))
    h = load_hardware(hw, overrides)
    if tp > 1:
        h = replace(h, name=f"{h.name}x{tp}", num_chips=tp)
    return map_trace(trace, h, runtime)


def _per_layer(s) -> int:
    return sum(m.kernels for m in s.ops if m.op.count == LAYERS)


# kernels per decode layer (q_len 1), counted from each source; see engines.py for the lists
@pytest.mark.parametrize("runtime,mha,gqa", [
    # F.rms_norm 1, qkv 1, RoPE 10, KV copies 2, SDPA 1, o 1, add 1, norm 1, gate_up 1,
    # silu 1, mul 1, down 1, add 1
    ("eager", 23, 23),
    # RMSNorm 8+8, wqkv 1, RoPE 9+9, index_put 2, repeat_interleave 4+4 (always), math SDPA
    # with a bool mask 9, wo 1, add 1, w1 1, w3 1, silu 1, mul 1, w2 1, add 1
    ("gpt-fast-eager", 62, 62),
    # RMSNorm 8+8, qkv 1, RoPE 6+6, index_copy 2, mem-efficient SDPA with a bool mask 6,
    # proj 1, add 1, fc_1 1, fc_2 1, silu 1, mul 1, proj 1, add 1
    ("litgpt-eager", 45, 45),
    # norm 8+8, q/k/v 3, RoPE 14, cat 2, flash SDPA 1, dense 1, add 1, wg 1, w1 1, silu 1,
    # mul 1, w2 1, add 1; the expand+flatten copies of K and V only under GQA (+2)
    ("fms-eager", 44, 46),
    ("fms-eager-2023-09", 38, 40),  # RoPE 8 (no position-id kernels)
    ("fms-benchmark", 44, 46),  # same kernels; the script's function mode costs host time
    # norm 8+8, q/k/v 3, RoPE 12, cat 2, eager attention 6, o 1, add 1, gate 1, up 1, act 1,
    # mul 1, down 1, add 1
    ("hf-eager", 47, 47),
])
def test_kernels_per_layer_match_the_hand_count(runtime: str, mha: int, gqa: int) -> None:
    assert _per_layer(_sched(runtime, MHA)) == mha
    assert _per_layer(_sched(runtime, GQA)) == gqa
    # graph replay of the same framework launches the same kernels
    prof = E.lookup(runtime)
    assert prof is not None


def test_split_projections_keep_weight_bytes_and_flops() -> None:
    qkv = ops.matmul(m=1, k=4096, n=3 * 4096, dtype="bf16", name="qkv_proj")
    gu = ops.matmul(m=1, k=4096, n=2 * 11008, dtype="bf16", name="gate_up_proj")
    st = EagerStyle(split_qkv=True, split_gate_up=True)
    for op, parts in ((qkv, 3), (gu, 2)):
        ks = eager_kernels(op, Role.MATMUL, style=st)
        assert len(ks) == parts
        assert sum(k.op.bytes.weight for k in ks) == pytest.approx(op.bytes.weight)
        assert sum(k.op.flops for k in ks) == pytest.approx(op.flops)
    # the plain style keeps the fused GEMM
    assert len(eager_kernels(qkv, Role.MATMUL, style=EagerStyle())) == 1


def test_collective_from_python_costs_the_framework_call_not_one_dispatch() -> None:
    hw = load_hardware("h100-sxm")
    p = hw.chip.params
    assert isinstance(p, GpuParams)
    fms = E.lookup("fms-eager")
    assert fms is not None
    bare = RuntimeProfile("fms-bare", fms.kind,
                          tuple((k, v) for k, v in fms.values if k != "collective_host_s"),
                          "", fms.base)
    a, b = _sched("fms-eager", tp=2), _sched(bare, tp=2)
    colls = sum(m.op.count for m in a.ops if m.op.kind == "collective")
    kernels = sum(m.kernels * m.op.count for m in a.ops)
    # two all-reduces per layer, the embedding all-reduce and the logits all-gather
    assert colls == 2 * LAYERS + 2
    # host time by hand: every kernel one dispatch, each collective 149 us instead
    assert a.host_s == pytest.approx((kernels - colls) * p.host_launch_s + colls * 149 * US,
                                     rel=1e-9)
    assert a.host_s - b.host_s == pytest.approx(colls * (149 * US - p.host_launch_s), rel=1e-9)
    # one all-reduce called alone from eager: its Python call, then the same NCCL kernel
    ar = ops.collective("all_reduce", 16384, 2, dtype="bf16", name="attn_allreduce")
    dgx = load_hardware("dgx-h100")
    q = dgx.chip.params
    assert isinstance(q, GpuParams)
    one = predict_op(ar, dgx, "eager")  # one dispatch + the kernel
    assert predict_op(ar, dgx, "fms-eager") == pytest.approx(
        one - q.host_launch_s + 149 * US, rel=1e-12)


def test_a_function_mode_adds_its_cost_to_every_kernel_and_collective_call() -> None:
    hw = load_hardware("h100-sxm")
    p = hw.chip.params
    assert isinstance(p, GpuParams)
    bench = E.lookup("fms-benchmark")
    assert bench is not None
    mode = bench.value("function_mode_s", 0.0)
    assert mode == pytest.approx(E.FMS_FUNCTION_MODE_S) and mode > 0.0
    a, b = _sched("fms-benchmark", tp=2), _sched("fms-eager", tp=2)
    kernels = sum(m.kernels * m.op.count for m in a.ops)
    assert kernels == sum(m.kernels * m.op.count for m in b.ops)  # same kernels
    # by hand: every kernel (collectives included) pays the mode once more
    assert a.host_s - b.host_s == pytest.approx(kernels * mode, rel=1e-9)
    assert a.latency_s > b.latency_s
    # graph replay launches nothing from Python: no mode cost there
    mm = ops.matmul(m=1, k=4096, n=4096, dtype="bf16")
    assert predict_op(mm, hw, "fms-benchmark") == pytest.approx(
        predict_op(mm, hw, "fms-eager") + mode, rel=1e-12)


def test_a_faster_host_gives_a_faster_eager_step_and_leaves_graphs_alone() -> None:
    lat = [_sched("gpt-fast-eager", overrides={"gpu.host_launch_us": h}).latency_s
           for h in (40.0, 19.57, 10.0, 5.0)]
    assert lat == sorted(lat, reverse=True) and lat[0] > lat[-1]
    # host-bound: 62 kernels x 2 layers + 3 + 7 at 19.57 us, the device behind the host
    s = _sched("gpt-fast-eager", overrides={"gpu.host_launch_us": 19.57})
    n = 62 * LAYERS + 3 + 7
    assert s.host_s == pytest.approx(n * 19.57 * US, rel=1e-9)
    g = [_sched("graph", overrides={"gpu.host_launch_us": h}).latency_s for h in (40.0, 5.0)]
    assert g[0] == g[1]


def test_host_launch_fit_reproduces_its_row_and_the_specs_carry_it() -> None:
    from infersim.validation.datasets.published_e2e import predict_per_user, read_rows
    from infersim.validation.fitting import eager_host as F

    fit = json.loads(F.FIT_FILE.read_text())
    row = next(r for r in read_rows("per_user.csv") if r["id"] == F.CALIBRATION_ROW)
    assert row["runtime"] == "gpt-fast-eager" and row["split"] == "calibration"
    assert F.solve(row) == pytest.approx(fit["value_us"], abs=0.01)
    for name in ("a100-sxm-80gb", "h100-sxm", "h200-sxm", "b200", "mi300x"):
        p = load_hardware(name).chip.params
        assert isinstance(p, GpuParams)
        assert p.host_launch_s == pytest.approx(fit["value_us"] * US, rel=1e-12), name
    assert predict_per_user(row)[0] == pytest.approx(float(row["measured"]), rel=1e-3)
    # the FMS benchmark-script profiles carry the fitted function-mode cost
    mode_row = next(r for r in read_rows("per_user.csv") if r["id"] == F.MODE_ROW)
    assert mode_row["runtime"] == "fms-benchmark" and mode_row["split"] == "calibration"
    assert fit["function_mode"]["value_us"] == pytest.approx(E.FMS_FUNCTION_MODE_S / US,
                                                             abs=0.05)
    assert F.solve_mode(mode_row, fit["value_us"]) == pytest.approx(
        fit["function_mode"]["value_us"], abs=0.05)
    assert predict_per_user(mode_row)[0] == pytest.approx(float(mode_row["measured"]),
                                                          rel=2e-3)


def test_a_growing_cat_cache_copies_the_whole_cache_every_step() -> None:
    # batch 4, 8 KV heads of 32, 1,000 cached tokens after this step's append
    att = ops.attention(batch=4, heads=8, kv_heads=8, head_dim=32, q_len=1, kv_len=1000,
                        causal=True, dtype="bf16")
    new = 4 * 8 * 32  # one token's K (and V) for the batch
    kv = ops.vector("kv_write", 2 * new, "bf16", inputs=1.0, outputs=0.0, flops_per_elem=0.0,
                    kv_write_bytes=2 * new * 2, name="kv_write")
    full = 4 * 8 * 1000 * 32
    cat = eager_kernels(kv, Role.KV_WRITE, style=EagerStyle(kv_cat=True), cache=att.shape)
    assert [k.label for k in cat] == ["k_cache_cat", "v_cache_cat"]
    for k in cat:  # by hand: read the past cache (full - new), write the whole grown cache
        assert k.op.bytes.act_in == pytest.approx((full - new) * 2)
        assert k.op.bytes.act_out == pytest.approx(full * 2)
    static = eager_kernels(kv, Role.KV_WRITE, style=EagerStyle(), cache=att.shape)
    assert sum(k.op.bytes.total for k in static) < sum(k.op.bytes.total for k in cat) / 100
    # in a model: the cat cache makes the device time grow with the context
    big = {**MHA, "hidden_size": 1024, "num_attention_heads": 8, "num_key_value_heads": 8}
    hw = load_hardware("h100-sxm")

    def dev(rt: str, ctx: int) -> float:
        return map_trace(build_trace(big, make_scenario("decode", 16, context=ctx)), hw,
                         rt).device_s

    grow_cat = dev("hf-eager", 4000) - dev("hf-eager", 500)
    grow_static = dev("litgpt-eager", 4000) - dev("litgpt-eager", 500)
    assert grow_cat > 1.5 * grow_static
