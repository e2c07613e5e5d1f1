"""One serving engine as a simpy process: the state and mechanics every scheduling policy shares.

Each loop of the process plans one iteration (the policy's `_iteration`, in `schedulers`),
asks the `IterationCost` for its time and energy, holds the simulated clock for that long
(`env.timeout`), then commits: tokens emitted by the iteration are stamped with its end time.

Pipeline parallelism: a replica with pp stages runs pp engines ("virtual engines", as vLLM
does) sharing a `Pipeline` gate, so pp micro-batches are in flight. (Static batching ignores
the gate: its batch runs alone.)

KV blocks (`KvBlockPool`): a prefill allocates ceil(prompt / block) blocks (the whole prompt at
admission, also under chunking); a decode step needs a new block for each sequence whose cached
tokens are a multiple of the block size. When blocks run out the most recently arrived running
sequence is preempted (vLLM's rule): `recompute` frees its blocks and puts it at the head of
the queue, to prefill prompt + generated tokens again; `swap` copies its blocks to host memory
over the host link (time added to the iteration) and brings them back (same cost) when blocks
free up. A request that cannot fit even alone in the cache (or, without chunking, whose prompt
exceeds max_tokens) is rejected, as vLLM does.

Speed: running decoders are not touched per iteration. Each stores `base` = cached tokens −
iteration counter, so its context is base + it; finish iterations sit in a heap, and the count
of sequences needing a block at iteration `it` is kept per residue (base mod block_size).
A decode iteration therefore costs O(1) plus O(log n) per join/finish/preemption.

Multi-iteration decode (`_decode`): decode iterations that nothing can interrupt run as one
simpy timeout, each still priced, sampled, timed and counted on its own (results as one step
each, up to float rounding). A run ends at its first finish, before an iteration that would
preempt, and before one starting at or after the next simulation event (`env.peek()`), which
an engine alone in the simulation (`solo`) ignores while its queue head cannot be admitted
(no slot or blocks until a finish: arrivals queue behind it).

Multi-step scheduling (vLLM's `--num-scheduler-steps` N, the runtime profile's
`scheduler_steps` knob, `pass_steps`): the scheduler runs once per pass of N decode steps, so a
pass keeps its batch: nothing is admitted or swapped in until it ends, and a sequence that
has all its tokens mid-pass is still computed (it grows its KV and costs its share of each
step) until the pass ends, when it finishes (a pass returns its tokens at its end). Prefill
iterations are single steps.

Async output (the profile's `async_output`, vLLM 0.6's): a step's outputs are processed while
the next step runs, so first tokens and finishes are stamped when the replica's next iteration
ends, or as it goes idle (`_deliver`); the slot is still freed, and `on_finish` called, at once.

Admission lag (the profile's `admission_lag`, overlap scheduling: SGLang 0.4's
`event_loop_overlap`): the scheduler receives requests, picks the next iteration's batch and
launches it while the current one still runs, and only then waits for the current one's
results. A request that arrives while an iteration runs is first seen after that iteration
ends, when the next one is already launched: it joins the one after next. So at a boundary
a queued request that arrived during the iteration just ended (start < arrival ≤ end) is not
admitted while other work runs the next iteration anyway (running decoders, prompts being
prefilled, or requests admitted before it); with nothing else to run the scheduler launches
it at once, as the loop does when idle (`_too_late`).

This process is the reference engine. Continuous or chunked replicas of one engine (one, or
several behind round robin) without speculation or window-capped KV may run instead as the
compiled loop of `compiled` (asked
for, or from `serve.COMPILED_AUTO_FROM` requests under `auto`), which repeats these steps in
the same order over arrays.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Generator, Sequence
from typing import Any, Protocol

import simpy

from infersim.foundation.errors import InputError
from infersim.hwmodels.cost import RuntimeProfile
from infersim.simulator.serving.config import Admission, Preemption, ServingPolicy
from infersim.simulator.serving.kv_pool import KvBlockPool, PrefixKvPool
from infersim.simulator.serving.metrics import Collector

Steps = Generator[Any, Any, bool]  # a simpy process body that says whether it did work


class IterationCost(Protocol):
    """Prices one iteration: (time_s, energy_j) of a replica step.

    prefill: (new tokens, tokens already cached) per prefilling sequence in the step;
    prefill_emits: prefilling sequences that finish their prompt in this step (emit a token);
    decode_seqs: sequences decoding one token each; decode_ctx_tokens: the sum over them of
    the keys each attends to (cached tokens + the new one)."""

    def __call__(self, prefill: Sequence[tuple[int, int]], prefill_emits: int,
                 decode_seqs: int, decode_ctx_tokens: int) -> tuple[float, float]: ...
    # a cost whose runtime profile sets `held_request_s` also takes held= (`Replica.held`)


class Pipeline:
    """A pipeline-parallel replica shared by its virtual engines (vLLM-style: one scheduler
    per stage's worth of micro-batches, each with 1/stages of the KV blocks).

    A step of duration t (the mapper's full step latency, the sum of the stages) holds the
    shared first-stage `gate` for t/stages (balanced stages assumed), then flows through the
    rest: up to `stages` steps are in flight, throughput is set by a stage, latency by the
    sum. The step's serving floor (the host's output processing and front-end work for its
    requests, `costs.MapperIterationCost.floored`) is not divided: every rank runs one
    executor loop that takes the micro-batches in turn (TensorRT-LLM's _executor_loop_pp,
    vLLM's one driver process), so the gate is held for the floor when that is longer.
    Where the profile sets `pp_host_ring`, that host work also lies on the micro-batch's own
    cycle: its next iteration starts only after its last stage's tokens have come back to the
    first rank and been processed (TensorRT-LLM's PyTorch backend, `_executor_loop_pp_overlap`
    in tensorrt_llm/_torch/pyexecutor/py_executor.py: the last rank waits on the sampling, sends
    the tokens to rank 0, which blocks for them, updates the requests, handles the responses,
    schedules and only then launches the micro-batch again), so its iteration lasts t + the
    floor and its tokens are out at the end.
    Energy: a step's energy includes static power of every chip for all of t; all but
    t/stages of it is removed (`static_w` × (t − t/stages)) because in a pipeline those chips
    are working on other micro-batches — the run's idle time is charged separately."""

    def __init__(self, env: simpy.Environment, stages: int, static_w: float) -> None:
        self.gate = simpy.Resource(env, capacity=1)
        self.stages = stages
        self.static_w = static_w
        self.engines: list[Replica] = []  # its virtual engines (`Replica.held`)


def profile_knob(cost: object, name: str, default: float) -> float:
    """Knob `name` of `cost`'s runtime profile (`default` without a profile or the knob)."""
    rt = getattr(cost, "runtime", None)
    return rt.value(name, default) if isinstance(rt, RuntimeProfile) else default


def pass_steps(cost: object) -> int:
    """Decode steps per scheduling pass of the engine `cost` prices: its runtime profile's
    `scheduler_steps` (vLLM's --num-scheduler-steps), 1 without one."""
    n = profile_knob(cost, "scheduler_steps", 1.0)
    if not (n >= 1.0 and float(n).is_integer()):
        rt = getattr(cost, "runtime", None)
        raise InputError(f"runtime {getattr(rt, 'name', rt)}: scheduler_steps {n!r}; give a whole number of "
                         "decode steps per scheduling pass, 1 or more (1 = every step)")
    return int(n)


def output_lag(cost: object) -> bool:
    """Whether `cost`'s runtime profile delivers a step's tokens one iteration late."""
    return profile_knob(cost, "async_output", 0.0) >= 0.5


def chunked_context(cost: object) -> bool:
    """Whether `cost`'s runtime profile may split a prompt over iterations under mixed
    batching (its `chunked_context` knob; True without a profile)."""
    return profile_knob(cost, "chunked_context", 1.0) >= 0.5


def pp_host_ring(cost: object) -> bool:
    """Whether `cost`'s runtime profile makes a pipeline micro-batch's next iteration wait,
    after its last stage, for the host's processing of its tokens (`pp_host_ring`)."""
    return profile_knob(cost, "pp_host_ring", 0.0) >= 0.5


def admission_lag(cost: object) -> bool:
    """Whether `cost`'s runtime profile schedules one iteration ahead (overlap scheduling:
    a request that arrives while an iteration runs joins the one after next)."""
    return profile_knob(cost, "admission_lag", 0.0) >= 0.5


class Seq:
    """A request inside a replica (mutable, internal)."""

    __slots__ = ("base", "blocks", "cache", "done", "fin", "g0", "generated", "keyed",
                 "kv_ready", "last", "output", "owner", "prompt", "prompt0", "rid", "rsv",
                 "sys_full", "sys_owner")

    def __init__(self, rid: int, prompt: int, output: int) -> None:
        self.rid = rid
        self.prompt0 = prompt  # the user's prompt
        self.prompt = prompt  # tokens the next prefill must process (grows on recompute)
        self.output = output
        self.generated = 0
        self.done = 0  # tokens of `prompt` prefilled so far (chunked prefill)
        self.cache = 0  # tokens in the KV cache (valid while not decoding)
        self.blocks = 0  # KV blocks held (valid while not decoding)
        self.kv_ready = False  # KV already present (hand-off / swap-in): no prefill needed
        self.base = 0  # decoding: cached tokens = base + it
        self.fin = 0  # decoding: iteration counter value at which it has all its tokens
        self.g0 = 0  # decoding: tokens generated when it joined
        self.last = 0.0  # time of its latest token (valid while not decoding)
        self.rsv = 0  # KV blocks reserved for its whole life (admission `reserve`), else 0
        # prefix caching (`kv_pool.PrefixKvPool`): blocks below sys_full belong to the system
        # prompt `sys_owner`, the others to the conversation `owner`; `keyed` leading blocks
        # are held as cached (shared) blocks
        self.sys_owner = 0
        self.sys_full = 0
        self.owner = 0
        self.keyed = 0


class Replica:
    """The shared engine; a subclass per policy plans the iterations (`_iteration`)."""

    # Prefills may be split over iterations, so a prompt longer than max_tokens still runs.
    chunked_prefill = False
    # New prompts share an iteration's token budget with the running decodes.
    mixed = False
    # Decode runs as one timeout (see the module doc); False = one timeout per iteration.
    multi_step = True

    def __init__(self, env: simpy.Environment, index: int, policy: ServingPolicy,
                 kv_blocks: int, kv_bytes_per_token: float, host_link_Bps: float,
                 cost: IterationCost, metrics: Collector,
                 on_finish: Callable[[int], None] | None = None,
                 on_prefilled: Callable[[Replica, Seq], None] | None = None,
                 pipeline: Pipeline | None = None) -> None:
        self.env = env
        self.index = index
        self.policy = policy
        self.bs = policy.block_size
        self.max_batch = policy.max_batch
        self.kv = (PrefixKvPool(kv_blocks, self.bs) if policy.prefix_caching
                   else KvBlockPool(kv_blocks, self.bs))
        # admission `reserve`: a request starts only when the blocks for its prompt and all
        # of its output fit beside those promised to the running ones (`reserved`), so
        # decoding never runs out of blocks; a prefill pool hands its requests off instead
        self.reserve = policy.admission == Admission.RESERVE and on_prefilled is None
        self.reserved = 0
        self.swap_s_per_block = self.bs * kv_bytes_per_token / host_link_Bps
        self.cost = cost
        self.pipeline = pipeline
        self.m = metrics
        self.on_finish = on_finish
        self.on_prefilled = on_prefilled
        self.waiting: deque[Seq] = deque()
        self.swapped: deque[Seq] = deque()
        self.prefilling: list[Seq] = []
        self.dec: dict[int, Seq] = {}
        self._fin: list[tuple[int, int]] = []  # (finish iteration, rid), lazily invalidated
        self._victims: list[int] = []  # max-heap of rid (negated), lazily invalidated
        self.cnt = [0] * self.bs  # decoders per residue of base mod block size
        self.base_sum = 0
        self.it = 0  # decode-iteration counter
        self.busy_s = 0.0
        self.energy_j = 0.0
        self._wake: simpy.Event | None = None
        # per-token ITL: decoders of the previous decode iteration emitted at _t_dec; those
        # that joined since emitted last at _fresh[rid]
        self._t_dec = 0.0
        self._fresh: dict[int, float] = {}
        self._extra_s = 0.0  # swap time accumulated while planning this iteration
        self._preempted_now = False  # no admissions in an iteration that had to preempt
        self.solo = False  # the only engine of the simulation (set by `simulate_serving`)
        self.steps = pass_steps(cost)  # decode steps per scheduling pass (multi-step)
        self._pass_left = 0  # decode steps left in the current pass (0: at a boundary)
        self._held: dict[int, Seq] = {}  # all tokens out mid-pass: run until the pass ends
        self.lag = output_lag(cost)  # tokens reach the client when the next iteration ends
        self.admit_lag = admission_lag(cost)  # overlap scheduling (module doc)
        self.ring = pp_host_ring(cost)  # a micro-batch's host work on its own cycle (Pipeline)
        # the host walks every request it holds each iteration (`held_request_s`)
        self.walks = profile_knob(cost, "held_request_s", 0.0) > 0.0
        self.in_step = 0  # requests a whole-prompt prefill step runs outside the lists
        if pipeline is not None:
            pipeline.engines.append(self)
        self._it_start = self._it_end = -math.inf  # the latest iteration's start and end
        self._lagged: list[tuple[Any, int]] = []  # (metric array, rid) to restamp
        self.process = env.process(self._run())

    def _iteration(self) -> Steps:
        """Plan and run one iteration; False when there is nothing to do."""
        raise NotImplementedError

    # ---- interface used by the router / hand-off -------------------------------------------
    @property
    def outstanding(self) -> int:
        return len(self.waiting) + len(self.swapped) + len(self.prefilling) + len(self.dec)

    def held(self) -> int:
        """The requests in the host's list of active ones, which its loop walks every
        iteration (`held_request_s`; 0 where the profile does not price that): running and
        waiting, up to max_batch (TensorRT-LLM's max_num_active_requests); under pipeline
        parallelism one list for every micro-batch in flight, up to max_batch x stages
        (get_max_num_sequences in tensorrt_llm/_torch/pyexecutor/model_engine.py)."""
        pl = self.pipeline
        if not self.walks:
            return 0
        if pl is None:
            return min(self.max_batch, self.outstanding + self.in_step)
        return min(self.max_batch * pl.stages, sum(r.outstanding + r.in_step for r in pl.engines))

    def _price(self, prefill: list[tuple[int, int]], emits: int, d: int, ctx: int,
               held: int = 0) -> tuple[float, float]:
        """The iteration's (time, energy) from the cost, given `held` (`held()`, once per
        step) where the profile prices the walk."""
        if held:
            return self.cost(prefill, emits, d, ctx, held=held)  # type: ignore[call-arg]
        return self.cost(prefill, emits, d, ctx)

    def submit(self, seq: Seq) -> None:
        self.waiting.append(seq)
        self.kick()

    def release(self, blocks: int) -> None:
        """Return blocks (after a KV hand-off completes) and wake the scheduler."""
        self.kv.give(blocks)
        self.kick()

    def kick(self) -> None:
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    # ---- decoder bookkeeping ---------------------------------------------------------------
    def _join(self, s: Seq) -> None:
        s.base = s.cache - self.it
        s.fin = self.it + (s.output - s.generated)
        s.g0 = s.generated
        self.dec[s.rid] = s
        self._fresh[s.rid] = s.last
        heapq.heappush(self._fin, (s.fin, s.rid))
        heapq.heappush(self._victims, -s.rid)
        if len(self._victims) > 2 * len(self.dec) + 64:  # drop the stale entries (memory)
            self._victims = [-r for r in self.dec]
            heapq.heapify(self._victims)
        self.cnt[s.base % self.bs] += 1
        self.base_sum += s.base

    def _leave(self, s: Seq) -> None:
        del self.dec[s.rid]
        self.cnt[s.base % self.bs] -= 1
        self.base_sum -= s.base
        s.cache = s.base + self.it
        s.generated = s.g0 + (self.it - (s.fin - (s.output - s.g0)))
        s.blocks = self.kv.blocks_for(s.cache)
        s.last = self._fresh.pop(s.rid, self._t_dec)

    def _deliver(self, now: float) -> None:
        """Async output: the last iteration's first tokens and finishes go out now."""
        if self._lagged:
            for metric, rid in self._lagged:
                metric[rid] = now
            self._lagged.clear()

    def _finish(self, s: Seq, now: float) -> None:
        self._unreserve(s)
        self.kv.release_seq(s)
        self.m.finish_s[s.rid] = now
        if self.lag:
            self._lagged.append((self.m.finish_s, s.rid))
        if self.m.events is not None:
            self.m.log(now, "finish", self.index, s.rid)
        if self.on_finish is not None:
            self.on_finish(s.rid)

    def _emit(self, s: Seq, now: float) -> None:
        """A prefill finished: the sequence emits a token at `now`."""
        if s.generated == 0:
            self.m.first_token_s[s.rid] = now
            if self.lag:
                self._lagged.append((self.m.first_token_s, s.rid))
        else:  # a recomputed prefill emits the next token
            self.m.itl.add(now - s.last, 1)
        s.last = now
        s.generated += 1
        s.cache = s.prompt
        s.blocks = self.kv.blocks_for(s.cache)
        s.done = 0
        if isinstance(self.kv, PrefixKvPool):
            self.kv.register(s, s.cache)
        if s.generated >= s.output:
            self._finish(s, now)
        elif self.on_prefilled is not None:
            self.on_prefilled(self, s)
        else:
            self._join(s)

    def _preempt_for(self, need: int) -> int:
        """Preempt latest arrivals until `need` new blocks fit; return the remaining need."""
        while need > self.kv.free and self.dec:
            self._preempted_now = True
            rid = -heapq.heappop(self._victims)
            s = self.dec.get(rid)
            if s is None:
                continue
            if (s.base + self.it) % self.bs == 0:
                need -= 1
            if self._held.pop(rid, None) is not None:  # done: it leaves now, not at the pass end
                self._release_held(s, self.env.now)
                continue
            self._preempt(s)
        return need

    def _preempt(self, s: Seq) -> None:
        """Take a running sequence out: swap its KV out, or drop it to recompute later."""
        self._preempted_now = True
        self._leave(s)
        self._unreserve(s)
        self.kv.release_seq(s)
        self.m.preemptions[s.rid] += 1
        self.m.log(self.env.now, "preempt", self.index, s.rid)
        if self.policy.preemption == Preemption.SWAP:
            self._extra_s += s.blocks * self.swap_s_per_block
            self.swapped.append(s)
        else:
            s.prompt = s.prompt0 + s.generated
            s.done = s.cache = s.blocks = 0
            self.waiting.appendleft(s)

    def _swap_in(self) -> None:
        while self.swapped and len(self.dec) < self.max_batch:
            s = self.swapped[0]
            need_now = self.cnt[(-self.it) % self.bs]
            extra = 1 if s.cache % self.bs == 0 else 0
            if not self.kv.can_admit(s.blocks + extra + need_now):
                break
            self.swapped.popleft()
            self.kv.take(s.blocks)
            self._extra_s += s.blocks * self.swap_s_per_block
            self._join(s)

    def _too_late(self, s: Seq, other_work: bool) -> bool:
        """Overlap scheduling (`admission_lag`): `s` arrived while the latest iteration ran,
        and the next one runs anyway (`other_work`), so it waits for the one after."""
        if not (self.admit_lag and other_work):
            return False
        a = self.m.arrival_s[s.rid]
        return bool(self._it_start < a <= self._it_end)

    def _admissible(self, s: Seq, tokens_left: int, slots_left: int) -> bool:
        """Can `s` start now (a slot, its blocks, and without chunking its whole prompt)?"""
        if slots_left <= 0:
            return False
        if self.reserve and (self.reserved + self._most_blocks(s.prompt0 + s.output)
                             > self.kv.total):
            return False
        if s.kv_ready:
            return self.kv.can_admit(self.kv.blocks_for(s.cache))
        return self.kv.can_admit(self.kv.blocks_for(s.prompt)) and (
            self.chunked_prefill or s.prompt <= tokens_left)

    def _most_blocks(self, tokens: int) -> int:
        """The most blocks a sequence holds on its way to `tokens` cached tokens."""
        return self.kv.blocks_for(tokens)

    def _reject_impossible(self) -> None:
        """Drop queued requests that can never run on this replica (too long for the cache or,
        without chunking, for one iteration)."""
        while self.waiting:
            s = self.waiting[0]
            full = self._most_blocks(s.prompt0 + s.output)
            too_long = (not self.chunked_prefill and s.prompt > self.policy.max_tokens
                        and not s.kv_ready)
            if self.kv.fits_when_empty(full) and not too_long:
                return
            self.waiting.popleft()
            self.m.rejected[s.rid] = True
            self.m.log(self.env.now, "reject", self.index, s.rid)
            if self.on_finish is not None:
                self.on_finish(s.rid)

    # ---- the process -----------------------------------------------------------------------
    def _run(self) -> Generator[Any, Any, None]:
        while True:
            self._preempted_now = False
            self._reject_impossible()
            ok = yield from self._iteration()
            if not ok:
                self._deliver(self.env.now)  # idle: nothing runs next, outputs go now
                self._wake = self.env.event()
                yield self._wake
                self._wake = None

    def _step(self, prefill: list[tuple[int, int]], emits: int, d: int,
              ctx: int) -> Generator[Any, Any, None]:
        """Run one iteration: price it, then hold the clock (and the pipeline's first stage)."""
        held = self.held()
        t, e = self._price(prefill, emits, d, ctx, held)
        t += self._extra_s
        self._extra_s = 0.0
        self._it_start = self.env.now
        self.m.kv.add(self.env.now, self.kv.occupancy)
        if self.m.events is not None:
            self.m.log(self.env.now, f"iter p={sum(c for c, _ in prefill)} d={d} ctx={ctx} "
                       f"t={t!r}", self.index, -1)
        pl = self.pipeline
        if pl is None:
            self.busy_s += t
            self.energy_j += e
            yield self.env.timeout(t)
            self._it_end = self.env.now
            return
        # pipelined: hold the first stage for t/stages, or for the serving floor if longer
        # (host work no stage shares: see Pipeline), then flow through the others
        floored = getattr(self.cost, "floored", None)
        args = (d, emits, held) if held else (d, emits)  # held: only where the walk is priced
        floor = floored(0.0, 0.0, *args)[0] if floored else 0.0
        share = max(t / pl.stages, floor)
        self.busy_s += share
        self.energy_j += e - pl.static_w * (t - share)
        with pl.gate.request() as req:
            yield req
            yield self.env.timeout(share)
        yield self.env.timeout(t - share)
        if self.ring and floor > 0.0:  # the tokens' way back and the host's work on them
            yield self.env.timeout(floor)
        self._it_end = self.env.now

    def _unreserve(self, s: Seq) -> None:
        self.reserved -= s.rsv
        s.rsv = 0

    def _admit(self, s: Seq) -> None:
        self.waiting.popleft()
        if self.reserve:
            s.rsv = self._most_blocks(s.prompt0 + s.output)
            self.reserved += s.rsv
        if self.m.scheduled_s[s.rid] != self.m.scheduled_s[s.rid]:  # NaN: first time
            self.m.scheduled_s[s.rid] = self.env.now
        if s.kv_ready:
            s.kv_ready = False
            self.kv.take(self.kv.blocks_for(s.cache))
            self._join(s)
        elif isinstance(self.kv, PrefixKvPool):
            # cached prefix blocks are shared; only the rest is prefilled (s.done = hit tokens)
            h = self.kv.acquire(s, s.prompt)
            s.done = h * self.bs
            self.kv.take(self.kv.blocks_for(s.prompt) - h)
        else:
            self.kv.take(self.kv.blocks_for(s.prompt))

    def _decode_need(self) -> None:
        need = self._preempt_for(self.cnt[(-self.it) % self.bs])
        self.kv.take(need)

    def _run_bound(self) -> tuple[int, float]:
        """(most decode iterations of this batch in one timeout, time from which none starts)."""
        fin, dec = self._fin, self.dec
        if (not self.multi_step or self.pipeline is not None or self.m.events is not None
                or self.swapped or self.prefilling or self._preempted_now):
            return 1, 0.0
        while fin and (dec.get(fin[0][1]) is None or dec[fin[0][1]].fin != fin[0][0]):
            heapq.heappop(fin)  # stale entries: the top must be the next finish
        k, d = (fin[0][0] - self.it if fin else 1), len(dec)
        if self._pass_left:  # mid-pass nothing is admitted: run to its end or a finish
            return max(1, min(k, self._pass_left)), math.inf
        if not self.waiting:
            return k, self.env.peek()
        tokens = self.policy.max_tokens - (d if self.mixed else 0)
        if tokens > 0 and self._admissible(self.waiting[0], tokens, self.max_batch - d):
            return 1, 0.0
        return k, math.inf if self.solo else self.env.peek()

    def _decode(self) -> Generator[Any, Any, None]:
        """Run this decode iteration and the next ones `_run_bound` allows as one timeout."""
        if self.steps > 1 and not self._pass_left:
            self._pass_left = self.steps  # a decode iteration at a boundary starts a pass
        d, (k, horizon) = len(self.dec), self._run_bound()
        if k <= 1:
            yield from self._step([], 0, d, self.base_sum + d * (self.it + 1))
            self._advance(self.env.now)
            return
        now, kv = self.env.now, self.kv
        while True:
            t, e = self._price([], 0, d, self.base_sum + d * (self.it + 1), self.held())
            t, self._extra_s = t + self._extra_s, 0.0
            self.m.kv.add(now, kv.occupancy)
            self.busy_s += t
            self.energy_j += e
            k, end = k - 1, now + t
            need = self.cnt[(-(self.it + 1)) % self.bs]
            if not k or end >= horizon or need > kv.free:  # a finish, an event, a preemption
                break
            self._advance(end)
            kv.take(need)
            now = end
        yield self.env.timeout(end - self.env.now)
        self._it_start, self._it_end = now, self.env.now  # the run's last iteration
        self._advance(self.env.now)

    def _advance(self, now: float) -> None:
        """Commit one decode iteration: every decoder gained a token."""
        self._deliver(now)
        fresh, itl = self._fresh, self.m.itl
        emitting = len(self.dec) - len(self._held)  # held sequences emit nothing
        if emitting > len(fresh):
            itl.add(now - self._t_dec, emitting - len(fresh))
        if fresh:
            itl.add_ones([now - t for t in fresh.values()])
            fresh.clear()
        self._t_dec = now
        self.it += 1
        self._pass_left = max(0, self._pass_left - 1)
        fin = self._fin
        while fin and fin[0][0] <= self.it:
            f, rid = heapq.heappop(fin)
            s = self.dec.get(rid)
            if s is None or s.fin != f:
                continue
            if self._pass_left:  # the pass keeps its batch until its end
                self._held[rid] = s
                continue
            self._leave(s)
            self._finish(s, now)
        if not self._pass_left and self._held:
            for s in self._held.values():
                self._release_held(s, now)
            self._held.clear()

    def _release_held(self, s: Seq, now: float) -> None:
        """A sequence held to its pass's end leaves (its extra steps' tokens are dropped)."""
        self._leave(s)
        s.generated = s.output
        self._finish(s, now)

    def at_boundary(self) -> bool:
        """Whether the scheduler runs now (admission, swap-in): not inside a multi-step pass."""
        if self._pass_left and not self.dec:
            self._pass_left = 0  # every sequence of the pass was preempted
        return not self._pass_left
