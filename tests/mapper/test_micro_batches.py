"""Micro-batch overlap (`Scenario.micro_batches`): a step's sequences split into m streams
whose collectives run under each other's kernels (DeepSeek's dual micro-batch overlap,
SGLang's two-batch overlap). `map_trace` runs the op-level DES of `mapper.streams`, the
engine `simulator.timeline` draws, over one micro-batch's program."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infersim.api import make_scenario, simulate
from infersim.foundation.errors import InputError
from infersim.simulator import simulate_timeline
from infersim.workloads import build_trace

MOE_EP = dict(model="mixtral-8x7b", hardware="dgx-h100", tp=1, dp=8, ep=8)
DENSE_TP = dict(model="llama-3.1-70b", hardware="dgx-h100", tp=8)


def _sim(case: dict, phase: str, batch: int, mbs: int = 1, runtime: str = "graph", **kw):
    c = dict(case)
    model, hw = c.pop("model"), c.pop("hardware")
    return simulate(model, hw, phase, batch, runtime=runtime, micro_batches=mbs, **c, **kw)


@pytest.mark.parametrize("case", [MOE_EP, DENSE_TP], ids=["moe-ep8", "dense-tp8"])
@pytest.mark.parametrize("runtime", ["graph", "eager"])
def test_two_micro_batches_are_two_half_batch_programs_run_as_streams(case, runtime):
    """The step of batch B in 2 micro-batches = the DES of two copies of the step of batch
    B/2 mapped on its own (an independent build: the half-batch trace, priced alone)."""
    two = _sim(case, "decode", 64, 2, runtime, context=2048)
    half = _sim(case, "decode", 32, 1, runtime, context=2048)
    des = simulate_timeline(half.schedule, micro_batches=2)
    # (the DES ends with the step's host synchronization, whose per-sequence part is the
    # whole batch's in the step of two micro-batches)
    sync = two.schedule.step_overhead_s - half.schedule.step_overhead_s
    assert two.latency_s == pytest.approx(des.makespan_s + sync, rel=1e-12)
    # the schedule is the whole step: every kernel twice, its energy and device time too
    assert two.schedule.device_s == pytest.approx(2 * half.schedule.device_s, rel=1e-12)
    assert two.schedule.kernels == 2 * half.schedule.kernels
    # ... and replays as its two streams
    assert simulate_timeline(two.schedule).makespan_s == pytest.approx(two.latency_s,
                                                                        rel=1e-12)


def test_without_collectives_the_streams_only_queue_so_the_step_is_both_halves_back_to_back():
    # one GPU, no collective to hide: every kernel holds the SMs (compute and memory lanes),
    # so two half-batch streams take the sum of their kernels: each re-reads the weights
    one = _sim(dict(model="llama-3.1-8b", hardware="h100-sxm"), "decode", 64, 1,
               context=2048)
    two = _sim(dict(model="llama-3.1-8b", hardware="h100-sxm"), "decode", 64, 2,
               context=2048)
    half = _sim(dict(model="llama-3.1-8b", hardware="h100-sxm"), "decode", 32, 1,
                context=2048)
    assert two.latency_s - two.schedule.step_overhead_s == pytest.approx(
        2 * half.schedule.device_s, rel=1e-9)
    assert two.latency_s > one.latency_s  # memory-bound decode: overlap costs a weight pass


def test_overlap_hides_communication_where_compute_splits_with_the_tokens():
    # DeepSeek-V3 prefill over 4 nodes, EP32 with data-parallel attention, two prompts per
    # GPU: each half has half the FLOPs, and one half's dispatch/combine over InfiniBand runs
    # under the other's GEMMs
    case = dict(model="deepseek-v3", hardware="dgx-h800x4", tp=1, dp=32, ep=32,
                redundant_experts=32, weights="fp8", activations="fp8")
    one = _sim(case, "prefill", 64, 1, prompt=1024)
    two = _sim(case, "prefill", 64, 2, prompt=1024)

    def comm(r):
        return sum(mo.time_s for mo in r.schedule.ops if mo.op.kind.value == "collective")

    assert comm(one) > 0.3 * one.latency_s  # there is communication to hide
    assert two.latency_s < one.latency_s
    # no better than the busier of the compute and the link lanes
    assert two.latency_s >= max(comm(two), two.schedule.device_s - comm(two))


def test_every_micro_batch_keeps_its_kv_cache():
    sc1 = make_scenario("decode", 64, context=4096, tp=8)
    sc2 = make_scenario("decode", 64, context=4096, tp=8, micro_batches=2)
    r1 = build_trace("llama-3.1-70b", sc1).resident
    r2 = build_trace("llama-3.1-70b", sc2).resident
    assert r1 is not None and r2 is not None
    assert r2.kv_tokens == r1.kv_tokens == 64 * (4096 + 1)
    assert r2.kv_bytes == r1.kv_bytes and r2.weight_bytes == r1.weight_bytes
    # the trace's work is one micro-batch's: half the attention
    a1 = next(o for o in build_trace("llama-3.1-70b", sc1).ops if o.kind.value == "attention")
    a2 = next(o for o in build_trace("llama-3.1-70b", sc2).ops if o.kind.value == "attention")
    assert a2.bytes.kv_read == pytest.approx(a1.bytes.kv_read / 2)


def test_bad_micro_batches_is_one_clear_error():
    with pytest.raises(InputError, match="micro_batches=3 exceeds the 2 sequence"):
        make_scenario("decode", 2, micro_batches=3)
    with pytest.raises(InputError, match="micro_batches=2 exceeds the 1 sequence"):
        make_scenario("decode", 8, dp=8, micro_batches=2)  # one sequence per group
    with pytest.raises(InputError, match="not speculative decoding"):
        make_scenario("spec_decode", 8, micro_batches=2)
    with pytest.raises(InputError, match="micro_batches must be a positive integer"):
        make_scenario("decode", 8, micro_batches=0)
    half = _sim(DENSE_TP, "decode", 16, 2, context=512)
    with pytest.raises(InputError, match="mapped with 2 micro-batches"):
        simulate_timeline(half.schedule, micro_batches=3)
    out = subprocess.run([sys.executable, "-m", "infersim", "simulate", "--batch", "2",
                          "--micro-batches", "4"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "micro_batches=4" in out.stderr


def test_the_cli_answers_as_the_api():
    out = subprocess.run([sys.executable, "-m", "infersim", "simulate", "--model",
                          "llama-3.1-70b", "--hw", "dgx-h100", "--tp", "8", "--batch", "16",
                          "--context", "512", "--micro-batches", "2", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    import json

    d = json.loads(out.stdout)
    api = _sim(DENSE_TP, "decode", 16, 2, context=512)
    assert d["micro_batches"] == 2
    assert d["latency_s"] == pytest.approx(api.latency_s, rel=1e-12)
