"""Multi-step scheduling passes (vLLM's --num-scheduler-steps, the profile's `scheduler_steps`):
event times derived by hand in comments.

The injected cost: an iteration with prefill work costs 1.0 s, a decode-only one 0.1 s; the
cost carries a runtime profile whose `scheduler_steps` sets the pass length."""

from __future__ import annotations

import pytest

from infersim.foundation.errors import InputError
from infersim.hwmodels.cost import RuntimeProfile
from infersim.hwmodels.spec import HardwareKind
from infersim.simulator.serving import (
    Policy,
    ServingPolicy,
    TraceReplay,
    Traffic,
    simulate_serving,
)
from infersim.simulator.serving.replica import pass_steps
from infersim.simulator.serving.serve import ReplicaSpec
from infersim.workloads.scenario import SpecDecode


class PassCost:
    """1.0 s with prefill work, else 0.1 s; logs (has prefill, decoding sequences)."""

    def __init__(self, steps: float) -> None:
        self.runtime = RuntimeProfile("test", HardwareKind.GPU,
                                      (("scheduler_steps", float(steps)),))
        self.log: list[tuple[bool, int]] = []

    def __call__(self, prefill, emits, decode_seqs, decode_ctx):
        self.log.append((bool(prefill), decode_seqs))
        return (1.0 if prefill else 0.1), 0.0


def run(tmp_path, rows, steps, kind=Policy.CONTINUOUS):
    p = tmp_path / "trace.csv"
    p.write_text("arrival_s,prompt_tokens,output_tokens\n"
                 + "".join(f"{a},{pr},{o}\n" for a, pr, o in rows))
    cost = PassCost(steps)
    r = simulate_serving(ReplicaSpec(), cost, Traffic(TraceReplay(str(p)), None, None),
                         ServingPolicy(kind=kind, max_batch=8), engine="simpy")
    return r, cost.log


def test_pass_steps_reads_the_profile():
    assert pass_steps(PassCost(10)) == 10
    assert pass_steps(lambda *a: (0.1, 0.0)) == 1  # no runtime profile: one step per pass
    for bad in (0, -3, 2.5):  # an API caller's profile: one clear line, never a silent 1
        with pytest.raises(InputError, match=r"runtime test: scheduler_steps .*1 or more"):
            pass_steps(PassCost(bad))


@pytest.mark.parametrize("kind", [Policy.CONTINUOUS, Policy.CHUNKED])
def test_a_finished_sequence_is_computed_until_its_pass_ends(tmp_path, kind):
    # A (3 tokens) and B (6) prefill together [0, 1]: token 1 each at 1.0. Pass 1 = four
    # decode steps [1.0, 1.4] with both: A has its tokens 2, 3 at 1.1, 1.2 but stays in the
    # batch to 1.4, where it finishes. B gets tokens 2-5 at 1.1-1.4. Pass 2 [1.4, 1.8] with B
    # alone: token 6 at 1.5, held to 1.8.
    r, log = run(tmp_path, [(0, 10, 3), (0, 10, 6)], steps=4, kind=kind)
    assert r.per_request["finish_s"] == pytest.approx([1.4, 1.8])
    assert log == [(True, 0)] + [(False, 2)] * 4 + [(False, 1)] * 4
    assert r.duration_s == pytest.approx(1.8)
    # one step per pass: A done at 1.2, B at 1.5, five decode steps
    r1, log1 = run(tmp_path, [(0, 10, 3), (0, 10, 6)], steps=1, kind=kind)
    assert r1.per_request["finish_s"] == pytest.approx([1.2, 1.5])
    assert log1 == [(True, 0)] + [(False, 2)] * 2 + [(False, 1)] * 3


