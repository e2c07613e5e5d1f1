"""The `systolic` (TPU) and `mesh` (Tenstorrent) kinds: derived peaks, tile padding, torus
collectives, runtime profiles and the published rows their constants are fitted on.

Expected values are worked out by hand from the spec figures (cited in the YAML files)."""

from __future__ import annotations

import pytest

from infersim.cli import main as cli_main
from infersim.foundation.errors import InputError
from infersim.hwmodels import CostContext, load_hardware
from infersim.hwmodels.collectives import topology_hops
from infersim.hwmodels.models.tiled import MeshModel, SystolicModel
from infersim.hwmodels.registry import MODELS
from infersim.hwmodels.spec import HardwareKind, Topology, UnitType
from infersim.workloads import ops
from infersim.workloads.dtypes import DType
from infersim.workloads.ops import Collective, CollectiveShape
from tests._support import SPEC_DIR, SPECS


def step(name: str, overrides: dict | None = None, *, chips: int = 1, tp: int = 1
         ) -> tuple[float, float, bool]:
    """(latency, energy, feasible) of a small Llama decode step at batch 2, context 256."""
    from infersim.api import make_scenario
    from infersim.mapper import map_trace
    from infersim.workloads import build_trace

    cfg = {"model_type": "llama", "hidden_size": 512, "intermediate_size": 1024,
           "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 8,
           "vocab_size": 1024, "max_position_embeddings": 65536, "rms_norm_eps": 1e-5,
           "tie_word_embeddings": False, "hidden_act": "silu"}
    trace = build_trace(cfg, make_scenario("decode", 2, context=256, weights="bf16",
                                           activations="bf16", kv="bf16", tp=tp,
                                           pp=chips // tp))
    s = map_trace(trace, load_hardware(name, overrides or None))
    return s.latency_s, s.energy_j, s.infeasible is None


NEW_SPECS = ("tpu-v5e", "tpu-v5p", "tpu-v5e-8", "tpu-v5p-16", "tpu-v5p-128", "wormhole-n150",
             "wormhole", "wormhole-n300", "t3000", "galaxy-wormhole", "blackhole-p150a",
             "blackhole-p100a")


@pytest.mark.parametrize("name,dtype,expected", [
    # 4 MXUs x 2 x 128 x 128 FLOP/cycle x 1.5 GHz
    ("tpu-v5e", DType.BF16, 4 * 2 * 128 * 128 * 1.5e9),
    ("tpu-v5e", DType.INT8, 4 * 2 * 2 * 128 * 128 * 1.5e9),
    # 2 TensorCores x 4 MXUs x 32,768 FLOP/cycle x 1.75 GHz
    ("tpu-v5p", DType.BF16, 8 * 32768 * 1.75e9),
    # 72 Tensix cores x 1,024 fp16 FLOP/cycle x 1 GHz; 64 cores on an n300 ASIC
    ("wormhole-n150", DType.FP16, 72 * 1024 * 1e9),
    ("wormhole", DType.FP16, 64 * 1024 * 1e9),
    # 140 cores x 2,048 fp16 FLOP/cycle x 1.35 GHz: at 1.3 GHz this is Hot Chips 2024's 372
    # TFLOPS (140 x 2,048 x 1.3e9 = 372.7e12), and fp8 twice it (745)
    ("blackhole-p150a", DType.FP16, 140 * 2048 * 1.35e9),
    ("blackhole-p150a", DType.FP8, 140 * 4096 * 1.35e9),
])
def test_matrix_peak_is_units_times_flop_per_cycle_times_clock(name, dtype, expected):
    chip = load_hardware(name).chip
    assert chip.peak_flops(dtype, UnitType.MATRIX) == pytest.approx(expected, rel=1e-12)
    # within the validator's tolerance of the datasheet (197 / 393 / 459 / 74 / 65.5 TFLOPS)
    faster = load_hardware(name, {"clock_ghz": 2 * chip.clock_hz / 1e9}).chip
    assert faster.peak_flops(dtype, UnitType.MATRIX) == pytest.approx(2 * expected)


def test_a_129_wide_matmul_costs_like_256_on_a_128_array():
    hw = load_hardware("tpu-v5e")
    m = SystolicModel()
    t = {k: m.op_cost(ops.matmul(4096, k, 4096, "bf16"), hw, CostContext()).compute_s
         for k in (128, 129, 256)}
    assert t[129] == pytest.approx(t[256])
    assert t[128] == pytest.approx(t[256] / 2)
    # by hand: 2 x 32 weight tiles over 4 MXUs = 16 waves, each streaming 4,096 rows at
    # 2 x 128^2 FLOP/cycle x 1.5 GHz per MXU
    per_tile = 2 * 128 * 128 * 4096 / (2 * 128 * 128 * 1.5e9)
    assert t[129] == pytest.approx(16 * per_tile)


def test_a_skinny_matmul_waits_for_weight_tile_loads():
    """Decode (M = 1): each 128 x 128 weight tile takes 128 cycles to load, far longer than
    streaming one row (padded to the 8-row granule): 1,024 tiles / 4 MXUs x 128 cycles."""
    hw = load_hardware("tpu-v5e")
    c = SystolicModel().op_cost(ops.matmul(1, 4096, 4096, "bf16"), hw, CostContext())
    assert c.compute_s == pytest.approx(1024 / 4 * 128 / 1.5e9)
    # the weights (32 MiB of bf16) stream from HBM at 0.9 x 819 GB/s: memory-bound
    assert c.memory_s == pytest.approx(4096 * 4096 * 2 / (0.9 * 819e9), rel=1e-3)
    assert c.bound.value == "memory"


def test_rows_pad_to_the_tile_on_a_mesh_chip():
    """Tensix tiles are 32 x 32: 33 tokens cost what 64 do (both compute-bound here)."""
    hw = load_hardware("wormhole-n150")
    m = MeshModel()
    t = {r: m.op_cost(ops.matmul(r, 8192, 8192, "fp16"), hw, CostContext()).compute_s
         for r in (33, 64)}
    assert t[33] == pytest.approx(t[64])
    # 256 x 256 tiles over 72 cores = 911 waves of a 64 x 32 x 32 tile at 1,024 FLOP/cycle
    waves = -(-256 * 256 // 72)
    assert t[64] == pytest.approx(waves * 2 * 32 * 32 * 64 / (1024 * 1e9))


def test_3d_torus_hops_are_rings_along_three_dimensions():
    ar = Collective.ALL_REDUCE
    # 4 x 4 x 4 cube: each bidirectional ring of 4 takes 2 steps, 3 dimensions, twice (RS+AG)
    assert topology_hops(Topology.TORUS_3D, CollectiveShape(ar, 1e6, 64)) == 12
    assert topology_hops(Topology.TORUS_3D, CollectiveShape(ar, 1e6, 8)) == 6
    assert topology_hops(Topology.TORUS_3D, CollectiveShape(Collective.ALL_GATHER, 1e6, 64)) == 6


def test_all_reduce_on_a_v5p_cube_by_hand():
    hw = load_hardware("tpu-v5p-128")
    c = SystolicModel().op_cost(ops.collective("all_reduce", 1e6, 64), hw, CostContext())
    wire = 2 * 63 / 64 * 1e6  # ring all-reduce bytes per chip
    bw = 6 * 100e9 * 0.9  # 6 ICI links x 100 GB/s per direction x link_efficiency
    assert c.comm_s == pytest.approx(wire / bw)
    assert c.time_s == pytest.approx(wire / bw + 12 * 1e-6)  # + 12 hops x 1 us


def test_faster_ici_and_more_links_are_never_slower():
    op = ops.collective("all_reduce", 4e6, 8)
    m = SystolicModel()
    base = m.op_cost(op, load_hardware("tpu-v5p-16"), CostContext()).time_s
    for over in ({"system.interconnect.link_bandwidth_gb_per_s": 200},
                 {"system.interconnect.links_per_chip": 12}):
        assert m.op_cost(op, load_hardware("tpu-v5p-16", over), CostContext()).time_s < base


def test_runtime_profiles_per_kind():
    assert MODELS[HardwareKind.SYSTOLIC].runtimes() == ("jetstream-2024",)
    assert MODELS[HardwareKind.MESH].runtimes() == ("tt-metal-2025", "tt-galaxy-2025")
    _, prof = MODELS[HardwareKind.SYSTOLIC].resolve_runtime(None, "tpu-v5e")
    assert prof is not None and dict(prof.values)["op_overhead_s"] > 0
    with pytest.raises(InputError, match="jetstream-2024"):
        MODELS[HardwareKind.SYSTOLIC].resolve_runtime("fused", "tpu-v5e")
    with pytest.raises(InputError, match="tt-metal-2025"):
        MODELS[HardwareKind.MESH].resolve_runtime("jetstream-2024", "wormhole-n150")


def test_the_profile_overhead_adds_once_per_op():
    hw = load_hardware("wormhole-n150")
    m = MeshModel()
    op = ops.vector(ops.OpKind.ELEMENTWISE, 4096, "bf16")
    _, prof = m.resolve_runtime(None)
    base = m.op_cost(op, hw, CostContext()).time_s
    with_prof = m.op_cost(op, hw, CostContext(profile=prof)).time_s
    assert with_prof - base == pytest.approx(dict(prof.values)["op_overhead_s"])


@pytest.mark.parametrize("name", NEW_SPECS)
def test_new_specs_pass_hw_validate(name, capsys):
    assert cli_main(["hw", "validate", str(SPEC_DIR / f"{name}.yaml")]) == 0


def test_new_specs_ship_in_the_library_the_shared_suites_run_over():
    """test_metamorphic, test_conformance and test_smoke_matrix run over every YAML file of
    the spec folder: the new chips and systems are among them, with their kinds."""
    shipped = {p.stem for p in SPECS}
    assert set(NEW_SPECS) <= shipped
    kinds = {load_hardware(n).kind for n in NEW_SPECS}
    assert kinds == {HardwareKind.SYSTOLIC, HardwareKind.MESH}


def test_shipped_overheads_reproduce_their_calibration_rows():
    """Each profile's constant is the refit of its calibration row (4 significant digits);
    the row is then predicted within 0.1%."""
    from infersim.validation.datasets import published_asic as pa

    rows = pa.calibration_rows()
    assert set(rows) == {"jetstream-2024", "tt-metal-2025"}
    for name, r in rows.items():
        shipped = dict(pa.profile_for(r).values)["op_overhead_s"]
        assert pa.fit(r) == pytest.approx(shipped, rel=1e-3), name
        pred, _ = pa.predict(r)
        assert pred == pytest.approx(float(r["measured"]), rel=1e-3), name


@pytest.mark.parametrize("name,block", [("tpu-v5e", "systolic"), ("wormhole-n150", "mesh")])
def test_each_kind_knob_moves_the_step_in_its_physical_direction(name, block):
    """Higher sustained memory efficiency is never slower; a faster clock (shorter tile
    loads, higher peaks) is never slower; a wider row granule (more padding) never faster."""
    base, _, _ = step(name)
    assert step(name, {f"{block}.memory_efficiency": 1.0})[0] <= base
    assert step(name, {f"{block}.memory_efficiency": 0.5})[0] > base
    assert step(name, {f"{block}.row_granule": 128})[0] >= base
    clock = load_hardware(name).chip.clock_hz / 1e9
    assert step(name, {"clock_ghz": 2 * clock})[0] <= base


def test_faster_links_speed_up_a_tensor_parallel_step_on_t3000():
    base, _, _ = step("t3000", chips=8, tp=8)
    fast, _, _ = step("t3000", {"system.interconnect.link_bandwidth_gbit_per_s": 800},
                      chips=8, tp=8)
    slow_hops, _, _ = step("t3000", {"system.interconnect.latency_us": 10.0}, chips=8, tp=8)
    assert fast < base < slow_hops


def test_tt_metal_storage_mix_rescales_weight_and_kv_bytes_by_tile_size():
    """The `mix` of a tt-metal row stores each tensor group at its block format's bits per
    value: a 32 x 32 Bfp4_b tile is 512 mantissa + 64 exponent bytes = 4.5 bits a value,
    Bfp8_b 1,088 B = 8.5 bits. Worked by hand for the small Llama (hidden 512, MLP 1,024,
    4 layers, vocab 1,024) at int8 nominal weights and bf16 KV."""
    from infersim.api import make_scenario
    from infersim.validation.datasets import published_asic as pa
    from infersim.workloads import build_trace

    cfg = {"model_type": "llama", "hidden_size": 512, "intermediate_size": 1024,
           "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 8,
           "vocab_size": 1024, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
           "tie_word_embeddings": False, "hidden_act": "silu"}
    trace = build_trace(cfg, make_scenario("decode", 2, context=256, weights="int8",
                                           activations="bf16", kv="bf16"))
    mixed = pa.apply_mix(trace, pa.parse_mix("ff1_3=bfp4;ff2=bfp8;qkv=bf16;kv=bfp8"))
    by_name = {o.name: o for o in mixed.ops}
    # gate+up: 512 x 2,048 weights x 4.5 bits / 8 = 589,824 B per layer
    assert by_name["gate_up_proj"].bytes.weight == pytest.approx(512 * 2048 * 4.5 / 8)
    assert by_name["down_proj"].bytes.weight == pytest.approx(1024 * 512 * 8.5 / 8)
    assert by_name["qkv_proj"].bytes.weight == pytest.approx(512 * 3 * 512 * 2)
    # groups the mix leaves out keep the nominal int8 byte per weight
    assert by_name["o_proj"].bytes.weight == pytest.approx(512 * 512)
    assert by_name["lm_head"].bytes.weight == pytest.approx(512 * 1024)
    # KV read: 256 cached tokens + the new one, x 2 sequences x (K + V) 512 values x 8.5 bits
    assert by_name["attention"].bytes.kv_read == pytest.approx(257 * 2 * 2 * 512 * 8.5 / 8)
    with pytest.raises(InputError, match="row x, column mix: 'ff9=bfp4' is not group=format"):
        pa.parse_mix("ff9=bfp4", "row x, column mix")


# --- int8 storage under bf16 activations (JetStream) and the KV stream through the MXU ---

def _jetstream(**values: float) -> CostContext:
    prof = SystolicModel.profiles["jetstream-2024"]
    return CostContext(profile=prof.with_values(**values) if values else prof)


def test_int8_weight_matmul_pays_one_vector_convert_per_weight_by_hand():
    """Weight-only int8 (jetstream_pt `F.linear(bf16 x, int8 W) * scaler`): the MXU runs
    bf16, and each of the 4,096 x 4,096 int8 weights is converted once on the vector unit
    (8 x 128 lanes x 1.5 GHz = 1.536e12 lane-ops/s) before the weight tile loads."""
    hw = load_hardware("tpu-v5e")
    op = ops.matmul(1, 4096, 4096, "bf16", weight_dtype="int8")
    c = SystolicModel().op_cost(op, hw, _jetstream())
    tiles = 1024 / 4 * 128 / 1.5e9  # 1,024 weight tiles over 4 MXUs, 128 cycles each
    convert = 4096 * 4096 / (1024 * 1.5e9)
    assert c.compute_s == pytest.approx(tiles + convert)
    assert c.memory_s == pytest.approx(4096 * 4096 / (0.9 * 819e9), rel=1e-3)  # int8 bytes
    assert c.time_s == pytest.approx(tiles + convert + 4.052e-6, rel=1e-3)
    # the same matmul stored in bf16 converts nothing
    bf = SystolicModel().op_cost(ops.matmul(1, 4096, 4096, "bf16"), hw, _jetstream())
    assert bf.compute_s == pytest.approx(tiles)


def test_decode_attention_streams_every_kv_tile_through_the_mxus_by_hand():
    """Batch 8, 32 query / 8 KV heads, head_dim 128, 2,048 cached tokens: each sequence's K
    and V are 16 tiles of 128 x 128 per KV head, loaded for that head's 4 query rows alone:
    8 x 8 x 16 x 2 = 2,048 tiles over 4 MXUs x 128 cycles at 1.5 GHz."""
    hw = load_hardware("tpu-v5e")
    op = ops.attention(8, 32, 8, 128, 1, 2048, dtype="bf16", kv_dtype="bf16")
    c = SystolicModel().op_cost(op, hw, CostContext())
    assert c.compute_s == pytest.approx(2048 / 4 * 128 / 1.5e9)
    # bf16 KV: HBM (2 B a value) is slower than the array's 512 values a cycle
    assert c.bound.value == "memory"


def test_int8_kv_attention_adds_converts_and_per_token_scales_by_hand():
    """int8 KV (jetstream_pt Int8KVCacheGenerate): 2 x 8 x 8 x 2,049 x 128 values read and
    converted once each, plus one bf16 scale per token for K and one for V (4 B) per
    sequence, replicated on every chip."""
    hw = load_hardware("tpu-v5e")
    op = ops.attention(8, 32, 8, 128, 1, 2049, dtype="bf16", kv_dtype="int8")
    c = SystolicModel().op_cost(op, hw, _jetstream())
    values = 2 * 8 * 8 * 2049 * 128
    assert op.bytes.kv_read == pytest.approx(values)
    tiles = 8 * 8 * 17 * 2  # 2,049 tokens fill 17 tiles of 128
    assert c.compute_s == pytest.approx(tiles / 4 * 128 / 1.5e9 + values / (1024 * 1.5e9))
    scales = 8 * 2049 * 4.0
    assert c.memory_s == pytest.approx((op.bytes.total + scales) / (0.9 * 819e9), rel=1e-9)


@pytest.mark.parametrize("op", [
    ops.matmul(64, 4096, 4096, "bf16", weight_dtype="int8"),
    ops.attention(16, 32, 8, 128, 1, 2048, dtype="bf16", kv_dtype="int8"),
])
def test_dequantization_knobs_move_time_in_their_physical_direction(op):
    """A materialized bf16 copy (written and read back) is slower than a fused convert; more
    vector ops per value are slower; hardware conversion (0 ops) is fastest."""
    hw = load_hardware("tpu-v5e")
    m = SystolicModel()
    fused = m.op_cost(op, hw, _jetstream()).time_s
    mat = m.op_cost(op, hw, _jetstream(dequant_materialized=1.0))
    assert mat.time_s > fused
    assert mat.memory_s - m.op_cost(op, hw, _jetstream()).memory_s == pytest.approx(
        2 * 2 * (op.bytes.kv_read or op.bytes.weight) / (0.9 * 819e9))
    assert m.op_cost(op, hw, _jetstream(dequant_ops_per_value=4.0)).time_s > fused
    assert m.op_cost(op, hw, _jetstream(dequant_ops_per_value=0.0)).time_s < fused
    if op.bytes.kv_read:  # more scale bytes per cached token: more to read, never faster
        base = m.op_cost(op, hw, _jetstream()).memory_s
        assert m.op_cost(op, hw, _jetstream(kv_scale_bytes=16.0)).memory_s > base
        assert m.op_cost(op, hw, _jetstream(kv_scale_bytes=0.0)).memory_s < base


def test_int8_storage_never_costs_a_bf16_op_anything():
    hw = load_hardware("tpu-v5e")
    m = SystolicModel()
    for op in (ops.matmul(8, 4096, 4096, "bf16"),
               ops.attention(8, 32, 8, 128, 1, 2048, dtype="bf16", kv_dtype="bf16")):
        assert m.op_cost(op, hw, _jetstream()).time_s == pytest.approx(
            m.op_cost(op, hw, _jetstream(dequant_ops_per_value=8.0,
                                         dequant_materialized=1.0)).time_s)


def test_galaxy_profile_overhead_is_the_demos_measured_op_cost():
    """tt-galaxy-2025's op overhead = mean op_to_op gap of the 16 decoder ops + the smallest
    kernel (RotaryEmbeddingLlamaFusedQK), ns, from llama3_70b_galaxy's
    tests/decoder_perf_targets_6u.json (tt-metal 02cd859b857d6f03107c831e180a7d7cc8d1b059)."""
    op_to_op = [770.511, 740.496, 770.519, 820.370, 758.630, 598.948, 652.178, 867.874,
                706.111, 728.615, 723.444, 698.415, 726.778, 737.104, 625.341, 717.059]
    rotary = 2234.184
    expected = (sum(op_to_op) / len(op_to_op) + rotary) * 1e-9
    prof = MeshModel.profiles["tt-galaxy-2025"]
    assert dict(prof.values)["op_overhead_s"] == pytest.approx(expected, rel=1e-3)
    # the demo's software: a decode step on the Galaxy is faster than under the generic path
    from infersim.api import make_scenario
    from infersim.mapper import map_trace
    from infersim.workloads import build_trace
    cfg = {"model_type": "llama", "hidden_size": 512, "intermediate_size": 1024,
           "num_hidden_layers": 4, "num_attention_heads": 32, "num_key_value_heads": 8,
           "vocab_size": 1024, "max_position_embeddings": 65536, "rms_norm_eps": 1e-5,
           "tie_word_embeddings": False, "hidden_act": "silu"}
    trace = build_trace(cfg, make_scenario("decode", 2, context=256, weights="bf16",
                                           activations="bf16", kv="bf16", tp=32))
    hw = load_hardware("galaxy-wormhole")
    generic = map_trace(trace, hw, "tt-metal-2025").latency_s
    galaxy = map_trace(trace, hw, "tt-galaxy-2025").latency_s
    assert galaxy < generic


def test_vector_converts_cost_their_energy_by_hand():
    """16.8 M int8 weights converted at the chip's bf16 energy (0.5 pJ a FLOP, tpu-v5e.yaml)
    plus idle power (50 W) over the longer op."""
    hw = load_hardware("tpu-v5e")
    op = ops.matmul(1, 4096, 4096, "bf16", weight_dtype="int8")
    m = SystolicModel()
    on = m.op_cost(op, hw, _jetstream())
    off = m.op_cost(op, hw, _jetstream(dequant_ops_per_value=0.0))
    values = 4096 * 4096
    assert on.energy_j - off.energy_j == pytest.approx(
        values * 0.5e-12 + 50.0 * (on.time_s - off.time_s))
