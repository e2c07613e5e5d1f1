"""`serve` takes the dtypes of `simulate` (--weights/--activations/--kv) and gives its answer."""

from __future__ import annotations

import json

import pytest

from infersim.api import simulate
from infersim.cli import main
from infersim.simulator.serving import Deployment, FixedLengths, Poisson, Traffic, serve
from tests._support import h100_like


@pytest.mark.parametrize(("weights", "activations", "kv"),
                         [("bf16", None, None), ("fp8", None, None), ("fp8", "fp8", None),
                          ("fp8", "fp8", "fp8")])
def test_lone_request_ttft_is_the_simulated_prefill(weights, activations, kv):
    # one request, one output token: TTFT is exactly one prefill step of the prompt (1024 is
    # a table node, so no interpolation), the number `simulate --phase prefill` gives
    hw = h100_like(1)
    r = serve("llama-3.2-1b", hw, Traffic(Poisson(1.0), FixedLengths(1024, 1), 1),
              deployment=Deployment(weights=weights, activations=activations, kv=kv))
    step = simulate("llama-3.2-1b", hw, "prefill", prompt=1024, weights=weights,
                    activations=activations, kv=kv)
    assert r.ttft["p50"] == pytest.approx(step.latency_s, rel=1e-9)


def test_fp8_activations_are_not_w8a16():
    # fp8 × fp8 GEMMs run at the fp8 tensor rate (2× bf16 on the H100 figures), so a
    # compute-bound 4096-token prefill is faster than with fp8 weights and bf16 activations
    hw = h100_like(1)
    tr = Traffic(Poisson(1.0), FixedLengths(4096, 1), 1)
    w8a16 = serve("llama-3.1-8b", hw, tr, deployment=Deployment(weights="fp8"))
    w8a8 = serve("llama-3.1-8b", hw, tr, deployment=Deployment(weights="fp8",
                                                               activations="fp8"))
    assert w8a8.ttft["p50"] < 0.8 * w8a16.ttft["p50"]


def test_cli_reports_resolved_dtypes_and_rejects_bad_ones(capsys):
    base = ["serve", "--model", "llama-3.2-1b", "--hw", "h100-sxm", "--requests", "5",
            "--prompt", "64", "--output", "4", "--weights", "fp8"]
    assert main([*base, "--activations", "fp8", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["weights"], d["activations"], d["kv"]) == ("fp8", "fp8", "fp8")
    assert main([*base, "--activations", "fp9"]) == 2
    err = capsys.readouterr().err
    assert "activations" in err and "Traceback" not in err
