"""Conformance suite: every registered cost model × every shipped spec × a set of ops.

Properties (hwmodels/cost.py composition rules): finite, non-negative time and energy; a
`Bound`; never faster or cheaper than the residence-aware floor (`residence_floor`: weights
and KV from main memory, activations from the fastest level allowed to hold them); the GPU,
wafer, LPU and CIM models also never beat the all-main-memory floor (`roofline_times`);
doubling main-memory bandwidth never slows a memory-bound op.
"""

from __future__ import annotations

import math

import pytest

from infersim.hwmodels import CostContext, load_hardware
from infersim.hwmodels.cost import Bound
from infersim.hwmodels.models.roofline import residence_floor, roofline_times
from infersim.hwmodels.registry import MODELS
from infersim.hwmodels.spec import HardwareKind
from infersim.workloads import ops
from infersim.workloads.ops import OpKind
from tests._support import SPECS, double_main_bandwidth

OPS = [
    ops.matmul(1, 4096, 4096, "bf16", name="gemv"),
    ops.matmul(1, 8192, 28672, "bf16", weight_dtype="int8", name="gemv_w8"),
    ops.matmul(512, 4096, 14336, "bf16", name="gemm"),
    ops.matmul(16, 4096, 4096, "fp8", weight_dtype="int4", name="gemm_fp8_w4"),
    ops.matmul(4, 4096, 14336, "bf16", groups=8, imbalance=1.5, kind=OpKind.MOE_EXPERTS,
               name="moe"),
    ops.attention(8, 32, 8, 128, 1, 1024, causal=False, name="attn_decode"),
    ops.attention(1, 32, 8, 128, 512, 512, causal=True, name="attn_prefill"),
    ops.vector(OpKind.NORM, 4096 * 512, flops_per_elem=5, weight_bytes=8192, name="norm"),
    ops.vector(OpKind.ELEMENTWISE, 10**6, "fp32", name="fp32_add"),
    ops.collective("all_reduce", 8192 * 2 * 16, 8, name="allreduce"),
    ops.collective("send_recv", 1e6, 2, name="send"),
]
# The CPU model prices activations that fit a cache at that cache's measured bandwidth and
# energy (hwmodels/models/cpu.py), so it is held to the residence-aware floor only.
CACHE_AWARE = {HardwareKind.CPU}
KINDS = list(MODELS)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.value)
def test_cost_model_conformance(kind, path):
    model = MODELS[kind]
    hw = load_hardware(path)
    hw2 = double_main_bandwidth(hw)
    main = hw.chip.main_memory
    for op in OPS:
        for ctx in (CostContext(), CostContext(weights_on_chip=0.5)):
            c = model.op_cost(op, hw, ctx)
            where = f"{kind.value} on {path.stem}, {op.name}, {ctx}"
            assert isinstance(c.bound, Bound), where
            for v in (c.time_s, c.energy_j, c.compute_s, c.memory_s, c.comm_s, c.overhead_s):
                assert math.isfinite(v) and v >= 0, where
            t_floor, e_floor = residence_floor(op, hw)
            assert c.time_s >= t_floor * (1 - 1e-9), (where, c.time_s, t_floor)
            assert c.energy_j >= e_floor * (1 - 1e-9), (where, c.energy_j, e_floor)
            if kind not in CACHE_AWARE:
                floor = max(roofline_times(op, hw))
                assert c.time_s >= floor * (1 - 1e-9), (where, c.time_s, floor)
                assert c.energy_j >= op.bytes.total * 8 * main.energy_j_per_bit * (1 - 1e-9)
            fc, fm, fx = roofline_times(op, hw)
            if fm > fc and fm >= fx:  # memory-bound by the roofline
                c2 = model.op_cost(op, hw2, ctx)
                assert c2.time_s <= c.time_s * (1 + 1e-9), (where, c2.time_s, c.time_s)
