"""GPU software stacks as runtime profiles: the registry `infersim simulate --runtime` reads.

A profile is a base launch mode (`RuntimeProfile.base`) plus named constants (`KNOBS`):

- base `eager`: every kernel is launched from Python, one host dispatch each
  (`gpu.host_launch_us` of the chip spec); `graph`: the same kernels replayed from a CUDA
  graph; `fused`: an engine's own kernels (fusions below), the trace's ops as launch units.
- knobs (a profile sets only what differs from `KNOBS`' defaults):
  * `step_overhead_s`, `step_overhead_per_seq_s`: CPU time per step that the GPU waits for
    (scheduling, input preparation, sampling, detokenization on the critical path), fixed and
    per running sequence; the fixed part defaults to the chip's `gpu.step_sync_us` (graph
    launch + stream sync + sampled-token copy).
  * `step_bcast_round_s`: CPU time per step per round of a broadcast tree over the ranks of
    a stage, where the leader sends each step's new work to the other ranks and every rank's
    executor loop waits for it (ceil(log2 n) rounds for n ranks, `bcast_rounds`); 0: none.
  * eager/graph decomposition of a framework's decoder layer, counted from its source
    (`mapper.kernels.EagerStyle`): `hf_decomposition` (RMSNorm op by op, 8 kernels, instead
    of `F.rms_norm`'s 1), `split_qkv` / `split_gate_up` (separate projection GEMMs),
    `rope_kernels` (RoPE kernels per layer, 10 in plain PyTorch), `attention_kernels` (the
    attention call's kernels: bool-mask conversion, the math path's scale/add/softmax/bmm),
    `kv_repeat_kernels` / `gqa_expand_kernels` (KV-head expansion in every layer / under GQA
    only), `kv_cat` (a tuple KV cache grown by `torch.cat`: both kernels copy the whole cache
    every step instead of writing the new token in place). Each kernel costs one host
    dispatch (`gpu.host_launch_us`).
  * `collective_host_s`: host time of one collective called from an eager framework (its
    Python/c10d path, the NCCL enqueue included); -1: one kernel dispatch.
  * `function_mode_s`: host time a Python `TorchFunctionMode` adds to every torch call that
    launches a kernel. `torch.set_default_device` is such a mode and interposes every torch
    function, not only factories (https://github.com/pytorch/pytorch/issues/92701: IBM FMS
    authors saw an `aten::mm` go from 36 to 162 us between call and launch).
  * `fuse_add_norm`, `fuse_rope_kv`: residual add + norm as one kernel; RoPE + KV-cache write
    as one kernel (fused base only).
  * `gqa_aware`: attention reads each KV head once for all query heads sharing it (0: once
    per query head, as kernels that run one thread block per query head).
  * `attention_efficiency`: the attention kernel's share of the tensor-core rate relative to
    the GEMM loop (0 = the chip spec's `gpu.attention_efficiency`): FlashAttention-3 class on
    Hopper is faster than FlashAttention-2 class.
  * `attention_sm80`: the engine's attention kernels are FlashAttention-2 class, written for
    Ampere's warp-level `mma.sync` (FlashAttention-2 itself, vLLM's vllm-flash-attn 2.x,
    FlashInfer before 0.2): on a chip whose own kernels use a newer tensor-core path (Hopper's
    `wgmma` + TMA: FlashAttention-3, cuDNN's sm90 kernels, TensorRT-LLM's FMHA) they run at
    `gpu.attention_efficiency_sm80`; on Ampere and Ada the two are the same kernels.
  * `paged_kv`: decode attention reads a paged KV cache, the engines' block tables of small
    pages at scattered addresses, and streams it at the chip's
    `gpu.decode_attention_bw_efficiency` where the spec sets one (the A100's 0.902, fitted on
    Vidur's paged decode calls, `validation/datasets/vidur_attention.py`); 0 on plain PyTorch,
    gpt-fast / torch.compile and llama.cpp, whose caches are contiguous tensors streamed at
    the generic read share.
  * `fa2_decode`: decode attention is FlashAttention-2's kv-cache kernel
    (`flash_attn_with_kvcache`: vLLM V0's default FLASH_ATTN backend, Sarathi-Serve), which
    schedules itself: its own KV split count, one CTA per (sequence, KV head, split), two
    resident per SM, waves of those at the HBM share or, for a wave of few CTAs, each CTA's own
    pipeline rate (`gpu.decode_cta_bytes_per_cycle`), plus its fixed time per call
    (`gpu.decode_call_us`); both fitted on Vidur's A100 profile of that kernel
    (`hwmodels.models.gpu.attention`). 0: the balanced split-KV schedule of FlashInfer,
    TensorRT-LLM's XQA and FlashAttention-3 (the best split count, no wave steps).
  * `moe_efficiency`: the grouped-GEMM MoE kernel's tile-loop efficiency relative to a dense
    GEMM of the same tile (1 = CUTLASS-class grouped GEMM).
  * `moe_sort_kernels`, `moe_sort_small_*`, `moe_permute`: a MoE layer's routing before its
    first grouped GEMM (fused engines; `mapper.kernels.moe_routing_kernels`). The (token,
    expert) pairs are sorted by expert in `moe_sort_kernels` small kernels, or in
    `moe_sort_small_kernels` when the step has at most `moe_sort_small_tokens` tokens,
    `moe_sort_small_ids` pairs and `moe_sort_small_experts` experts on the chip; with
    `moe_permute` one more kernel copies every pair's token row into expert order, in the
    GEMM's input dtype (quantizing on the way), where a Triton fused-MoE GEMM gathers them
    by index instead.
  * `moe_row_ops`: the engine's per-row MoE kernels cost at least this many vector-unit
    operations per element at the chip's vector rate (`figures.vector_peak`): issue-bound
    kernels, where their instructions, not their bytes, set the time. The activation
    between the two expert GEMMs, and the permute of every (token, expert) row when it
    quantizes the rows to NVFP4 on the way (TensorRT-LLM's CUTLASS MoE `doActivationKernel`
    and `expandInputRowsKernel`, `_TRTLLM_MOE_ROWS`; 0: priced by their bytes and their own
    arithmetic, as streaming kernels).
  * `moe_allgather_max_ep`: how an expert-parallel MoE layer exchanges its tokens
    (`Parallelism.moe_exchange` "auto", resolved by `mapper.engine_scenario`): EP groups up
    to this size all-gather every token to every rank and reduce-scatter the summed expert
    outputs back; larger ones run an all-to-all that sends a token only to its experts'
    ranks (DeepEP, NVLink all-to-all kernels). 0: all-to-all at every size.
  * `fp8_gemm`: fp8 activations run on the fp8 tensor-core path (0: weights are dequantized
    and the GEMM runs in 16-bit).
  * `cuda_graphs`: decode steps replay CUDA graphs (0: every kernel pays the host dispatch).
  * `graph_max_batch`: the largest decode batch an engine captured a graph for; a decode
    step of more sequences runs the model from the host (`host_node_s` per kernel) as an
    eager prompt does (vLLM V0: 256; SGLang 0.3-0.4: 160; 0: any batch).
  * `graph_padding`: a generation-only step replays the captured CUDA graph of the next
    batch size at or above its batch, the extra rows dummy requests of one token that run
    every token-parallel op (GEMMs, MoE, norms, logits) but add no attention to speak of;
    they are one request repeated, so a MoE router sends them all to the same experts
    (`Scenario.moe_identical`); under attention data parallelism every group pads to the
    busiest group's batch first
    (`graph_batch_sizes`; TensorRT-LLM's PyTorch backend with
    `cuda_graph_config.enable_padding`; 0: a step runs its own batch).
  * `prefill_graphs`: steps with prompt tokens replay graphs too (1: a C++ runtime or a
    whole-step capture); 0: they run the model eagerly from Python, each kernel paying
    `gpu.host_launch_us` (vLLM V0, SGLang and llama.cpp capture CUDA graphs for decode
    batches only), which shows only where it exceeds the kernel's own time (short prompts,
    TP shards).
  * `scheduler_steps`: decode steps run per scheduling pass (vLLM's `--num-scheduler-steps`,
    multi-step scheduling): the step's CPU time is paid once per pass, the other steps only
    pay the chip's graph launch + token copy (`gpu.step_sync_us`). Prefill steps pay it all.
    The serving simulator keeps a pass's batch (`simulator.serving.replica`): nothing is
    admitted until the pass ends, and a sequence done mid-pass is computed to its end.
  * `mixed_batching`: the engine's scheduler puts new prompts into the iterations of the
    running decodes under a token budget (TensorRT-LLM's in-flight batching; vLLM V1, whose
    scheduler has no separate prefill phase); 0: a prompt runs in an iteration of its own,
    prefill first, while the decodes wait (vLLM V0 and SGLang by default). The serving
    simulator's default policy `auto` runs `chunked` for 1 and `continuous` for 0.
  * `stream_chunk_s`, `stream_interval`: the serving front-end (HTTP server, streaming
    each running request's new tokens as one server-sent-event chunk, detokenization) runs
    in its own process, so it overlaps the GPU but cannot stream faster than one chunk per
    `stream_chunk_s`: a step lasts at least chunks × stream_chunk_s (`frontend_floor`). A
    request gets a chunk every max(`stream_interval`, `scheduler_steps`) decode steps (a
    multi-step pass returns its tokens at its end) and one for its first token (0: no
    front-end, as offline benchmarks).
  * `stream_call_s`: a front-end stage that takes the chunks waiting for it in one call (a
    batching server model: Triton's `postprocessing` under `dynamic_batching`, which
    detokenizes a whole batch with one `batch_decode`) pays this once per call, and a step's
    chunks arrive together, so one call per step that streams any: the floor is
    stream_call_s + chunks × stream_chunk_s (0: each chunk is a call of its own).
  * `request_latency_s`: the serving front-end's time on a request's way in and its first
    token's way out that no GPU step holds: the HTTP request parsed, the prompt tokenized, the
    hops between the server's processes or models to the engine's queue, the first token
    detokenized and sent. Every request reaches the engine that long after the client sent
    it, so its TTFT, end-to-end latency and queue time (from the client's send) are that
    much longer, its gaps between tokens are not, and the engine's batching is that of the
    delayed arrivals (`simulator.serving.serve`; a single `simulate` step does not show it;
    0: none, as offline benchmarks that call the engine directly).
  * `output_token_s`: the engine's own output processing per new token (detokenization,
    stop checks, request-output objects), run by the engine process while the GPU runs the
    next step (vLLM's async output processing): it too only bounds the step from below, at
    tokens × output_token_s, and multi-step scheduling does not amortize it.
  * `held_request_s`: the part of `output_token_s` that every request the engine holds
    costs each iteration, whether or not the iteration runs it: an executor loop that walks
    its whole list of active requests (TensorRT-LLM's PyExecutor: the capacity scheduler and
    `_handle_responses` loop over `active_requests`, which holds up to max_batch_size x pp
    requests, those waiting for KV blocks and, under pipeline parallelism, those of the
    other micro-batches in flight). A step of n requests while the engine holds h ≥ n pays
    n × output_token_s + (h − n) × held_request_s, so it equals `output_token_s` per
    request when every held request runs (0: only the iteration's own requests cost).
  * `async_output`: the engine processes a step's outputs while the next step runs (vLLM
    0.6's asynchronous output processing), so a step's tokens reach the client when the next
    iteration ends: the first token and the last one a step later, gaps between tokens
    unchanged (`simulator.serving.replica`; a single `simulate` step does not show it).
  * `admission_lag`: overlap scheduling (SGLang 0.4's `event_loop_overlap`): the scheduler
    launches the next iteration before it waits for the current one, so a request arriving
    while an iteration runs joins the one after next: a TTFT one iteration longer at a
    steady load (`simulator.serving.replica`; a single `simulate` step does not show it).
  * `pp_host_ring`: under pipeline parallelism a micro-batch's next iteration starts only
    after its tokens have come back from the last stage and the host has processed them (the
    serving floor), so that work follows the step on the micro-batch's own cycle instead of
    overlapping it (TensorRT-LLM's PyTorch PP loop; `simulator.serving.replica.Pipeline`).
  * `custom_ar_*`: the engine's own all-reduce kernel on one NVLink node (vLLM's custom
    all-reduce, TensorRT-LLM's AllReduce) in place of NCCL for messages below
    `custom_ar_max_bytes` on 2-8 GPUs: `custom_ar_base_s` + `custom_ar_peer_s` per peer +
    `custom_ar_s_per_byte` per two-shot wire byte, measured on H100
    (`validation.fitting.custom_allreduce`); `custom_ar_auto` 1 takes the faster of it and
    NCCL (TensorRT-LLM's AUTO strategy), 0 the kernel whenever eligible (vLLM's rule).
  * `host_node_s`: host time per kernel an engine launches from the host when no CUDA
    graph replays the step: ggml's per-node dispatch (C++), or the Python model code of
    vLLM-lineage engines running a prompt eagerly (-1: the chip's `gpu.host_launch_us`, the
    plain-PyTorch figure fitted on gpt-fast's minimal model code).
  * ggml graph decomposition (llama.cpp's CUDA backend, `mapper.kernels.EagerStyle`):
    `norm_weight_kernel` (ggml_rms_norm then ggml_mul by the weight: 2 kernels),
    `gemm_casts` (every cuBLAS fp16 GEMM converts its f32 input to fp16 and its fp16 output
    back to f32: 3 kernels), `act_quant_kernel` (MMVQ/MMQ quantize the f32 activations to
    q8_1 first: 2 kernels), `mmq_max_batch` (above this many tokens a GGUF matmul
    dequantizes its weight to fp16 and runs cuBLAS: 4 kernels), `f16_gemv` (fp16 weights
    at one token: one dequantize_mul_mat_vec kernel instead of the cuBLAS triple).

Add a stack with `register(RuntimeProfile(...))` from any module (one entry each); `ALIASES`
maps old names. `fused` is an alias of `trtllm` (the production-engine class it stood for).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import NamedTuple

from infersim.foundation.errors import InputError
from infersim.hwmodels.cost import Runtime, RuntimeProfile
from infersim.hwmodels.spec import HardwareKind

GPU = HardwareKind.GPU

# name -> (default, meaning); defaults are the plain framework's behaviour.
KNOBS: dict[str, tuple[float, str]] = {
    "step_overhead_s": (-1.0, "fixed CPU time per step (-1: the chip's gpu.step_sync_us)"),
    "step_overhead_per_seq_s": (0.0, "CPU time per running sequence per step"),
    "step_bcast_round_s": (0.0, "CPU time per step per round of the per-step broadcast tree "
                                "over a stage's ranks (ceil(log2 n) rounds)"),
    "hf_decomposition": (0.0, "eager/graph: RMSNorm op by op (8 kernels)"),
    "split_qkv": (0.0, "eager/graph: q, k, v projections as three GEMMs"),
    "split_gate_up": (0.0, "eager/graph: gate and up projections as two GEMMs"),
    "rope_kernels": (10.0, "eager/graph: RoPE kernels per layer, q and k together"),
    "attention_kernels": (1.0, "eager/graph: kernels of the attention call (1: one fused)"),
    "kv_repeat_kernels": (0.0, "eager/graph: KV-head expansion kernels in every layer"),
    "gqa_expand_kernels": (0.0, "eager/graph: KV-head expansion kernels under GQA only"),
    "kv_cat": (0.0, "eager/graph: the KV cache grows by torch.cat (whole cache copied per "
                    "step; 0: a static cache written in place)"),
    "collective_host_s": (-1.0, "eager: host time of one collective call "
                                "(-1: one kernel dispatch)"),
    "function_mode_s": (0.0, "eager: host time a Python TorchFunctionMode adds to each "
                             "kernel's torch call (torch.set_default_device)"),
    "fuse_add_norm": (0.0, "residual add + norm in one kernel"),
    "fuse_rope_kv": (0.0, "RoPE + KV-cache write in one kernel"),
    "gqa_aware": (1.0, "attention reads each KV head once (0: once per query head)"),
    "attention_efficiency": (0.0, "attention share of the GEMM rate (0: the chip spec's)"),
    "attention_sm80": (0.0, "the attention kernels are FlashAttention-2 class, written for "
                            "Ampere's mma.sync: the chip's gpu.attention_efficiency_sm80 "
                            "(0: its native kernels, gpu.attention_efficiency)"),
    "paged_kv": (1.0, "decode attention reads a paged KV cache (block tables: pages at "
                      "scattered addresses), at the chip's gpu.decode_attention_bw_efficiency "
                      "where the spec sets one; 0: a contiguous cache (plain PyTorch, "
                      "llama.cpp), streamed at the generic read share"),
    "fa2_decode": (0.0, "decode attention runs FlashAttention-2's kv-cache kernel "
                        "(flash_attn_with_kvcache) as it schedules itself: its own KV split "
                        "heuristic, waves of 2 CTAs per SM, the chip's "
                        "gpu.decode_cta_bytes_per_cycle and gpu.decode_call_us (vLLM V0's "
                        "FLASH_ATTN backend, Sarathi-Serve); 0: a split-KV schedule balanced "
                        "over the SMs (FlashInfer, TensorRT-LLM, FlashAttention-3)"),
    "moe_efficiency": (1.0, "grouped-GEMM tile-loop efficiency relative to dense"),
    "moe_sort_kernels": (0.0, "fused engines: kernels that build the expert-sorted order of "
                              "a MoE layer's (token, expert) pairs before its first expert "
                              "GEMM (0: none priced)"),
    "moe_sort_small_kernels": (0.0, "those kernels in the engine's small-batch mode (the "
                                    "three bounds below all hold)"),
    "moe_sort_small_tokens": (0.0, "small-batch mode: at most this many tokens"),
    "moe_sort_small_ids": (0.0, "small-batch mode: at most this many (token, expert) ids"),
    "moe_sort_small_experts": (0.0, "small-batch mode: at most this many experts on the chip"),
    "moe_row_ops": (0.0, "per-row MoE kernels (the activation; the permute when it quantizes "
                         "to NVFP4): vector-unit operations per element where they bind, their "
                         "issue rate (0: their own arithmetic; see _TRTLLM_MOE_ROWS)"),
    "moe_permute": (0.0, "fused engines: one kernel copies every routed token's row into "
                         "expert order in the GEMM's input dtype before the first expert "
                         "GEMM (0: the GEMM gathers its rows by index)"),
    "moe_allgather_max_ep": (0.0, "largest EP group whose MoE tokens the engine exchanges by "
                                  "all-gather + reduce-scatter; larger ones all-to-all "
                                  "(0: all-to-all always)"),
    "chunk_kv_freed": (1.0, "the KV cache frees the keys of a chunked-local attention layer "
                            "(Llama-4) outside each sequence's current chunk (vLLM's hybrid "
                            "KV manager; 0: it keeps them all, though decode still attends "
                            "the chunk)"),
    "moe_workspace": (0.0, "serving: the engine's fused MoE kernel sizes its buffers for "
                           "every (token, expert) row of a max_tokens step, all attention-DP "
                           "groups' tokens, and the KV cache gets what that leaves "
                           "(TensorRT-LLM's CUTLASS MoE; 0: the largest op's activations)"),
    "fp8_gemm": (1.0, "fp8 activations use the fp8 tensor-core path"),
    "cuda_graphs": (1.0, "decode replays CUDA graphs (0: host dispatch per kernel)"),
    "graph_max_batch": (0.0, "largest decode batch with a captured CUDA graph; larger decode "
                             "steps run eagerly, host dispatch per kernel (0: any batch)"),
    "graph_padding": (0.0, "a generation-only step runs the CUDA graph of the next captured "
                           "batch size (TRTLLM_BENCH_GRAPH_BATCHES, up to the engine's max "
                           "batch) with dummy rows: token-parallel ops at the padded batch "
                           "(0: its own batch)"),
    "prefill_graphs": (1.0, "steps with prompt tokens replay graphs too (0: they run "
                            "eagerly, host dispatch per kernel)"),
    "scheduler_steps": (1.0, "decode steps per CPU scheduling pass (multi-step scheduling)"),
    "mixed_batching": (0.0, "new prompts join the iterations of running decodes (in-flight "
                            "batching; 0: a prompt gets an iteration of its own and the "
                            "decodes wait)"),
    "chunked_context": (1.0, "mixed batching: a prompt may be split over iterations to fill "
                             "the token budget (chunked prefill: vLLM V1, Sarathi-Serve); 0: "
                             "it joins an iteration only whole, and the scheduler stops at the "
                             "first prompt that does not fit (TensorRT-LLM without chunked "
                             "context, its default)"),
    "kv_reservation": (0.0, "admission reserves KV blocks for a request's prompt and all of "
                            "its output, so nothing is preempted (0: blocks on demand, "
                            "preempting when the pool runs out)"),
    "stream_chunk_s": (0.0, "front-end CPU time per streamed chunk (0, with stream_call_s 0: "
                            "no front-end)"),
    "stream_call_s": (0.0, "front-end CPU time per call of a stage that takes a step's "
                           "chunks in one call (batched detokenization), once per step "
                           "that streams any (0: each chunk is a call of its own)"),
    "stream_interval": (1.0, "decode steps per streamed chunk of a request"),
    "request_latency_s": (0.0, "serving front-end: seconds from a client's request to the "
                               "engine's queue plus the first token's way back (HTTP, "
                               "tokenization, the server's hops), added to TTFT and E2E; 0: "
                               "none"),
    "output_token_s": (0.0, "engine CPU time per new token, overlapped (async output)"),
    "held_request_s": (0.0, "the share of output_token_s every request the engine holds "
                            "(running or waiting in its active list) costs per iteration, "
                            "run or not (0: only the iteration's requests)"),
    "async_output": (0.0, "a step's tokens reach the client when the next iteration ends "
                          "(outputs processed while it runs)"),
    "pp_host_ring": (0.0, "pipeline parallelism: a micro-batch's next iteration waits after "
                          "its last stage for the host's work on its tokens (the serving "
                          "floor) on top of the step (1: on; 0: overlapped)"),
    "admission_lag": (0.0, "overlap scheduling: the next iteration's batch is launched while "
                           "the current one runs, so a request arriving during an iteration "
                           "joins the one after next (1: on)"),
    "host_node_s": (-1.0, "host time per kernel launched from the host (-1: the chip's "
                          "gpu.host_launch_us)"),
    "kv_free_fraction": (0.0, "serving: the KV cache takes this fraction of the memory the "
                              "weights and activations leave free (TensorRT-LLM's "
                              "kv_cache_free_gpu_mem_fraction; 0: vLLM's convention, a "
                              "share of the whole memory, gpu_memory_utilization)"),
    "runtime_memory_bytes": (0.0, "serving: GPU memory per chip the engine's KV sizing finds "
                                  "taken beside weights, KV and activations (CUDA context, "
                                  "library workspaces, runtime and decoder buffers, the share "
                                  "the driver keeps outside CUDA's view); 0: none"),
    "comm_memory_bytes": (0.0, "serving: GPU memory per chip a replica of more than one chip "
                               "holds for its communication beside runtime_memory_bytes "
                               "(NCCL communicators' buffers, the custom all-reduce's IPC "
                               "buffers), which the KV sizing finds taken; 0: none"),
    "nccl_nvls": (1.0, "NCCL may run its NVLink SHARP (in-switch reduction) algorithms where "
                       "the fabric has them, as nccl-tests do (0: the engine's NCCL runs ring "
                       "only: NCCL_NVLS_ENABLE=0, or NCCL_CUMEM_ENABLE=0, which NVLS needs)"),
    "custom_ar_max_bytes": (0.0, "all-reduces below this many bytes on one NVLink node of "
                                 "2-8 GPUs run the engine's own kernel (0: always NCCL)"),
    "custom_ar_auto": (0.0, "1: the faster of the engine's all-reduce kernel and NCCL "
                            "(TensorRT-LLM's AUTO); 0: the kernel whenever eligible (vLLM)"),
    "custom_ar_base_s": (0.0, "engine all-reduce kernel: fixed time per call"),
    "custom_ar_peer_s": (0.0, "engine all-reduce kernel: time per peer GPU"),
    "custom_ar_s_per_byte": (0.0, "engine all-reduce kernel: seconds per two-shot wire byte "
                                  "(1 / its throughput)"),
    "gemm_tile_set": (0.0, "GEMM library's thread-block tiles: 0 = 64/128/256 (`gemm.TILES`, "
                           "the cuBLAS 12.1-era kernels of Vidur's profiles), 1 = "
                           "the cuBLAS 12.8+ nvjet kernels on Hopper: wave-fitting widths "
                           "and 8-token steps (`gemm.TILES_WAVE_FIT`) in thread-block "
                           "clusters of the GPU's `tma_multicast`, split-K summed by a "
                           "reduce kernel of its own, TMA operand streams"),
    "norm_weight_kernel": (0.0, "eager/graph: the norm's weight multiply is its own kernel"),
    "gemm_casts": (0.0, "eager/graph: each 16-bit GEMM converts its input to fp16 and its "
                        "output to fp32 in two more kernels"),
    "act_quant_kernel": (0.0, "eager/graph: a GGUF-weight matmul on the quantized path first "
                              "quantizes its activations to q8_1 in one kernel"),
    "mmq_max_batch": (0.0, "eager/graph: GGUF-weight matmuls of more tokens dequantize the "
                           "weights to fp16 and run the 16-bit GEMM (0: never)"),
    "f16_gemv": (0.0, "eager/graph: 16-bit weights at one token run one mat-vec stream "
                      "kernel (ggml dequantize_mul_mat_vec)"),
}


def knob(profile: RuntimeProfile | None, name: str) -> float:
    """The value of knob `name` under `profile` (its default when unset or no profile)."""
    default = KNOBS[name][0]
    return default if profile is None else profile.value(name, default)


# The CUDA-graph batch sizes of TensorRT-LLM's performance overview (v1.0): its llm_options.yml
# for every throughput run, dense and MoE, sets cuda_graph_config enable_padding: true with
# batch_sizes 1, 2, 4, ..., 256, 384, 512, 1024, 2048, 4096, 8192
# (docs/source/performance/perf-overview.md, "Running the Benchmark", NVIDIA/TensorRT-LLM at
# 00f3768). The engine keeps the sizes up to its largest decode batch, min(max_batch_size,
# max_num_tokens), and that batch itself when a listed size exceeds it
# (_filter_cuda_graph_batch_sizes in tensorrt_llm/_torch/pyexecutor/model_engine.py); a
# generation-only batch is padded with a dummy generation request to the next size
# (_get_padded_batch there: under attention DP first to the largest batch of all ranks,
# gathered by tp_allgather, when every rank's batch is generation-only).
TRTLLM_BENCH_GRAPH_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 384, 512, 1024, 2048, 4096,
                              8192)


def bcast_rounds(ranks: int) -> int:
    """Rounds of a binomial-tree broadcast from one rank to `ranks` ranks: ceil(log2 n), each
    round doubling the ranks that hold the message (0 for one rank)."""
    return max(0, int(ranks) - 1).bit_length()


def graph_batch_sizes(max_batch: int,
                      sizes: tuple[int, ...] = TRTLLM_BENCH_GRAPH_BATCHES) -> tuple[int, ...]:
    """The CUDA-graph batch sizes an engine of largest decode batch `max_batch` captures
    under `graph_padding`: `sizes` up to it, and `max_batch` itself when a size exceeds it."""
    kept = [s for s in sizes if s <= max_batch]
    if max_batch > 0 and any(s > max_batch for s in sizes) and max_batch not in kept:
        kept.append(max_batch)
    return tuple(kept)


class FrontEndTerms(NamedTuple):
    """The serving floor's constants of a profile (`frontend_floor`; the compiled serving
    engine reads the same ones): per batched call, per chunk, decode steps per chunk, and
    the engine's output processing per new token, and its part that every held request costs
    per iteration (`held_request_s`)."""

    call_s: float
    chunk_s: float
    every: float
    token_s: float
    held_s: float = 0.0


def frontend_terms(profile: RuntimeProfile | None) -> FrontEndTerms:
    """`stream_call_s`, `stream_chunk_s`, max(1, `stream_interval`, `scheduler_steps`),
    `output_token_s` and `held_request_s` of `profile` (zeros and 1 without one). A held
    share above `output_token_s` or below 0 is an InputError naming the profile."""
    token, held = knob(profile, "output_token_s"), knob(profile, "held_request_s")
    if not 0.0 <= held <= token:
        name = getattr(profile, "name", profile)
        raise InputError(f"runtime {name}: held_request_s {held!r} must lie between 0 and "
                         f"output_token_s ({token!r}): it is the part of the per-request host "
                         "cost that every held request pays; lower it or raise output_token_s")
    return FrontEndTerms(knob(profile, "stream_call_s"), knob(profile, "stream_chunk_s"),
                         max(1.0, knob(profile, "stream_interval"),
                             knob(profile, "scheduler_steps")),
                         token, held)


def frontend_floor(profile: RuntimeProfile | None, decoding: int, first_tokens: int = 0,
                   held: int = 0) -> float:
    """Seconds the CPU work beside the GPU needs for one step that decodes `decoding`
    requests and emits the first token of `first_tokens` others (prefills): the front-end's
    chunks (`stream_chunk_s` each, and `stream_call_s` once for a step's batched call) or
    the engine's output processing (`output_token_s`), whichever is longer. The step cannot
    be shorter in steady state (both overlap the GPU, so only the longest counts). A
    decoding request gets a chunk once per max(`stream_interval`, `scheduler_steps`) steps,
    a first token one chunk of its own; output processing handles every new token, and each
    of the `held` requests the engine holds beyond the step's own (`held_request_s`; a
    `held` below the step's requests counts as those: 0 = unknown) its held share."""
    return floor_of(frontend_terms(profile), decoding, first_tokens, held)


def floor_of(f: FrontEndTerms, decoding: float, first_tokens: float = 0,
             held: float = 0) -> float:
    """`frontend_floor` from a profile's terms read once (`frontend_terms`)."""
    chunks = decoding / f.every + first_tokens
    front = f.call_s * min(1.0, chunks) + f.chunk_s * chunks
    n = decoding + first_tokens
    return max(front, f.token_s * n + f.held_s * max(held - n, 0.0))


_US = 1e-6
_ENGINES: dict[str, RuntimeProfile] = {}
ALIASES: dict[str, str] = {"fused": "trtllm"}


def register(profile: RuntimeProfile) -> RuntimeProfile:
    """Add a GPU software stack (one entry); its knobs must be known names."""
    if profile.kind is not GPU:
        raise ValueError(f"engine profile {profile.name!r}: kind must be gpu")
    unknown = [k for k, _ in profile.values if k not in KNOBS]
    if unknown:
        raise ValueError(f"engine profile {profile.name!r}: unknown knob(s) "
                         f"{', '.join(unknown)}; known: {', '.join(KNOBS)}")
    _ENGINES[profile.name] = profile
    return profile


def engines() -> MappingProxyType[str, RuntimeProfile]:
    """Every registered GPU stack, by name (the default, `graph`, first)."""
    return MappingProxyType(_ENGINES)


def lookup(name: str) -> RuntimeProfile | None:
    return _ENGINES.get(ALIASES.get(name, name))


def _p(name: str, base: Runtime, source: str, **values: float) -> RuntimeProfile:
    return register(RuntimeProfile(name, GPU, tuple(values.items()), source, base))


_p("graph", Runtime.GRAPH,
   "plain-PyTorch kernels (see `eager`) captured in one CUDA graph: no host gaps",
   paged_kv=0.0)
_p("eager", Runtime.EAGER,
   "plain PyTorch eager (torch >= 2.4 F.rms_norm; fused QKV and gate-up weights as the "
   "trace has them; SDPA over a contiguous cache): one host dispatch per kernel, "
   "gpu.host_launch_us each", paged_kv=0.0)
# Plain-PyTorch model code run eagerly, kernels per decode layer counted from each source
# (batch-1 decode: q_len 1, so `transpose(1, 2).contiguous()` of the attention output is
# already contiguous and launches nothing).
_p("hf-eager", Runtime.EAGER,
   "Hugging Face transformers 4.3x LlamaForCausalLM, eager attention, tuple KV cache "
   "(modeling_llama.py, Oct 2023): LlamaRMSNorm op by op (8), q/k/v and gate/up as separate "
   "Linear layers, RoPE = cos/sin[position_ids] gathers (2) + per tensor q*cos, "
   "rotate_half (neg, cat), *sin, add (5 each) = 12, KV torch.cat 2, attention matmul, "
   "/sqrt(d), +mask, softmax(fp32), .to, matmul = 6: 47 kernels per layer",
   hf_decomposition=1.0, split_qkv=1.0, split_gate_up=1.0, rope_kernels=12.0,
   attention_kernels=6.0, kv_cat=1.0, paged_kv=0.0)
_p("gpt-fast-eager", Runtime.EAGER,
   "gpt-fast model.py without torch.compile (pytorch-labs/gpt-fast 3bcaaaf, Nov 2023): "
   "RMSNorm op by op (8), fused wqkv, apply_rotary_emb per tensor: float, 4 mul, sub, add, "
   "stack, type_as (9 each, 18), static-cache index_put 2, repeat_interleave(int) per "
   "tensor: fill, cumsum, index compute, index_select (4 each, 8; ATen Repeat.cpp), "
   "SDPA with a bool mask on the math path (generate.py enables only math): "
   "zeros_like, logical_not, masked_fill, q*s, k*s, bmm, add_, softmax, bmm (9), "
   "separate w1/w3 GEMMs: 62 kernels per layer",
   hf_decomposition=1.0, split_gate_up=1.0, rope_kernels=18.0, attention_kernels=9.0,
   kv_repeat_kernels=8.0, paged_kv=0.0)
_p("litgpt-eager", Runtime.EAGER,
   "litgpt (lit_gpt/model.py at PR 726, Nov 2023) without compile: RMSNorm op by op (8), "
   "fused qkv, apply_rope per tensor: neg, cat, x*cos, rotated*sin, add + cat with the "
   "unrotated slice (6 each, 12), index_copy_ 2, SDPA with a bool mask on the "
   "memory-efficient path: zeros_like, logical_not, masked_fill, bias pad to 16 (2), kernel "
   "(6), separate fc_1/fc_2 GEMMs: 45 kernels per layer",
   hf_decomposition=1.0, split_gate_up=1.0, rope_kernels=12.0, attention_kernels=6.0,
   paged_kv=0.0)
_p("fms-eager", Runtime.EAGER,
   "IBM foundation-model-stack LLaMA (fms/modules, Nov 2023, 1ca0199) without compile: "
   "LayerNormParameterized op by op (8), separate query/key/value and wg/w1 Linear "
   "layers, RotaryEmbedding.adjusted_qk: position ids arange, repeat, += (3), max, +, "
   "freqs gather (3), per tensor float, mul, sum, type_as (8): 14, KV torch.cat 2, GQA "
   "heads expanded by unsqueeze/expand/flatten copies (2, GQA only), flash SDPA (1): 44 "
   "kernels per layer (46 under GQA); tensor-parallel all-reduces through "
   "torch.distributed._functional_collectives from Python, 149 us of host time each "
   "(functional all_reduce measured on torch 2.4, https://github.com/pytorch/pytorch/"
   "issues/138773; a lower bound for torch 2.1's Python implementation)",
   hf_decomposition=1.0, split_qkv=1.0, split_gate_up=1.0, rope_kernels=14.0,
   gqa_expand_kernels=2.0, kv_cat=1.0, collective_host_s=149 * _US, paged_kv=0.0)
# IBM FMS's scripts/benchmark_inference.py calls torch.set_default_device(device): every
# torch call of the model pays the mode; fitted on the 70B TP8 row of FMS issue 96
# (validation/fitting/eager_host.py, validation/data/published/eager_host_fit.json)
FMS_FUNCTION_MODE_S = 21.2 * _US
_p("fms-benchmark", Runtime.EAGER,
   "`fms-eager` run by FMS scripts/benchmark_inference.py, which sets "
   "torch.set_default_device (a TorchFunctionMode on every torch call, pytorch#92701): "
   "function_mode_s fitted on the 70B TP8 row of FMS issue 96 "
   "(validation/data/published/eager_host_fit.json)",
   hf_decomposition=1.0, split_qkv=1.0, split_gate_up=1.0, rope_kernels=14.0,
   gqa_expand_kernels=2.0, kv_cat=1.0, collective_host_s=149 * _US, function_mode_s=FMS_FUNCTION_MODE_S,
   paged_kv=0.0)
_p("fms-eager-2023-09", Runtime.EAGER,
   "IBM foundation-model-stack LLaMA as of Sep 2023 (f991a93) without compile: as "
   "`fms-eager` except RotaryEmbedding.adjusted_qk slices the cached table by an integer "
   "start position (no position-id kernels): per tensor float, mul, sum, type_as = 8 RoPE "
   "kernels; 38 kernels per layer (MHA)",
   hf_decomposition=1.0, split_qkv=1.0, split_gate_up=1.0, rope_kernels=8.0,
   gqa_expand_kernels=2.0, kv_cat=1.0, collective_host_s=149 * _US, paged_kv=0.0)
_p("fms-benchmark-2023-09", Runtime.EAGER,
   "`fms-eager-2023-09` run by that month's scripts/benchmark_inference.py, which sets "
   "torch.set_default_device: function_mode_s as `fms-benchmark` (same mechanism, fitted "
   "once)",
   hf_decomposition=1.0, split_qkv=1.0, split_gate_up=1.0, rope_kernels=8.0,
   gqa_expand_kernels=2.0, kv_cat=1.0, collective_host_s=149 * _US, function_mode_s=FMS_FUNCTION_MODE_S,
   paged_kv=0.0)
_p("torch-compile", Runtime.FUSED,
   "torch.compile(mode='reduce-overhead') as gpt-fast: Inductor fuses each pointwise chain "
   "(residual + RMSNorm, RoPE + cache write) and replays CUDA graphs "
   "(https://pytorch.org/blog/accelerating-generative-ai-2/); KV heads are expanded with "
   "repeat_interleave before SDPA (gpt-fast model.py), so attention is not GQA-aware; its "
   "static KV cache is one contiguous tensor per layer (paged_kv 0)",
   fuse_add_norm=1.0, fuse_rope_kv=1.0, gqa_aware=0.0, paged_kv=0.0)
# The engines' own all-reduce kernels, fitted on their measured H100 latencies (sgl-project/
# sglang PR #2904, TP 2/4/8, 512 B-1 MiB) by `python -m infersim.validation.fitting.
# custom_allreduce` (validation/data/published/custom_allreduce_fit.json): fixed, per-peer
# and per-wire-byte terms. vLLM's runs below its 8 MiB buffer on 2-8 fully NVLink-connected
# GPUs whatever NCCL would take (should_custom_ar, vllm/distributed/device_communicators/
# custom_all_reduce.py; SGLang 0.3-0.4 call it through vLLM's distributed module, sglang PR
# #2511); TensorRT-LLM's AUTO strategy takes its one-shot / two-shot kernels or NCCL by size,
# priced as the faster of the two (custom_ar_auto), below the same 8 MiB (assumed). The
# measurements end at 1 MiB; from 256 KiB to 1 MiB both kernels already run at a constant
# rate (the time per wire byte is flat), which prices the larger messages.
_CUSTOM_AR_MAX_BYTES = 8.0 * 2**20
_VLLM_CUSTOM_AR = {"custom_ar_max_bytes": _CUSTOM_AR_MAX_BYTES, "custom_ar_base_s": 8.01 * _US,
                   "custom_ar_peer_s": 0.300 * _US, "custom_ar_s_per_byte": 20.31e-12}
_TRTLLM_CUSTOM_AR = {"custom_ar_max_bytes": _CUSTOM_AR_MAX_BYTES, "custom_ar_auto": 1.0,
                     "custom_ar_base_s": 3.23 * _US, "custom_ar_peer_s": 0.379 * _US,
                     "custom_ar_s_per_byte": 17.42e-12}
_TRTLLM_ALLGATHER_MAX_EP = 8.0
# The serving engines' NCCL runs no NVLink SHARP (NVLS) on one NVSwitch node (`nccl_nvls` 0).
# SGLang sets NCCL_NVLS_ENABLE=0 unless --enable-nccl-nvls (default off) and
# NCCL_CUMEM_ENABLE=0 (_set_envs_and_config in python/sglang/srt/entrypoints/engine.py);
# vLLM sets NCCL_CUMEM_ENABLE=0 on a node without multi-node NVLink (vllm/env_override.py,
# earlier worker_base.py, after NVIDIA/nccl#1234), and NVLS's multicast buffers are cuMem
# allocations, so NCCL leaves it off. TensorRT-LLM sets neither in the code read here; a
# user's trace of its 8-GPU all-reduce shows NCCL's ring kernel (NVIDIA/TensorRT-LLM#2521,
# 2025-02-19: "it's still calling the nccl_allreduce_ring kernel"), and the performance
# overview's TP8 rows read ring (README.md's error table: Llama-3.1-405B TP8 median signed
# +7.8% with NVLS, -1.2% without; v0.17's Llama-3.1-70B TP8 +12% / +2%). An 8 MB-64 MB
# all-reduce on 8 H100 then costs ~45 us + bytes / 222 GB/s (the Vidur profiles), not NVLS's
# ~25 us + bytes / 275 GB/s (NCCL's maintainer, nccl-tests#212, the rate of GB messages).
_NO_NVLS = {"nccl_nvls": 0.0}
# TensorRT-LLM sizes its KV cache as a fraction of the GPU memory free after the engine (the
# weights) and its activation buffers are allocated: KvCacheConfig.free_gpu_memory_fraction,
# default 0.9 (TensorRT-LLM docs, 'Useful Runtime Options' / llm_args.py; trtllm-bench's
# --kv_cache_free_gpu_mem_fraction, default 0.90). vLLM and SGLang take a share of the
# whole memory (gpu_memory_utilization, mem_fraction_static). The two differ most where
# the weights nearly fill the GPU: Llama-3.1-70B fp8 on one 80 GB H100 keeps ~12 GB of KV
# under the first, ~6 GB under the second.
_TRTLLM_KV_FREE_FRACTION = 0.9
# The memory TensorRT-LLM's KV sizing finds taken beside the weights and activations, per
# GPU. Measured, not fitted: the H100 log in TensorRT-LLM's memory guide (NVIDIA/
# TensorRT-LLM docs/source/reference/memory.md, FAQ 'How to debug the memory usage',
# https://nvidia.github.io/TensorRT-LLM/reference/memory.html) loads a 6695 MiB engine,
# allocates 1134.01 MiB of execution context (TensorRT's activations), 43.29 MB of runtime
# buffers and 180.30 MB for the decoder, then finds "total: 79.10 GiB, available: 70.48 GiB"
# (cudaMemGetInfo, the KV pool then 0.9 of it: "Allocated 63.44 GiB"). Against the NVML
# total a spec holds (h100-sxm: 81559 MiB = 85.52 GB): 85.52 GB - 70.48 GiB - 6695 MiB -
# 1134.01 MiB = 1.634 GB: 0.59 GB the driver keeps from CUDA (85.52 GB vs 79.10 GiB), the
# runtime and decoder buffers (0.22 GB) and 0.82 GB of CUDA context and library workspaces.
# Assumed the same on other GPUs and TP degrees: the driver's share is alike (A100-80GB:
# CUDA's total 79.15 GiB vs NVML's 81920 MiB, 0.91 GB; H200: 139.80 GiB vs 143771 MiB,
# 0.64 GB; PyTorch's out-of-memory messages quote CUDA's total), and NCCL's and the
# all-reduce kernels' buffers under TP are not counted (no log here sizes them).
_TRTLLM_RUNTIME_MEMORY = {"runtime_memory_bytes": 85.52e9 - 70.48 * 2**30
                          - 6695 * 2**20 - 1134.01 * 2**20}
# What a replica of more than one GPU holds for its communication beside that, per GPU:
# NCCL's communicators (per channel and peer, a buffer per protocol) and the custom
# all-reduce's IPC buffers, allocated when the engine starts, before it sizes its KV cache.
# Measured, not fitted: vLLM PR #10511's Llama-3-8B run logs 1.79 GiB of non-torch memory
# on one GPU and 3.58 GiB per GPU at TP2 (vllm-project/vllm PR #10511, its author's
# 'sanity checks' comment of 2024-12-14: `vllm serve meta-llama/Meta-Llama-3-8B` with and
# without -tp 2 on 80 GB GPUs), 1.79 GiB more. Assumed the same at every group size (one data
# point; NCCL's buffers grow with channels and peers, so larger groups may hold more) and
# for TensorRT-LLM, whose ranks hold NCCL communicators and its own all-reduce workspace
# (no log here sizes them).
_MULTI_GPU_COMM_MEMORY = {"comm_memory_bytes": 1.79 * 2**30}
# TensorRT-LLM keeps every key of Llama-4's chunked-local layers in its KV cache: its KV cache
# manager frees out-of-window blocks for sliding windows only (per-window pools,
# KvCacheConfig.max_attention_window; docs 'Long Sequences',
# docs/source/features/long-sequence.md), while the attention honours the chunk in context
# and, since NVIDIA/TensorRT-LLM PR #4693 (2025-05, "enable chunked-attention in the
# generation-phase by default"), in generation too (the MMHA kernel; PR #6306: "XQA does not
# support chunked attention"). vLLM frees them (ChunkedLocalAttentionManager,
# vllm-project/vllm PR #19351).
_TRTLLM_CHUNKED = {"chunk_kv_freed": 0.0}
# TensorRT-LLM splits prompts into chunks only when chunked context is enabled
# (enable_chunked_prefill in the LLM API and trtllm-bench, enable_chunked_context in the C++
# executor config; both default off, and the performance overview's commands leave it off:
# trtllm-bench throughput's --enable_chunked_context flag defaults to False and get_settings
# in tensorrt_llm/bench/benchmark/utils/general.py reads
# params.get("enable_chunked_prefill", False)). Without a chunking config its micro-batch
# scheduler schedules a context request only whole, and stops at the first request whose
# tokens no longer fit in max_num_tokens beside those already scheduled
# (MicroBatchScheduler::operator() in cpp/tensorrt_llm/batch_manager/microBatchScheduler.cpp:
# "if (maxNumTokensRuntime && batchNumTokens + reqNumTokens > maxNumTokensRuntime) break;"),
# the PyTorch backend's scheduler binding the same C++ scheduler.
_TRTLLM_WHOLE_PROMPTS = {"chunked_context": 0.0}
# TensorRT-LLM's CUTLASS MoE sizes its workspace for every expanded (token, expert) row of
# the call: k × num_rows rows of permuted input, gate-up output, activation output and down
# output (CutlassMoeFCRunner::getWorkspaceBufferSizes, cpp/tensorrt_llm/kernels/
# mixtureOfExperts/moe_kernels.cu), num_rows every attention-DP rank's tokens after the
# all-gather (MoeConfig.max_num_tokens defaults to all of them: no chunking). The PyTorch
# backend sizes the KV cache after a profiling forward of max_num_tokens on every rank
# (KvCacheCreator, tensorrt_llm/_torch/pyexecutor/_util.py), the C++ engine plans the
# plugin's workspace at build time for max_num_tokens, so either leaves the KV cache what
# that workspace does not take. vLLM's fused_moe chunks at VLLM_FUSED_MOE_CHUNK_SIZE tokens
# (32768, vllm/envs.py) and is not given this.
_TRTLLM_MOE_WORKSPACE = {"moe_workspace": 1.0}
# TensorRT-LLM's CUTLASS grouped-GEMM MoE at the tile-loop efficiency of the Triton fused-MoE
# kernels that `moe_kernels` validates (0.85 on the vLLM / SGLang profiles: 4.5% median on
# 38 held-out published layer timings), not the dense GEMM's: the one published H100
# comparison of the two has TensorRT-LLM's kernels (as FlashInfer's cutlass_fused_moe) 5.7%
# (DeepSeek-V2-Lite fp8) to 13.8% (Qwen3-30B-A3B fp8) slower end to end under CUDA graphs
# (sgl-project/sglang PR #21872: "the CUTLASS GEMM is less efficient than Triton's tuned
# kernel for these shapes"; PR #18388: "In TP MoE it seems triton is quite efficient").
# Was 1.0 (the dense rate), which read TensorRT-LLM's Mixtral-8x7B TP1-8 rows 16.6% fast.
_TRTLLM_MOE_EFFICIENCY = 0.85
# vLLM's default --all2all-backend is allgather_reducescatter ("Default backend", docs.vllm.ai
# serving/expert_parallel_deployment, v0.11-0.12; before it the "naive" backend broadcast
# every token to every rank, the same traffic); DeepEP / pplx are opt-in. SGLang without
# --enable-deepep-moe gathers the data-parallel groups' tokens before the MoE layer and
# scatters them after (assumed from its DP-attention gather / scatter, not measured here).
_GATHER_ALWAYS = 1e9
# TensorRT-LLM's CUTLASS-MoE activation kernel (`doActivationKernel` in
# cpp/tensorrt_llm/kernels/cutlass_kernels/moe_gemm/moe_kernels.cu: one 256-thread block per
# (token, expert) row, SiLU x up, then the next GEMM's input quantization) is issue-bound,
# not bandwidth-bound: NVIDIA's PR #11165 times it alone on a B200 (bf16 in, NVFP4 out,
# intermediate 2,048, 128 experts, top-8) at 42.7 / 69.8 / 248.4 µs for 512 / 1,024 / 4,096
# tokens as shipped until PR #9838 (2025-12), 5-10x its bytes at the B200's bandwidth, and
# #9838's Hopper timings of the same shapes are about as long. Fitted: `python -m
# infersim.validation.fitting.trtllm_moe_act` (validation/data/published/
# trtllm_moe_act_fit.json): 290.4 vector operations per activated element at the chip's
# vector rate read the three timings −13.9% / +2.4% / +12.7% (the kernel's fixed part, its
# scale-factor padding loops and launch, is not apart, so the smallest call reads short);
# without it the model priced them 4x fast as a streaming kernel. Assumed the same kernel in
# the C++ engine (v0.17) and for fp8 outputs (PR #9838's Hopper fp8-out timings match).
# The same rate prices the permute where it quantizes to NVFP4: `expandInputRowsKernel`
# (same file) has doActivationKernel's skeleton (SMs x 8 blocks of 256 threads striding over
# the rows, a binary search for each row's expert) and calls the same `quantizePackedFP4Value`
# per 16-byte vector, without the SiLU; where its input and output are both fp8 or 16-bit it
# only copies the row and streams as priced.
_TRTLLM_MOE_ROWS = {"moe_row_ops": 290.4}
# A MoE layer's routing kernels before its first grouped GEMM (`moe_sort_*`, `moe_permute`).
# TensorRT-LLM's CUTLASS MoE (CutlassMoeFCRunner::runMoe, cpp/tensorrt_llm/kernels/
# cutlass_kernels/moe_gemm/moe_kernels.cu): the expert maps are built by one fused kernel
# (fusedBuildExpertMapsSortFirstToken: one CTA, for up to 256 tokens and fewer than 2^9 - 1
# experts per GPU) or else by threeStepBuildExpertMapsSortFirstToken's three
# (blockExpertPrefixSum, globalExpertPrefixSum, mergeExpertPrefixSum); then
# expandInputRowsKernelLauncher writes every (token, expert) row in expert order, quantized
# to the GEMM's input type.
_TRTLLM_MOE_ROUTING = {"moe_sort_kernels": 3.0, "moe_sort_small_kernels": 1.0,
                       "moe_sort_small_tokens": 256.0, "moe_sort_small_ids": 1e9,
                       "moe_sort_small_experts": 255.0, "moe_permute": 1.0}
# The Triton fused-MoE path of vLLM and SGLang (moe_align_block_size, vLLM csrc/moe/
# moe_align_sum_kernels.cu): a zero-filled cumsum buffer (torch::zeros, one kernel), then
# one single-block kernel when there are fewer than 1024 (token, expert) ids and at most 64
# experts (small_batch_expert_mode), else moe_align_block_size_kernel and
# count_and_sort_expert_tokens_kernel; the GEMM gathers its rows by sorted_token_ids, so
# nothing is permuted. Cross-check, not fitted: the published fused-MoE layers of
# `validation/datasets/moe_kernels.py` read 7-9 us fast at 1-2 tokens on H100 / H200
# without these kernels.
_TRITON_MOE_ROUTING = {"moe_sort_kernels": 3.0, "moe_sort_small_kernels": 2.0,
                       "moe_sort_small_tokens": 1e9, "moe_sort_small_ids": 1023.0,
                       "moe_sort_small_experts": 64.0, "moe_permute": 0.0}
# TensorRT-LLM's C++ executor (the TensorRT-engine runtime of v0.14 behind Triton, v0.17's
# trtllm-bench, NIM 1.8) prepares each iteration only after the previous one is done: the
# sampled tokens copied back and applied, finished requests released, responses created, the
# next batch scheduled, its KV blocks and input tensors set, its engine enqueued, while the
# GPU waits. Overlapping that preparation with the running iteration came in April 2025
# (NVIDIA/TensorRT-LLM PR #3625, "Overlap scheduling in C++ runtime": "overlap execution of
# one iteration and preparation of next iteration", off unless enable_trt_overlap), after
# these releases. Fitted: `python -m infersim.validation.datasets.serving_published
# --fit-frontend` on the four lowest-load mean ITLs of fixed lengths of one GPU in the v0.14
# online table (trtllm014-8b-{h100,h200}-sonnet{256,16}-qps2-itl: 8B TP1, 467-token prompts
# with 256 or 16 outputs at 2 req/s), their geometric mean; it holds the per-iteration work
# that the GPU waits on, not per request (a per-request term read the v0.17 throughput rows,
# at hundreds of requests per iteration, 3% slow on the median).
# With tensor parallelism every rank runs this loop, and each iteration begins with the TP
# leader broadcasting the iteration's new requests to the other ranks over MPI, every other
# rank blocking in the broadcast until they come (Executor::Impl::getNewReqWithIds in
# cpp/tensorrt_llm/executor/executorImpl.cpp: mCommTensorParallel->bcast(packed, 0), each
# iteration, requests or none), so each iteration's preparation meets all ranks' loops through
# a broadcast tree: `step_bcast_round_s` per round, ceil(log2 n) rounds for n ranks (an MPI
# broadcast of a small message is a binomial tree). Fitted after the TP1 constant on the four
# same-load ITLs of 70B at TP4 (trtllm014-70b-{h100,h200}tp4-sonnet{256,16}-qps2-itl, two
# rounds), their geometric mean. A round costs far more than an MPI message's microseconds:
# what it times is a rank's loop arriving, not the bytes. Held out (the v0.17 trtllm-bench rows,
# TP 1-8, 230): signed +1.7% -> +1.0%, faster on 139 -> 126, p90 13.6% -> 10.5%, the lean
# growing with TP gone (70B H100 TP8 +3.8% -> +0.1%, Mixtral H100 / H200 TP8 +7.6% / +7.6%
# -> +1.9% / +1.7%; the TP1 rows -7.1% / -9.3% -> -5.6% / -7.5% on H100 with the smaller
# TP1 constant). One constant for every rank count does not hold: before the split the
# eight rows read 0 to 1.2 ms (8B) and 1.1-3.5 ms (70B TP4). Counter-signals: the per-user
# TP8 rows of `published_e2e` (one request, NVIDIA's speculative-decoding blogs, derived
# baselines) read -22% -> -34%, the NIM TP2 rows -1.2% -> -2.5%, the r24.07 70B TP4 row
# -8.6% -> -11.7%; a per-rank (linear) form fitted the same way reads v0.17 +0.1% but the
# per-user rows -40%.
# 0.4091 ms (0.3956 ms before the residual add read its fresh operand from L2 and the
# vector refit, 2026-12-06: the decode step's vector kernels run a little faster; 0.4095 ms
# before the attention kernel classes, 2026-12-07)
_TRTLLM_CPP_STEP_S = 0.4091e-3
# 0.9139 ms (0.913 ms before the vector refit of 2026-12-06, 0.929 ms before the ring
# all-reduce's copy bound, 0.9146 ms before the attention kernel classes, 2026-12-07)
_TRTLLM_CPP_BCAST_S = 0.9139e-3
_p("trtllm", Runtime.FUSED,
   "TensorRT-LLM: C++ executor with in-flight batching, whose preparation of an iteration "
   "(tokens back, requests updated, responses, scheduling, inputs) the GPU waits on: "
   "step_overhead_s fitted (see _TRTLLM_CPP_STEP_S); under TP each iteration starts with "
   "the leader's MPI broadcast of its new requests to every rank, step_bcast_round_s per "
   "round of the broadcast tree, fitted (see _TRTLLM_CPP_BCAST_S); fused add+RMSNorm and RoPE+KV write, XQA / "
   "FMHA paged GQA-aware attention, CUTLASS grouped-GEMM MoE (0.85, see "
   "_TRTLLM_MOE_EFFICIENCY; its per-row kernels issue-bound, see _TRTLLM_MOE_ROWS), "
   "fp8 GEMMs "
   "(https://nvidia.github.io/TensorRT-LLM/); in-flight batching puts context-phase "
   "requests in the same iteration as generation-phase ones, within max_num_tokens "
   "(TensorRT-LLM docs, 'In-flight Batching'); its default capacity scheduler "
   "GUARANTEED_NO_EVICT admits a request only when the KV blocks for its prompt and "
   "max_new_tokens fit beside those the running requests still need "
   "(TensorRT-LLM docs, performance tuning guide, 'Useful Runtime Options': "
   "GUARANTEED_NO_EVICT is the default capacity scheduler policy; the PyTorch backend's "
   "BindCapacityScheduler defaults to it too, tensorrt_llm/_torch/pyexecutor/scheduler.py); "
   "TP all-reduces on one NVLink node: its own one-shot / two-shot kernels or NCCL, "
   "whichever is faster (AllReduceStrategy.AUTO; kernel measured, see _TRTLLM_CUSTOM_AR); "
   "MoE tokens of EP groups up to 8 are exchanged by all-gather + reduce-scatter, larger "
   "ones all-to-all (NVIDIA/TensorRT-LLM blog 4, 'Scaling Expert Parallelism', figure 24: "
   "'for EP4/EP8 Reduce/Scatter is used, while for EP>8 All2All is used'; "
   "tensorrt_llm/_torch/modules/fused_moe/communication/allgather_reducescatter.py is the "
   "fallback that always works); larger all-reduces run NCCL's ring, no NVLink SHARP "
   "(see _NO_NVLS); the KV cache takes 0.9 of the memory left free "
   "(see _TRTLLM_KV_FREE_FRACTION), after 1.63 GB per GPU of CUDA context, runtime "
   "buffers and driver reserve (see _TRTLLM_RUNTIME_MEMORY); the KV cache keeps every "
   "key of Llama-4's chunked-local layers (see _TRTLLM_CHUNKED); a prompt joins an iteration only whole "
   "(chunked context off, its default; see _TRTLLM_WHOLE_PROMPTS)",
   fuse_add_norm=1.0, fuse_rope_kv=1.0, mixed_batching=1.0, kv_reservation=1.0,
   **_TRTLLM_WHOLE_PROMPTS,
   moe_allgather_max_ep=_TRTLLM_ALLGATHER_MAX_EP, **_TRTLLM_CUSTOM_AR, **_NO_NVLS,
   kv_free_fraction=_TRTLLM_KV_FREE_FRACTION, **_TRTLLM_RUNTIME_MEMORY,
   **_MULTI_GPU_COMM_MEMORY,
   moe_efficiency=_TRTLLM_MOE_EFFICIENCY, **_TRTLLM_MOE_ROWS,
   **_TRTLLM_MOE_ROUTING, **_TRTLLM_CHUNKED, **_TRTLLM_MOE_WORKSPACE,
   step_overhead_s=_TRTLLM_CPP_STEP_S, step_bcast_round_s=_TRTLLM_CPP_BCAST_S)
# fitted: `python -m infersim.validation.datasets.serving_published --fit-frontend` on the
# row sglang030-70b-4xh100-ttft-rps4 (validation/data/published/serving.csv): SGLang v0.3.0's
# median TTFT for Llama-3.1-70B at TP4 at 4 req/s, where a prompt's eager prefill on each
# 1/4 shard is host-bound. One constant for vLLM V0 and SGLang: both run vLLM's Python layer
# code (SGLang 0.3 imports vllm.model_executor.layers: parallel linear layers and their
# quant_method dispatch, the custom all-reduce wrapper, the rotary and activation custom
# ops), each kernel behind several Python calls where gpt-fast's is one (19.6 us,
# gpu.host_launch_us). Cross-check, not fitted (a later vLLM, V1): its eager decode of the
# Qwen2.5-Omni-7B thinker (28 layers) on A800 takes ~23 ms per token against ~13 ms with
# CUDA graphs (vllm-project/vllm-omni #7960), ~0.75 ms of host time per layer, 50-70 us per
# kernel at 11-14 kernels per layer (above this fit: 48.1 us before the prompt's all-reduces
# ran vLLM's own kernel, `_VLLM_CUSTOM_AR`, instead of NCCL). The row's median TTFT is not
# monotone in this constant at the 0.1 us scale (which step a prompt lands in flips); the
# bisection reads 34.6 us (33.0 us before the residual add read its fresh operand from L2
# and the vector refit, 2026-12-06; 33.5 us before the NCCL ring all-reduce's copy bound,
# `gpu.ring_copy_gb_per_s`, 2026-12-06; 34.9 us before the attention kernels paid their
# pipeline fill, `attention.py`); 29.32 us since SGLang 0.3's FlashInfer 0.1 prompts run
# FlashAttention-2-class kernels (`attention_sm80`, 2026-12-07: the row's prompt attention
# takes longer on the GPU, so less of its TTFT is host time; 34.6 us before; the bisection
# itself stopped at 29.1 us inside the step noise, and `fit_knob_rows` now returns the
# nearest value whose 0.99x and 1.01x straddle the root); 32.4 us since SGLang 0.3's
# per-request step cost was refitted with the A100's flash-attn 2 decode constants
# (`_SGLANG_V03_SEQ_S` 91.6 -> 95.6 us, 2026-12-07: the row's decode steps, which a prompt
# waits behind, move its median TTFT across a step boundary; 29.32 us before).
_PY_ENGINE_HOST_S = 32.4e-6
# TensorRT-LLM's PyTorch backend (PyExecutor, the default from v1.0): its Python executor loop
# (scheduling, input preparation, sampler post-processing, response handling) walks every
# running request each iteration. With the default overlap scheduler that host work runs
# while the GPU computes the previous iteration, so it bounds an iteration from below at
# ~this much per request (output_token_s). Measured, not fitted: NVIDIA's benchmark in
# NVIDIA/TensorRT-LLM PR #10273 (2025-12) reports an average host_step_time of 45.11 ms per
# iteration at max_batch_size 1536 per rank (GPT-OSS-120B, GB200, attention-DP 2 at
# concurrency 3072, a host-bound max-throughput run): 45.11 ms / 1536 = 29.4 us per request.
# Assumed: the same on an x86 DGX host and in v1.0.
TRTLLM_PYEXECUTOR_SEQ_S = 45.11e-3 / 1536
# The part of it that every request in the executor's active list costs each iteration, run
# or not (held_request_s): the loop walks all of `active_requests` (the capacity scheduler,
# `_handle_responses`' per-request create_response), which holds up to max_batch_size x pp
# requests (PyTorchModelEngine.get_max_num_sequences): with pipeline parallelism those of
# every micro-batch in flight and those waiting for KV blocks, so each rank's loop walks pp
# micro-batches' worth of requests per micro-batch it runs. Fitted (`serving_published
# --fit-frontend`, the FITTED rows): 7.8 us on the two host-bound rows of the performance
# overview's Llama-3.3-70B TP1/PP8 table on eight RTX PRO 6000 (128/128 at max_batch 512,
# 128/2048 at 256: 4,096 and 2,048 held requests), which the per-request cost alone
# predicted 62% and 92% too fast; a quarter of the 29.4 us, as a Python loop's few
# attribute reads and one bound C++ call per request suggest.
TRTLLM_HELD_REQUEST_S = 7.8e-6
_p("trtllm-pytorch", Runtime.FUSED,
   "TensorRT-LLM's PyTorch backend (PyExecutor; trtllm-bench --backend pytorch, the "
   "performance overview's runs from v0.19): the kernels and in-flight batching of "
   "`trtllm`; the Python executor's per-request host work of an iteration (29.4 us per "
   "running request, NVIDIA/TensorRT-LLM PR #10273's host_step_time) overlaps the GPU "
   "(overlap scheduler, on by default), so it only bounds the iteration from below; "
   "7.8 us of it is the loop's walk of its whole active list (held_request_s: fitted on "
   "two PP8 rows of the performance overview), which every held request pays each "
   "iteration, waiting for KV or, under pipeline parallelism, in another micro-batch; "
   "GUARANTEED_NO_EVICT admission as `trtllm`; admission_lag: the overlap loop "
   "(_executor_loop_overlap in tensorrt_llm/_torch/pyexecutor/py_executor.py) fetches new "
   "requests, schedules and launches the next batch, then updates the previous one, so a "
   "request arriving during an iteration joins the one after next; with pipeline "
   "parallelism its PP loop (_executor_loop_pp_overlap there) has the last rank send each "
   "micro-batch's sampled tokens back to rank 0, which blocks for them, updates the "
   "requests, schedules and only then launches that micro-batch again, so its host work "
   "lies on each micro-batch's cycle (pp_host_ring, read from the source, no constant); "
   "all-reduces and the MoE "
   "token exchange as `trtllm`; CUDA graphs replay generation-only iterations only "
   "(ScheduledRequests.can_run_cuda_graph: no context requests, "
   "tensorrt_llm/_torch/pyexecutor/scheduler.py; under attention DP an iteration runs "
   "eagerly on every rank when any rank has one), so an iteration with prompt tokens runs "
   "eagerly from its Python modules, host_node_s per kernel (assumed: vLLM's fitted "
   "Python-layer cost, see _PY_ENGINE_HOST_S); whole prompts as `trtllm` (its Python "
   "scheduler binds the same C++ micro-batch scheduler); a generation-only iteration is "
   "padded to the next captured CUDA-graph batch size (graph_padding: the performance "
   "overview's llm_options set cuda_graph_config enable_padding with the sizes of "
   "TRTLLM_BENCH_GRAPH_BATCHES; the LLM API's own default is no padding, "
   "graph_padding=0)",
   fuse_add_norm=1.0, fuse_rope_kv=1.0, mixed_batching=1.0, kv_reservation=1.0,
   **_TRTLLM_WHOLE_PROMPTS,
   output_token_s=TRTLLM_PYEXECUTOR_SEQ_S, held_request_s=TRTLLM_HELD_REQUEST_S,
   admission_lag=1.0, prefill_graphs=0.0, pp_host_ring=1.0,
   graph_padding=1.0,
   host_node_s=_PY_ENGINE_HOST_S,
   moe_allgather_max_ep=_TRTLLM_ALLGATHER_MAX_EP, **_TRTLLM_CUSTOM_AR, **_NO_NVLS,
   kv_free_fraction=_TRTLLM_KV_FREE_FRACTION, **_TRTLLM_RUNTIME_MEMORY,
   **_MULTI_GPU_COMM_MEMORY,
   moe_efficiency=_TRTLLM_MOE_EFFICIENCY, **_TRTLLM_MOE_ROWS,
   **_TRTLLM_MOE_ROUTING, **_TRTLLM_CHUNKED, **_TRTLLM_MOE_WORKSPACE)
# vLLM V0's host work per running sequence per scheduling pass (the scheduler's per-group
# bookkeeping, block tables and input tensors built per sequence, the sampler's per-sequence
# output), on the step's critical path; a multi-step pass (--num-scheduler-steps) pays it once.
# fitted: `python -m infersim.validation.fitting.mi300x_fp8` (with the MI300X's fp8 tile-loop
# share and vLLM V1's host cost, `_VLLM_V1_SEQ_S`; `serving_published --fit-frontend`
# reproduces it at the committed share) on one row, oci-mi300x-405b-fp8-latency-b64 (vLLM's
# benchmark_latency, 64 prompts of 128 tokens and 128 outputs, Llama 3.1 405B FP8 on
# 8 x MI300X; validation/data/published/serving.csv): OCI's batch sweep of 1-256 sequences
# grows by ~0.4 ms of step time per added sequence from 2 sequences on, a slope a GEMM
# roofline does not have (its GEMMs stay memory-bound to ~64 rows), while batch 1 is
# predicted within 1% with no host term; 20 us (assumed) before 2026-12-08, which predicted
# that sweep up to 56% fast. A cross-check, not a fit: v0.5.3's scheduling share on one H100
# was 120 us per output token (_VLLM_API_CHUNK_S's blog).
_VLLM_V0_SEQ_S = 144.6e-6
# vLLM V1's host work per running sequence per step (its engine core's scheduler and output
# handling walk every running request each step), fitted with the above on one row,
# amd-mi300x-70b-fp8-128-2048 (AMD's vLLM 0.11.1 throughput run: Llama 3.1 70B FP8 on
# 8 x MI300X, 3,200 sequences at once): the 70B rows need more time per sequence than the
# 405B rows at any tile-loop share, which a GPU constant alone cannot give; 2 us (assumed)
# before 2026-12-08.
_VLLM_V1_SEQ_S = 20.0e-6
# What vLLM's KV sizing finds taken beside weights and activations, per GPU. Since its memory
# profiling overhaul (vllm-project/vllm PR #10511, 2024-12; V1's worker reuses it, PR #19312)
# the KV cache gets gpu_memory_utilization x CUDA's total less the weights, the activation
# peak and the process's non-torch memory (CUDA context, cuBLAS and NCCL workspaces).
# Measured, not fitted: the PR's Llama-3-8B run on one 80 GB GPU logs total_gpu_memory
# 79.22 GiB and non_torch_memory 1.79 GiB. Against the NVML total a spec holds (h100-sxm:
# 85.52 GB): 0.9 x (85.52e9 - 79.22 GiB) + 1.79 GiB = 2.33 GB. The same run at TP2 logs
# 3.58 GiB of non-torch memory: the 1.79 GiB more are NCCL's and the custom all-reduce's
# buffers, which every chip of a multi-chip replica holds (`_MULTI_GPU_COMM_MEMORY`).
_VLLM_V1_RUNTIME_MEMORY = {"runtime_memory_bytes": 0.9 * (85.52e9 - 79.22 * 2**30)
                           + 1.79 * 2**30}
_p("vllm-v1", Runtime.FUSED,
   "vLLM V1: scheduler and detokenizer in separate processes, persistent input batch "
   "updated by diffs (https://blog.vllm.ai/2025/01/27/v1-alpha-release.html); "
   "step_overhead 150 us assumed + 20 us per running sequence, fitted on one published "
   "MI300X row (see _VLLM_V1_SEQ_S): input preparation and sampling stay on the "
   "step's critical path; FlashAttention-3 class paged GQA-aware attention, fused "
   "add+RMSNorm and RoPE, Triton fused-MoE (moe_efficiency 0.85 assumed: Triton grouped "
   "GEMM below CUTLASS), fp8 via CUTLASS scaled_mm, CUDA graphs for decode; the V1 "
   "scheduler has no prefill phase: each step fills a token budget with the running "
   "decodes and (chunks of) new prompts; TP all-reduces below 8 MiB on one NVLink node "
   "run vLLM's custom all-reduce kernel (measured, see _VLLM_CUSTOM_AR); MoE tokens are "
   "exchanged by all-gather + reduce-scatter (its default --all2all-backend, see "
   "_GATHER_ALWAYS); NCCL without NVLink SHARP (NCCL_CUMEM_ENABLE=0, see _NO_NVLS); the KV "
   "cache gets 0.9 of CUDA's total less weights, activations and 2.33 GB of CUDA context "
   "and workspaces (see _VLLM_V1_RUNTIME_MEMORY)",
   **_VLLM_V1_RUNTIME_MEMORY, **_MULTI_GPU_COMM_MEMORY,
   step_overhead_s=150 * _US, step_overhead_per_seq_s=_VLLM_V1_SEQ_S, fuse_add_norm=1.0,
   fuse_rope_kv=1.0, moe_efficiency=0.85, mixed_batching=1.0,
   moe_allgather_max_ep=_GATHER_ALWAYS, **_VLLM_CUSTOM_AR, **_NO_NVLS,
   **_TRITON_MOE_ROUTING)
_p("vllm-v0", Runtime.FUSED,
   "vLLM V0 (0.5-0.6): Python scheduler, input preparation and sampler run between GPU steps "
   "(the v0.6.0 post measured the GPU busy only 38% of the time for Llama-3-8B on H100, "
   "https://blog.vllm.ai/2024/09/05/perf-update.html); step_overhead 2 ms assumed "
   "(the low end of the 2-8 ms per decode step in issue 12) + 145 us per running "
   "sequence, fitted on one published MI300X row (see _VLLM_V0_SEQ_S); multi-step scheduling "
   "(--num-scheduler-steps) is the scheduler_steps knob, default 1 as in vLLM; decode "
   "attention on the default FLASH_ATTN backend is FlashAttention-2's paged-KV kernel "
   "(https://github.com/vllm-project/vllm/pull/3648, /pull/4907), which for one query token "
   "moves the query heads of a KV group into one block, so each KV head is read once "
   "(GQA-aware; vLLM <= 0.4's paged_attention_v1/v2 ran one block per query head), "
   "scheduled as that kernel schedules itself (fa2_decode: its split heuristic and waves); fused "
   "add+RMSNorm, separate RoPE and cache-write kernels; Triton fused-MoE (0.85 assumed); "
   "prompts run eagerly from vLLM's Python layer code, host_node_s per kernel (fitted on "
   "one row, see _PY_ENGINE_HOST_S); decode CUDA graphs are captured for batch sizes 1, 2, "
   "4 and 8-256 in steps of 8 only (vllm/worker/model_runner.py _BATCH_SIZES_TO_CAPTURE, "
   "v0.5-0.6), so a decode batch above 256 runs eagerly like a prompt (graph_max_batch); "
   "TP all-reduces below 8 MiB on one NVLink node run vLLM's custom all-reduce kernel "
   "(measured, see _VLLM_CUSTOM_AR), larger ones NCCL without NVLink SHARP (see _NO_NVLS); "
   "its prompts' attention is FlashAttention-2 (vllm-flash-attn 2.6.1 with vLLM 0.6.0), "
   "written for Ampere's mma.sync, so on Hopper it runs at the chip's "
   "attention_efficiency_sm80 (attention_sm80; FlashAttention-3 came to vLLM later)",
   step_overhead_s=2000 * _US, step_overhead_per_seq_s=_VLLM_V0_SEQ_S,
   fuse_add_norm=1.0, moe_efficiency=0.85, prefill_graphs=0.0, host_node_s=_PY_ENGINE_HOST_S, attention_sm80=1.0,
   fa2_decode=1.0, graph_max_batch=256.0, moe_allgather_max_ep=_GATHER_ALWAYS, **_VLLM_CUSTOM_AR, **_NO_NVLS,
   **_TRITON_MOE_ROUTING)
_p("sglang", Runtime.FUSED,
   "SGLang: overlap scheduler hides CPU scheduling behind the previous GPU step "
   "(https://lmsys.org/blog/2024-12-04-sglang-v0-4/), so per step only the chip's "
   "graph launch + sync remains; FlashInfer paged GQA-aware attention, fused add+RMSNorm "
   "and RoPE, Triton fused-MoE (0.85 assumed), CUDA graphs for decode; prompts run eagerly "
   "from vLLM's Python layer code, host_node_s per kernel (see _PY_ENGINE_HOST_S); decode "
   "CUDA graphs are captured for batch sizes 1, 2, 4 and 8-160 in steps of 8 (SGLang "
   "0.3-0.4: sglang/srt/model_executor/cuda_graph_runner.py capture_bs, server_args "
   "cuda_graph_max_bs default 160), a larger decode batch runs eagerly (graph_max_batch); "
   "admission_lag: 0.4's event_loop_overlap (python/sglang/srt/managers/scheduler.py) "
   "receives requests, picks and launches the next batch, then waits for the running one, "
   "so a request arriving during a step is scheduled into the step after next; TP "
   "all-reduces as vllm-v0 (0.3-0.4 call vLLM's custom all-reduce, sglang PR #2511; "
   "NCCL_NVLS_ENABLE=0 by default, see _NO_NVLS); FlashInfer 0.1.x (0.1.6 with SGLang "
   "0.3-0.4) has only FlashAttention-2-class prefill kernels, written for Ampere's "
   "mma.sync: on Hopper they run at the chip's attention_efficiency_sm80 (attention_sm80; "
   "flashinfer-ai/flashinfer#521, 2024-10: its prefill 'much slower than FA3 and TRT-LLM "
   "FMHA on SM90', ~2x on an H20; the sm90 FA3 template came with 0.2.0, PR #667, "
   "2024-12-16)",
   fuse_add_norm=1.0, fuse_rope_kv=1.0, moe_efficiency=0.85, prefill_graphs=0.0,
   host_node_s=_PY_ENGINE_HOST_S, graph_max_batch=160.0, admission_lag=1.0, attention_sm80=1.0,
   moe_allgather_max_ep=_GATHER_ALWAYS, **_VLLM_CUSTOM_AR, **_NO_NVLS,
   **_TRITON_MOE_ROUTING)


def _online(name: str, engine: str, source: str, **values: float) -> RuntimeProfile:
    """`engine` behind its streaming HTTP server: the engine's knobs plus the front-end's."""
    base = _ENGINES[engine]
    return register(RuntimeProfile(name, GPU, tuple({**dict(base.values), **values}.items()),
                                   f"{base.source}; served online: {source}", base.base))


# v0.5.3 spent 33% of the time of Llama-3-8B on one H100 in the HTTP API server and 29% in
# scheduling (blog below) at ≈13.5 req/s × 179 output tokens (the blog's chart): 0.33 and
# 0.29 of 414 us per output token.
_VLLM_API_CHUNK_S = 0.33 / (13.5 * 179)
# fitted: `python -m infersim.validation.datasets.serving_published --fit-frontend` on the
# row vllm060-8b-h100-decode-heavy (validation/data/published/serving.csv); below the
# 120 us/token of v0.5.3's whole scheduling share, of which output processing is a part.
# 77.4 us since vLLM V0's host cost per sequence is fitted (_VLLM_V0_SEQ_S, 2026-12-08: the
# row's multi-step passes pay it once per 10 steps); 77.9 us before, 78.4 us before the
# attention kernel classes.
_VLLM_OUTPUT_TOKEN_S = 77.4e-6
_online("vllm-v0-api", "vllm-v0",
        "OpenAI-compatible API server in its own process since v0.6.0 "
        "(https://blog.vllm.ai/2024/09/05/perf-update.html); stream_chunk_s 137 us = 33% of "
        "v0.5.3's time per output token (the post: API server 33%, scheduling 29%, GPU 38% "
        "for Llama-3-8B on 1 H100; v0.5.3 at ~13.5 req/s of 179 output tokens on its chart); "
        "a multi-step pass streams its tokens at its end (vLLM v0.6.0's median ITL 129 ms = "
        "~10 x its 14 ms TPOT, sgl-project/sglang benchmark/benchmark_vllm_060/README.md); "
        "output_token_s: the engine's per-token output processing (detokenization, stop "
        "checks, RequestOutput), overlapped by v0.6.0's async output processing and not "
        "amortized by multi-step, fitted on one row (see _VLLM_OUTPUT_TOKEN_S); async_output: "
        "that processing is the engine step's async callback, which handles step N's outputs "
        "while step N+1 executes and returns them from step N+1 (vllm/engine/llm_engine.py, "
        "ctx.output_queue / async_callback, v0.6.0; the post: 'output processing of step N "
        "overlaps the model execution of step N+1'), so every token reaches the API server "
        "one iteration late",
        stream_chunk_s=_VLLM_API_CHUNK_S, output_token_s=_VLLM_OUTPUT_TOKEN_S,
        async_output=1.0)
_online("sglang-api", "sglang",
        "tokenizer-manager HTTP server and detokenizer processes; stream_interval 1 (SGLang "
        "server_args default); stream_chunk_s = vllm-v0-api's (assumed: the same "
        "FastAPI/uvicorn server-sent events and incremental detokenization in Python)",
        stream_chunk_s=_VLLM_API_CHUNK_S)
# fitted: `python -m infersim.validation.datasets.serving_published --fit-frontend` on the
# row sglang030-8b-a100-itl-rps8 (validation/data/published/serving.csv): the median ITL of
# SGLang v0.3.0 with Llama-3.1-8B on one A100 at 8 req/s. Per request, not per step: v0.3.0's
# decode step (tp_worker.forward_decode_batch, handle_finished_requests in the sglang 0.3.0
# wheel on PyPI) waits for the sampled tokens (.tolist()) and then walks every running request
# in Python before the next step launches; the README's held-out 70B TP4 rows grow by the same
# ~0.1 ms per extra running request from 4 to 8 req/s.
# 95.6 us since the A100's decode-attention constants are fitted with flash-attn 2's waves
# (2026-12-07, `validation/fitting/paged_decode.py`): a full wave streams paged KV at 0.902 of
# peak, so the FlashInfer decode of this row runs faster on the GPU and more of its ITL is
# this host work; 91.6 us while the share was 0.782 (fitted on one call without the waves),
# 95.9 us before that, 95.8 us before the vector refit of 2026-12-06
_SGLANG_V03_SEQ_S = 95.6e-6
_online("sglang-v03-api", "sglang",
        "SGLang v0.3.0 (Sep 2024), before the overlap scheduler of v0.4 "
        "(https://lmsys.org/blog/2024-12-04-sglang-v0-4/): the scheduler's per-request work "
        "of a step (batch preparation, appending the sampled token, stop checks, sending it "
        "to the detokenizer) runs between GPU steps, step_overhead_per_seq_s per running "
        "request, fitted on one row (see _SGLANG_V03_SEQ_S); its event_loop_normal waits "
        "for each step before scheduling the next (no admission_lag); front-end as "
        "sglang-api",
        stream_chunk_s=_VLLM_API_CHUNK_S, step_overhead_per_seq_s=_SGLANG_V03_SEQ_S,
        admission_lag=0.0)
# fitted: `python -m infersim.validation.datasets.serving_published --fit-frontend` on the
# row trtllm2407-8b-h100-decode-heavy (validation/data/published/serving.csv): r24.07's
# tensorrtllm_backend v0.11 `postprocessing` model (all_models/inflight_batcher_llm in
# triton-inference-server/tensorrtllm_backend) has no dynamic batching, so each streamed chunk
# is a call of its own through the Python backend: this is one call holding one chunk.
_TRITON_CHUNK_S = 144.9e-6  # 145.1 us before the attention kernel classes
# fitted: `python -m infersim.validation.datasets.serving_published --fit-frontend` on the four
# rows trtllm014-{8b-h100,8b-h200,70b-h100tp4,70b-h200tp4}-sonnet16-qps2-ttft (TensorRT-LLM
# v0.14's online table: mean TTFT at 2 requests/s of 467-token prompts and 16 outputs, under
# one request running on average), their geometric mean, with the C++ executor's own time per
# iteration (_TRTLLM_CPP_STEP_S, and at TP4 its two broadcast rounds, _TRTLLM_CPP_BCAST_S) in
# each prompt's iteration; each alone read 0.6-2.2 ms when fitted with one per-iteration
# constant (the page's TTFTs are whole milliseconds). The way of a request through the ensemble that no GPU
# step holds: Triton's HTTP front-end, the `preprocessing` Python model (the prompt tokenized
# in a Python-backend stub process), the hand-off to the `tensorrt_llm` model's queue, and the
# first token back through `postprocessing` (all_models/inflight_batcher_llm/ensemble in
# triton-inference-server/tensorrtllm_backend).
# 1.574 ms (1.604 ms before the attention kernel classes of 2026-12-07: the prompts' native
# attention runs faster, so more of the TTFT is the front-end's; 1.615 ms before the vector
# refit of 2026-12-06; 1.817 ms before the NCCL ring
# all-reduce's copy bound, 2026-12-06: the 70B TP4 prompts' all-reduces cost more, so less
# of the TTFT is the front-end's)
_TRITON_REQUEST_S = 1.5736e-3
_online("trtllm-triton-v011", "trtllm",
        "Triton Inference Server r24.07 (tensorrtllm_backend v0.11 ensemble), the set-up of "
        "the vLLM v0.6.0 post's benchmark (generate_stream endpoint): every streamed token "
        "passes the Python-backend postprocessing model (detokenization) in a call of its "
        "own (its config.pbtxt has no dynamic_batching before v0.13) and Triton's HTTP "
        "streaming; stream_chunk_s fitted on one row (see _TRITON_CHUNK_S); a request's "
        "way in (HTTP, the preprocessing model's tokenization, the ensemble's hand-off to "
        "the engine) and its first token's way out take request_latency_s as trtllm-triton",
        stream_chunk_s=_TRITON_CHUNK_S, request_latency_s=_TRITON_REQUEST_S)
_online("trtllm-triton", "trtllm",
        "Triton Inference Server with the tensorrtllm_backend ensemble from v0.13 (Sep 2024) "
        "on: the postprocessing model's config.pbtxt turns on dynamic_batching, and its "
        "execute() detokenizes every request of a batch with one tokenizer.batch_decode "
        "(all_models/inflight_batcher_llm/postprocessing in triton-inference-server/"
        "tensorrtllm_backend v0.13.0, v0.14.0), so the chunks a step streams together pass "
        "in one call: stream_call_s = a v0.11 call of one chunk (see _TRITON_CHUNK_S), "
        "stream_chunk_s 0 (assumed: one more sequence in a batched call, a Rust decode and a "
        "response object, is small beside the Python-backend round trip; no graded row moves "
        "for any value from 0 to 40 us); a request's way in (HTTP, the preprocessing "
        "model's tokenization, the ensemble's hand-off to the engine) and its first token's "
        "way out take request_latency_s, fitted on four rows of v0.14 (see "
        "_TRITON_REQUEST_S)",
        stream_call_s=_TRITON_CHUNK_S, request_latency_s=_TRITON_REQUEST_S)



# llama.cpp's CUDA backend: ggml-cuda.cu and llama.cpp at build 32d9f7d9 (Jan 2024) and
# 77178eed (Mar 2024), the builds of the llama-bench rows in
# validation/data/published/llamacpp_cuda.csv. Every ggml graph node is one kernel the host
# launches (CUDA graphs arrived in May 2024, llama.cpp PR #6766). A Llama decoder layer
# (build_llama, llm_build_kqv) at one token on GGUF weights: rms_norm + mul (2), wq/wk/wv
# each quantize_q8_1 + mul_mat_vec_q (6), rope q, k (2), K and V cpy into the fp16 cache (2),
# KQ by batched cuBLAS with its f32->fp16 input and fp16->f32 output casts (3), soft_max_ext
# (1), KQV (3), cont of the merged heads (1), wo (2), residual add (1), rms_norm + mul (2),
# up and gate (4), silu, mul (2), down (2), add (1) = 34 kernels. fp16 weights: at 32d9f7d9
# ggml_cuda_mul_mat_mat_batched_cublas runs each of the 7 weight matmuls as 3 kernels (41
# per layer); at 77178eed that path needs ne[2]*ne[3] > 1, so a one-token matmul runs
# dequantize_mul_mat_vec, 1 kernel (27 per layer). Prompts above MMQ_MAX_BATCH_SIZE = 32
# tokens dequantize GGUF weights to fp16 and run cublasGemmEx (CUBLAS_COMPUTE_16F;
# ggml_cuda_op_mul_mat_cublas): 4 kernels per weight matmul, 3 for fp16 weights.
#
# host_node_s: host time per ggml node (ggml_cuda_compute_forward's dispatch, device and
# pool bookkeeping, cudaLaunchKernel). The one fitted constant: solved so the calibration row
# rtx3090ti-q4_0-tg128 (llama.cpp PR #4812, build 32d9f7d9) is reproduced, by
# `python -m infersim.validation.datasets.llamacpp_cuda --fit`; the other rows are held out.
LLAMACPP_CUDA_HOST_NODE_S = 7.05 * _US
_LLAMACPP_CUDA_KNOBS: dict[str, float] = {
    "split_qkv": 1.0, "split_gate_up": 1.0, "rope_kernels": 2.0, "attention_kernels": 8.0,
    "norm_weight_kernel": 1.0, "gemm_casts": 1.0, "act_quant_kernel": 1.0,
    "mmq_max_batch": 32.0, "cuda_graphs": 0.0, "host_node_s": LLAMACPP_CUDA_HOST_NODE_S,
    "paged_kv": 0.0,
}
_LLAMACPP_CUDA_SOURCE = (
    "one host launch per ggml node, no CUDA graphs (host_node_s fitted on one row, "
    "validation/datasets/llamacpp_cuda.py); q/k/v and gate/up as separate matmuls; rms_norm "
    "and its weight mul as 2 kernels; rope on q and k; K and V cpy into the fp16 cache; "
    "attention as batched-cuBLAS KQ and KQV with f32/fp16 casts around soft_max_ext, then "
    "cont (8 kernels); GGUF matmuls at <= 32 tokens: quantize_q8_1 + mul_mat_vec_q/mul_mat_q "
    "streaming the blocks at their real bits per weight; above: dequantize to fp16 + "
    "cublasGemmEx (CUBLAS_COMPUTE_16F) with input/output casts")
_p("llama.cpp-cuda-2024-01", Runtime.EAGER,
   "llama.cpp CUDA backend at build 32d9f7d9 (Jan 2024; ggml-cuda.cu ggml_cuda_mul_mat, "
   "llama.cpp build_llama): " + _LLAMACPP_CUDA_SOURCE + "; fp16 weights always through "
   "ggml_cuda_mul_mat_mat_batched_cublas (3 kernels)", **_LLAMACPP_CUDA_KNOBS)
_p("llama.cpp-cuda", Runtime.EAGER,
   "llama.cpp CUDA backend at build 77178eed (Mar 2024; ggml-cuda.cu ggml_cuda_mul_mat): "
   "as llama.cpp-cuda-2024-01 except fp16 weights at one token run "
   "dequantize_mul_mat_vec (one stream kernel); " + _LLAMACPP_CUDA_SOURCE,
   **_LLAMACPP_CUDA_KNOBS, f16_gemv=1.0)
_p("llama.cpp-cuda-graphs", Runtime.GRAPH,
   "llama.cpp CUDA backend with CUDA graphs (PR #6766, merged 2024-05-08): the kernels of "
   "`llama.cpp-cuda` for a one-token step captured and replayed as one CUDA graph, so no "
   "per-node host launch; the host's capture and cudaGraphExecUpdate per token are not "
   "priced (assumed: shorter than the GPU's step, the state the PR's speed-ups show)",
   **{**_LLAMACPP_CUDA_KNOBS, "cuda_graphs": 1.0}, f16_gemv=1.0, prefill_graphs=0.0)
