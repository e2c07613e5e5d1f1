"""Attention data parallelism inside a serving replica (`Deployment.dp`): dp groups of tp chips,
each with its own requests, KV cache and scheduler, sharing the experts (ep = tp·dp)."""

from __future__ import annotations

import itertools
import math

import pytest

from infersim.foundation.errors import InputError
from infersim.hwmodels.models.gpu.engines import TRTLLM_PYEXECUTOR_SEQ_S
from infersim.simulator.serving import (
    Deployment,
    FixedLengths,
    MapperIterationCost,
    Poisson,
    ServingPolicy,
    Traffic,
    serve,
)
from infersim.simulator.serving.costs import busiest_group_tokens
from infersim.simulator.serving.kvcache import plan_kv
from infersim.workloads import Phase, load_model
from infersim.workloads.builder import stage_wide
from infersim.workloads.hf_config import load_model as hf_model
from tests._support import h100_like

MODEL = "qwen3-30b-a3b"  # 128 experts, top-8, 4 KV heads of 128, 48 layers


@pytest.fixture(scope="module")
def moe():
    return load_model(MODEL)


def test_a_replica_holds_tp_x_dp_x_pp_chips():
    assert Deployment(tp=2, pp=3, ep=8, dp=4).chips_per_replica == 24
    with pytest.raises(InputError, match="dp must be a positive integer"):
        Deployment(dp=0)


@pytest.mark.parametrize("dp", [2, 4])
def test_decode_iterations_are_the_mappers_step_of_the_busiest_group(moe, dp):
    # the mapper prices a decode step of B sequences under dp groups as the busiest group's
    # ceil(B/dp) sequences with the experts routing all of them (workloads.build_trace); the
    # serving tables must reproduce it off their nodes too
    c = MapperIterationCost(moe, h100_like(dp), tp=1, ep=dp, dp=dp)
    for b, keys in [(7, 3001), (45, 1537), (183, 2222)]:
        t, _ = c([], 0, b, b * keys)
        assert t == pytest.approx(c.direct_decode(b, keys)[0], rel=0.03), (b, keys)


def test_one_prompt_per_group_is_the_mappers_prefill_of_dp_prompts(moe):
    # dp identical prompts, one per group, run side by side: the mapper's prefill of dp
    # sequences under dp groups (each group one prompt, the experts seeing all dp of them)
    dp = 4
    c = MapperIterationCost(moe, h100_like(dp), tp=1, ep=dp, dp=dp)
    for q in (512, 1536, 3001):
        t, _ = c([(q, 0)] * dp, dp, 0, 0)
        assert t == pytest.approx(c.direct_prefill(dp, q)[0], rel=0.03), q


def test_the_busiest_group_by_hand_and_by_brute_force():
    # 10 decoders over 4 groups: 3, 3, 2, 2; the 5000-token prompt joins a group of 2, the
    # two 300-token prompts the other group of 2 and a group of 3
    assert busiest_group_tokens([300, 5000, 300], 10, 4) == 5002
    # equal chunks: the least busiest load over every placement (brute force)
    for chunks, dec, groups in [([7] * 5, 3, 3), ([64] * 6, 0, 4), ([5] * 4, 9, 2)]:
        best = min(max(dec // groups + (g < dec % groups) + chunks[0] * place.count(g)
                       for g in range(groups))
                   for place in itertools.product(range(groups), repeat=len(chunks)))
        assert busiest_group_tokens(chunks, dec, groups) == best, (chunks, dec, groups)


