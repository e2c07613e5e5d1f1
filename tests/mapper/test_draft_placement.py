"""Where a speculative-decoding draft model lives in a pipeline: whole on the first stage
when that stage can hold it, else pipelined over the stages like the target (SRAM-only
machines with many stages, e.g. a 72-stage Groq deployment)."""

from __future__ import annotations

import pytest

from infersim.api import make_scenario, simulate
from infersim.hwmodels import load_hardware
from infersim.mapper import map_trace
from infersim.workloads import build_trace

INT8 = dict(weights="int8", activations="int8", kv="int8")


def _trace(model: str, phase: str = "decode", **kw):
    return build_trace(model, make_scenario(phase, 1, context=2048, **INT8, **kw))


def test_an_8b_draft_is_pipelined_over_72_groq_stages_and_holds_every_weight_once():
    sd = _trace("llama-3.1-70b", "spec_decode", tp=8, pp=72, draft_model="llama-3.1-8b")
    target = _trace("llama-3.1-70b", tp=8)  # pp 1: every weight on one chip
    draft = _trace("llama-3.1-8b", tp=8)
    assert sd.resident is not None and target.resident is not None
    assert draft.resident is not None
    # untied embeddings: the stages together hold the target's and the draft's weights once
    assert sum(sd.resident.stage_weight_bytes) == pytest.approx(
        target.resident.weight_bytes + draft.resident.weight_bytes, rel=1e-12)
    # the draft's 32 layers go to stages with room (72 stages, 8 of them hold 2 target layers)
    assert sum(sd.draft_stage_layers) == 32 and max(sd.draft_stage_layers) == 1
    busiest = max(sd.resident.stage_weight_bytes)
    assert busiest < 230.7e6  # one Groq chip's 220 MiB of SRAM
    # the same draft whole on stage 0 would need its 1 GB per chip there
    assert draft.resident.weight_bytes > 4 * 230.7e6


def test_a_draft_that_fits_the_first_stage_stays_there():
    # 4 wafers: (70.6 + 8.0) GB / 4 = 19.7 GB per stage > the 8B draft's 16 GB (bf16)
    sd = build_trace("llama-3.1-70b", make_scenario("spec_decode", 1, context=2048, pp=4,
                                                    draft_model="llama-3.1-8b"))
    assert sd.draft_stage_layers == ()
    assert {o.block for o in sd.ops if o.name == "qkv_proj" and o.count == 4 * 32} == {"draft"}


def test_spec_decoding_speeds_up_the_lpu_as_it_does_the_wafer():
    kw = dict(context=2048, draft_len=4, acceptance=0.7)
    # On the wafer a batch-1 step is mostly fabric phases, so a draft costs in proportion to
    # its layers: an 8B draft (32 layers) takes ~30% of the 70B step on four wafers and
    # 4 drafts + the 5-token verify leave no gain for its 2.77 tokens per step; a 1B draft
    # (16 layers) does.
    for hw, tp, pp, prec, draft in (("groq-576", 8, 72, INT8, "llama-3.1-8b"),
                                    ("cs-3x4", 1, 4, dict(weights="bf16"), "llama-3.2-1b")):
        base = simulate("llama-3.1-70b", hw, tp=tp, pp=pp, context=2048, **prec)
        sd = simulate("llama-3.1-70b", hw, "spec_decode", tp=tp, pp=pp,
                      draft_model=draft, **kw, **prec)
        assert base.feasible and sd.feasible, (hw, sd.schedule.infeasible)
        assert sd.tokens_per_s > base.tokens_per_s, hw
    # on the LPU the pipelined draft runs on every stage, with draft_len x pp sends
    s = map_trace(_trace("llama-3.1-70b", "spec_decode", tp=8, pp=72,
                         draft_model="llama-3.1-8b"), load_hardware("groq-576"))
    stages = {mo.stage for mo in s.ops if mo.op.block == "draft_layer"}
    assert len(stages) == 32
    sends = [mo for mo in s.ops if mo.op.name == "draft_pp_send_recv"]
    assert sum(mo.op.count for mo in sends) == 4 * 72 and {mo.op.count for mo in sends} == {4}
