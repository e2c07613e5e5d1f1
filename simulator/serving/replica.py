"""One serving replica as a simpy process: iteration-level scheduler over a paged KV cache.

Each loop of the process plans one iteration, asks the `IterationCost` for its time and
energy, holds the simulated clock for that long (`env.timeout`), then commits: tokens emitted
by the iteration are stamped with its end time.

Policies (see `ServingPolicy`):
- continuous (vLLM v0 default scheduler): if nothing is swapped out, admit waiting requests
  FCFS while max_batch, max_tokens and free KV blocks (minus a 1% watermark) allow, and run
  a prefill-only iteration; otherwise run one decode iteration of every running sequence.
- chunked (Sarathi-Serve / vLLM chunked prefill): every iteration decodes all running
  sequences (1 token each) and fills the rest of the `max_tokens` budget with prefill chunks,
  first of requests already prefilling, then of newly admitted ones.
- static: take up to max_batch waiting requests, prefill them together (padded to the longest
  prompt), decode until the longest output is done (slots stay occupied); each request's
  tokens stream out as produced. KV for the padded full length is reserved up front.
- prefill role (disaggregation): admit and prefill as `continuous`, then hand each sequence
  to `on_prefilled` (KV transfer) instead of decoding it; its blocks are released by the
  hand-off.
- pipeline parallelism: a replica with pp stages runs pp of these schedulers ("virtual
  engines", as vLLM does) sharing a `Pipeline` gate, so pp micro-batches are in flight.
  (Static batching ignores the gate: its batch runs alone.)

Paged KV cache: blocks of `block_size` tokens. A prefill allocates ceil(prompt / block) blocks
(whole prompt at admission, also under chunking); a decode step needs a new block for each
sequence whose cached tokens are a multiple of the block size. When blocks run out the most
recently arrived running sequence is preempted (vLLM's rule): `recompute` frees its blocks
and puts it at the head of the queue, to prefill prompt + generated tokens again; `swap`
copies its blocks to host memory over the host link (time added to the iteration) and brings
them back (same cost) when blocks free up. A request that cannot fit even alone in the cache
(or, without chunking, whose prompt exceeds max_tokens) is rejected, as vLLM does.

Speed: running decoders are not touched per iteration. Each stores `base` = cached tokens −
iteration counter, so its context is base + it; finish iterations sit in a heap, and the count
of sequences needing a block at iteration `it` is kept per residue (base mod block_size).
A decode iteration therefore costs O(1) plus O(log n) per join/finish/preemption.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

import simpy

from infersim.simulator.serving.config import Policy, Preemption, ServingPolicy
from infersim.simulator.serving.metrics import Collector


class IterationCost(Protocol):
    """Prices one iteration: (time_s, energy_j) of a replica step.

    prefill: (new tokens, tokens already cached) per prefilling sequence in the step;
    prefill_emits: prefilling sequences that finish their prompt in this step (emit a token);
    decode_seqs: sequences decoding one token each; decode_ctx_tokens: the sum over them of
    the keys each attends to (cached tokens + the new one)."""

    def __call__(self, prefill: Sequence[tuple[int, int]], prefill_emits: int,
                 decode_seqs: int, decode_ctx_tokens: int) -> tuple[float, float]: ...


class Pipeline:
    """A pipeline-parallel replica shared by its virtual engines (vLLM-style: one scheduler
    per stage's worth of micro-batches, each with 1/stages of the KV blocks).

    A step of duration t (the mapper's full step latency, the sum of the stages) holds the
    shared first-stage `gate` for t/stages (balanced stages assumed), then flows through the
    rest: up to `stages` steps are in flight, throughput is set by a stage, latency by the
    sum. Energy: a step's energy includes static power of every chip for all of t; all but
    t/stages of it is removed (`static_w` × (t − t/stages)) because in a pipeline those chips
    are working on other micro-batches — the run's idle time is charged separately."""

    def __init__(self, env: simpy.Environment, stages: int, static_w: float) -> None:
        self.gate = simpy.Resource(env, capacity=1)
        self.stages = stages
        self.static_w = static_w


class Seq:
    """A request inside a replica (mutable, internal)."""

    __slots__ = ("base", "blocks", "cache", "done", "fin", "g0", "generated", "kv_ready",
                 "output", "prompt", "prompt0", "rid")

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


def _blocks(tokens: int, bs: int) -> int:
    return -(-tokens // bs)


class Replica:
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
        self.max_batch = (min(policy.max_batch, policy.max_tokens)
                          if policy.kind == Policy.CHUNKED else policy.max_batch)
        self.kv_total = kv_blocks
        self.kv_free = kv_blocks
        self.watermark = int(0.01 * kv_blocks)  # vLLM watermark_blocks = 1% of the cache
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
        self._extra_s = 0.0  # swap time accumulated while planning this iteration
        self._preempted_now = False  # no admissions in an iteration that had to preempt
        self.process = env.process(self._run())

    # ---- interface used by the router / hand-off -------------------------------------------
    @property
    def outstanding(self) -> int:
        return len(self.waiting) + len(self.swapped) + len(self.prefilling) + len(self.dec)

    def submit(self, seq: Seq) -> None:
        self.waiting.append(seq)
        self.kick()

    def release(self, blocks: int) -> None:
        """Return blocks (after a KV hand-off completes) and wake the scheduler."""
        self.kv_free += blocks
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
        heapq.heappush(self._fin, (s.fin, s.rid))
        heapq.heappush(self._victims, -s.rid)
        self.cnt[s.base % self.bs] += 1
        self.base_sum += s.base

    def _leave(self, s: Seq) -> None:
        del self.dec[s.rid]
        self.cnt[s.base % self.bs] -= 1
        self.base_sum -= s.base
        s.cache = s.base + self.it
        s.generated = s.g0 + (self.it - (s.fin - (s.output - s.g0)))
        s.blocks = _blocks(s.cache, self.bs)

    def _finish(self, s: Seq, now: float) -> None:
        self.kv_free += s.blocks
        self.m.finish_s[s.rid] = now
        self.m.log(now, "finish", self.index, s.rid)
        if self.on_finish is not None:
            self.on_finish(s.rid)

    def _emit(self, s: Seq, now: float) -> None:
        """A prefill finished: the sequence emits a token at `now`."""
        if s.generated == 0:
            self.m.first_token_s[s.rid] = now
        s.generated += 1
        s.cache = s.prompt
        s.blocks = _blocks(s.cache, self.bs)
        s.done = 0
        if s.generated >= s.output:
            self._finish(s, now)
        elif self.on_prefilled is not None:
            self.on_prefilled(self, s)
        else:
            self._join(s)

    def _preempt_for(self, need: int) -> int:
        """Preempt latest arrivals until `need` new blocks fit; return the remaining need."""
        while need > self.kv_free and self.dec:
            self._preempted_now = True
            rid = -heapq.heappop(self._victims)
            s = self.dec.get(rid)
            if s is None:
                continue
            if (s.base + self.it) % self.bs == 0:
                need -= 1
            self._leave(s)
            self.kv_free += s.blocks
            self.m.preemptions[rid] += 1
            self.m.log(self.env.now, "preempt", self.index, rid)
            if self.policy.preemption == Preemption.SWAP:
                self._extra_s += s.blocks * self.swap_s_per_block
                self.swapped.append(s)
            else:
                s.prompt = s.prompt0 + s.generated
                s.done = s.cache = s.blocks = 0
                self.waiting.appendleft(s)
        return need

    def _swap_in(self) -> None:
        while self.swapped and len(self.dec) < self.max_batch:
            s = self.swapped[0]
            need_now = self.cnt[(-self.it) % self.bs]
            extra = 1 if s.cache % self.bs == 0 else 0
            if self.kv_free - s.blocks - extra - need_now < self.watermark:
                break
            self.swapped.popleft()
            self.kv_free -= s.blocks
            self._extra_s += s.blocks * self.swap_s_per_block
            self._join(s)

    def _admissible(self, s: Seq, tokens_left: int, slots_left: int) -> bool:
        """Can `s` start now? Rejects (and finishes as rejected) what can never fit."""
        if slots_left <= 0:
            return False
        if s.kv_ready:
            return self.kv_free - _blocks(s.cache, self.bs) >= self.watermark
        need = _blocks(s.prompt, self.bs)
        return need <= self.kv_free - self.watermark and (
            self.policy.kind == Policy.CHUNKED or s.prompt <= tokens_left)

    def _reject_impossible(self) -> None:
        """Drop queued requests that can never run on this replica (too long for the cache or,
        without chunking, for one iteration)."""
        while self.waiting:
            s = self.waiting[0]
            full = _blocks(s.prompt0 + s.output, self.bs)
            too_long = (self.policy.kind not in (Policy.CHUNKED,) and
                        s.prompt > self.policy.max_tokens and not s.kv_ready)
            if full <= self.kv_total - self.watermark and not too_long:
                return
            self.waiting.popleft()
            self.m.rejected[s.rid] = True
            self.m.log(self.env.now, "reject", self.index, s.rid)
            if self.on_finish is not None:
                self.on_finish(s.rid)

    # ---- the scheduler loop ----------------------------------------------------------------
    def _run(self):  # type: ignore[no-untyped-def]
        kind = self.policy.kind
        while True:
            self._preempted_now = False
            self._reject_impossible()
            if kind == Policy.STATIC:
                ok = yield from self._static_batch()
            elif kind == Policy.CHUNKED:
                ok = yield from self._chunked_step()
            else:
                ok = yield from self._continuous_step()
            if not ok:
                self._wake = self.env.event()
                yield self._wake
                self._wake = None

    def _step(self, prefill: list[tuple[int, int]], emits: int, d: int, ctx: int):  # type: ignore[no-untyped-def]
        t, e = self.cost(prefill, emits, d, ctx)
        t += self._extra_s
        self._extra_s = 0.0
        self.m.kv.add(self.env.now, 1.0 - self.kv_free / self.kv_total)
        if self.m.events is not None:
            self.m.log(self.env.now, f"iter p={sum(c for c, _ in prefill)} d={d}", self.index, -1)
        pl = self.pipeline
        if pl is None:
            self.busy_s += t
            self.energy_j += e
            yield self.env.timeout(t)
            return
        # pipelined: hold the first stage for t/stages, then flow through the others
        share = t / pl.stages
        self.busy_s += share
        self.energy_j += e - pl.static_w * (t - share)
        with pl.gate.request() as req:
            yield req
            yield self.env.timeout(share)
        yield self.env.timeout(t - share)

    def _admit(self, s: Seq) -> None:
        self.waiting.popleft()
        if self.m.scheduled_s[s.rid] != self.m.scheduled_s[s.rid]:  # NaN: first time
            self.m.scheduled_s[s.rid] = self.env.now
        if s.kv_ready:
            s.kv_ready = False
            self.kv_free -= _blocks(s.cache, self.bs)
            self._join(s)
        else:
            self.kv_free -= _blocks(s.prompt, self.bs)

    def _decode_need(self) -> None:
        need = self._preempt_for(self.cnt[(-self.it) % self.bs])
        self.kv_free -= need

    def _advance(self, now: float) -> None:
        """Commit one decode iteration: every decoder gained a token."""
        self.it += 1
        fin = self._fin
        while fin and fin[0][0] <= self.it:
            f, rid = heapq.heappop(fin)
            s = self.dec.get(rid)
            if s is None or s.fin != f:
                continue
            self._leave(s)
            self._finish(s, now)

    def _continuous_step(self):  # type: ignore[no-untyped-def]
        batch: list[Seq] = []
        if not self.swapped:
            tokens = 0
            while self.waiting:
                s = self.waiting[0]
                if not self._admissible(s, self.policy.max_tokens - tokens,
                                        self.max_batch - len(self.dec) - len(batch)):
                    break
                ready = s.kv_ready
                self._admit(s)
                if not ready:
                    batch.append(s)
                    tokens += s.prompt
        if batch:
            yield from self._step([(s.prompt, 0) for s in batch], len(batch), 0, 0)
            now = self.env.now
            for s in batch:
                self._emit(s, now)
            return True
        if self.on_prefilled is not None:  # prefill-only replica never decodes
            return False
        self._swap_in()
        if not self.dec:
            return False
        self._decode_need()
        d = len(self.dec)
        yield from self._step([], 0, d, self.base_sum + d * (self.it + 1))
        self._advance(self.env.now)
        return True

    def _chunked_step(self):  # type: ignore[no-untyped-def]
        self._swap_in()
        if self.dec:
            self._decode_need()
        d = len(self.dec)
        budget = self.policy.max_tokens - d
        chunks: list[tuple[Seq, int]] = []
        for s in self.prefilling:
            if budget <= 0:
                break
            c = min(s.prompt - s.done, budget)
            chunks.append((s, c))
            budget -= c
        while self.waiting and budget > 0 and not self.swapped and not self._preempted_now:
            s = self.waiting[0]
            if not self._admissible(s, budget,
                                    self.max_batch - len(self.dec) - len(self.prefilling)):
                break
            ready = s.kv_ready
            self._admit(s)
            if not ready:
                self.prefilling.append(s)
                c = min(s.prompt, budget)
                chunks.append((s, c))
                budget -= c
        d = len(self.dec)
        if not chunks and not d:
            return False
        emits = sum(1 for s, c in chunks if s.done + c == s.prompt)
        ctx = self.base_sum + d * (self.it + 1)
        yield from self._step([(c, s.done) for s, c in chunks], emits, d, ctx)
        now = self.env.now
        if d:
            self._advance(now)
        for s, c in chunks:
            s.done += c
            if s.done == s.prompt:
                self.prefilling.remove(s)
                self._emit(s, now)
        return True

    def _static_batch(self):  # type: ignore[no-untyped-def]
        if not self.waiting:
            return False
        batch: list[Seq] = []
        pmax = omax = 0
        while self.waiting and len(batch) < self.max_batch:
            s = self.waiting[0]
            p, o = max(pmax, s.prompt), max(omax, s.output)
            need = (len(batch) + 1) * _blocks(p + o, self.bs)
            if need > self.kv_total - self.watermark or (len(batch) + 1) * p > \
                    self.policy.max_tokens:
                break
            self.waiting.popleft()
            self.m.scheduled_s[s.rid] = self.env.now
            batch.append(s)
            pmax, omax = p, o
        if not batch:
            return False
        b = len(batch)
        start = self.env.now
        held = b * _blocks(pmax + omax, self.bs)
        self.kv_free -= held
        self.m.kv.add(start, 1.0 - self.kv_free / self.kv_total)
        t, e = self.cost([(pmax, 0)] * b, b, 0, 0)
        first = start + t
        ends = [first]  # ends[i] = time the (i+1)-th token of every sequence is out
        now = first
        for i in range(1, omax):
            dt, de = self.cost([], 0, b, b * (pmax + i))
            now += dt
            e += de
            ends.append(now)
        for s in batch:
            self.m.first_token_s[s.rid] = first
        self.busy_s += now - start
        self.energy_j += e
        self.m.log(start, f"static batch b={b}", self.index, -1)
        # requests stream out as their last token is produced; wake at each finish
        for s in sorted(batch, key=lambda q: (q.output, q.rid)):
            t_fin = ends[s.output - 1]
            if t_fin > self.env.now:
                yield self.env.timeout(t_fin - self.env.now)
            s.generated = s.output
            self.m.finish_s[s.rid] = t_fin
            self.m.log(t_fin, "finish", self.index, s.rid)
            if self.on_finish is not None:
                self.on_finish(s.rid)
        if now > self.env.now:
            yield self.env.timeout(now - self.env.now)
        self.kv_free += held
        self.m.kv.add(now, 1.0 - self.kv_free / self.kv_total)
        return True
