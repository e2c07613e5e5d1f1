"""`python -m infersim.validation.fitting.llmcompass_a100 --check`: the refit beside the
committed calibration and each one's loss on today's model, writing nothing (the committed
file has drifted from its refit: validation/data/llmcompass/README.md)."""

from __future__ import annotations

import json
import math

import pytest

from infersim.hwmodels import load_hardware
from infersim.validation.datasets import llmcompass_a100 as D
from infersim.validation.fitting import llmcompass_a100 as F

COMMITTED = json.loads(D.CALIBRATION.read_text())


def _huber_by_hand(r: float, delta: float = 0.05) -> float:
    a = abs(r)
    return 0.5 * a * a if a <= delta else delta * (a - 0.5 * delta)


def test_calibration_loss_is_the_mean_huber_of_the_calibration_rows_by_hand() -> None:
    # the data set's own frame at the committed constants, its calibration half, in log space
    hw = F.with_gpu(load_hardware(D.SPEC), **COMMITTED["gpu"])
    df = D.frame(hw, COMMITTED["harness"])
    cal = df[df["split"] == "calibration"]
    assert len(cal) == COMMITTED["rows_stage1"]
    by_hand = sum(_huber_by_hand(math.log(p / m))
                  for p, m in zip(cal["predicted"], cal["measured"], strict=True)) / len(cal)
    assert F.calibration_loss(COMMITTED["gpu"], COMMITTED["harness"]) == pytest.approx(
        by_hand, rel=1e-12)


def test_check_writes_nothing_and_prints_both(tmp_path, monkeypatch, capsys) -> None:
    copy = tmp_path / "calibration.json"
    copy.write_text(D.CALIBRATION.read_text())
    before = copy.read_bytes()
    canned = {**COMMITTED, "gpu": {**COMMITTED["gpu"], "hbm_read_efficiency": 0.5},
              "loss_stage1": 0.123}
    monkeypatch.setattr(F, "CALIBRATION", copy)
    monkeypatch.setattr(F, "fit", lambda: canned)
    assert F.main(["--check"]) == 0
    out = capsys.readouterr().out
    assert copy.read_bytes() == before
    line = next(x for x in out.splitlines() if x.startswith("hbm_read_efficiency"))
    assert line.split()[1:] == [f"{COMMITTED['gpu']['hbm_read_efficiency']:.6g}", "0.5"]
    now = F.calibration_loss(COMMITTED["gpu"], COMMITTED["harness"])
    assert f"on today's model {now:.6g}" in out and "of the refit 0.123" in out


@pytest.mark.parametrize("text,field", [
    (None, "not found"),
    ("{not json", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"gpu": {}, "harness": {}, "loss_stage1": 0.1}', "field gpu.hbm_read_efficiency"),
    (json.dumps({**COMMITTED, "harness": {**COMMITTED["harness"], "compiled_s": "x"}}),
     "field harness.compiled_s"),
])
def test_check_on_a_bad_calibration_file_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys,
                                                                text, field) -> None:
    path = tmp_path / "calibration.json"
    if text is not None:
        path.write_text(text)
    monkeypatch.setattr(F, "CALIBRATION", path)

    def no_fit() -> dict:
        raise AssertionError("the file is checked before the refit")

    monkeypatch.setattr(F, "fit", no_fit)
    assert F.main(["--check"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(path) in err and field in err and "fix:" in err
