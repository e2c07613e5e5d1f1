"""Heterogeneous disaggregation: pool-size search against brute force, serve() and the CLI."""

from __future__ import annotations

import dataclasses
import json

import pytest

from infersim.cli import main
from infersim.simulator.serving import (
    Deployment,
    FixedLengths,
    Poisson,
    Policy,
    ServingPolicy,
    Slo,
    Traffic,
    find_pool_sizes,
    serve,
    simulate_serving,
)
from infersim.simulator.serving.capacity import meets
from infersim.simulator.serving.serve import ReplicaSpec


def cost(prefill, emits, d, ctx):
    return (0.05 * len(prefill) if prefill else 0.01), 1.0


def test_pool_size_search_equals_brute_force():
    slo = Slo(ttft_s=0.15, tpot_s=0.0115)  # binds both pools: one prefill or decode is short
    tr = Traffic(Poisson(12.0), FixedLengths(8, 6), 150)
    pre, dec = ReplicaSpec(price_usd=3e4, chips=1), ReplicaSpec(price_usd=1e4, chips=1)

    def run(npf, nd):
        pol = ServingPolicy(Policy.DISAGGREGATED, prefill_replicas=npf, decode_replicas=nd)
        return simulate_serving(pre, cost, tr, pol, slo=slo, decode=(dec, cost), seed=2)

    best = find_pool_sizes(run, slo, max_replicas=3)
    every = {(a, b): run(a, b) for a in (1, 2, 3) for b in (1, 2, 3)}
    ok = [k for k, r in every.items() if meets(r, slo)[0]]
    assert ok and len(ok) < 9 and min(ok) != (1, 1)  # the SLOs bind: some sizes fail
    want = min(ok, key=lambda k: (every[k].cost_per_1m_tokens_usd, every[k].chips, k[0]))
    assert (best.prefill, best.decode) == want
    assert best.to_dict()["found"] is True


def test_serve_decode_pool_on_other_hardware():
    # Llama-3.2-1B prefill on an H100, decode on the Groq system (8-bit weights, TP 8):
    # chips add up per pool and the result names both systems
    tr = Traffic(Poisson(2.0), FixedLengths(512, 32), 20)
    r = serve("llama-3.2-1b", "h100-sxm", tr, ServingPolicy(Policy.DISAGGREGATED),
              deployment=Deployment(kv_link="ib-ndr"), decode_hw="groq-576",
              decode_deployment=Deployment(tp=8, pp=4, weights="int8"))
    assert r.feasible and r.completed == 20
    assert r.hardware == "h100-sxm → groq-576" and r.chips == 1 + 32
    same = serve("llama-3.2-1b", "h100-sxm", tr, ServingPolicy(Policy.DISAGGREGATED),
                 deployment=Deployment(kv_link="ib-ndr"))
    assert r.tpot["p50"] != same.tpot["p50"]


def test_kv_link_name_is_checked():
    with pytest.raises(Exception, match="kv_link: unknown link 'carrier-pigeon'"):
        Deployment(kv_link="carrier-pigeon")
    base = ServingPolicy()
    with pytest.raises(Exception, match="disaggregated"):
        serve("llama-3.2-1b", "h100-sxm", Traffic(Poisson(1.0), FixedLengths(64, 4), 2),
              dataclasses.replace(base), decode_hw="h100-sxm")


CLI = ["serve", "--model", "llama-3.2-1b", "--hw", "h100-sxm", "--requests", "20",
       "--prompt", "256", "--output", "16", "--rate", "2"]


def test_cli_heterogeneous_json_and_errors(capsys):
    assert main([*CLI, "--policy", "disaggregated", "--decode-hw", "groq-576", "--decode-tp",
                 "8", "--decode-pp", "4", "--decode-weights", "int8", "--kv-link", "eth-400",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["hardware"] == "h100-sxm → groq-576" and d["chips"] == 33
    assert main([*CLI, "--decode-hw", "groq-576"]) == 2
    err = capsys.readouterr().err
    assert "--policy disaggregated" in err and "Traceback" not in err
