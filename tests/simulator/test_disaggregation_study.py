"""The disaggregation study runner (quick mode) and its plot script."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from infersim.foundation.errors import InputError
from infersim.studies.disaggregation import plot as study_plot
from infersim.studies.disaggregation import run as study_run


@pytest.mark.slow
def test_quick_study_writes_results_and_plot(tmp_path):
    study_run.run(tmp_path, quick=True)
    df = pd.read_csv(tmp_path / "results.csv").set_index("design")
    assert list(df.index) == [d[0] for d in study_run.DESIGNS]
    assert df["found"].all()
    # every answer meets the SLOs it was sized for
    assert (df["ttft_p99_s"] <= study_run.SLO_TTFT_S).all()
    assert (df["tpot_p99_s"] <= study_run.SLO_TPOT_S).all()
    # chips = the pools' sizes × chips per replica (decode (tp, pp) of each design)
    for name, _pre, dec, (tp, pp, _w), _why in study_run.DESIGNS:
        r = df.loc[name]
        per_decode = tp * pp if dec else 0
        assert r["chips"] == r["prefill_replicas"] + r["decode_replicas"] * per_decode
    # an SRAM-resident LPU decodes faster per token than an HBM GPU
    assert df.loc["h100 → groq", "tpot_p99_s"] < df.loc["h100 → h100", "tpot_p99_s"]
    # d-Matrix publishes no price: the design's cost is unknown, not cheaper
    assert math.isnan(df.loc["h100 → corsair", "cost_per_1m_tokens_usd"])
    assert study_plot.plot(tmp_path)[0].read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "summary.md").exists() and (tmp_path / "config.json").exists()


def test_missing_system_spec_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(study_run, "DESIGNS",
                        (("x", "dgx-h100", "no-such-system", (1, 1, "bf16"), "test"),))
    with pytest.raises(InputError, match="no-such-system"):
        study_run.run(tmp_path)
    assert not (tmp_path / "results.csv").exists()
