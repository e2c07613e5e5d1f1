"""`infersim runtimes list|show|diff`: every profile a `--runtime` names, with the constants
`--runtime-set` changes, read from the registries themselves."""

from __future__ import annotations

import json

import pytest

from infersim.cli import main
from infersim.hwmodels.models.gpu import engines
from infersim.hwmodels.registry import MODELS


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_list_has_every_gpu_engine_and_every_compiled_profile(capsys):
    rows = _json(capsys, "runtimes", "list")
    names = [r["name"] for r in rows]
    compiled = [n for m in MODELS.values() for n in m.profiles]
    assert names == [*engines.engines(), *compiled]
    by = {r["name"]: r for r in rows}
    assert by["trtllm"]["aliases"] == "fused"
    assert by["vllm-v0"]["constants_set"] == len(engines.lookup("vllm-v0").values)
    wafer = _json(capsys, "runtimes", "list", "--kind", "wafer")
    assert [r["name"] for r in wafer] == list(MODELS[next(
        k for k in MODELS if k.value == "wafer")].profiles)


@pytest.mark.parametrize("name", list(engines.engines()))
def test_show_gives_each_knobs_value_as_the_cost_model_reads_it(capsys, name):
    d = _json(capsys, "runtimes", "show", name)
    prof = engines.lookup(name)
    assert [c["knob"] for c in d["constants"]] == list(engines.KNOBS)
    for c in d["constants"]:
        assert c["value"] == engines.knob(prof, c["knob"])
        assert c["default"] == engines.KNOBS[c["knob"]][0]
        assert c["set"] == (c["knob"] in dict(prof.values))
    assert d["source"] == prof.source


def test_show_of_vllm_v0_by_hand(capsys):
    d = _json(capsys, "runtimes", "show", "vllm-v0")
    c = {r["knob"]: r for r in d["constants"]}
    # vLLM V0: 2 ms + 20 us per sequence of CPU per step, decode graphs up to 256 sequences
    assert c["step_overhead_s"]["value"] == pytest.approx(2e-3) and c["step_overhead_s"]["set"]
    assert c["graph_max_batch"]["value"] == 256 and c["gqa_aware"]["set"] is False


def test_diff_of_an_engine_and_its_http_server_is_the_front_end(capsys):
    rows = _json(capsys, "runtimes", "diff", "sglang", "sglang-api")
    assert [r["knob"] for r in rows] == ["stream_chunk_s"]
    assert rows[0]["sglang"] == 0.0
    assert rows[0]["sglang-api"] == engines.lookup("sglang-api").value("stream_chunk_s", 0.0)
    assert _json(capsys, "runtimes", "diff", "fused", "trtllm") == []
    cross = _json(capsys, "runtimes", "diff", "sglang", "cerebras-2024-10")
    assert cross[0]["knob"] == "(kind)"


def test_text_show_marks_what_the_profile_sets(capsys):
    assert main(["runtimes", "show", "cerebras-2024-10"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("cerebras-2024-10 (wafer")
    assert "phase_overhead_s" in out and "--runtime-set" in out


@pytest.mark.parametrize("argv, words", [
    (["runtimes", "show", "sglng"], ["no such software profile", "did you mean 'sglang'"]),
    (["runtimes", "diff", "vllm", "sglang"], ["'vllm'"]),
    (["runtimes", "list", "--kind", "tpu"], ["--kind 'tpu'", "gpu"]),
])
def test_unknown_names_exit_2_with_one_line(capsys, argv, words):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    for w in words:
        assert w in err
