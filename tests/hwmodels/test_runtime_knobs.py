"""Software stacks as a design axis (`hwmodels.runtime_knobs`): a runtime profile with some
of its constants changed moves the answer by what the constant means, and a bad knob is one
InputError naming it and the fix."""

from __future__ import annotations

import pytest

import infersim as isim
from infersim.foundation.errors import InputError
from infersim.hwmodels.models.gpu import engines
from infersim.hwmodels.runtime_knobs import changed_knobs, knob_names, tune_runtime


def _decode(runtime, model="llama-3.1-8b", hw="h100-sxm", batch=8, **kw) -> float:
    return isim.simulate(model, hw, batch=batch, runtime=runtime, **kw).latency_s


def test_the_per_step_cpu_time_of_vllm_v0_adds_what_it_is_set_to():
    hw = isim.load_hardware("h100-sxm")
    base = engines.lookup("vllm-v0")
    fixed = base.value("step_overhead_s", -1.0)  # vLLM V0's per-step CPU time, 2 ms
    per_seq = base.value("step_overhead_per_seq_s", 0.0)  # and 144.6 us per running sequence
    assert (fixed, per_seq) == pytest.approx((2e-3, 144.6e-6), rel=1e-12)
    t0 = _decode("vllm-v0")
    # the step waits for its CPU time (no overlap in V0): the step grows by the change
    t1 = _decode(tune_runtime(hw, "vllm-v0", {"step_overhead_s": 5e-3}))
    assert t1 - t0 == pytest.approx(5e-3 - fixed, rel=1e-9)
    t2 = _decode(tune_runtime(hw, "vllm-v0", {"step_overhead_per_seq_s": 1e-4}))
    assert t2 - t0 == pytest.approx(8 * (1e-4 - per_seq), rel=1e-9)


def test_a_cuda_graph_cap_above_the_batch_graphs_the_step_as_an_uncapped_one():
    hw = isim.load_hardware("dgx-h200")
    kw = dict(model="llama-3.3-70b", hw=hw, batch=200, tp=4)
    assert engines.lookup("sglang").value("graph_max_batch", 0) == 160
    capped = _decode("sglang", **kw)  # 200 > 160: the decode step runs eagerly
    raised = _decode(tune_runtime(hw, "sglang", {"graph_max_batch": 256}), **kw)
    uncapped = _decode(tune_runtime(hw, "sglang", {"graph_max_batch": 0}), **kw)
    assert raised == pytest.approx(uncapped, rel=1e-12)
    assert raised < capped  # graphs remove the host dispatch of every kernel
    # and a batch inside the cap was graphed already: the cap does not touch it
    small = dict(kw, batch=128)
    assert _decode(tune_runtime(hw, "sglang", {"graph_max_batch": 256}), **small) == \
        pytest.approx(_decode("sglang", **small), rel=1e-12)


def test_minus_one_means_the_chips_figure_as_the_default_does():
    hw = isim.load_hardware("h100-sxm")
    tuned = tune_runtime(hw, "graph", {"step_overhead_s": -1})
    assert _decode(tuned) == pytest.approx(_decode("graph"), rel=1e-12)


def test_a_compiled_profiles_own_constant_moves_the_wafer_step():
    hw = isim.load_hardware("cs-3")
    base = tune_runtime(hw, None, {})  # no change: the kind's default profile
    t_ph = base.value("phase_overhead_s", 0.0)
    slower = tune_runtime(hw, None, {"phase_overhead_s": 10 * t_ph})
    assert base.name == slower.name == "cerebras-2024-10"
    assert changed_knobs(slower) == {"phase_overhead_s": 10 * t_ph}
    assert _decode(slower, hw=hw, batch=1) > _decode(None, hw=hw, batch=1)
    # only the names the profile sets: a GPU engine knob is not a wafer constant
    assert set(knob_names(base)) == {"layer_regions", "phase_overhead_s", "io_handoff_s"}
    with pytest.raises(InputError, match="not a constant of runtime 'cerebras-2024-10'"):
        tune_runtime(hw, None, {"graph_max_batch": 1})


def test_the_api_and_the_profile_built_by_hand_agree():
    hw = isim.load_hardware("h100-sxm")
    by_hand = engines.lookup("trtllm").with_values(attention_efficiency=0.5)
    api = isim.tune_runtime("h100-sxm", "trtllm", {"attention_efficiency": 0.5})
    assert api == by_hand
    # an 8k-token prompt: its attention runs on the tensor cores (a decode step's reads KV)
    kw = dict(phase="prefill", batch=1, prompt=8192)
    assert _decode(api, **kw) == pytest.approx(_decode(by_hand, hw=hw, **kw), rel=1e-12)
    assert _decode(api, **kw) > _decode("trtllm", **kw)  # a slower attention kernel


@pytest.mark.parametrize("knobs, words", [
    ({"graph_max_bach": 1}, ["graph_max_bach", "did you mean 'graph_max_batch'"]),
    ({"graph_max_batch": -2}, ["graph_max_batch=-2", "≥ 0"]),
    ({"step_overhead_s": -2}, ["step_overhead_s=-2", "or -1 (the chip's figure)"]),
    ({"cuda_graphs": True}, ["cuda_graphs", "switches take 1 or 0"]),
    ({"stream_chunk_s": "fast"}, ["stream_chunk_s", "expected a number"]),
    ({"attention_efficiency": float("nan")}, ["attention_efficiency", "finite"]),
])
def test_a_bad_knob_is_one_line_naming_it_and_the_fix(knobs, words):
    with pytest.raises(InputError) as e:
        tune_runtime(isim.load_hardware("h100-sxm"), "sglang", knobs, flag="--runtime-set")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("--runtime-set")
    for w in words:
        assert w in msg


def test_a_kind_without_software_constants_says_so():
    with pytest.raises(InputError, match="has no software profile"):
        tune_runtime(isim.load_hardware("cpu-host"), None, {"step_overhead_s": 1e-3})
    with pytest.raises(InputError, match="knobs: expected a dict"):
        isim.tune_runtime("h100-sxm", "sglang", [("graph_max_batch", 1)])
