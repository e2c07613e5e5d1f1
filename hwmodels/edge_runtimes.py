"""Software profiles of the edge LLM runtimes (llama.cpp, MLC-LLM) for the `soc` kind.

A profile is the few constants a runtime's kernels add on top of the SoC's hardware
(`hwmodels.cost.RuntimeProfile` over `SocParams`):

- `processor`: where the model runs (0 = the GPU: llama.cpp's Metal/OpenCL backend, MLC-LLM's
  compiled kernels; 1 = the CPU cluster: llama.cpp's CPU backend).
- `weight_stream_efficiency`: fraction of the LPDDR bandwidth reached by the fused
  dequantize-matmul kernels (GGUF blocks are dequantized in registers, so only the format's
  real bits per weight cross the memory bus: `workloads.dtypes`).
- `matmul_efficiency`: fraction of the processor's peak reached by the prompt (batched)
  matmuls and attention.
- `kernel_overhead_s`: fixed cost per graph node (encode + dispatch + the barrier before the
  next dependent node). llama.cpp rebuilds and submits its ggml graph every token; a
  7B decoder has hundreds of nodes, so this is the per-token graph overhead divided over
  them.

Fit (`llama.cpp`, `validation/datasets/edge_llamacpp.py`): at batch 1 a token costs
t = weight bytes / (η·BW) + n_ops·t_node, linear in (1/η, t_node); the two llama.cpp Metal
text-generation rows of ONE chip (M2 Ultra, Llama-2-7B F16 and Q4_0 tg128, discussion #4167)
fix both; `matmul_efficiency` is fitted on the M2 Ultra F16 pp512 row. Every other row
(other chips, Q8_0, the other prompt rows) is held out.

Dequantization inside the prompt (batched) matmuls: llama.cpp's Metal `kernel_mul_mm` (read
at build 8e672ef, Nov 2023, the build of discussion #4167, and f31b6f4e2, PR #3084, Sep 2023:
the kernel and the dequantize functions below are the same in both) gives each threadgroup a
tile of 64 weight rows x 32 tokens (BLOCK_SIZE_M 64, BLOCK_SIZE_N 32; the host dispatches
((tokens + 31)/32, (rows + 63)/64) threadgroups in ggml-metal.m). Every threadgroup
dequantizes its 64-row weight slice into threadgroup memory itself (`dequantize_func(x, il,
temp_a)` per 32-wide K step), so each weight is dequantized ceil(tokens / 32) times: 16 times
for a 512-token prompt. `DEQUANT_OPS` counts the instructions one call of
`dequantize_<type>` (16 values) issues, read from ggml-metal.metal at 8e672ef; the cost model
(`hwmodels.models.soc`) turns them into time. The F16 path's `dequantize_f16` is a plain copy
(the reference the matmul efficiency is fitted on), so F16 has no dequantization term.
Not modelled: the M2 Ultra-only token thresholds below which ggml-metal.m keeps the mat-vec
kernel (2-15 tokens by format), and the OpenCL backend's own kernels on Snapdragon (the
Metal tiling is assumed there). `llama.cpp-cpu` and `mlc-llm` leave `dequant_tile_tokens`
at 0: their batched kernels are not read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from infersim.hwmodels.cost import RuntimeProfile
from infersim.hwmodels.spec import HardwareKind

# Threadgroup tile of kernel_mul_mm: tokens per tile (BLOCK_SIZE_N, ggml-metal.metal 8e672ef).
LLAMACPP_TILE_TOKENS = 32
DEQUANT_VALUES_PER_CALL = 16  # one dequantize_<type> call fills a half4x4 (16 weights)


@dataclass(frozen=True)
class DequantOps:
    """Instructions of one `dequantize_<type>` call of llama.cpp's Metal backend (16 values).

    `setup_*`: once per call (block scale loads, the sub-block's scale/min extraction, masks,
    pointer arithmetic); `value_*`: per dequantized value in the loop. `int`: loads of
    quant/scale bytes as the source writes them (byte and 16-bit loads), bit operations,
    compares/selects and the integer-to-float conversion of the quant; `fp`: the floating
    point multiplies/adds that apply scale and min. Counting rule: one instruction per C
    operator; selects hoisted out of the loop when uniform; a select of two arithmetic
    expressions evaluates both; a branch around loads (get_scale_min_k4_just2) costs the
    average of its sides, each taken by half the calls."""

    setup_int: float
    setup_fp: float
    value_int: float
    value_fp: float

    @property
    def int_per_value(self) -> float:
        return self.value_int + self.setup_int / DEQUANT_VALUES_PER_CALL

    @property
    def fp_per_value(self) -> float:
        return self.value_fp + self.setup_fp / DEQUANT_VALUES_PER_CALL

    @property
    def per_value(self) -> float:
        return self.int_per_value + self.fp_per_value


# Per GGUF block type (ggml-metal.metal at llama.cpp 8e672efe632bb6a7333964a255c4b96f018b9a65,
# functions dequantize_q8_0 / q4_0 / q2_K / q3_K / q4_K / q5_K / q6_K, QK_K == 256).
DEQUANT_OPS = MappingProxyType({
    # d load, 16*il, pointer add | per value: int8 load, int8->half, x*d
    "q8_0": DequantOps(setup_int=3, setup_fp=0, value_int=2, value_fp=1),
    # d load, d/16 select, half->float x2, masks (select, shift), pointer | d/16, d1/256, -8*d
    # per value (8 uint16 loads for 16 values): 0.5 load, and-mask, int->float, fma d*q + md
    "q4_0": DequantOps(setup_int=7, setup_fp=3, value_int=2.5, value_fp=1),
    # d, dmin, scales[il] loads, q offset (5), il fold (2), coef and mask nested selects (9),
    # sc & 0xF, sc >> 4 and their conversions (4) | d*sc*coef (2), dmin*m (1)
    # per value: byte load, and-mask, int->half, fma dl*q - ml
    "q2_k": DequantOps(setup_int=23, setup_fp=3, value_int=3, value_fp=1),
    # d load, q/h offsets (7), hmask bit (2), kmask1/kmask2 selects (9), two scale loads with
    # index math (6), 6-bit scale assembly (5), compare + select + conversion (3), il fold
    # (2), coef/mask selects (9) | both sides of the dl select (2 + 3), 4*dl, dl*coef
    # per value: q load, and-mask, hmask load, and-bit, compare+select of ml, int->half, fma
    "q3_k": DequantOps(setup_int=44, setup_fp=7, value_int=7, value_fp=1),
    # is (2), q offset (6), il folds (2), get_scale_min_k4_just2: compare + (j<4: 2 address,
    # 2 loads, 2 ands = 6; j>=4: 3 address, 3 loads, 8 bit ops = 14; each half the calls) = 11,
    # d load/compare/select (3), dmin load (1), sc conversions (2), mask select (2)
    # | d/16, d*sc, dmin*m | per value: byte load, and-mask, int->half, fma dl*q - ml
    "q4_k": DequantOps(setup_int=29, setup_fp=3, value_int=3, value_fp=1),
    # q4_k's setup plus qh offset (2), ul = 1 << (il/2) (2), qh_val select (2)
    # per value: q load, and-mask, qh load, and-ul, compare+select qh_val, int->half,
    # + qh_val, fma dl*q - ml
    "q5_k": DequantOps(setup_int=35, setup_fp=3, value_int=7, value_fp=2),
    # d load, ql offset (9), qh offset (3), scale index/load/convert (5), il fold (2),
    # kmask1 nested select (6), kmask2 and coef selects (4), shift-amount test (1)
    # | d*sc, *32, *coef | per value: ql load, and, qh load, and, shift, or, int->half, fma
    "q6_k": DequantOps(setup_int=31, setup_fp=3, value_int=7, value_fp=1),
})

FIT_ROWS = ("m2u-f16-tg128", "m2u-q4_0-tg128", "m2u-f16-pp512")
# The fitted values, rounded to 3 significant digits (`fit()` of the data set reproduces them).
STREAM_EFFICIENCY = 0.862
MATMUL_EFFICIENCY = 0.692
NODE_OVERHEAD_S = 17.7e-6
_FIT = ("fitted on llama.cpp discussion #4167, M2 Ultra rows " + ", ".join(FIT_ROWS)
        + " (validation/datasets/edge_llamacpp.py)")

PROFILES = MappingProxyType({
    "llama.cpp": RuntimeProfile(
        "llama.cpp", HardwareKind.SOC,
        (("processor", 0), ("weight_stream_efficiency", STREAM_EFFICIENCY),
         ("matmul_efficiency", MATMUL_EFFICIENCY), ("kernel_overhead_s", NODE_OVERHEAD_S),
         ("dequant_tile_tokens", LLAMACPP_TILE_TOKENS)),
        "GPU backend (Metal / OpenCL); " + _FIT + "; dequantization per 32-token tile of "
        "kernel_mul_mm (ggml-metal.metal, build 8e672ef)"),
    # The CPU backend: NEON/i8mm dot products on the CPU cluster, bounded by the cluster's
    # share of the bandwidth (`cpu_bandwidth_fraction` of the chip spec). Assumed: the same
    # stream efficiency as the GPU backend (same GGUF kernels' memory pattern), 50 % of the
    # CPU's SIMD peak in prompt GEMMs, and a node costs a thread-pool barrier (~5 us).
    "llama.cpp-cpu": RuntimeProfile(
        "llama.cpp-cpu", HardwareKind.SOC,
        (("processor", 1), ("weight_stream_efficiency", STREAM_EFFICIENCY),
         ("matmul_efficiency", 0.50), ("kernel_overhead_s", 5e-6)),
        "assumed: CPU backend; stream efficiency of the llama.cpp fit, 50 % GEMM peak, "
        "5 us thread-pool barrier per node (no published row held here)"),
    # MLC-LLM compiles the whole model ahead of time (TVM): fused kernels, pre-built command
    # buffers, so a node costs a plain dispatch. Assumed values (no row validates them yet):
    # the stream and GEMM efficiencies of the llama.cpp fit, a third of its per-node cost.
    "mlc-llm": RuntimeProfile(
        "mlc-llm", HardwareKind.SOC,
        (("processor", 0), ("weight_stream_efficiency", STREAM_EFFICIENCY),
         ("matmul_efficiency", MATMUL_EFFICIENCY), ("kernel_overhead_s", NODE_OVERHEAD_S / 3)),
        "assumed: compiled TVM kernels; stream and GEMM efficiency of the llama.cpp fit, "
        "a third of its per-node cost"),
})
