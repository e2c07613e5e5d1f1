"""The engines' own all-reduce kernels (`engines` knobs `custom_ar_*`): where they run, what
they cost, by hand; and the constants against their fit to the measured H100 latencies."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from infersim.hwmodels import CostContext, cost_model, load_hardware
from infersim.hwmodels.cost import Runtime
from infersim.hwmodels.models.gpu import engines as E
from infersim.hwmodels.runtime_knobs import tune_runtime
from infersim.validation.fitting import custom_allreduce as F
from infersim.workloads import ops as O

MIB = 2.0**20


def _cost(hw, profile: str | None, nbytes: float, g: int):
    ctx = (CostContext() if profile is None
           else CostContext(runtime=Runtime.FUSED, profile=E.lookup(profile)))
    return cost_model(hw).op_cost(O.collective("all_reduce", nbytes, g, "bf16"), hw, ctx)


def _by_hand(profile: str, nbytes: float, g: int) -> float:
    p = E.lookup(profile)
    wire = 2 * (g - 1) / g * nbytes  # two-shot: reduce-scatter + all-gather
    return (E.knob(p, "custom_ar_base_s") + (g - 1) * E.knob(p, "custom_ar_peer_s")
            + wire * E.knob(p, "custom_ar_s_per_byte"))


@pytest.fixture(scope="module")
def dgx():
    return load_hardware("dgx-h100")


def test_vllm_runs_its_kernel_below_8_mib_whatever_nccl_costs(dgx) -> None:
    """vLLM's rule (`should_custom_ar`): its kernel for every all-reduce under 8 MiB on a
    fully NVLink-connected node, even where NCCL would be faster (1 MiB over 4 GPUs)."""
    for nbytes, g in ((16384.0, 8), (1 * MIB, 4), (4 * MIB, 2)):
        oc = _cost(dgx, "vllm-v0", nbytes, g)
        assert dict(oc.detail)["algorithm"] == "engine_kernel"
        assert oc.time_s == pytest.approx(_by_hand("vllm-v0", nbytes, g), rel=1e-12)
    # 1 MiB over 4 GPUs: 8.01 + 3 x 0.300 us + 1.5 MiB x 20.31 ps/B = 40.85 us
    assert _cost(dgx, "vllm-v0", MIB, 4).time_s == pytest.approx(40.85e-6, rel=1e-3)
    assert _cost(dgx, "vllm-v0", MIB, 4).time_s > _cost(dgx, None, MIB, 4).time_s
    # SGLang 0.3-0.4 call the same kernel through vLLM's distributed module
    assert _cost(dgx, "sglang-api", MIB, 4).time_s == _cost(dgx, "vllm-v0", MIB, 4).time_s


def test_tensorrt_llm_takes_the_faster_of_its_kernel_and_nccl(dgx) -> None:
    small = _cost(dgx, "trtllm-pytorch", 16384.0, 8)
    assert dict(small.detail)["algorithm"] == "engine_kernel"
    assert small.time_s == pytest.approx(_by_hand("trtllm-pytorch", 16384.0, 8), rel=1e-12)
    assert small.time_s < _cost(dgx, None, 16384.0, 8).time_s
    big = _cost(dgx, "trtllm-pytorch", 4 * MIB, 2)  # the kernel's ~57 GB/s loses to NCCL
    assert _by_hand("trtllm-pytorch", 4 * MIB, 2) > big.time_s
    assert big.time_s == _cost(dgx, None, 4 * MIB, 2).time_s


def test_nccl_where_the_kernel_does_not_run(dgx) -> None:
    """At or above 8 MiB, across nodes, beyond 8 GPUs, on PCIe, and for the plain
    runtimes (no engine), the all-reduce is NCCL's."""
    for profile, hw, nbytes, g in (("vllm-v0", dgx, 8 * MIB, 8),
                                   ("vllm-v0", load_hardware("dgx-h100x2"), 16384.0, 16),
                                   ("vllm-v0", load_hardware("dgx-h100", {"system.num_chips": 16}),
                                    16384.0, 16),
                                   ("vllm-v0", replace(load_hardware("rtx-4090"), num_chips=2),
                                    16384.0, 2)):
        assert dict(_cost(hw, profile, nbytes, g).detail)["algorithm"] != "engine_kernel"
    assert dict(_cost(dgx, None, 16384.0, 8).detail)["algorithm"] != "engine_kernel"
    assert E.knob(E.lookup("graph"), "custom_ar_max_bytes") == 0.0