@pytest.mark.parametrize("q", [2048, 8192])
def test_a_lone_prompt_keeps_its_group_busy_while_the_others_wait(moe, q):
    # A request lives on one group: a lone prompt of q tokens under dp = 4 runs its
    # attention and its group-local layers on all q tokens in one group while the other
    # three wait, and the experts route its q tokens. By hand from the mapper's steps: four
    # prompts of q/4 (one per group: the same q tokens at the experts) plus what q tokens
    # in one group add over q/4 in the group-local ops (a prefill of four q-token prompts
    # minus one of four q/4-token prompts, every op but the routed experts and their
    # exchange).
    dp = 4
    c = MapperIterationCost(moe, h100_like(dp), tp=1, ep=dp, dp=dp)

    def local(prompt):
        s = c.schedule(c.scenario(Phase.PREFILL, dp, prompt=prompt))
        return sum(mo.time_s for mo in s.ops if not stage_wide(mo.op))

    spread = c.direct_prefill(dp, q // dp)[0]
    expected = spread + local(q) - local(q // dp)
    t, _ = c([(q, 0)], 1, 0, 0)
    assert t == pytest.approx(expected, rel=1e-6)
    assert t > 1.2 * spread  # not priced as if spread over the groups


def test_four_groups_decode_a_batch_faster_than_one_chip(moe):
    # the same 256 sequences: each of 4 groups attends over a quarter of them and runs the
    # token-parallel layers on a quarter of the tokens; the expert weights are read once
    c4 = MapperIterationCost(moe, h100_like(4), tp=1, ep=4, dp=4)
    one = MapperIterationCost(moe, h100_like(1))
    b, keys = 256, 2048
    assert c4([], 0, b, b * keys)[0] < one([], 0, b, b * keys)[0]


def test_the_kv_pool_is_every_groups_pool_by_hand(moe):
    # Qwen3-30B-A3B bf16 KV per token on a group of one chip (tp 1: its whole KV):
    # 2 (K, V) x 4 KV heads x 128 x 48 layers x 2 B = 98,304 B. Each chip's pool holds its own
    # group's tokens, so a replica of dp = 2 holds twice the blocks one chip's pool does.
    m = hf_model(MODEL)
    per_token = 2 * m.num_kv_heads * m.head_dim * m.num_layers * 2
    assert per_token == 98304
    dep = Deployment(tp=1, ep=2, dp=2, activation_reserve_bytes=0.0)
    c = MapperIterationCost(moe, h100_like(2), tp=1, ep=2, dp=2)
    facts = c.facts(8192)
    assert facts.kv_bytes_per_token_per_chip == per_token
    per_chip = plan_kv(h100_like(2), facts, dep, 16).blocks
    assert per_chip == math.floor((0.9 * 80e9 - facts.weight_bytes_per_chip) / (16 * per_token))
    r = serve(MODEL, h100_like(2), Traffic(Poisson(1.0), FixedLengths(128, 8), 4),
              ServingPolicy(), deployment=dep, engine="simpy")
    assert r.feasible
    assert r.to_dict()["kv_blocks"] == 2 * per_chip


def test_each_groups_executor_does_its_own_requests_host_work(moe):
    # TensorRT-LLM's PyExecutor spends ~29.4 us of host time per running request per
    # iteration; with attention DP each rank's executor handles only its own requests, so
    # an iteration of 100 decoding requests over 4 ranks is held to 25 x 29.4 us, not 100 x
    c = MapperIterationCost(moe, h100_like(4), tp=1, ep=4, dp=4, runtime="trtllm-pytorch")
    t, _ = c.floored(0.0, 0.0, 100, 0)
    assert t == pytest.approx(25 * TRTLLM_PYEXECUTOR_SEQ_S, rel=1e-12)
    solo = MapperIterationCost(moe, h100_like(4), tp=4, ep=4, runtime="trtllm-pytorch")
    assert solo.floored(0.0, 0.0, 100, 0)[0] == pytest.approx(100 * TRTLLM_PYEXECUTOR_SEQ_S)


def test_experts_not_spread_over_every_group_is_one_clear_error():
    with pytest.raises(InputError, match="ep must equal tp·dp"):
        serve(MODEL, h100_like(2), Traffic(Poisson(1.0), FixedLengths(128, 8), 2),
              deployment=Deployment(tp=1, ep=1, dp=2))


def test_dp_with_speculative_decoding_is_refused():
    from infersim.workloads.scenario import SpecDecode

    with pytest.raises(InputError, match="data parallelism"):
        serve(MODEL, h100_like(2), Traffic(Poisson(1.0), FixedLengths(128, 8), 2),
              ServingPolicy(spec=SpecDecode()), deployment=Deployment(tp=1, ep=2, dp=2))


def test_serve_cli_runs_dp_and_reports_the_parallelism(capsys):
    import json

    from infersim.cli import main

    argv = ["serve", "--model", MODEL, "--hw", "dgx-h100", "--tp", "1", "--dp", "2", "--ep",
            "2", "--requests", "8", "--rate", "2", "--prompt", "256", "--output", "16"]
    assert main([*argv, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["tp"], d["pp"], d["ep"], d["dp"], d["chips"]) == (1, 1, 2, 2, 2)
    assert main(argv) == 0
    assert "tp 1 pp 1 dp 2 ep 2, 2 chips" in capsys.readouterr().out
    assert main([*argv[:10], "1", *argv[11:]]) == 2  # --ep 1 with dp 2: one error line
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ep must equal tp·dp = 2" in err[0]
