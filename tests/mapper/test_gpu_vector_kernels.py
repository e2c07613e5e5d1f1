"""Hand-derived checks of the GPU vector / row-reduction kernel model (hwmodels/models/gpu.py)."""

from __future__ import annotations

import pytest

from infersim.hwmodels import CostContext, cost_model
from infersim.hwmodels.models.gpu import figures, vector_plan
from infersim.hwmodels.spec import Hardware
from infersim.workloads import ops as O
from infersim.workloads.ops import OpKind


@pytest.fixture(scope="module")
def consts(a100: Hardware):
    """The A100 constants the GPU kernel model derives from the spec."""
    return figures(a100)


def test_long_softmax_row_reads_input_three_times(consts) -> None:
    # 4096 rows x 32768 fp16: the row (> 1024 elements) is looped: max, sum-exp, normalize.
    m, n = 4096, 32768
    op = O.vector(OpKind.ELEMENTWISE, m * n, "fp16", flops_per_elem=5.0, row_len=n)
    vp = vector_plan(consts, op, op.shape)
    x = m * n * 2.0  # bytes of the input (= output)
    assert vp.passes == 3
    # cold, re-reads miss at the spec's fraction: HBM bytes = x (1st read) + 2x·miss + x write
    assert abs(vp.hbm_bytes - (x + 2 * x * consts.reread_miss + x)) < 1.0
    short = O.vector(OpKind.ELEMENTWISE, m * 1024, "fp16", flops_per_elem=5.0, row_len=1024)
    assert vector_plan(consts, short, short.shape).passes == 1  # 1024 elements: in registers


def test_few_short_rows_are_latency_bound(consts) -> None:
    # 32 rows of 4096 (< 108 SMs): one block per row, one wave; 3 read passes + write =
    # 4 dependent phases of one HBM latency each, bytes negligible.
    op = O.vector(OpKind.ELEMENTWISE, 32 * 4096, "fp16", flops_per_elem=5.0, row_len=4096)
    vp = vector_plan(consts, op, op.shape)
    assert vp.blocks == 32 and vp.waves == 1
    assert abs(vp.latency_s - 4 * consts.hbm_lat) < 1e-12
    assert vp.time_s == vp.latency_s


def test_layernorm_row_fits_on_chip_single_pass(consts) -> None:
    fits = O.vector(OpKind.NORM, 4096 * 8192, "fp16", flops_per_elem=7.0, row_len=8192)
    looped = O.vector(OpKind.NORM, 4096 * 16384, "fp16", flops_per_elem=7.0, row_len=16384)
    rms = O.vector(OpKind.NORM, 4096 * 16384, "fp16", flops_per_elem=4.0, row_len=16384)
    # 8192 fp32 accumulators = 32 KiB = reduction_row_kib -> one pass; 16384 -> looped
    assert vector_plan(consts, fits, fits.shape).passes == 1
    assert vector_plan(consts, looped, looped.shape).passes == 3
    assert vector_plan(consts, rms, rms.shape).passes == 2


def test_warm_l2_operands_run_at_l2_roofline_cold_at_hbm(a100: Hardware) -> None:
    model = cost_model(a100)
    l2 = next(m for m in a100.chip.memory if m.name == "l2")
    hbm = a100.chip.main_memory
    # 2M fp16 elements: 4 MB in + 4 MB out = 8 MB, fits half the 40 MB L2
    small = O.vector(OpKind.ELEMENTWISE, 2 * 1024 * 1024, "fp16", flops_per_elem=1.0)
    warm = model.op_cost(small, a100, CostContext(warm_l2=True))
    cold = model.op_cost(small, a100, CostContext())
    b = 8.0 * 1024 * 1024
    assert warm.time_s >= b / l2.bandwidth_Bps  # never beats the L2 roofline
    assert warm.time_s < b / hbm.bandwidth_Bps  # but beats the HBM one
    assert cold.time_s >= b / hbm.bandwidth_Bps
    # 256 MB in + 256 MB out does not fit: warm == cold except a sliver (20 MB of 512 MB)
    big = O.vector(OpKind.ELEMENTWISE, 128 * 1024 * 1024, "fp16", flops_per_elem=1.0)
    bw = model.op_cost(big, a100, CostContext(warm_l2=True)).time_s
    bc = model.op_cost(big, a100, CostContext()).time_s
    assert bw >= 2 * 256 * 1024**2 * (1 - 20e6 / (512 * 1024**2)) / hbm.bandwidth_Bps
    assert bw <= bc


def test_weights_never_l2_credited_decode_gemv_floor(a100: Hardware) -> None:
    # decode GEMV 1 x 8192 x 8192 bf16 + a norm with weights: warm context credits only
    # activations; weight bytes still stream at <= HBM bandwidth.
    model = cost_model(a100)
    hbm = a100.chip.main_memory.bandwidth_Bps
    gemv = O.matmul(1, 8192, 8192, "bf16")
    t = model.op_cost(gemv, a100, CostContext(warm_l2=True)).time_s
    assert t >= 8192 * 8192 * 2.0 / hbm
    norm = O.vector(OpKind.NORM, 8192, "bf16", flops_per_elem=4.0, weight_bytes=64e6,
                    row_len=8192)
    tn = model.op_cost(norm, a100, CostContext(warm_l2=True)).time_s
    assert tn >= 64e6 / hbm
