"""`--runtime-set KNOB=VALUE` (simulate, serve), `runtime_knobs.<knob>` (studies) and the
serving what-if `--runtime-set RUNTIME:KNOB=VALUE`: one answer through every door, and bad
input exits 2 with one line naming the flag, the knob and the fix."""

from __future__ import annotations

import json

import pytest

import infersim as isim
from infersim.cli import main
from infersim.foundation.errors import InputError
from infersim.simulator.serving import Deployment, FixedLengths, Poisson, Traffic

SGLANG_70B = ["--model", "llama-3.3-70b", "--hw", "dgx-h200", "--tp", "4", "--batch", "200",
              "--runtime", "sglang"]


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_simulate_runtime_set_is_the_api_answer_and_says_what_changed(capsys):
    d = _json(capsys, "simulate", *SGLANG_70B, "--runtime-set", "graph_max_batch=256")
    tuned = isim.tune_runtime("dgx-h200", "sglang", {"graph_max_batch": 256})
    api = isim.simulate("llama-3.3-70b", "dgx-h200", batch=200, tp=4, runtime=tuned)
    assert d["latency_s"] == pytest.approx(api.latency_s, rel=1e-12)
    assert d["runtime"] == "sglang" and d["runtime_knobs"] == {"graph_max_batch": 256.0}
    mapped = _json(capsys, "map", *SGLANG_70B[1:], "--runtime-set", "graph_max_batch=256")
    assert mapped["latency_s"] == pytest.approx(api.latency_s, rel=1e-12)
    assert mapped["runtime_knobs"] == {"graph_max_batch": 256.0}
    plain = _json(capsys, "simulate", *SGLANG_70B)
    assert "runtime_knobs" not in plain and plain["latency_s"] > d["latency_s"]
    assert main(["simulate", *SGLANG_70B, "--runtime-set", "graph_max_batch=256"]) == 0
    assert "runtime sglang [graph_max_batch=256]" in capsys.readouterr().out.splitlines()[0]


def test_serve_runtime_set_is_the_api_answer(capsys):
    argv = ["serve", "--model", "llama-3.2-1b", "--hw", "h100-sxm", "--runtime", "vllm-v0",
            "--rate", "4", "--requests", "40", "--prompt", "128", "--output", "16"]
    d = _json(capsys, *argv, "--runtime-set", "step_overhead_s=0.004")
    tuned = isim.tune_runtime("h100-sxm", "vllm-v0", {"step_overhead_s": 0.004})
    r = isim.serve("llama-3.2-1b", "h100-sxm", Traffic(Poisson(4), FixedLengths(128, 16), 40),
                   deployment=Deployment(runtime=tuned))
    assert d["tpot_p50_s"] == pytest.approx(r.to_dict()["tpot_p50_s"], rel=1e-12)
    assert d["runtime_knobs"] == {"step_overhead_s": 0.004}
    plain = _json(capsys, *argv)
    assert plain["tpot_p50_s"] < d["tpot_p50_s"]  # twice vLLM V0's 2 ms of CPU per step


def test_op_runtime_set_changes_the_host_dispatch_of_an_eager_op_by_hand(capsys):
    """An eager bf16 matmul is one cuBLAS kernel, one host dispatch: `host_node_s` 100 us in
    place of the chip's `gpu.host_launch_us` lengthens it by exactly the difference."""
    argv = ["op", "matmul", "--m", "1", "--k", "4096", "--n", "6144", "--hw", "h100-sxm",
            "--runtime", "eager"]
    base = _json(capsys, *argv)["time_s"]
    slow = _json(capsys, *argv, "--runtime-set", "host_node_s=1e-4")["time_s"]
    host = isim.load_hardware("h100-sxm").chip.params.host_launch_s
    assert slow - base == pytest.approx(1e-4 - host, rel=1e-9)


def test_disaggregated_pools_carry_their_own_knobs_into_json_and_the_header(capsys):
    """The decode pool on the same hardware runs the prefill pool's tuned runtime; on other
    hardware `--decode-runtime-set` tunes its own; both come back as names plus knobs."""
    base = ["serve", "--model", "llama-3.2-1b", "--hw", "h100-sxm", "--runtime", "vllm-v0",
            "--policy", "disaggregated", "--rate", "2", "--requests", "20", "--prompt", "256",
            "--output", "16"]
    same = _json(capsys, *base, "--decode-tp", "1", "--runtime-set", "step_overhead_s=0.003")
    assert same["decode_runtime"] == "vllm-v0"
    assert same["decode_runtime_knobs"] == same["runtime_knobs"] == {"step_overhead_s": 0.003}
    other = _json(capsys, *base, "--decode-hw", "h200-sxm", "--decode-runtime", "vllm-v0",
                  "--decode-runtime-set", "step_overhead_s=0.004")
    assert other["decode_runtime_knobs"] == {"step_overhead_s": 0.004}
    assert "runtime_knobs" not in other
    plain = _json(capsys, *base, "--decode-hw", "h200-sxm", "--decode-runtime", "vllm-v0")
    assert other["tpot_p50_s"] > plain["tpot_p50_s"]  # 4 ms of CPU per decode step, not 2
    assert main([*base, "--decode-hw", "h200-sxm", "--decode-runtime", "vllm-v0",
                 "--decode-runtime-set", "step_overhead_s=0.004"]) == 0
    assert "runtime vllm-v0 [step_overhead_s=0.004]" in capsys.readouterr().out.splitlines()[0]


