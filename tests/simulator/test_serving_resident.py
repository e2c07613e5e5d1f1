"""Serving sizes its KV pool from the same resident bytes as the mapper's capacity check
(`Trace.resident`): all experts, the whole embedding shard, the busiest pipeline stage."""

from __future__ import annotations

import pytest

from infersim.simulator.serving import FixedLengths, MapperIterationCost, Poisson, Traffic, serve
from tests._support import h100_like

# Mixtral-8x7B (config.json: V 32000, h 4096, 32 layers, 32 heads / 8 KV heads of 128,
# 8 experts of width 14336): parameters counted by hand.
ATTN = 4096 * (4096 + 2 * 8 * 128) + 4096 * 4096
EXPERT = 3 * 4096 * 14336
ROUTER_NORMS = 4096 * 8 + 2 * 4096
TABLE = 32000 * 4096


def test_facts_hold_every_expert_not_only_the_touched_ones(mixtral):
    # TP=2, EP=2: per chip, half the attention and vocab shards and 4 whole experts per layer
    per_chip = 32 * (ATTN // 2 + 4 * EXPERT + ROUTER_NORMS) + TABLE + 4096
    c = MapperIterationCost(mixtral, h100_like(2), tp=2, ep=2)
    f = c.facts(8192)
    assert f.weight_bytes_per_chip == 2 * per_chip
    assert f.kv_bytes_per_token_per_chip == 32 * 2 * 4 * 128 * 2  # 4 KV heads per chip, bf16


def test_facts_take_the_busiest_pipeline_stage(llama8b):
    # Llama-3.1-8B, PP=2: the last stage holds 16 layers + final norm + lm_head
    layer = 4096 * (4096 + 2 * 8 * 128) + 4096 * 4096 + 3 * 4096 * 14336 + 2 * 4096
    c = MapperIterationCost(llama8b, h100_like(2), pp=2)
    f = c.facts(8192)
    assert f.weight_bytes_per_chip == 2 * (16 * layer + 128256 * 4096 + 4096)
    assert f.kv_bytes_per_token_per_chip == 16 * 2 * 8 * 128 * 2


def test_mixtral_on_one_80gb_chip_is_infeasible_in_serving_too():
    # 46.7B parameters × 2 B = 93.4 GB > 80 GB: the mapper's verdict, reported by serve()
    r = serve("mixtral-8x7b", h100_like(1), Traffic(Poisson(1.0), FixedLengths(64, 8), 5))
    assert not r.feasible and r.infeasible is not None
    assert r.infeasible.demand == pytest.approx(93.4e9, rel=0.01)
