"""The one cost-per-token model (`hwmodels.economics`), checked by hand arithmetic."""

from __future__ import annotations

import math

import pytest

from infersim.foundation.errors import InputError
from infersim.hwmodels.economics import (
    Economics,
    amortized_capex_usd_per_hour,
    cost_note,
    cost_per_mtok_usd,
    implied_usd_per_chip_hour,
)

LIFE_S = 4 * 365.25 * 86400  # default: 4 years of straight-line depreciation


def test_cost_per_mtok_by_hand() -> None:
    # $240k of hardware, 1000 tok/s, 1 J/token, US$0.10/kWh, PUE 1, always busy:
    # capex 240000 / (LIFE_S × 1000) per token; energy 1 J / 3.6e6 J/kWh × 0.10 per token
    want = 1e6 * (240000 / (LIFE_S * 1000) + 0.10 / 3.6e6)
    assert cost_per_mtok_usd(240000, 1000, 1.0) == pytest.approx(want, rel=1e-12)
    # half utilization doubles the capex share; PUE 1.5 multiplies the energy share
    e = Economics(utilization=0.5, pue=1.5)
    want2 = 1e6 * (240000 / (LIFE_S * 0.5 * 1000) + 1.5 * 0.10 / 3.6e6)
    assert cost_per_mtok_usd(240000, 1000, 1.0, e) == pytest.approx(want2, rel=1e-12)


def test_capex_per_hour_and_implied_chip_hour_by_hand() -> None:
    assert amortized_capex_usd_per_hour(35064.0) == pytest.approx(35064.0 / LIFE_S * 3600)
    assert Economics().hourly_capex_usd(35064.0) == amortized_capex_usd_per_hour(35064.0)
    # $2 per 1M tokens at 10,000 tok/s on 8 chips: $0.072 per second → $9 per chip-hour
    assert implied_usd_per_chip_hour(2.0, 10_000, 8) == pytest.approx(9.0)


def test_unknown_price_is_nan_with_a_note() -> None:
    assert math.isnan(cost_per_mtok_usd(0.0, 1000, 1.0))
    assert math.isnan(cost_per_mtok_usd(1e5, 0.0, 1.0))
    note = cost_note(0.0, "corsair-8")
    assert "no price" in note and "corsair-8" in note
    assert cost_note(30000.0, "h100-sxm") == ""


@pytest.mark.parametrize("bad", [{"lifetime_years": 0}, {"utilization": 1.5},
                                 {"utilization": 0}, {"pue": 0.9}, {"usd_per_kwh": -1},
                                 {"lifetime_years": float("nan")}, {"pue": "1.2"}])
def test_bad_assumptions_are_input_errors(bad: dict[str, object]) -> None:
    with pytest.raises(InputError) as ei:
        Economics(**bad)  # type: ignore[arg-type]
    assert f"economics.{next(iter(bad))}" in str(ei.value)


def test_corsair_has_no_price_so_studies_report_nan_and_a_note() -> None:
    from infersim.studies.evaluate import evaluate_point

    status, row = evaluate_point("simulate", {
        "model": "llama-3.2-1b", "hardware": "corsair-8", "runtime": "fused",
        "scenario.phase": "decode", "scenario.batch": 1, "scenario.context": 128,
        "scenario.weights": "int8"})
    assert status == "ok", row
    assert row["price_usd"] == 0.0
    assert math.isnan(row["cost_per_mtok_usd"])
    assert "no price" in row["cost_note"]
