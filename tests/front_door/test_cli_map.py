"""`infersim map` prints the mapping table; bad input exits 2 with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infersim.cli import main


def test_map_prints_tiles_and_fusion_groups(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["map", "llama-3.1-8b", "--hw", "h100-sxm", "--context", "512", "--runtime",
               "fused"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "gemm" in out and "rope+kv_write" in out and "flash_decode" in out
    assert "kernels per step" in out


def test_map_json_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "m.csv"
    rc = main(["map", "llama-3.2-1b", "--hw", "h100-sxm", "--runtime", "eager", "--json",
               "--csv", str(csv_path), "--set", "memory.hbm.bandwidth_tb_per_s=4.8"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["runtime"] == "eager" and d["host_s"] > 0 and d["ops"]
    assert csv_path.read_text().startswith("name,")


@pytest.mark.parametrize("argv", [
    ["map", "no-such-model", "--hw", "h100-sxm"],
    ["map", "llama-3.1-8b", "--hw", "h100-sxm", "--runtime", "warp"],
    ["map", "llama-3.1-8b", "--hw", "no-such-hw"],
])
def test_map_bad_input_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("infersim: error:") and "Traceback" not in err
