"""The serving study runner (quick mode) and its plot script."""

from __future__ import annotations

import pandas as pd
import pytest

from infersim.foundation.errors import InputError
from infersim.studies.serving import plot as study_plot
from infersim.studies.serving import run as study_run


def test_quick_study_writes_results_and_plot(tmp_path):
    df = study_run.run(tmp_path, quick=True)
    on_disk = pd.read_csv(tmp_path / "results.csv")
    assert len(df) == len(on_disk) == len(study_run.SYSTEMS) * 2
    assert set(on_disk["system"]) == {s for s, *_ in study_run.SYSTEMS}
    # every hardware kind is in the study and fits (SRAM machines use all of their SRAM)
    assert set(on_disk["kind"]) == {"gpu", "wafer", "lpu", "cim"}
    assert on_disk["feasible"].all()
    # every request either completes or is rejected (a request whose KV cannot fit one
    # pipeline micro-batch's share of the cache: Groq, 72 stages)
    assert (on_disk["completed"] + on_disk["rejected"] == on_disk["requests"]).all()
    ok = on_disk[on_disk["rejected"] == 0]
    assert set(ok["kind"]) >= {"gpu", "wafer", "cim"}
    # closed loop: with more users, throughput can only rise or stay (same hardware)
    for _, g in ok.groupby("system"):
        g = g.sort_values("users")
        assert g["throughput_tok_s"].is_monotonic_increasing
    paths = study_plot.plot(tmp_path)
    assert paths[0].read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "summary.md").exists() and (tmp_path / "config.json").exists()


def test_missing_system_spec_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(study_run, "SYSTEMS",
                        (("no-such-system", "bf16", 1, 1, 8192, "test"),))
    with pytest.raises(InputError, match="no-such-system"):
        study_run.run(tmp_path)
    assert not (tmp_path / "results.csv").exists()