@pytest.mark.parametrize("argv, words", [
    (["simulate", "--runtime-set", "graph_max_bach=1"],
     ["--runtime-set graph_max_bach", "did you mean 'graph_max_batch'"]),
    (["simulate", "--runtime-set", "graph_max_batch"], ["expected KNOB=VALUE"]),
    (["simulate", "--runtime-set", "cuda_graphs=yes"], ["cuda_graphs", "a number"]),
    (["serve", "--runtime", "trtllm", "--runtime-set", "kv_free_fraction=1.5"],
     ["kv_free_fraction=1.5", "from 0 to 1"]),
    (["simulate", "--hw", "cpu-host", "--runtime-set", "step_overhead_s=1"],
     ["no software profile"]),
    (["serve", "--runtime", "vllm-v0", "--scheduler-steps", "2", "--runtime-set",
      "scheduler_steps=4"], ["--scheduler-steps and --runtime-set", "give one"]),
    (["serve", "--decode-runtime-set", "step_overhead_s=1"], ["need --policy disaggregated"]),
    (["serve", "--policy", "disaggregated", "--decode-hw", "groq-576", "--decode-tp", "8",
      "--decode-pp", "8", "--decode-runtime-set", "graph_max_batch=4"],
     ["--decode-runtime-set graph_max_batch", "groq-2024"]),
])
def test_bad_runtime_set_exits_2_with_one_line(capsys, argv, words):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    for w in words:
        assert w in err


def test_a_study_sweeps_runtime_knobs_with_the_api_numbers(tmp_path, write_study):
    from infersim.studies.runner import run_sweep
    from infersim.studies.spec import load_study

    study = load_study(write_study("""
        name: sglang-graph-cap
        evaluate: simulate
        fixed:
          model: llama-3.3-70b
          hardware: dgx-h200
          runtime: sglang
          scenario: {phase: decode, batch: 200, context: 1024, tp: 4}
        sweep:
          runtime_knobs.graph_max_batch: [160, 256]
        metrics: [latency_s]
    """))
    df = run_sweep(study, tmp_path / "out", executor="inline", progress=False).frame
    got = dict(zip(df["runtime_knobs.graph_max_batch"], df["latency_s"], strict=True))
    for cap in (160, 256):
        tuned = isim.tune_runtime("dgx-h200", "sglang", {"graph_max_batch": cap})
        api = isim.simulate("llama-3.3-70b", "dgx-h200", batch=200, context=1024, tp=4,
                            runtime=tuned)
        assert got[cap] == pytest.approx(api.latency_s, rel=1e-12)
    assert got[256] < got[160]


def test_a_study_names_a_misspelt_or_bad_runtime_knob(write_study):
    from infersim.foundation.errors import SpecError
    from infersim.studies.spec import load_study

    with pytest.raises(SpecError) as e:
        load_study(write_study("""
            name: bad-knob
            evaluate: simulate
            fixed: {runtime: sglang, runtime_knobs: {cuda_graphs: -0.5}}
            sweep:
              runtime_knobs.graph_max_bach: [160, 256]
        """))
    text = str(e.value)
    assert "sweep.runtime_knobs.graph_max_bach: unknown runtime knob" in text
    assert "did you mean 'graph_max_batch'" in text
    assert "fixed.runtime_knobs.cuda_graphs" in text and "-1: the chip's figure" in text


def test_the_serving_what_if_changes_the_rows_of_one_runtime():
    from infersim.validation.datasets import serving_published as sp

    knobs = sp.parse_knobs(["sglang-api:step_overhead_per_seq_s=1e-4"])
    assert knobs == {"sglang-api": {"step_overhead_per_seq_s": 1e-4}}
    by_id = {r["id"]: r for r in sp.rows()}
    row = by_id["sglang04-70b-4xh200-sharegpt-rps4-itl"]  # an SGLang 0.4 row: sglang-api
    other = by_id["sglang030-8b-a100-itl-rps4"]  # sglang-v03-api: not that runtime
    assert sp.predict(row, knobs=knobs)[0] > sp.predict(row)[0]
    assert sp.predict(other, knobs=knobs)[0] == sp.predict(other)[0]
    for item, words in (("sglang-api:graph_max_bach=1", "did you mean 'graph_max_batch'"),
                        ("sglang:output_token_s=1", "no graded row runs 'sglang'"),
                        ("output_token_s=1", "expected RUNTIME:KNOB=VALUE")):
        with pytest.raises(InputError, match=words):
            sp.parse_knobs([item])


def test_serve_memory_share_follows_the_engines_kv_convention(capsys):
    """vLLM takes --gpu-memory-utilization of the whole memory; TensorRT-LLM sizes its KV
    cache from the memory the weights leave free, so the flag is refused there (one line,
    exit 2) and --runtime-set kv_free_fraction moves its KV cache instead."""
    base = ["serve", "--model", "llama-3.1-8b", "--hw", "h100-sxm", "--rate", "2",
            "--requests", "20", "--prompt", "128", "--output", "16", "--json"]
    assert main([*base, "--runtime", "trtllm", "--gpu-memory-utilization", "0.8"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--gpu-memory-utilization" in err and "kv_free_fraction" in err
    assert main([*base, "--runtime", "trtllm"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main([*base, "--runtime", "trtllm", "--runtime-set", "kv_free_fraction=0.5"]) == 0
    half = json.loads(capsys.readouterr().out)
    assert half["kv_blocks"] < plain["kv_blocks"]
    assert main([*base, "--runtime", "vllm-v1", "--gpu-memory-utilization", "0.8"]) == 0
    low = json.loads(capsys.readouterr().out)
    assert main([*base, "--runtime", "vllm-v1"]) == 0
    assert low["kv_blocks"] < json.loads(capsys.readouterr().out)["kv_blocks"]
