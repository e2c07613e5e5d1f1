"""Bad input: clear InputErrors naming the file/field/number, and exit code 2 in the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infersim.api import make_scenario
from infersim.cli import main
from infersim.foundation.errors import InputError
from infersim.workloads import build_trace, list_models, load_model
from infersim.workloads.hf_config import parse_config
from infersim.workloads.model import Family

GOOD = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128,
        "vocab_size": 100, "max_position_embeddings": 512}


def test_unknown_model_suggests_close_match() -> None:
    with pytest.raises(InputError, match=r"unknown model 'llama-3\.1-8'.*llama-3\.1-8b"):
        load_model("llama-3.1-8")


def test_names_are_case_insensitive() -> None:
    assert load_model("Llama-3.1-8B") is load_model("llama-3.1-8b")  # cached by name
    assert "llama-3.1-8b" in list_models()
    assert load_model("meta-llama/Llama-3.1-8B").name == "llama-3.1-8b"  # HF repo id


def test_missing_key_named_with_file(tmp_path: Path) -> None:
    cfg = dict(GOOD)
    del cfg["num_attention_heads"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(InputError) as e:
        load_model(str(path))
    msg = str(e.value)
    assert str(path) in msg and "missing required key 'num_attention_heads'" in msg


def test_all_problems_reported_at_once() -> None:
    cfg = dict(GOOD, hidden_size=-3)
    del cfg["vocab_size"]
    with pytest.raises(InputError) as e:
        load_model(cfg)
    assert "'hidden_size'" in str(e.value) and "'vocab_size'" in str(e.value)


def test_unsupported_model_type_named() -> None:
    with pytest.raises(InputError, match="unsupported model_type 'mamba'"):
        load_model(dict(GOOD, model_type="mamba"))


def test_family_from_architectures_when_no_model_type() -> None:
    cfg = {k: v for k, v in GOOD.items() if k != "model_type"}
    cfg["architectures"] = ["MistralForCausalLM"]
    assert parse_config(cfg, name="x", source="dict").family is Family.MISTRAL


def test_underscore_keys_ignored_and_new_model_needs_no_code(tmp_path: Path) -> None:
    path = tmp_path / "my-model" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps({**GOOD, "_comment": {"anything": 1}}))
    m = load_model(str(path.parent))  # a folder holding config.json works too
    assert m.name == "my-model" and m.hidden_size == 64


def test_non_json_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("hidden_size: 64\n")
    with pytest.raises(InputError, match="not valid JSON"):
        load_model(str(path))


def test_missing_file() -> None:
    with pytest.raises(InputError, match="no such file"):
        load_model("/nonexistent/config.json")


@pytest.mark.parametrize("batch", [-1, 0, 1.5])
def test_bad_batch(batch: float) -> None:
    with pytest.raises(InputError, match="batch"):
        make_scenario("decode", batch)  # type: ignore[arg-type]


def test_context_longer_than_max_names_both_numbers() -> None:
    with pytest.raises(InputError, match=r"9000 tokens.*max_position_embeddings = 8192"):
        build_trace("gemma-2-9b", make_scenario("prefill", 1, prompt=9000))
    with pytest.raises(InputError, match="131072"):
        build_trace("llama-3.1-8b", make_scenario("decode", 1, context=131072))


@pytest.mark.parametrize("kw, pattern", [
    (dict(tp=3), r"tp=3 must divide num_attention_heads \(32\)"),
    (dict(pp=33), r"pp=33 exceeds the 32 layers"),
    (dict(ep=2), r"ep=2 but llama-3\.1-8b has no experts"),
])
def test_bad_parallelism(kw: dict, pattern: str) -> None:
    with pytest.raises(InputError, match=pattern):
        build_trace("llama-3.1-8b", make_scenario("decode", 1, context=8, **kw))


def test_ep_must_divide_experts() -> None:
    moe = dict(GOOD, model_type="mixtral", num_local_experts=6, num_experts_per_tok=2)
    with pytest.raises(InputError, match="ep=4 must divide the 6 experts"):
        build_trace(moe, make_scenario("decode", 1, context=8, tp=4, ep=4))
    with pytest.raises(InputError, match="ep=2 must divide tp=1"):
        build_trace(moe, make_scenario("decode", 1, context=8, ep=2))


def test_cli_unknown_model_exit_2_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["trace", "llama-3.1-8", "--context", "10"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "did you mean 'llama-3.1-8b'" in err


def test_cli_models_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "deepseek-v3" in out and "mixtral-8x7b" in out
    assert main(["models", "show", "llama-3.1-8b", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["kv_bytes_per_token_bf16"] == 131072
    assert d["weight_bytes_fp8"] == pytest.approx(d["params_total"])


def test_cli_trace_csv_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "ops.csv"
    assert main(["trace", "llama-3.2-1b", "--phase", "prefill", "--prompt", "128",
                 "--csv", str(csv), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["totals"]["flops"] > 0 and csv.read_text().startswith("name,kind")
    rows = csv.read_text().strip().splitlines()
    assert len(rows) == len(d["ops"]) + 1


def test_cli_prefill_prompt_zero_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "llama-3.2-1b", "--phase", "prefill", "--prompt", "0"]) == 2
    assert "--prompt" in capsys.readouterr().err
    # not given: the shared default prompt, stated in the header
    assert main(["trace", "llama-3.2-1b", "--phase", "prefill"]) == 0
    assert "prompt 1024" in capsys.readouterr().out
