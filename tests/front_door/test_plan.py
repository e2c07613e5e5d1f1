"""Deployment search (`infersim plan`): layouts by brute force, SLOs and maximal batches checked
with direct `simulate` calls, ranking by cost."""

from __future__ import annotations

import math

import pytest

from infersim.api import load_model, simulate
from infersim.cli import main
from infersim.foundation.errors import InputError
from infersim.planner import layouts, plan

PROMPT, OUTPUT, MAX_BATCH = 256, 64, 16


def test_layouts_brute_force() -> None:
    """Qwen3-30B-A3B (32 heads, 4 KV heads, 128 experts 768 wide) on 8 chips: every tp | 8,
    pp | 8/tp, ep | tp shards it: Σ_tp d(8/tp)·d(tp) = 4+6+6+4 = 20; plus EP across g > 1
    data-parallel attention groups (ep = tp·g, g | 8/(tp·pp)): (3+2+1) + (2+1) + 1 = 10."""
    got = layouts(load_model("qwen3-30b-a3b"), 8)
    assert len(got) == len(set(got)) == 30
    assert all(8 % lay.chips == 0 and lay.cp == 1 for lay in got)
    assert all(lay.tp % lay.ep == 0 for lay in got if lay.attn_dp == 1)
    assert all(lay.ep == lay.tp * lay.attn_dp for lay in got if lay.attn_dp > 1)
    # a dense model gets ep = 1 only, and cp over the rest; Llama-3.2-1B has 32 heads, 8 KV
    # heads: 10 (tp, pp) pairs, each with cp | 8/(tp·pp): 10 + 10 more with cp > 1
    dense = layouts(load_model("llama-3.2-1b"), 8)
    assert {lay.ep for lay in dense} == {1} and len(dense) == 20
    assert {lay.cp for lay in dense} == {1, 2, 4, 8}


@pytest.fixture(scope="module")
def rows():
    return plan("llama-3.2-1b", "dgx-h100", prompt=PROMPT, output=OUTPUT, ttft_slo_s=0.05,
                tpot_slo_s=0.004, max_batch=MAX_BATCH)


def test_rows_meet_the_slo_with_the_largest_batch(rows) -> None:
    ok = [r for r in rows if r.meets_slo]
    assert ok
    for r in ok[:3]:
        kw, kp = r.simulate_kwargs("decode"), r.simulate_kwargs("prefill")
        pre = simulate("llama-3.2-1b", "dgx-h100", "prefill", r.batch, prompt=PROMPT, **kp)
        dec = simulate("llama-3.2-1b", "dgx-h100", "decode", r.batch,
                       context=PROMPT + OUTPUT - 1, **kw)
        assert (pre.latency_s, dec.latency_s) == (r.ttft_s, r.tpot_s)
        assert r.ttft_s <= 0.05 and r.tpot_s <= 0.004
        assert r.tokens_per_s == pytest.approx(
            r.dp * r.pp * r.batch * OUTPUT / (r.ttft_s + OUTPUT * r.tpot_s), rel=1e-12)
        if 2 * r.batch <= MAX_BATCH:  # the next batch breaks an SLO or does not fit
            pre2 = simulate("llama-3.2-1b", "dgx-h100", "prefill", 2 * r.batch,
                            prompt=PROMPT, **kp)
            dec2 = simulate("llama-3.2-1b", "dgx-h100", "decode", 2 * r.batch,
                            context=PROMPT + OUTPUT - 1, **kw)
            assert (pre2.latency_s > 0.05 or dec2.latency_s > 0.004 or not pre2.feasible
                    or not dec2.feasible)


def test_rows_ranked_by_cost(rows) -> None:
    ok = [r for r in rows if r.meets_slo]
    costs = [r.usd_per_mtok for r in ok]
    assert not any(math.isnan(c) for c in costs)  # dgx-h100 has a price
    assert costs == sorted(costs)
    assert all(not r.meets_slo for r in rows[len(ok):])
    # same price for every layout (all 8 chips), so cheaper means more tokens/s
    assert ok[0].tokens_per_s == max(r.tokens_per_s for r in ok)


def test_impossible_slo_reports_why() -> None:
    out = plan("llama-3.2-1b", "dgx-h100", prompt=PROMPT, output=OUTPUT, ttft_slo_s=1e-6,
               tpot_slo_s=1e-6, max_batch=2)
    assert out and not any(r.meets_slo for r in out)
    assert all("over the SLO" in r.reason and r.batch == 0 for r in out)
    assert main(["plan", "--model", "llama-3.2-1b", "--hw", "dgx-h100", "--prompt", "64",
                 "--output", "8", "--ttft-ms", "0.001", "--tpot-ms", "0.001",
                 "--max-batch", "1"]) == 1


