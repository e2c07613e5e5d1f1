"""One answer everywhere: the same scenario through every command and the API gives the same
numbers, headers state what was simulated, JSON carries numbers as numbers, and the
diagnostics fire where a reader would otherwise be misled."""

from __future__ import annotations

import argparse
import json

import pytest

import infersim as isim
from infersim.cli import build_parser, main


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def run_text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


# -- 1. one vocabulary, one set of defaults -------------------------------------------------

def test_map_and_simulate_agree_on_the_default_scenario(capsys):
    sim = run_json(capsys, "simulate", "--model", "llama-3.1-8b", "--hw", "h100-sxm")
    mapped = run_json(capsys, "map", "llama-3.1-8b", "--hw", "h100-sxm")
    api = isim.simulate("llama-3.1-8b", "h100-sxm")
    assert sim["context"] == mapped["scenario"]["context"] == api.scenario.context
    assert mapped["latency_s"] == pytest.approx(sim["latency_s"], rel=1e-12)
    assert api.latency_s == pytest.approx(sim["latency_s"], rel=1e-12)
    # the same step with the context given explicitly: the default is the number it shows
    explicit = run_json(capsys, "map", "llama-3.1-8b", "--context", str(sim["context"]))
    assert explicit["latency_s"] == pytest.approx(sim["latency_s"], rel=1e-12)


def test_trace_uses_the_same_default_context(capsys):
    tr = run_json(capsys, "trace", "llama-3.1-8b")
    sim = run_json(capsys, "simulate", "--model", "llama-3.1-8b")
    assert tr["context"] == sim["context"]
    # the per-chip trace FLOPs are the ones simulate reports
    assert tr["totals"]["flops"] == pytest.approx(sim["flops"])


def test_map_and_simulate_agree_on_a_parallel_fp8_scenario(capsys):
    args = ["--hw", "dgx-h100", "--tp", "8", "--weights", "fp8", "--batch", "16",
            "--context", "4096", "--runtime", "fused"]
    sim = run_json(capsys, "simulate", "--model", "llama-3.1-70b", *args)
    mapped = run_json(capsys, "map", "llama-3.1-70b", *args)
    assert mapped["latency_s"] == pytest.approx(sim["latency_s"], rel=1e-12)
    assert mapped["energy_j"] == pytest.approx(sim["energy_j"], rel=1e-12)


@pytest.mark.parametrize("argv", [
    ["simulate"], ["map", "llama-3.1-8b"], ["serve", "--requests", "20"],
])
def test_headers_state_model_hardware_overrides_scenario_runtime(capsys, argv):
    out = run_text(capsys, *argv, "--hw", "h100-sxm",
                   "--set", "memory.hbm.bandwidth_tb_per_s=4.8")
    head = out.splitlines()[0]
    assert "llama-3.1-8b" in head and "h100-sxm" in head
    assert "memory.hbm.bandwidth_tb_per_s=4.8" in head
    assert "runtime graph" in head
    assert "bf16 weights" in head


def test_overrides_are_in_json(capsys):
    d = run_json(capsys, "simulate", "--set", "memory.hbm.bandwidth_tb_per_s=4.8")
    assert d["hardware_overrides"] == {"memory.hbm.bandwidth_tb_per_s": 4.8}


def _leaves(p: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, p
    for a in subs:
        for name, sp in a.choices.items():
            yield from _leaves(sp, (*path, name))


def test_every_command_has_json():
    leaves = list(_leaves(build_parser()))
    assert len(leaves) >= 15
    missing = [" ".join(path) for path, sp in leaves
               if not any("--json" in a.option_strings for a in sp._actions)]
    assert missing == []


def test_hw_validate_and_roofline_json(capsys, tmp_path):
    from infersim.hwmodels.loader import SPEC_DIR

    good = SPEC_DIR / "h100-sxm.yaml"
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("capacity_gb: 85.52", "capacity_gb: -85.52"))
    assert main(["hw", "validate", str(good), str(bad), "--json"]) == 2
    res = json.loads(capsys.readouterr().out)
    assert [r["ok"] for r in res] == [True, False]
    assert res[1]["problems"] and all(isinstance(p, str) for p in res[1]["problems"])
    out = tmp_path / "r.png"
    d = run_json(capsys, "roofline", "-o", str(out))
    assert out.is_file() and d["file"] == str(out)
    assert all(isinstance(p["flops"], float) for p in d["ops"])


