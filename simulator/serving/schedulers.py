"""The scheduling policies of a serving engine, one `Replica` subclass each (see `ServingPolicy`).

`make_replica` picks the class for a policy. Disaggregated serving runs `ContinuousReplica`
engines in both pools; a prefill engine (given `on_prefilled`) hands each sequence over after
its prefill instead of decoding it, and its blocks are released by the hand-off.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

import simpy

from infersim.simulator.serving.config import Policy, ServingPolicy
from infersim.simulator.serving.replica import (
    IterationCost,
    Replica,
    Seq,
    Steps,
    chunked_context,
)
from infersim.simulator.serving.speculative import KvGroups, capped, stepwise


class ContinuousReplica(Replica):
    """vLLM v0's default scheduler: if nothing is swapped out, admit waiting requests FCFS while
    max_batch, max_tokens and free KV blocks (minus the watermark) allow, and run a
    prefill-only iteration; otherwise run one decode iteration of every running sequence."""

    def _iteration(self) -> Steps:
        batch: list[Seq] = []
        boundary = self.at_boundary()
        if boundary and not self.swapped:
            tokens = 0
            while self.waiting:
                s = self.waiting[0]
                if self._too_late(s, bool(self.dec) or bool(batch)) or not self._admissible(
                        s, self.policy.max_tokens - tokens,
                        self.max_batch - len(self.dec) - len(batch)):
                    break
                ready = s.kv_ready
                self._admit(s)
                if not ready:
                    batch.append(s)
                    tokens += s.prompt - s.done
        if batch:
            # s.done: prompt tokens found in the prefix cache (0 without caching)
            self.in_step = len(batch)  # held by the engine, in no list while they run
            yield from self._step([(s.prompt - s.done, s.done) for s in batch], len(batch),
                                  0, 0)
            self.in_step = 0
            now = self.env.now
            self._deliver(now)
            for s in batch:
                self._emit(s, now)
            return True
        if self.on_prefilled is not None:  # prefill-only replica never decodes
            return False
        if boundary:
            self._swap_in()
        if not self.dec:
            return False
        self._decode_need()
        yield from self._decode()
        return True


class ChunkedReplica(Replica):
    """Sarathi-Serve / vLLM chunked prefill: every iteration decodes all running sequences
    (1 token each) and fills the rest of the `max_tokens` budget with prefill chunks, first of
    requests already prefilling, then of newly admitted ones. With the runtime's
    `chunked_context` off (TensorRT-LLM's in-flight batching by default) a new prompt joins
    only whole, and admission stops at the first one that does not fit the budget left."""

    chunked_prefill = True
    mixed = True
    lookahead = 1  # budget tokens per decoder (1 + K under speculative decoding)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chunked_prefill = chunked_context(self.cost)
        # every sequence in an iteration costs at least one token of the budget
        self.max_batch = min(self.policy.max_batch, self.policy.max_tokens)

    def _iteration(self) -> Steps:
        if not self.at_boundary():  # inside a multi-step pass: decode only
            self._decode_need()
            yield from self._decode()
            return True
        self._swap_in()
        if self.dec:
            self._decode_need()
        d = len(self.dec)
        budget = self.policy.max_tokens - d * self.lookahead
        chunks: list[tuple[Seq, int]] = []
        for s in self.prefilling:
            if budget <= 0:
                break
            c = min(s.prompt - s.done, budget)
            chunks.append((s, c))
            budget -= c
        while self.waiting and budget > 0 and not self.swapped and not self._preempted_now:
            s = self.waiting[0]
            if self._too_late(s, bool(self.dec) or bool(self.prefilling) or bool(chunks)) or (
                    not self._admissible(s, budget, self.max_batch - len(self.dec)
                                         - len(self.prefilling))):
                break
            ready = s.kv_ready
            self._admit(s)
            if not ready:
                self.prefilling.append(s)
                c = min(s.prompt - s.done, budget)
                chunks.append((s, c))
                budget -= c
        d = len(self.dec)
        if not chunks:
            if d:
                yield from self._decode()
            return bool(d)
        emits = sum(1 for s, c in chunks if s.done + c == s.prompt)
        ctx = self.base_sum + d * (self.it + 1)
        yield from self._step([(c, s.done) for s, c in chunks], emits, d, ctx)
        now = self.env.now
        self._deliver(now)
        if d:
            self._advance(now)
        for s, c in chunks:
            s.done += c
            if s.done == s.prompt:
                self.prefilling.remove(s)
                self._emit(s, now)
        return True


class StaticReplica(Replica):
    """Static batching: take up to max_batch waiting requests, prefill them together (padded to
    the longest prompt), decode until the longest output is done (slots stay occupied); each
    request's tokens stream out as produced. KV for the padded full length is reserved up
    front."""

    def _iteration(self) -> Steps:
        if not self.waiting:
            return False
        kv = self.kv
        batch: list[Seq] = []
        pmax = omax = 0
        while self.waiting and len(batch) < self.max_batch:
            s = self.waiting[0]
            p, o = max(pmax, s.prompt), max(omax, s.output)
            need = (len(batch) + 1) * kv.blocks_for(p + o)
            if not kv.fits_when_empty(need) or (len(batch) + 1) * p > self.policy.max_tokens:
                break
            self.waiting.popleft()
            self.m.scheduled_s[s.rid] = self.env.now
            batch.append(s)
            pmax, omax = p, o
        if not batch:
            return False
        b = len(batch)
        start = self.env.now
        held = b * kv.blocks_for(pmax + omax)
        kv.take(held)
        self.m.kv.add(start, kv.occupancy)
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
        # token i + 1 of every sequence with more than i + 1 output tokens
        outs = sorted(s.output for s in batch)
        for i in range(1, omax):
            self.m.itl.add(ends[i] - ends[i - 1], b - bisect_right(outs, i))
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
        kv.give(held)
        self.m.kv.add(now, kv.occupancy)
        return True


SCHEDULERS: dict[Policy, type[Replica]] = {
    Policy.CONTINUOUS: ContinuousReplica,
    Policy.CHUNKED: ChunkedReplica,
    Policy.STATIC: StaticReplica,
    Policy.DISAGGREGATED: ContinuousReplica,  # both pools; see the module docstring
}


def make_replica(env: simpy.Environment, index: int, policy: ServingPolicy, kv_blocks: int,
                 kv_bytes_per_token: float, host_link_Bps: float, cost: IterationCost,
                 *args: Any, groups: KvGroups = (), seed: int = 0, **kwargs: Any) -> Replica:
    """The engine for `policy.kind`; arguments as `Replica`. Speculative decoding or
    window-capped KV (`groups`, `speculative.kv_groups`) decode step by step. The policy
    `auto` takes the kind of the iteration cost's runtime (`ServingPolicy.resolved`)."""
    policy = policy.resolved(getattr(cost, "runtime", None))
    cls = SCHEDULERS[policy.kind]
    head = (kv_blocks, kv_bytes_per_token, host_link_Bps, cost, *args)
    if cls is not StaticReplica and (policy.spec is not None or capped(groups)):
        return stepwise(cls)(env, index, policy, *head, spec=policy.spec, groups=groups,
                             seed=seed, **kwargs)
    return cls(env, index, policy, *head, **kwargs)
