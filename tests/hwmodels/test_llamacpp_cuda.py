"""llama.cpp's CUDA backend as GPU engine profiles (`llama.cpp-cuda`, `llama.cpp-cuda-2024-01`):
kernels per layer counted by hand from the ggml graph, one kernel priced by hand, knob
directions, the clear error for a weight type ggml cannot run, and the one fitted constant."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infersim import api
from infersim.foundation.errors import InputError
from infersim.hwmodels.models.gpu import engines as E
from infersim.validation.datasets import llamacpp_cuda as D

LAYERS = 32  # Llama-2-7B


def _sched(hw: str, weights: str, runtime: str, phase: str = "decode", **kw: object):
    n = {"context": 64} if phase == "decode" else {"prompt": 512}
    return api.simulate("llama-2-7b", hw, phase, 1, weights=weights, activations="fp16",
                        runtime=runtime, **n, **kw).schedule  # type: ignore[arg-type]


def _layer_kernels(s) -> int:
    """Kernels of one decoder layer (the ops repeated once per layer)."""
    return sum(m.kernels for m in s.ops if m.op.count == LAYERS)


# Hand count per Llama layer from llama.cpp build_llama / llm_build_kqv and ggml_cuda_mul_mat
# (build 32d9f7d9): rms_norm+mul 2, attention KQ (to_fp16, cuBLAS, to_fp32) 3 + soft_max_ext 1
# + KQV 3 + cont 1 = 8, rope q/k 2, K/V cpy 2, residual adds 2, ffn_norm 2, silu+mul 2:
# 20 kernels that are not weight matmuls; then the 7 weight matmuls (q, k, v, o, gate, up,
# down) at 2 (quantize_q8_1 + MMVQ), 3 (cuBLAS triple), 1 (dequantize_mul_mat_vec) or 4
# (dequantize to fp16 + cuBLAS triple, prompts above 32 tokens) kernels each.
@pytest.mark.parametrize(("weights", "runtime", "phase", "per_matmul"), [
    ("q4_0", "llama.cpp-cuda-2024-01", "decode", 2),
    ("q8_0", "llama.cpp-cuda", "decode", 2),
    ("fp16", "llama.cpp-cuda-2024-01", "decode", 3),
    ("fp16", "llama.cpp-cuda", "decode", 1),
    ("q4_0", "llama.cpp-cuda-2024-01", "prefill", 4),
    ("fp16", "llama.cpp-cuda", "prefill", 3),
])
def test_kernels_per_layer_by_hand(weights: str, runtime: str, phase: str,
                                   per_matmul: int) -> None:
    s = _sched("rtx-4090", weights, runtime, phase)
    assert _layer_kernels(s) == 20 + 7 * per_matmul


def test_mmvq_kernel_by_hand() -> None:
    """q_proj on Q4_0 at one token: launch + one memory latency + the weight's real bytes
    (4.5 bits per weight) and the q8_1 activations over the read rate, the fp16 output over
    the write rate (numbers from the rtx-4090 spec file)."""
    spec = yaml.safe_load((Path(__file__).resolve().parents[2] / "hwmodels" / "specs"
                           / "rtx-4090.yaml").read_text())
    g = spec["gpu"]
    bw = spec["memory"]["hbm"]["bandwidth_gb_per_s"] * 1e9
    d = 4096
    read = d * d * 4.5 / 8 + d * 36 / 32
    write = d * 2
    hand = (g["kernel_launch_us"] * 1e-6 + spec["memory"]["hbm"]["latency_ns"] * 1e-9
            + read / (bw * g["hbm_read_efficiency"]) + write / (bw * g["hbm_write_efficiency"]))
    s = _sched("rtx-4090", "q4_0", "llama.cpp-cuda")
    qkv = next(m for m in s.ops if m.op.name == "qkv_proj")
    assert qkv.kernel_times_s[1] == pytest.approx(hand, rel=1e-6)  # [quantize, q_proj, ...]


def test_host_bound_decode_is_nodes_times_host_time() -> None:
    """Without CUDA graphs a Q4_0 token on a fast GPU is bound by the host launching every
    ggml node: the step lasts at least kernels x host_node_s, and not much longer (the last
    kernels' device time and the step sync)."""
    s = _sched("rtx-3090-ti", "q4_0", "llama.cpp-cuda-2024-01")
    host = s.kernels * E.LLAMACPP_CUDA_HOST_NODE_S
    assert s.device_s < host  # the GPU alone would be faster than the host
    assert host <= s.latency_s <= host + 0.3e-3
    # knob direction: a slower host per ggml node, a slower token; CUDA graphs remove it
    slow = E.lookup("llama.cpp-cuda-2024-01").with_values(
        host_node_s=2 * E.LLAMACPP_CUDA_HOST_NODE_S)
    assert _sched("rtx-3090-ti", "q4_0", slow).latency_s > 1.5 * s.latency_s


def test_bandwidth_and_format_directions() -> None:
    def tok_s(weights: str, **over: float) -> float:
        hw = api.load_hardware("rtx-4090", over or None)
        return 1.0 / api.simulate("llama-2-7b", hw, "decode", 1, context=64, weights=weights,
                                  activations="fp16", runtime="llama.cpp-cuda").latency_s

    base = tok_s("fp16")
    assert tok_s("fp16", **{"memory.hbm.bandwidth_gb_per_s": 2016}) > 1.3 * base
    assert tok_s("q4_0") > 1.5 * base  # 4.5 vs 16 bits per weight streamed
    assert tok_s("q4_0") > tok_s("q8_0") > base


def test_unsupported_weight_type_is_one_clear_error() -> None:
    with pytest.raises(InputError, match=r"weights: fp8 .*llama\.cpp.*q4_0"):
        _sched("rtx-4090", "fp8", "llama.cpp-cuda")
    p = subprocess.run([sys.executable, "-m", "infersim", "simulate", "--model", "llama-2-7b",
                        "--hw", "rtx-4090", "--weights", "bf16", "--runtime", "llama.cpp-cuda"],
                       capture_output=True, text=True, check=False)
    assert p.returncode == 2
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "weights: bf16" in err[0] and "Traceback" not in p.stderr


def test_fitted_host_time_reproduces_its_calibration_row() -> None:
    row = next(r for r in D.read_rows() if r["id"] == D.CALIBRATION)
    assert row["split"] == "calibration"
    assert sum(r["split"] == "calibration" for r in D.read_rows()) == 1
    assert D.predict(row) == pytest.approx(float(row["measured"]), rel=0.005)
    assert D.fit() == pytest.approx(E.LLAMACPP_CUDA_HOST_NODE_S, rel=0.01)


def test_dataset_rows_predict_through_the_api() -> None:
    df = D.load()
    assert len(df) == len(D.read_rows()) and df["predicted"].gt(0).all()
    groups = {g for g, *_ in D.summary(df)}
    assert any("calibration" in g for g in groups) and any("held-out" in g for g in groups)


def test_bias_is_its_own_ggml_node() -> None:
    """Qwen2's q/k/v biases are ggml_add nodes (llama.cpp build_qwen2), not a GEMM epilogue:
    the projections keep their quantize + MMVQ kernels and the bias is one more kernel."""
    s = api.simulate("qwen2.5-7b", "rtx-4090", "decode", 1, context=64, weights="q4_0",
                     activations="fp16", runtime="llama.cpp-cuda").schedule
    by_name = {m.op.name: m for m in s.ops if m.op.count > 1}
    assert by_name["qkv_proj"].kernels == 6 and not by_name["qkv_proj"].fusion_group
    assert by_name["qkv_bias"].kernels == 1
    g = api.simulate("qwen2.5-7b", "rtx-4090", "decode", 1, context=64, weights="fp16",
                     runtime="graph").schedule
    assert "qkv_bias" not in {m.op.name for m in g.ops if not m.fusion_group}


def test_cuda_graphs_remove_the_host_bound() -> None:
    """Replaying the token's kernels as one CUDA graph (PR #6766) removes the per-node host
    launches: the same kernels, no host time per kernel, a step no longer than the device's
    own time plus the step sync, and faster than launching node by node."""
    launched = _sched("rtx-4090", "q4_0", "llama.cpp-cuda")
    graphed = _sched("rtx-4090", "q4_0", "llama.cpp-cuda-graphs")
    assert graphed.kernels == launched.kernels
    assert graphed.host_s == 0.0 < launched.host_s
    assert graphed.latency_s < launched.latency_s
    assert graphed.latency_s == pytest.approx(graphed.device_s + graphed.step_overhead_s,
                                              rel=1e-6)