def test_op_from_csv_json_numbers_are_numbers(capsys, tmp_path):
    f = tmp_path / "shapes.csv"
    f.write_text("op,m,k,n,dtype\nmatmul,1,4096,6144,bf16\n")
    rows = run_json(capsys, "op", "--from-csv", str(f))
    assert rows[0]["m"] == 1 and rows[0]["k"] == 4096 and rows[0]["n"] == 6144
    assert all(isinstance(rows[0][k], int) for k in ("m", "k", "n"))
    single = run_json(capsys, "op", "matmul", "--m", "1", "--k", "4096", "--n", "6144")
    assert single["time_s"] == pytest.approx(rows[0]["time_s"])


# -- 2. output semantics ---------------------------------------------------------------------

def test_prefill_reports_prompt_tokens_per_s_and_ttft(capsys):
    d = run_json(capsys, "simulate", "--phase", "prefill", "--prompt", "2048", "--batch", "2")
    lat = d["latency_s"]
    assert d["prompt_tokens_per_s"] == pytest.approx(2 * 2048 / lat)
    assert d["ttft_s"] == pytest.approx(lat)
    assert d["tokens_per_s"] == pytest.approx(2 / lat)  # first tokens generated
    assert "context" not in d  # a prefill has none
    head = run_text(capsys, "simulate", "--phase", "prefill", "--prompt", "2048").splitlines()[0]
    assert "prompt 2048" in head and "context" not in head
    r = isim.simulate("llama-3.1-8b", "h100-sxm", phase="prefill", prompt=2048, batch=2)
    assert r.prompt_tokens_per_s == pytest.approx(d["prompt_tokens_per_s"])
    assert r.ttft_s == pytest.approx(lat)


def test_prefill_prompt_zero_is_an_error(capsys):
    assert main(["simulate", "--phase", "prefill", "--prompt", "0"]) == 2
    assert "--prompt" in capsys.readouterr().err
    from infersim.foundation.errors import InputError

    with pytest.raises(InputError):
        isim.simulate("llama-3.1-8b", "h100-sxm", phase="prefill", prompt=0)


def test_decode_reports_tokens_per_s_and_per_user(capsys):
    d = run_json(capsys, "simulate", "--batch", "8")
    assert d["tokens_per_s"] == pytest.approx(8 / d["latency_s"])
    assert d["tokens_per_s_per_user"] == pytest.approx(1 / d["latency_s"])
    assert d["prompt_tokens_per_s"] is None and d["ttft_s"] is None


def test_energy_scopes_match_between_simulate_and_serve(capsys):
    """70B fp8, TP8 on a DGX H100, batch 1: one user in a closed loop is a batch-1 decode most
    of the time, so serve's chips-only J/token must be simulate's plus the prefill's share."""
    hw = isim.load_hardware("dgx-h100")
    common = ["--model", "llama-3.1-70b", "--hw", "dgx-h100", "--tp", "8", "--weights", "fp8"]
    sim = run_json(capsys, "simulate", *common, "--context", "1152")
    srv = run_json(capsys, "serve", *common, "--arrival", "closed", "--users", "1",
                   "--requests", "10", "--prompt", "1024", "--output", "256")
    assert srv["energy_per_token_j"] == pytest.approx(sim["energy_per_token_j"], rel=0.05)
    # system scope = chips + the spec's extra power (hosts, switches, fans) for the time
    extra = hw.extra_power_w
    assert extra > 0
    assert sim["system_energy_per_token_j"] == pytest.approx(
        sim["energy_per_token_j"] + extra * sim["latency_s"], rel=1e-9)
    per_tok_s = srv["duration_s"] / srv["output_tokens"]
    assert srv["system_energy_per_token_j"] == pytest.approx(
        srv["energy_per_token_j"] + extra * per_tok_s, rel=1e-9)
    assert srv["system_energy_per_token_j"] == pytest.approx(
        sim["system_energy_per_token_j"], rel=0.05)
    text = run_text(capsys, "serve", *common, "--arrival", "closed", "--users", "1",
                    "--requests", "10")
    assert "energy per output token (chips only)" in text
    assert "energy per output token (+ host & network)" in text


def test_sweep_energy_is_simulate_energy():
    from infersim.studies.evaluate import simulate_metrics

    params = {"model": "llama-3.1-70b", "hardware": "dgx-h100", "runtime": "graph",
              "scenario.tp": 8, "scenario.weights": "fp8"}
    m = simulate_metrics(params)
    r = isim.simulate("llama-3.1-70b", "dgx-h100", tp=8, weights="fp8")
    assert m["latency_s"] == pytest.approx(r.latency_s)
    assert m["energy_per_token_j"] == pytest.approx(r.energy_per_token_j)
    assert m["system_energy_per_token_j"] == pytest.approx(r.system_energy_per_token_j)


# -- 3. diagnostics --------------------------------------------------------------------------

