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
"""

from __future__ import annotations

from types import MappingProxyType

from infersim.hwmodels.cost import RuntimeProfile
from infersim.hwmodels.spec import HardwareKind

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
         ("matmul_efficiency", MATMUL_EFFICIENCY), ("kernel_overhead_s", NODE_OVERHEAD_S)),
        "GPU backend (Metal / OpenCL); " + _FIT),
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
