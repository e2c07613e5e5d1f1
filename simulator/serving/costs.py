"""Per-iteration cost of a serving replica, from the mapper's step estimates, tabulated lazily.

The mapper prices whole steps of one kind (a prefill, a chunked prefill, a decode batch at one
context). A serving iteration mixes them: P prefill tokens spread over some sequences (each
chunk with its own cached prefix) plus D decoding sequences at various contexts. We split a step
into a part that depends only on the number of tokens (projections, MLP, norms, collectives:
weights are read once per step) and per-sequence parts that depend on context (attention):

    N_pf(T)      = non-attention time of a prefill of T tokens (batch 1; logits for 1 row)
    N_dec(B)     = non-attention time of a decode step of B sequences (logits for B rows)
    S_pf(q, c)   = step(chunked prefill of q tokens over c cached) − N_pf(q)
    S_dec(B, x)  = step(decode of B sequences attending x keys each) − N_dec(B)

    iteration(P, D, k, C, chunks) = N_pf(P + D) + [N_dec(D + k) − A_pf(D + k)]
                                    + S_dec(D, C / D) + Σ_chunks S_pf(q_i, c_i)

with k the prefilling sequences that emit a token (their logits rows) and C the total keys
attended by the decoders. The bracket is the extra logits rows of a decode-style step, with
A_pf = N_pf priced as the device's work alone: an engine that runs prompts eagerly
(`prefill_graphs` 0) pays its host launches once per step, so they stay in N_pf(P + D) and
out of the per-chunk S_pf and the bracket (A_pf = N_pf when prompts replay graphs). So a
mixed (chunked-prefill) iteration is priced as what it is: the token-parallel ops (GEMMs,
norms, activations, KV writes, collectives) over all P + D tokens, the logits head over the
D + k emitting rows, each decoder's attention over its own KV, each chunk's causal attention
over its cached prefix (tests/simulator/test_serving_costs.py composes this by hand from
per-op times). It reproduces the mapper exactly for pure steps at grid points: a decode batch
(N_dec + S_dec) and a single (chunked) prefill (N_pf + S_pf). Known approximations: decoders'
contexts are replaced by their mean (exact when attention time is linear in keys, as for memory-bound decode;
windowed layer groups: `speculative.GroupKeysCost`);
a batch of b prefills is priced as b single-sequence attentions (b fixed launch costs
instead of one); prefills longer than the model's max context are priced as several shorter
sequences; energy uses the same decomposition. Pipeline stages are not overlapped across
iterations (an iteration costs the full step latency).

With attention data parallelism (`dp` groups of tp chips sharing the experts, ep = tp·dp)
the groups run each iteration in lockstep, each on its own requests: N_pf is tabulated per
group (every group prefilling T tokens, the experts seeing dp·T) and read at the mean
⌈(P + D)/dp⌉ tokens; N_dec, S_dec and S_pf take the replica's sequences, of which the
mapper prices the busiest group's ⌈B/dp⌉ (`build_trace`); the serving floor is one group's
host work, ⌈D/dp⌉ requests. A prompt runs whole on its own group (a request lives on one
rank), so an iteration's groups carry unequal tokens and the layers' group-local work
(attention side, dense layers, router, shared experts) waits for the busiest group, while
the routed experts and their exchange (`builder.stage_wide`) see the stage's P + D tokens
whatever their split (TensorRT-LLM's ADP blog, docs/source/blogs/tech_blog/
blog10_ADP_Balance_Strategy.md: the attention module's time per iteration is that of the
rank with the most tokens). The busiest group's tokens T_max are about the least a
placement gives: the decoders spread evenly, the prompt chunks placed largest first on the least
loaded group; the iteration adds R_pf(T_max) − R_pf(⌈(P + D)/dp⌉), R_pf the group-local
part of N_pf, and the waiting groups' idle power for that long (`busiest_group_tokens`).
Decode-only iterations stay even. Not modelled: engines that pad every group's tokens to
the busiest one's before the exchange (TensorRT-LLM's use_dp_padding, kept only on SM120
parts since NVIDIA/TensorRT-LLM PR #7965, 2025-09: "Add DP padding back on SM120"), which
would also price the experts at dp·T_max.

An engine that pads a generation-only iteration to a captured CUDA graph's batch
(`graph_padding`; TensorRT-LLM's PyTorch backend, every group under attention DP to the
busiest group's batch first) runs N_dec at the padded batch (`graph_batch`) while S_dec stays
the real sequences' attention: the dummy rows are requests of one token. They are one
request repeated (`_get_padded_batch` in tensorrt_llm/_torch/pyexecutor/model_engine.py
extends the batch with the same `cuda_graph_dummy_request`, token id 1, `add_dummy_requests`
in resource_manager.py), so a MoE layer's router sends all u = padded − real of them to the
same top-k experts (`Scenario.moe_identical`, `workloads.routing.busiest_with_identical`):
N_dec of a padded MoE batch is a node per (padded size, u), interpolated over u on a
geometric axis (`n_dec_graph`). Iterations with prompt tokens run eagerly, unpadded.

Tables are lazy: a node is computed (one `build_trace` + `map_trace`) the first time an
iteration needs it and cached. Integer axes are exact up to a threshold, then geometric with
16-32 nodes per octave, plus nodes at the token counts where costs step (`token_tile`, e.g.
GEMM row tiles); values between nodes are linearly (bilinearly in 2-D) interpolated.
For a function with a kink (roofline max) the worst-case interpolation error with ratio r
between nodes is (√r − 1)/(√r + 1): 1.1% at 32/octave, 2.2% at 16/octave; bilinear
interpolation is exact for products such as attention's keys × sequences.
"""