def test_knob_switches_it_off_and_moves_the_time(dgx) -> None:
    """`--runtime-set custom_ar_max_bytes=0` is vLLM's --disable-custom-all-reduce: NCCL."""
    off = tune_runtime(dgx, "vllm-v0", {"custom_ar_max_bytes": 0.0})
    ctx = CostContext(runtime=Runtime.FUSED, profile=off)
    op = O.collective("all_reduce", 16384.0, 8, "bf16")
    assert cost_model(dgx).op_cost(op, dgx, ctx).time_s == _cost(dgx, None, 16384.0, 8).time_s
    # every kernel knob moves the time its way, by the hand amount: +1 us fixed, +0.1 us
    # per peer (3 peers at TP4)
    op = O.collective("all_reduce", MIB, 4, "bf16")
    base = _cost(dgx, "vllm-v0", MIB, 4).time_s
    for knob, value, delta in (("custom_ar_base_s", 9.01e-6, 1e-6),
                               ("custom_ar_peer_s", 0.4e-6, 3 * 0.1e-6)):
        ctx = CostContext(runtime=Runtime.FUSED, profile=tune_runtime(dgx, "vllm-v0",
                                                                      {knob: value}))
        assert cost_model(dgx).op_cost(op, dgx, ctx).time_s == pytest.approx(base + delta,
                                                                             rel=1e-9)
    # custom_ar_auto 1 on vLLM: the faster of its kernel (41 us) and NCCL (24 us) at 1 MiB
    ctx = CostContext(runtime=Runtime.FUSED,
                      profile=tune_runtime(dgx, "vllm-v0", {"custom_ar_auto": 1.0}))
    assert cost_model(dgx).op_cost(op, dgx, ctx).time_s == _cost(dgx, None, MIB, 4).time_s
    faster = tune_runtime(dgx, "vllm-v0", {"custom_ar_s_per_byte": 10e-12})
    ctx = CostContext(runtime=Runtime.FUSED, profile=faster)
    op = O.collective("all_reduce", MIB, 4, "bf16")
    assert (cost_model(dgx).op_cost(op, dgx, ctx).time_s
            == pytest.approx(_cost(dgx, "vllm-v0", MIB, 4).time_s - 1.5 * MIB * 10.31e-12,
                             rel=1e-9))


def test_profiles_carry_the_fitted_kernels() -> None:
    res = json.loads(F.OUT.read_text())["kernels"]
    for profile, kernel in (("vllm-v0", "vllm"), ("vllm-v1", "vllm"), ("sglang", "vllm"),
                            ("trtllm", "trtllm"), ("trtllm-pytorch", "trtllm")):
        p = E.lookup(profile)
        for knob in ("base_s", "peer_s", "s_per_byte"):
            assert E.knob(p, f"custom_ar_{knob}") == pytest.approx(res[kernel][knob],
                                                                  rel=2e-3), (profile, knob)


def test_fit_reproduces_the_measured_latencies() -> None:
    """Refit from the committed measurements: the same constants as the committed fit, and
    every kernel within 10 % at the median and 25 % at worst of its 18 measured points (a
    fixed cost, one per peer and a constant rate per wire byte describe them)."""
    res = F.fit()
    committed = json.loads(F.OUT.read_text())["kernels"]
    for k, v in res["kernels"].items():
        for name in ("base_s", "peer_s", "s_per_byte"):
            assert v[name] == pytest.approx(committed[k][name], rel=1e-9)
        assert v["points"] == 18
        assert v["median_ape"] < 0.10 and v["max_ape"] < 0.25
    # by hand at one point: TRT-LLM kernel, 512 B over 2 GPUs measured 3.7 us
    t = res["kernels"]["trtllm"]
    assert F.kernel_time(t["base_s"], t["peer_s"], t["s_per_byte"], 2, 512.0) == pytest.approx(
        3.7e-6, rel=0.15)


@pytest.mark.parametrize("profile", ["trtllm", "trtllm-pytorch", "vllm-v1", "vllm-v0",
                                     "sglang", "sglang-api"])
def test_serving_engines_run_nccls_ring_not_nvls(dgx, profile: str) -> None:
    """The serving engines keep NCCL off NVLink SHARP (`nccl_nvls` 0: SGLang's
    NCCL_NVLS_ENABLE=0, vLLM's NCCL_CUMEM_ENABLE=0, TensorRT-LLM's traced ring kernel): a
    32 MiB all-reduce over 8 H100 is the bandwidth-protocol ring by hand (14 steps, the wire
    bytes at the reducing-collective rate), slower than the NVLS the plain runtimes get."""
    p, f = dgx.chip.params, dgx.fabric
    B, g = 32 * MIB, 8
    rate = f.chip_bandwidth_Bps * p.allreduce_bw_efficiency
    ring = 2 * (g - 1) * f.latency_s + 2 * (g - 1) / g * B / rate
    nvls = p.nvls_latency_s + B / (f.chip_bandwidth_Bps * p.nvls_efficiency)
    assert nvls < ring  # NCCL with NVLS would take it
    # a graphed engine replays the collective at a kernel's launch latency (see op_cost)
    expected = min(p.collective_latency_s, p.kernel_launch_s) + ring + p.kernel_launch_s
    oc = _cost(dgx, profile, B, g)
    assert dict(oc.detail)["algorithm"] == "ring"
    assert oc.time_s == pytest.approx(expected, rel=1e-9)
    plain = _cost(dgx, None, B, g)
    assert dict(plain.detail)["algorithm"] == "in_switch"
    assert plain.time_s < oc.time_s


def test_nccl_nvls_knob_moves_a_large_tp8_allreduce(dgx) -> None:
    """`--runtime-set nccl_nvls=1` gives the engine NVLS back: the 32 MiB TP8 all-reduce
    costs what the plain runtime's does (same NCCL, same graph replay), faster than its
    ring."""
    on = tune_runtime(dgx, "trtllm-pytorch", {"nccl_nvls": 1.0})
    ctx = CostContext(runtime=Runtime.FUSED, profile=on)
    op = O.collective("all_reduce", 32 * MIB, 8, "bf16")
    with_nvls = cost_model(dgx).op_cost(op, dgx, ctx)
    assert dict(with_nvls.detail)["algorithm"] == "in_switch"
    assert with_nvls.time_s == pytest.approx(_cost(dgx, None, 32 * MIB, 8).time_s, rel=1e-12)
    assert with_nvls.time_s < _cost(dgx, "trtllm-pytorch", 32 * MIB, 8).time_s