def test_bad_plan_input_is_one_line() -> None:
    with pytest.raises(InputError, match="plan: prompt must be a positive integer"):
        plan("llama-3.2-1b", "dgx-h100", prompt=0, output=8, ttft_slo_s=1, tpot_slo_s=1)
    with pytest.raises(InputError, match="plan: tpot_slo_s must be a positive number"):
        plan("llama-3.2-1b", "dgx-h100", prompt=8, output=8, ttft_slo_s=1, tpot_slo_s=-1)


def test_plan_is_a_public_name() -> None:
    import infersim as isim

    assert isim.plan is plan


@pytest.mark.slow
def test_plan_on_two_nodes_finds_ep_across_nodes_that_simulate_confirms() -> None:
    """GPT-OSS-20B (32 experts) on 2 × DGX H100: the search includes EP over data-parallel attention
    groups spanning both nodes; the chosen row's TTFT / TPOT are exactly simulate's."""
    rows = plan("gpt-oss-20b", "dgx-h100x2", prompt=128, output=16, ttft_slo_s=0.5,
                tpot_slo_s=0.05, max_batch=4)
    ok = [r for r in rows if r.meets_slo]
    assert ok
    assert any(r.attn_dp * r.tp == 16 and r.ep == 16 for r in rows)  # EP16 across nodes
    best = ok[0]
    pre = simulate("gpt-oss-20b", "dgx-h100x2", "prefill", best.batch, prompt=128,
                   **best.simulate_kwargs("prefill"))
    dec = simulate("gpt-oss-20b", "dgx-h100x2", "decode", best.batch, context=128 + 16 - 1,
                   **best.simulate_kwargs("decode"))
    assert (pre.latency_s, dec.latency_s) == (best.ttft_s, best.tpot_s)
    assert best.chips == best.dp * best.tp * best.attn_dp * best.cp * best.pp <= 16


def test_plan_uses_context_parallel_prefill_for_a_long_prompt_under_a_tight_ttft() -> None:
    """A 32k-token prompt of Llama-3.1-8B: one H100 prefills it in ~1.6 s (> the 0.5 s TTFT),
    so only layouts that split the prompt (tp or cp) qualify; cp rows are among them and
    their TTFT is simulate's context-parallel prefill."""
    rows = plan("llama-3.1-8b", "dgx-h100", prompt=32768, output=16, ttft_slo_s=0.5,
                tpot_slo_s=0.05, max_batch=1)
    one = simulate("llama-3.1-8b", "dgx-h100", "prefill", 1, prompt=32768)
    assert one.latency_s > 0.5
    cp_ok = [r for r in rows if r.meets_slo and r.cp > 1]
    assert cp_ok
    r = cp_ok[0]
    pre = simulate("llama-3.1-8b", "dgx-h100", "prefill", 1, prompt=32768,
                   **r.simulate_kwargs("prefill"))
    assert pre.latency_s == r.ttft_s <= 0.5


def test_plan_runs_a_compiled_kinds_default_software_and_a_tuned_gpu_engine(capsys) -> None:
    """Without --runtime the plan runs the hardware kind's default software, so a wafer system
    plans (a GPU-only default refused it); with --runtime/--runtime-set the chosen row's TTFT
    and TPOT are simulate's under that engine profile."""
    import json

    import infersim as isim

    assert main(["plan", "--model", "llama-3.1-8b", "--hw", "cs-3x4", "--prompt", "256",
                 "--output", "16", "--max-batch", "2", "--json"]) == 0
    wafer = json.loads(capsys.readouterr().out)
    assert any(r["meets_slo"] for r in wafer)
    argv = ["plan", "--model", "llama-3.2-1b", "--hw", "dgx-h100", "--prompt", str(PROMPT),
            "--output", str(OUTPUT), "--ttft-ms", "50", "--tpot-ms", "6", "--max-batch",
            str(MAX_BATCH), "--runtime", "vllm-v0", "--runtime-set", "step_overhead_s=0.003"]
    assert main([*argv, "--json"]) == 0
    best = next(r for r in json.loads(capsys.readouterr().out) if r["meets_slo"])
    tuned = isim.tune_runtime("dgx-h100", "vllm-v0", {"step_overhead_s": 0.003})
    kw = {k: best[k] for k in ("tp", "pp", "ep")}
    dec = simulate("llama-3.2-1b", "dgx-h100", "decode", best["batch"],
                   context=PROMPT + OUTPUT - 1, runtime=tuned, **kw)
    assert dec.latency_s == pytest.approx(best["tpot_s"], rel=1e-12)
    assert dec.latency_s > 3e-3  # the 3 ms of CPU per step is in it
    assert main(argv) == 0
    assert "runtime vllm-v0 [step_overhead_s=0.003]" in capsys.readouterr().out.splitlines()[0]
