"""Attention data parallelism (`scenario.dp`) in study points: the same numbers as the API."""

from __future__ import annotations

import pytest

from infersim.api import serve, simulate
from infersim.simulator import Deployment, FixedLengths, Poisson, ServingPolicy, Traffic
from infersim.studies.evaluate import evaluate_point

BASE = {"model": "qwen3-30b-a3b", "hardware": "dgx-h100", "runtime": "trtllm"}


def test_a_serve_point_with_dp_is_the_apis_serve_run():
    status, d = evaluate_point("serve", {
        **BASE, "scenario.tp": 1, "scenario.dp": 4, "scenario.ep": 4,
        "traffic.rate": 4.0, "traffic.requests": 40, "traffic.prompt": 512,
        "traffic.output": 64})
    assert status == "ok", d
    r = serve(BASE["model"], BASE["hardware"],
              Traffic(Poisson(4.0), FixedLengths(512, 64), 40), ServingPolicy(),
              deployment=Deployment(tp=1, ep=4, dp=4, runtime="trtllm"), seed=0)
    assert d["throughput_tok_s"] == pytest.approx(r.throughput_tok_s, rel=1e-12)
    assert d["chips"] == 4


def test_a_simulate_point_with_dp_is_the_apis_step():
    status, d = evaluate_point("simulate", {
        **BASE, "scenario.batch": 64, "scenario.context": 1024, "scenario.tp": 1,
        "scenario.dp": 4, "scenario.ep": 4})
    assert status == "ok", d
    r = simulate(BASE["model"], BASE["hardware"], batch=64, context=1024, tp=1, dp=4, ep=4,
                 runtime="trtllm")
    assert d["latency_s"] == pytest.approx(r.latency_s, rel=1e-12)
