"""Prefix caching: hit counts against an independent brute-force replay, on/off equivalence
without sharing, and the TTFT it saves."""

from __future__ import annotations

import numpy as np
import pytest

from infersim.foundation.errors import InputError
from infersim.simulator.serving import (
    FixedLengths,
    Poisson,
    Prefixes,
    SampledLengths,
    ServingPolicy,
    Traffic,
    Uniform,
    simulate_serving,
)
from infersim.simulator.serving.serve import ReplicaSpec
from infersim.simulator.serving.traffic import generate

BS = 16


def cost(prefill, emits, d, ctx):
    """Prefill time grows with the uncached tokens only; decode a fixed 10 ms."""
    return (0.002 + 1e-4 * sum(q for q, _ in prefill) if prefill else 0.01), 1.0


def brute_force_hits(traffic, seed, capacity):
    """Replay the requests one at a time against a dict block → last-use stamp.

    A block is named by the token content it ends: ("sys", prompt id, j) inside a system
    prompt, else ("conv", conversation, j). A request finds the longest run of its prompt's
    blocks (up to the block before its last token) in the dict, holds them and the fresh blocks
    its prompt + output − 1 cached tokens need, evicting the oldest-stamped unheld blocks while
    they do not fit in `capacity`; when it finishes its full blocks are stamped, deepest first
    (so the deepest is the older)."""
    t = generate(traffic, np.random.default_rng(seed))
    sys_tokens = traffic.prefixes.system_tokens
    cache: dict[tuple, int] = {}
    clock = 0
    hit_blocks = looked_up = 0
    for i in range(len(t)):
        p, o = int(t.prompt_tokens[i]), int(t.output_tokens[i])
        k, c = int(t.system_id[i]), int(t.conversation[i])

        def name(j, k=k, c=c):
            return ("sys", k, j) if (j + 1) * BS <= sys_tokens and k >= 0 else ("conv", c, j)

        limit = (p - 1) // BS
        looked_up += limit
        h = 0
        while h < limit and name(h) in cache:
            h += 1
        hit_blocks += h
        for j in range(h):
            del cache[name(j)]
        held = -(-(p + o - 1) // BS)
        while cache and len(cache) + held > capacity:
            del cache[min(cache, key=cache.__getitem__)]
        for j in reversed(range((p + o - 1) // BS)):
            assert name(j) not in cache  # the workload never recomputes a cached block
            clock += 1
            cache[name(j)] = clock
    return hit_blocks, looked_up


@pytest.mark.parametrize(("capacity", "policy"), [(40, "continuous"), (25, "chunked"),
                                                   (400, "continuous")])
def test_hit_counts_equal_brute_force(capacity, policy):
    traffic = Traffic(Poisson(50.0), SampledLengths(Uniform(5, 30), Uniform(2, 12)), 300,
                      Prefixes(system_prompts=3, system_tokens=40, turns=3))
    pol = ServingPolicy(policy, max_batch=1, block_size=BS, prefix_caching=True)
    r = simulate_serving(ReplicaSpec(kv_blocks=capacity), cost, traffic, pol, seed=4)
    assert r.completed == 300 and r.preemptions == 0
    hits, looked = brute_force_hits(traffic, 4, capacity)
    pc = r.prefix_cache
    assert (pc["hit_blocks"], pc["query_blocks"]) == (hits, looked)
    assert pc["hit_tokens"] == hits * BS
    assert 0 < hits < looked
    assert pc["cached_blocks_peak"] <= capacity


def test_caching_changes_nothing_without_shared_prefixes():
    traffic = Traffic(Poisson(30.0), SampledLengths(Uniform(20, 200), Uniform(5, 60)), 400)
    off = simulate_serving(ReplicaSpec(kv_blocks=300), cost, traffic,
                           ServingPolicy(max_batch=8), seed=2)
    on = simulate_serving(ReplicaSpec(kv_blocks=300), cost, traffic,
                          ServingPolicy(max_batch=8, prefix_caching=True), seed=2)
    assert off.preemptions == 0
    d_on = on.to_dict()
    assert d_on.pop("prefix_hit_blocks") == 0 and d_on.pop("prefix_cached_blocks_peak") > 0
    assert {k: v for k, v in d_on.items() if not k.startswith("prefix_")} == off.to_dict()


def test_shared_system_prompts_cut_ttft():
    traffic = Traffic(Poisson(20.0), FixedLengths(64, 8), 300,
                      Prefixes(system_prompts=2, system_tokens=1024))
    on = simulate_serving(ReplicaSpec(kv_blocks=4000), cost, traffic,
                          ServingPolicy(prefix_caching=True), seed=1)
    off = simulate_serving(ReplicaSpec(kv_blocks=4000), cost, traffic, ServingPolicy(), seed=1)
    # all but the first use of each system prompt find its 64 blocks
    assert on.prefix_cache["hit_blocks"] == 64 * (300 - 2)
    assert on.ttft["mean"] < 0.5 * off.ttft["mean"]


def test_multi_turn_prompts_hold_the_history():
    traffic = Traffic(Poisson(1.0), FixedLengths(10, 5), 6,
                      Prefixes(system_prompts=1, system_tokens=7, turns=3))
    t = generate(traffic, np.random.default_rng(0))
    assert t.prompt_tokens.tolist() == [17, 32, 47, 17, 32, 47]
    assert t.conversation.tolist() == [0, 0, 0, 1, 1, 1]


def test_bad_prefix_settings():
    with pytest.raises(InputError, match="prefix caching"):
        ServingPolicy("static", prefix_caching=True)
    with pytest.raises(InputError, match="prefix caching"):
        ServingPolicy(preemption="swap", prefix_caching=True)
    with pytest.raises(InputError, match="go together"):
        Prefixes(system_prompts=2)
    with pytest.raises(InputError, match="turns"):
        Prefixes(turns=0)


def test_cli_reports_the_prefix_cache(capsys):
    import json

    from infersim.cli import main

    base = ["serve", "--model", "llama-3.2-1b", "--hw", "h100-sxm", "--rate", "4",
            "--requests", "40", "--prompt", "64", "--output", "8", "--system-prompts", "1",
            "--system-tokens", "512"]
    assert main([*base, "--prefix-caching", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["prefix_hit_blocks"] == 32 * 39 and d["completed"] == 40
    assert main([*base, "--prefix-caching"]) == 0
    assert "prefix cache" in capsys.readouterr().out
    assert main([*base, "--prefix-caching", "--policy", "static"]) == 2
    assert "prefix caching" in capsys.readouterr().err
    assert main([*base[:-4], "--system-prompts", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--system-tokens" in err and len(err.splitlines()) == 1
