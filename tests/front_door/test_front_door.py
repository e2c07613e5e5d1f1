"""The public contract of design.md §2: API and CLI, end to end."""

import json

import pytest

import infersim as isim
from infersim.cli import main

# Published: Llama-3.1-8B has 8.03 B parameters, of which the input embedding table is
# 128256 × 4096 (config.json); a decode step gathers one embedding row, so the weights read per
# step are the rest. H100 SXM HBM3 peak 3.35 TB/s.
LLAMA8B_WEIGHT_BYTES_BF16 = (8.03e9 - 128256 * 4096) * 2
H100_HBM_BPS = 3.35e12


def test_decode_respects_the_bandwidth_bound():
    r = isim.simulate("llama-3.1-8b", "h100-sxm", phase="decode", batch=1, context=1024)
    floor = LLAMA8B_WEIGHT_BYTES_BF16 / H100_HBM_BPS  # ≈ 4.8 ms: weights read once per token
    assert r.latency_s >= 0.99 * floor
    assert r.tokens_per_s <= 1.01 / floor
    assert r.energy_j > 0
    assert len(r.ops) > 5
    assert r.feasible


def test_prefill_and_eager_run():
    r = isim.simulate("llama-3.1-8b", "h100-sxm", phase="prefill", batch=1, prompt=2048,
                      runtime="eager")
    # prefill of 2048 tokens needs ≈ 2·8.03e9·2048 FLOP (matmuls) at ≤ 989 TFLOP/s
    assert r.latency_s >= 2 * 8.03e9 * 2048 / 989.4e12 * 0.95


def test_predict_op_matmul_and_attention_positive(h100):
    t = isim.predict_op(isim.ops.matmul(m=1, k=4096, n=6144, dtype="bf16"), h100)
    assert t >= 4096 * 6144 * 2 / H100_HBM_BPS
    a = isim.predict_op(isim.ops.attention(batch=1, heads=32, kv_heads=8, head_dim=128,
                                           q_len=1, kv_len=1024, causal=False, dtype="bf16"), h100)
    assert a >= 2 * 8 * 1024 * 128 * 2 / H100_HBM_BPS


def test_cli_simulate_json(capsys):
    assert main(["simulate", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["model"] == "llama-3.1-8b" and d["hardware"] == "h100-sxm"
    assert d["latency_s"] > 0 and d["tokens_per_s"] > 0


def test_cli_simulate_table(capsys):
    assert main(["simulate"]) == 0
    out = capsys.readouterr().out
    assert "step latency" in out and "tokens/s" in out


@pytest.mark.parametrize("argv,needle", [
    (["simulate", "--model", "llama-3.1-8c"], "llama-3.1-8b"),  # close match suggested
    (["simulate", "--hw", "h100-sxn"], "h100-sxm"),
    (["simulate", "--batch", "-1"], "batch"),
    (["simulate", "--runtime", "turbo"], "runtime"),
    (["simulate", "--weights", "bf61"], "bf16"),
])
def test_cli_bad_input_is_one_clean_error(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err


def test_cli_non_integer_batch_exit_2(capsys):
    assert main(["simulate", "--batch", "1.5"]) == 2
    assert "integer" in capsys.readouterr().err


def test_cli_op_single_and_csv(tmp_path, capsys):
    assert main(["op", "matmul", "--m", "1", "--k", "4096", "--n", "6144", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["time_s"] > 0
    csv = tmp_path / "shapes.csv"
    csv.write_text("op,m,k,n,batch,heads,kv_heads,head_dim,q_len,kv_len,causal,dtype\n"
                   "matmul,1,4096,6144,,,,,,,,bf16\n"
                   "attention,,,,1,32,8,128,1,1024,false,bf16\n")
    assert main(["op", "--from-csv", str(csv), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and rows[0]["time_s"] == pytest.approx(one["time_s"])


def test_cli_op_csv_bad_row_names_line(tmp_path, capsys):
    csv = tmp_path / "bad.csv"
    csv.write_text("op,m,k,n\nmatmul,1,4096,6144\nmatmul,1,,6144\n")
    assert main(["op", "--from-csv", str(csv)]) == 2
    assert ":3:" in capsys.readouterr().err


def test_cli_notes_unused_chips_of_a_system(capsys):
    assert main(["simulate", "--model", "llama-3.1-70b", "--hw", "cs-3x4"]) == 0
    assert "uses 1 of the system's 4 chips" in capsys.readouterr().out
    assert main(["simulate", "--model", "llama-3.1-70b", "--hw", "cs-3x4", "--pp", "4",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["chips_used"], d["chips_in_system"]) == (4, 4)