def test_overload_is_diagnosed(capsys):
    argv = ["serve", "--model", "llama-3.1-70b", "--hw", "dgx-h100", "--tp", "8",
            "--rate", "40", "--requests", "1000"]
    d = run_json(capsys, *argv)
    codes = [x["code"] for x in d["diagnostics"]]
    assert "overloaded" in codes
    assert d["throughput_req_s"] < 0.95 * 40
    assert "overloaded" in run_text(capsys, *argv)
    light = run_json(capsys, *argv[:-4], "--rate", "1", "--requests", "100")
    assert "overloaded" not in [x["code"] for x in light["diagnostics"]]


def test_weight_streaming_is_diagnosed(capsys):
    d = run_json(capsys, "simulate", "--model", "llama-3.1-70b", "--hw", "cs-3x4",
                 "--batch", "64")
    assert d["weights_on_chip"] < 1
    assert "weights_streamed" in [x["code"] for x in d["diagnostics"]]
    ok = run_json(capsys, "simulate", "--model", "llama-3.1-70b", "--hw", "cs-3x4",
                  "--batch", "1", "--pp", "4")
    assert ok["weights_on_chip"] == 1
    assert "weights_streamed" not in [x["code"] for x in ok["diagnostics"]]


def test_kv_full_and_preemptions_are_diagnosed(capsys):
    d = run_json(capsys, "serve", "--rate", "5", "--requests", "200",
                 "--gpu-memory-utilization", "0.25", "--prompt", "2048", "--output", "1024")
    codes = [x["code"] for x in d["diagnostics"]]
    assert d["preemptions"] > 0 and "preemptions" in codes and "kv_full" in codes


def test_cheaper_parallelism_is_diagnosed(capsys):
    # 8B bf16 is ~16 GB: it fits on one 80 GB H100, so TP8 uses 8× the chips it needs
    d = run_json(capsys, "simulate", "--hw", "dgx-h100", "--tp", "8")
    assert "fewer_chips_fit" in [x["code"] for x in d["diagnostics"]]
    one = run_json(capsys, "simulate", "--hw", "h100-sxm")
    assert "fewer_chips_fit" not in [x["code"] for x in one["diagnostics"]]
    srv = run_json(capsys, "serve", "--hw", "dgx-h100", "--tp", "8", "--requests", "20")
    assert "fewer_chips_fit" in [x["code"] for x in srv["diagnostics"]]


# -- 4. human numbers, exact JSON, short repr -------------------------------------------------

def test_op_table_uses_engineering_units(capsys):
    out = run_text(capsys, "op", "matmul", "--m", "1", "--k", "4096", "--n", "6144")
    assert "µs" in out and "e-0" not in out


def test_simulate_csv_says_what_it_wrote(capsys, tmp_path):
    f = tmp_path / "ops.csv"
    out = run_text(capsys, "simulate", "--csv", str(f))
    assert f.is_file() and str(f) in out and "wrote" in out


def test_short_repr_and_html():
    r = isim.simulate("llama-3.1-8b", "h100-sxm")
    assert len(repr(r)) < 300 and "llama-3.1-8b" in repr(r)
    html = r._repr_html_()
    assert "<table>" in html and "step latency" in html
    from infersim.simulator import FixedLengths, Poisson, Traffic

    s = isim.serve("llama-3.1-8b", "h100-sxm", Traffic(Poisson(1), FixedLengths(128, 16), 20))
    assert len(repr(s)) < 300 and "TTFT" in repr(s)
    assert "<table>" in s._repr_html_()


def test_a_sweep_gives_the_same_step_as_simulate_and_map(tmp_path, capsys):
    """The same scenario through a study sweep, `simulate`, `map` and the API: one latency and
    one chips-only energy (the sweep fills the same defaults: context 1024, runtime graph)."""
    from infersim.studies.runner import run_sweep
    from infersim.studies.spec import parse_study

    study = parse_study({"name": "same", "fixed": {"model": "llama-3.1-8b",
                                                   "hardware": "h100-sxm"},
                         "sweep": {"scenario.batch": [1, 8]}, "search": {"method": "grid"}})
    df = run_sweep(study, tmp_path / "s", executor="inline", progress=False,
                   write_outputs=False).frame.set_index("scenario.batch")
    for b in (1, 8):
        sim = run_json(capsys, "simulate", "--batch", str(b))
        mapped = run_json(capsys, "map", "llama-3.1-8b", "--batch", str(b))
        assert df.loc[b, "latency_s"] == pytest.approx(sim["latency_s"], rel=1e-12)
        assert mapped["latency_s"] == pytest.approx(sim["latency_s"], rel=1e-12)
        assert df.loc[b, "energy_per_token_j"] == pytest.approx(sim["energy_per_token_j"],
                                                                rel=1e-12)