def test_an_arrival_waits_for_the_pass_boundary(tmp_path):
    # As above, and C (2 tokens) arrives at 1.05, inside pass 1 [1.0, 1.4]: the scheduler
    # next runs at 1.4, so C prefills [1.4, 2.4] (first token 2.4; A leaves at 1.4). Pass 2
    # [2.4, 2.8] with B and C: both get their last token at 2.5 and are held to 2.8.
    r, log = run(tmp_path, [(0, 10, 3), (0, 10, 6), (1.05, 10, 2)], steps=4)
    pr = r.per_request
    assert pr["first_token_s"] == pytest.approx([1.0, 1.0, 2.4])
    assert pr["finish_s"] == pytest.approx([1.4, 2.8, 2.8])
    assert log == [(True, 0)] + [(False, 2)] * 4 + [(True, 0)] + [(False, 2)] * 4
    # held steps emit nothing: 8 inter-token gaps (A 2, B 5, C 1), seven of 0.1 s and B's
    # token 6 at 2.5 after token 5 at 1.4 (1.1 s)
    assert r.itl["mean"] == pytest.approx((7 * 0.1 + 1.1) / 8)
    # one step per pass: C is admitted after the first decode step (prefill priority)
    r1, _ = run(tmp_path, [(0, 10, 3), (0, 10, 6), (1.05, 10, 2)], steps=1)
    assert r1.per_request["first_token_s"][2] == pytest.approx(2.1)


def test_passes_run_on_the_reference_engine_only(tmp_path):
    from infersim.api import serve
    from infersim.hwmodels.models.gpu.engines import lookup
    from infersim.simulator import Deployment, FixedLengths, Poisson

    prof = lookup("vllm-v0").with_values(scheduler_steps=4.0)
    traffic = Traffic(Poisson(2.0), FixedLengths(64, 8), 4)
    dep = Deployment(runtime=prof)
    with pytest.raises(InputError, match="multi-step"):
        serve("llama-3.1-8b", "h100-sxm", traffic, ServingPolicy(), deployment=dep,
              engine="compiled")
    # auto falls back to the simpy engine, whatever the request count
    r = serve("llama-3.1-8b", "h100-sxm", traffic, ServingPolicy(), deployment=dep,
              engine="auto")
    assert r.completed == 4


def test_speculation_with_passes_is_refused(tmp_path):
    p = tmp_path / "trace.csv"
    p.write_text("arrival_s,prompt_tokens,output_tokens\n0,10,3\n")
    with pytest.raises(InputError, match="speculative"):
        simulate_serving(ReplicaSpec(), PassCost(4), Traffic(TraceReplay(str(p)), None, None),
                         ServingPolicy(spec=SpecDecode(draft_len=2, acceptance=0.7)),
                         engine="simpy")


def test_cli_scheduler_steps_is_the_api_profile(capsys):
    import json

    from infersim.api import serve
    from infersim.cli import main
    from infersim.hwmodels.models.gpu.engines import lookup
    from infersim.simulator import Deployment, FixedLengths, Poisson

    args = ["serve", "--model", "llama-3.1-8b", "--hw", "h100-sxm", "--runtime", "vllm-v0",
            "--scheduler-steps", "4", "--rate", "8", "--requests", "40", "--prompt", "256",
            "--output", "32", "--json"]
    assert main(args) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["runtime"], d["scheduler_steps"]) == ("vllm-v0", 4)
    r = serve("llama-3.1-8b", "h100-sxm",
              Traffic(Poisson(8.0), FixedLengths(256, 32), 40), ServingPolicy(),
              deployment=Deployment(runtime=lookup("vllm-v0").with_values(scheduler_steps=4.0)))
    assert d["throughput_tok_s"] == r.throughput_tok_s
    assert d["ttft_p50_s"] == r.ttft["p50"]
    # refused with one line (exit 2): no GPU profile, or fewer than one step
    base = ["serve", "--model", "llama-3.1-8b", "--requests", "4"]
    assert main([*base, "--hw", "groq-576", "--scheduler-steps", "4"]) == 2
    assert main([*base, "--hw", "h100-sxm", "--runtime", "vllm-v0", "--scheduler-steps",
                 "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("infersim: error: --scheduler-steps") for e in err)