from __future__ import annotations

import functools
import heapq
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from infersim.foundation.defaults import DEFAULT_RUNTIME
from infersim.hwmodels.cost import CostModel, Infeasibility, Runtime, RuntimeProfile
from infersim.hwmodels.models.gpu import engines as E
from infersim.hwmodels.registry import cost_model
from infersim.hwmodels.spec import Hardware
from infersim.mapper import Schedule, engine_chunk_kv_freed, engine_parallelism, map_trace
from infersim.workloads import ModelConfig, build_trace
from infersim.workloads.builder import stage_wide
from infersim.workloads.dtypes import DType
from infersim.workloads.ops import OpKind
from infersim.workloads.routing import ROUTING_SKEW_SIGMA
from infersim.workloads.scenario import Parallelism, Phase, Scenario, parse_precision


class Axis:
    """Integer nodes: all from `first` to `exact_upto`, then geometric; with `tile` (a cost
    step after each multiple), nodes on both sides of each step up to `tiles_upto`, only its
    top above `snap_above` (> 0), where `up` moves queries to the top (cost flat in a step)."""

    def __init__(self, exact_upto: int, per_octave: int, *, first: int = 1,
                 limit: int = 1 << 30, tile: int = 0, tiles_upto: int = 8192,
                 snap_above: int = 0) -> None:
        nodes = list(range(first, exact_upto + 1))
        snap_above = snap_above if tile else 0
        k = 1
        while nodes[-1] < limit:
            v = round(exact_upto * 2.0 ** (k / per_octave))
            if v > nodes[-1]:
                nodes.append(-(-v // tile) * tile if 0 < snap_above < v else v)
            k += 1
        steps = range(-(-exact_upto // tile) * tile, tiles_upto + 1, tile) if tile else ()
        self.nodes = sorted({*nodes, *steps, *(n + 1 for n in steps if not 0 < snap_above < n)})
        self.tile, self.snap_above = tile, snap_above
        self._memo: dict[float, tuple[int, int, float]] = {}  # bracket by x, bounded

    def up(self, x: int) -> int:
        return -(-x // self.tile) * self.tile if 0 < self.snap_above < x else x

    def bracket(self, x: float) -> tuple[int, int, float]:
        """(lower node, upper node, weight of the upper node) around x."""
        r = self._memo.get(x)
        if r is not None:
            return r
        nodes = self.nodes
        i = bisect_left(nodes, x)
        if i >= len(nodes) or (i == 0 and nodes[0] != x):
            raise ValueError(f"{x} outside the table axis [{nodes[0]}, {nodes[-1]}]")
        hi = nodes[i]
        lo = hi if hi == x else nodes[i - 1]
        r = (lo, hi, 0.0 if hi == x else (x - lo) / (hi - lo))
        if len(self._memo) < MEMO_SIZE:
            self._memo[x] = r
        return r


TE = tuple[float, float]  # (time_s, energy_j)
MEMO_SIZE = 1 << 16  # brackets remembered per axis (token counts repeat; memory bound)


@dataclass(frozen=True)
class ReplicaFacts:
    """Memory facts of one replica, per chip, from a decode trace (see `MapperIterationCost`)."""

    weight_bytes_per_chip: float
    kv_bytes_per_token_per_chip: float
    max_activation_bytes_per_chip: float  # largest single-op in+out activation, max_tokens step
    infeasible: Infeasibility | None  # the mapper's verdict for a 1-sequence decode step


# a decode cell: (lo, hi) keys per sequence, time t0 + dt·(x − lo), energy e0 + de·(x − lo)
DecodeCell = tuple[float, float, float, float, float, float]


def busiest_group_tokens(chunks: Sequence[int], decoders: int, groups: int) -> int:
    """The busiest data-parallel group's tokens in an iteration of prompt `chunks` (each
    whole on one group) and `decoders` one-token sequences over `groups` groups: decoders
    spread evenly, then each chunk, largest first, on the least loaded group (the longest-
    processing-time rule; the least any placement gives when the chunks are equal)."""
    base, extra = divmod(decoders, groups)
    loads = [base + 1] * extra + [base] * (groups - extra)
    heapq.heapify(loads)
    for q in sorted(chunks, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + q)
    return max(loads)


def floor_terms(model_: CostModel, profile: RuntimeProfile | None) -> E.FrontEndTerms | None:
    """The constants of a cost model's serving floor (`engines.frontend_terms`): the GPU
    engines' front-end, zeros for a kind without a floor; None: a kind's floor of its own."""
    from infersim.hwmodels.cost import CostModelBase
    from infersim.hwmodels.models.gpu.model import GpuModel

    fn = type(model_).serving_floor_s
    if fn is GpuModel.serving_floor_s:
        return E.frontend_terms(profile)
    return E.frontend_terms(None) if fn is CostModelBase.serving_floor_s else None


class MapperIterationCost:
    """`IterationCost` backed by `mapper.map_trace` (see the module docstring for the model)."""

    def __init__(self, model: ModelConfig, hw: Hardware, *, tp: int = 1, pp: int = 1,
                 ep: int = 1, runtime: Runtime | str | RuntimeProfile | None = None,
                 weights: str | DType = DType.BF16, kv: str | DType | None = None,
                 activations: str | DType | None = None,
                 lm_head: str | DType | None = None,
                 cached_chunk_per_octave: int | None = None,
                 cached_per_octave: int = 16, dp: int = 1, moe_exchange: str = "auto",
                 routing_skew: float | None = None, max_batch: int = 0) -> None:
        self.model = model
        self.hw = hw
        # Serving runs fused kernels on framework kinds; a compiled kind (wafer, LPU) runs
        # its profile (None: the newest). The kind validates the name.
        model_ = cost_model(hw)
        if runtime is None and not model_.profiles:
            runtime = Runtime(DEFAULT_RUNTIME)  # the same default as `simulate`
        rt, profile = model_.resolve_runtime(runtime, hw.name)
        self.runtime: Runtime | RuntimeProfile = profile if profile is not None else rt
        self.precision = parse_precision(weights, activations, kv, lm_head)  # as `simulate`
        # the engine's MoE token exchange, resolved once (`mapper.engine_parallelism`)
        self.parallel = engine_parallelism(Parallelism(tp, pp, ep, dp, moe_exchange=moe_exchange),
                                           hw, self.runtime)
        self.routing_skew = ROUTING_SKEW_SIGMA if routing_skew is None else routing_skew
        # the KV cache keeps only chunked-local layers' current chunk (`Scenario.chunk_kv_freed`)
        self.chunk_kv_freed = engine_chunk_kv_freed(hw, self.runtime)
        self._floor = functools.partial(model_.serving_floor_s, profile)
        # its constants read once (the loop prices every iteration); None: a kind's own floor
        self.floor_terms = floor_terms(model_, profile)
        self._idle_w = hw.chip.power.idle_w * self.parallel.chips  # all chips wait
        self.max_pos = model.max_position_embeddings
        tile = model_.token_tile  # a cost step between n·tile and n·tile + 1 tokens
        self.tok = Axis(512, 32, tile=tile, tiles_upto=16384)
        self.seq = Axis(32, 16)
        # decode batches above the captured CUDA graphs run eagerly: nodes on both sides
        # (a group's batch: dp x cap sequences of the replica under data parallelism)
        cap = model_.decode_graph_cap(profile)
        for ax in (self.seq, self.tok) if cap > 0 else ():
            ax.nodes = sorted({*ax.nodes, cap, cap + 1, cap * dp, cap * dp + 1})
        # CUDA-graph padding (`graph_batch`; `max_batch`: the replica's largest decode batch,
        # dp groups' schedulers): nodes at every padded size; none where nothing pads
        self._gsizes = model_.decode_graph_sizes(profile, max_batch // dp)
        self.tok.nodes = sorted({*self.tok.nodes, *(g * dp for g in self._gsizes)})
        self.ctx = Axis(16, 16)
        # keys per sequence x: a sliding layer's min(x, w) bends at w; a chunked layer's
        # x − ⌊(x − 1)/c⌋·c drops after each multiple of c (nodes on both sides): affine between
        marks = {w for w in model.layer_windows if w}
        for c in {c for c in model.layer_chunks if c}:
            marks |= {v for k in range(c, self.max_pos + 1, c) for v in (k, k + 1)}
        self.ctx.nodes = sorted(set(self.ctx.nodes) | marks)
        # Prefix hits make (new, cached) prefill pairs of every size; with cached > 0 the
        # attention part is constant in new tokens between the kind's steps (query tiles,
        # waves): one node per step up to 4096, then `cached_chunk_per_octave`; the cached
        # axis is sparser (attention is affine in it up to one roofline kink; 4 vs 16/octave
        # moves the time ≤ 1.1e-3, tests/simulator/test_serving_multistep.py).
        self.cached = Axis(16, cached_per_octave, first=0)
        self.chunk_tok = Axis(16, cached_chunk_per_octave or 32, tile=tile, tiles_upto=4096,
                              snap_above=128)
        self._npf: dict[int, TE] = {}
        self._rpf: dict[int, TE] = {}  # R_pf: N_pf's group-local part (dp > 1)
        # A_pf: N_pf without an eager prompt's host launches (the same table when none)
        self._device_rt = model_.graphed_prefill(self.runtime)
        self._apf: dict[int, TE] = {} if self._device_rt is not self.runtime else self._npf
        self._ndec: dict[int, TE] = {}
        # padded decode graphs: batch -> dummy rows -> N_dec (`n_dec_graph`)
        self._npad: dict[int, dict[int, TE]] = {}
        self.pad = Axis(16, 8, first=0)
        self._sdec: dict[tuple[int, int], TE] = {}
        self._spf: dict[tuple[int, int, int], TE] = {}
        # per decode batch: (lo, hi, time at lo, time/key, energy at lo, energy/key)
        self._dcell: dict[int, DecodeCell] = {}
        self._dcells: dict[tuple[int, int], DecodeCell] = {}

    # ---- direct mapper calls ---------------------------------------------------------------
    def scenario(self, phase: Phase, batch: int = 1, *, prompt: int = 0, context: int = 0,
                 chunk: int = 0, identical: int = 0) -> Scenario:
        return Scenario(phase, batch, prompt, context, chunk, self.precision, self.parallel,
                        routing_skew=self.routing_skew, chunk_kv_freed=self.chunk_kv_freed,
                        moe_identical=identical)

    def schedule(self, sc: Scenario, runtime: Runtime | RuntimeProfile | None = None
                 ) -> Schedule:
        return map_trace(build_trace(self.model, sc), self.hw,
                         self.runtime if runtime is None else runtime)

    def device_step(self, s: Schedule) -> TE:
        """A mapped step's (time, energy) without the serving floor."""
        return self._split(s)[0]

    def _split(self, s: Schedule) -> tuple[TE, TE]:
        """(whole step, attention-kind ops) as (time, energy) pairs, without the serving
        floor: an iteration applies its own (`__call__`), so a mixed one gets the floor of
        what it streams."""
        at = ae = 0.0
        for mo in s.ops:
            if mo.op.kind == OpKind.ATTENTION:
                at += mo.time_s
                ae += mo.energy_j
        lt, le = s.latency_s, s.energy_j
        if s.frontend_floor_s > 0.0:
            lt = sum(s.stage_times_s) + s.step_overhead_s
            le -= self._idle_w * (s.latency_s - lt)
        return (lt, le), (at, ae)

    def facts(self, max_tokens: int) -> ReplicaFacts:
        """Memory facts from the trace's resident state (`workloads.trace.ResidentBytes`, the
        same numbers the mapper's capacity check uses): weights per chip = all parameters one
        chip holds (every expert, the whole embedding shard) on the stage holding the most;
        KV bytes per token per chip = the largest over stages; the activation workspace of a
        `max_tokens` prefill (an engine with `moe_workspace` on: at least its fused MoE
        kernel's buffers for every routed row of that step, `ResidentBytes.moe_workspace_bytes`).
        Taking both maxima is exact for pp = 1 and conservative else."""
        dec = self.schedule(self.scenario(Phase.DECODE, 1, context=1))
        res = dec.trace.resident
        assert res is not None  # build_trace always fills it
        big = self.scenario(Phase.PREFILL, 1,
                            prompt=min(self.parallel.dp_share(max_tokens), self.max_pos))
        big_res = build_trace(self.model, big).resident
        assert big_res is not None
        act = big_res.activation_bytes
        if isinstance(self.runtime, RuntimeProfile) and self.runtime.value("moe_workspace",
                                                                          0.0) >= 0.5:
            act = max(act, big_res.moe_workspace_bytes)  # its fused MoE's buffers, all rows
        return ReplicaFacts(max(res.stage_weight_bytes), max(res.stage_kv_bytes_per_token),
                            act, dec.infeasible)

    # ---- table nodes -----------------------------------------------------------------------
    def _prefill_node(self, t: int, device: bool = False) -> TE:
        """N_pf(t) (A_pf(t) when `device`). Beyond the max context: several equal sequences,
        scaled to t tokens."""
        b = -(-t // self.max_pos)
        q = t // b
        sc = self.scenario(Phase.PREFILL, b * self.parallel.dp, prompt=q)  # b in every group
        rt, table = (self._device_rt, self._apf) if device else (self.runtime, self._npf)
        sched = self.schedule(sc, rt)
        (lt, le), (at, ae) = self._split(sched)
        f = t / (b * q)
        v = table[t] = ((lt - at) * f, (le - ae) * f)
        if table is self._npf and self.parallel.dp > 1:
            wt = sum(mo.time_s for mo in sched.ops if stage_wide(mo.op))
            we = sum(mo.energy_j for mo in sched.ops if stage_wide(mo.op))
            self._rpf[t] = ((lt - at - wt) * f, (le - ae - we) * f)
        return v

    def _rprefill_node(self, t: int) -> TE:
        self._prefill_node(t)
        return self._rpf[t]

    def _aprefill_node(self, t: int) -> TE:
        return self._prefill_node(t, device=True)

    def _decode_node(self, b: int, identical: int = 0) -> TE:
        """N_dec(b): a decode step of b sequences less its attention; with `identical` of them
        a padded CUDA graph's dummy requests, routed to the same experts
        (`Scenario.moe_identical`; its own table, `n_dec_graph`)."""
        sc = self.scenario(Phase.DECODE, b, context=1, identical=identical)
        (lt, le), (at, ae) = self._split(self.schedule(sc))
        table = self._npad.setdefault(b, {}) if identical else self._ndec
        v = table[identical or b] = (lt - at, le - ae)
        return v

    def n_dec_graph(self, d: int) -> TE:
        """N_dec of a generation-only iteration of d sequences as it runs: at its padded
        CUDA-graph batch (`graph_batch`), whose dummy rows of a MoE model go to the same
        experts (interpolated over the dummy count on `self.pad`)."""
        b = self.graph_batch(d)
        u = b - d
        if u <= 0 or self.model.moe is None:
            return self.n_dec(b)
        table = self._npad.setdefault(b, {})
        return self._lerp1(table, lambda x: self._decode_node(b, x) if x else self.n_dec(b),
                           self.pad, u)

    def _sdec_node(self, b: int, x: int) -> TE:
        """x = keys attended per sequence (context + the new token)."""
        (lt, le), _ = self._split(self.schedule(self.scenario(Phase.DECODE, b, context=x - 1)))
        nt, ne = self._ndec.get(b) or self._decode_node(b)
        v = self._sdec[(b, x)] = (lt - nt, le - ne)
        return v

    def _spf_node(self, b: int, q: int, c: int) -> TE:
        """S_pf for b identical chunks of q tokens over c cached tokens (one batched step).
        A node past the model's context (the cached axis' next node above the last chunks of
        a near-maximum prompt) extends the line through the two highest cached counts that
        fit, max − q and half of it: chunk attention is affine in the cached keys there."""
        hi = self.max_pos - q
        if c > 0 and c > hi >= 2:
            lo = hi // 2
            (t1, e1), (t0, e0) = (self._spf.get((b, q, x)) or self._spf_node(b, q, x)
                                  for x in (hi, lo))
            f = (c - hi) / (hi - lo)
            v = self._spf[(b, q, c)] = (t1 + (t1 - t0) * f, e1 + (e1 - e0) * f)
            return v
        sc = (self.scenario(Phase.PREFILL, b, prompt=q) if c == 0 else
              self.scenario(Phase.CHUNKED_PREFILL, b, context=c, chunk=q))
        lt, le = self._split(self.schedule(sc))[0]
        g = self.parallel.dp_share(b)  # the busiest group's chunks
        nt, ne = self.n_pf(g * q)
        dt, de = self.n_dec(b)
        pt, pe = self.a_pf(g)
        v = self._spf[(b, q, c)] = (lt - nt - (dt - pt), le - ne - (de - pe))
        return v

    # ---- interpolation ---------------------------------------------------------------------
    def _lerp1(self, table: dict[int, TE], node: Callable[[int], TE], axis: Axis,
               x: int) -> TE:
        # bracket first: a shared table (`adopt_nodes`) may hold x as another axis' node
        lo, hi, w = axis.bracket(x)
        a = table.get(lo) or node(lo)
        if w == 0.0:
            return a
        b = table.get(hi) or node(hi)
        return a[0] + (b[0] - a[0]) * w, a[1] + (b[1] - a[1]) * w

    def _lerp2(self, table: dict, node: Callable[..., TE], ax: Axis, ay: Axis,
               x: float, y: float, key: int | None = None) -> TE:
        """Bilinear interpolation; `key` prefixes table keys (a third, exact coordinate) and is
        then node's first argument."""
        x0, x1, wx = ax.bracket(x)
        y0, y1, wy = ay.bracket(y)
        t = e = 0.0
        for xi, fx in ((x0, 1.0 - wx), (x1, wx)):
            if fx == 0.0:
                continue
            for yi, fy in ((y0, 1.0 - wy), (y1, wy)):
                if fy == 0.0:
                    continue
                k = (xi, yi) if key is None else (key, xi, yi)
                v = table.get(k) or node(*k)
                t += fx * fy * v[0]
                e += fx * fy * v[1]
        return t, e

    def n_pf(self, t: int) -> TE:
        if t <= 0:
            return 0.0, 0.0
        return self._lerp1(self._npf, self._prefill_node, self.tok, t)

    def r_pf(self, t: int) -> TE:
        """R_pf(t): the group-local part of N_pf(t) (dp > 1; see the module docstring)."""
        if t <= 0:
            return 0.0, 0.0
        return self._lerp1(self._rpf, self._rprefill_node, self.tok, t)

    def a_pf(self, t: int) -> TE:
        if t <= 0:
            return 0.0, 0.0
        return self._lerp1(self._apf, self._aprefill_node, self.tok, t)

    def n_dec(self, b: int) -> TE:
        if b <= 0:
            return 0.0, 0.0
        return self._lerp1(self._ndec, self._decode_node, self.tok, b)

    def s_dec(self, b: int, keys_per_seq: float) -> TE:
        return self._lerp2(self._sdec, self._sdec_node, self.seq, self.ctx, b, keys_per_seq)

    def s_pf(self, b: int, q: int, c: int) -> TE:
        """Context-dependent time of b identical prefill chunks (q new over c cached)."""
        tx0, tx1, wb = self.seq.bracket(b)
        ax = self.chunk_tok if c else self.tok
        uq = ax.up(q)
        t = e = 0.0
        for bi, fb in ((tx0, 1.0 - wb), (tx1, wb)):
            if fb == 0.0:
                continue
            # time at the step's top (constant between steps); energy (work) is smooth
            vt, ve = self._lerp2(self._spf, self._spf_node, ax, self.cached, uq, c, key=bi)
            if uq != q:
                ve = self._lerp2(self._spf, self._spf_node, ax, self.cached, q, c, key=bi)[1]
            t += fb * vt
            e += fb * ve
        return t, e

    # ---- decode cells (`_decode_only`'s per-batch line), shared with the compiled engine ----
    def decode_cells(self) -> dict[int, DecodeCell]:
        """A copy of each batch size's current decode cell (lo, hi, t0, dt, e0, de)."""
        return dict(self._dcell)

    def restore_decode_cells(self, cells: dict[int, DecodeCell] | None = None) -> None:
        """Set the current decode cells to `cells` (a `decode_cells` copy; None: none, as a
        fresh cost), so a run can start again from the same state."""
        self._dcell.clear()
        if cells:
            self._dcell.update(cells)

    def set_decode_cell(self, batch: int, cell: DecodeCell) -> None:
        """Make `cell` the current (and a kept) decode cell of `batch` sequences."""
        self._dcell[batch] = self._dcells[(batch, int(cell[0]))] = cell

    @property
    def graph_padded(self) -> bool:
        return bool(self._gsizes)

    def graph_batch(self, d: int) -> int:
        """The sequences a generation-only iteration of d runs its token-parallel ops for: d,
        or with CUDA-graph padding dp x the busiest group's batch padded to a captured size."""
        dp, sizes = self.parallel.dp, self._gsizes
        i = bisect_left(sizes, -(-d // dp))
        return dp * sizes[i] if i < len(sizes) else d

    def _decode_only(self, d: int, ctx: int) -> TE:
        """`_compose` of a decode-only iteration: for a fixed batch it is affine in the keys
        per sequence between two ctx nodes (S_dec is interpolated linearly there), so each
        batch keeps its current cell's line (equal up to float rounding)."""
        x = ctx / d
        c = self._dcell.get(d)
        if c is None or not c[0] <= x <= c[1]:
            nodes = self.ctx.nodes
            i = bisect_right(nodes, x)  # x ≥ 1 = nodes[0]: the keys include the new token
            lo, hi = nodes[i - 1], nodes[i]
            c = self._dcells.get((d, lo))  # batch sizes come and go: keep every cell's line
            if c is None:
                # N_pf(d) + [N_dec(d) − N_pf(d)] = N_dec(d): no prefill node needed; a
                # padded graph runs the token-parallel ops at its padded batch
                (nt, ne), (t0, e0), (t1, e1) = (self.n_dec_graph(d),
                                                self.s_dec(d, lo), self.s_dec(d, hi))
                t0, e0, t1, e1 = nt + t0, ne + e0, nt + t1, ne + e1
                c = self._dcells[(d, lo)] = (lo, hi, t0, (t1 - t0) / (hi - lo), e0,
                                             (e1 - e0) / (hi - lo))
            self._dcell[d] = c
        a, _, t0, dt, e0, de = c
        return max(t0 + dt * (x - a), 0.0), max(e0 + de * (x - a), 0.0)

    def __call__(self, prefill: Sequence[tuple[int, int]], prefill_emits: int,
                 decode_seqs: int, decode_ctx_tokens: int, held: int = 0
                 ) -> tuple[float, float]:
        t, e = self.device(prefill, prefill_emits, decode_seqs, decode_ctx_tokens)
        return self.floored(t, e, decode_seqs, prefill_emits, held)

    def device(self, prefill: Sequence[tuple[int, int]], prefill_emits: int,
               decode_seqs: int, decode_ctx_tokens: int) -> TE:
        """The iteration's (time, energy) on the device, before the serving floor."""
        if decode_seqs and not prefill and not prefill_emits:
            return self._decode_only(decode_seqs, decode_ctx_tokens)
        t, e = self._compose(prefill, prefill_emits, decode_seqs, decode_ctx_tokens)
        return max(t, 0.0), max(e, 0.0)

    def floored(self, t: float, e: float, decode_seqs: int, prefill_emits: int,
                held: int = 0) -> TE:
        """Serving CPU work beside the GPU: the iteration lasts at least that long, the
        chips waiting at idle power (as the mapper's step). `held`: the requests the engine
        holds (`Replica.held`: running or waiting in its active list; 0 = the iteration's
        own), whose walk `held_request_s` prices."""
        share = self.parallel.dp_share  # each data-parallel group's host does its own
        d, f, terms = share(decode_seqs), share(prefill_emits), self.floor_terms
        floor = (self._floor(d, f) if terms is None
                 else E.floor_of(terms, d, f, share(held) if held else 0))
        if floor > t:
            return floor, e + self._idle_w * (floor - t)
        return t, e

    def _compose(self, prefill: Sequence[tuple[int, int]], prefill_emits: int,
                 decode_seqs: int, decode_ctx_tokens: float) -> TE:
        """The iteration's (time, energy) from the tables (see the module docstring)."""
        p = 0
        t = e = 0.0
        groups: dict[tuple[int, int], int] = {}
        for q, c in prefill:  # identical chunks are priced as one batched prefill
            p += q
            groups[(q, c)] = groups.get((q, c), 0) + 1
        for (q, c), b in groups.items():
            st, se = self.s_pf(b, q, c)
            t += st
            e += se
        d = decode_seqs
        mean = self.parallel.dp_share(p + d)
        nt, ne = self.n_pf(mean)
        t += nt
        e += ne
        dp = self.parallel.dp
        if dp > 1 and p:  # the busiest group's local work (module docstring)
            most = busiest_group_tokens([q for q, _ in prefill], d, dp)
            if most > mean:
                wait = max(self.r_pf(most)[0] - self.r_pf(mean)[0], 0.0)
                t += wait
                e += self._idle_w * wait * (dp - 1) / dp
        if d + prefill_emits:
            dt, de = self.n_dec(d + prefill_emits)
            pt, pe = self.a_pf(self.parallel.dp_share(d + prefill_emits))
            t += dt - pt
            e += de - pe
        if d:
            st, se = self.s_dec(d, decode_ctx_tokens / d)
            t += st
            e += se
        return t, e

    # ---- direct evaluation (validation of the tables) --------------------------------------
    def direct_decode(self, batch: int, keys_per_seq: int) -> TE:
        s = self.schedule(self.scenario(Phase.DECODE, batch, context=keys_per_seq - 1))
        return s.latency_s, s.energy_j

    def direct_prefill(self, batch: int, prompt: int, cached: int = 0) -> TE:
        sc = (self.scenario(Phase.PREFILL, batch, prompt=prompt) if cached == 0 else
              self.scenario(Phase.CHUNKED_PREFILL, batch, context=cached, chunk=prompt))
        s = self.schedule(sc)
        return s.latency_s, s.energy_j

    def fresh_run(self) -> MapperIterationCost:
        """This cost as a new run finds it: its nodes kept (pure functions of their keys), no
        decode cell (a run's history: the compiled engine writes its own back)."""
        self._dcell.clear()
        self._dcells.clear()
        return self

    def adopt_nodes(self, other: MapperIterationCost) -> None:
        """Price from the point tables of `other`, a cost of the same deployment whose axes
        may differ (`shared_iteration_cost`): tables whose nodes are each one mapped step,
        pure functions of their keys (S_dec subtracts the exact N_dec node; S_pf is not
        shared: it subtracts values interpolated on this cost's axes). Reads interpolate
        between this cost's own nodes only (`_lerp1`, `_lerp2`)."""
        for name in ("_npf", "_apf", "_rpf", "_ndec", "_npad", "_sdec"):
            setattr(self, name, getattr(other, name))


# Runs of one deployment (a traffic sweep, `--find-max-rate`) share a cost table; up to
# SHARED_TABLES, the least recently used dropped first. A run whose largest decode batch
# selects other CUDA-graph sizes (each trtllm-bench run sizes its own) gets its own axes and
# the point tables of the deployment's newest table (`adopt_nodes`), kept in the same way.
SHARED_TABLES = 32
_SHARED: OrderedDict[str, tuple[dict[str, Any], MapperIterationCost]] = OrderedDict()
_POINTS: OrderedDict[str, tuple[dict[str, Any], MapperIterationCost]] = OrderedDict()


def shared_iteration_cost(model: ModelConfig, hw: Hardware, **kwargs: Any
                          ) -> MapperIterationCost:
    """`MapperIterationCost(model, hw, **kwargs)`, or the one (`fresh_run`: the same numbers)
    an earlier call built with value-equal model, hardware and arguments (`max_batch` by
    the CUDA-graph sizes it selects, its only use); one with other graph sizes gets its own
    axes and the point tables of the deployment's (`adopt_nodes`: the same numbers)."""
    new = MapperIterationCost(model, hw, **kwargs)  # cheap: nodes are priced lazily
    args = {k: v for k, v in kwargs.items() if k != "max_batch"}
    ident = (model.name, hw.name, sorted(args.items()))
    keys = ((_SHARED, repr((new._gsizes, *ident))), (_POINTS, repr(ident)))

    def take(store: OrderedDict[str, Any], key: str) -> MapperIterationCost | None:
        hit = store.pop(key, None)  # kept only for value-equal arguments, model and hardware
        return hit[1] if hit and (hit[0], hit[1].model, hit[1].hw) == (args, model, hw) else None

    same, points = (take(store, key) for store, key in keys)
    if same is not None:
        new = same.fresh_run()
    elif points is not None:
        new.adopt_nodes(points)
    for store, key in keys:
        store[key] = (args, new)
        while len(store) > SHARED_TABLES:
            store.popitem(last=False)
    return new


def clear_shared() -> None:
    """Forget every shared cost table."""
    _SHARED.clear()
    _POINTS.clear()
