"""Economics: cost per token from a hardware price, a throughput and an energy per token.

The one formula (used by the serving simulator and by every study):

    cost per 1M tokens = 1e6 × ( price_usd / (lifetime_s × utilization × tokens_per_s)
                                 + energy_per_token_j × pue × usd_per_kwh / 3.6e6 )

- price_usd: the price of the chips that produce the tokens (system price × chips used /
  chips in the system), amortized straight-line over `lifetime_years`. Callers pass
  `capex.capex_usd(hw)`: the capex DERIVED from the die economics (hwmodels/capex.py:
  die area at the node, yield, wafer price, memory, packaging, board, host, margin) when the
  spec describes its die, else the spec's declared price; `infersim hw validate` warns where
  the two disagree by more than 25%. Hosting, networking
  beyond the spec's system price, staff and margin are NOT included: a hardware cost floor.
- tokens_per_s: the throughput while the hardware runs (a serving simulation passes its
  output tokens / run duration, which already contains its own idle time).
- utilization: fraction of the hardware's life it runs at that throughput (1 = always).
- energy_per_token_j: system energy per token (chips + host and network, idle power included) × PUE
  for the facility overhead; electricity at `usd_per_kwh`.

A price of 0 means "unknown" (the spec does not state one): the cost is NaN, never a
misleadingly low number, and tables carry `cost_note(...)` beside it to say why.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass
from typing import Any

from infersim.foundation.errors import InputError

SECONDS_PER_YEAR = 365.25 * 24 * 3600.0
J_PER_KWH = 3.6e6


# Plausible ranges: beyond them a result is meaningless (a 1e-300-year lifetime prices a token
# at 1e300 dollars), so they are refused rather than computed.
_BOUNDS = {"lifetime_years": (0.01, 100.0), "usd_per_kwh": (0.0, 10.0), "pue": (1.0, 5.0),
           "utilization": (1e-3, 1.0)}
_WHY = {
    "lifetime_years": "amortization over 4 days to a century; servers are written off in 3-6 years",
    "usd_per_kwh": "electricity prices are cents to a few dollars per kWh",
    "pue": "facility power / IT power; data centers run at 1.05-2.5",
    "utilization": "fraction of the hardware's life it is busy, at least 0.1%",
}


def _finite(v: numbers.Real) -> bool:
    try:
        return math.isfinite(float(v))
    except OverflowError:  # an int beyond float range
        return False


@dataclass(frozen=True)
class Economics:
    """Assumptions for cost per token. Every default is an assumption, stated with its reason."""

    # assumed: 4-year straight-line depreciation, a common schedule for data-center servers
    lifetime_years: float = 4.0
    # assumed: ~US$0.10/kWh, order of US commercial/industrial electricity prices
    usd_per_kwh: float = 0.10
    # assumed: 1.0 = chip energy only; set ~1.2-1.5 to include facility overhead (cooling)
    pue: float = 1.0
    # assumed: 1.0 = the hardware is always busy at the modelled throughput (a lower bound on
    # cost; real services run well below)
    utilization: float = 1.0

    def __post_init__(self) -> None:
        for name in ("lifetime_years", "usd_per_kwh", "pue", "utilization"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not _finite(v):
                raise InputError(f"economics.{name} must be a finite number, got {str(v)[:40]}")
            if v < 0 or (v == 0 and name != "usd_per_kwh"):
                bound = "≥ 0" if name == "usd_per_kwh" else "> 0"
                raise InputError(f"economics.{name} must be {bound}, got {v}")
        for name, (lo, hi) in _BOUNDS.items():
            v = getattr(self, name)
            if not lo <= v <= hi:
                raise InputError(f"economics.{name} = {v:g} is outside the plausible range "
                                 f"[{lo:g}, {hi:g}] ({_WHY[name]})")

    @property
    def lifetime_s(self) -> float:
        return self.lifetime_years * SECONDS_PER_YEAR

    def hourly_capex_usd(self, price_usd: float) -> float:
        """Amortized hardware cost per hour of wall time (see `amortized_capex_usd_per_hour`)."""
        return amortized_capex_usd_per_hour(price_usd, self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def amortized_capex_usd_per_hour(price_usd: float, econ: Economics = Economics()) -> float:
    """Straight-line amortization of `price_usd` over the lifetime, per hour of wall time."""
    return price_usd / econ.lifetime_s * 3600.0


def energy_usd(energy_j: float, econ: Economics = Economics()) -> float:
    """Electricity cost of `energy_j` of chip energy, facility overhead (PUE) included."""
    return energy_j * econ.pue * econ.usd_per_kwh / J_PER_KWH


def cost_per_mtok_usd(price_usd: float, tokens_per_s: float, energy_per_token_j: float,
                      econ: Economics = Economics()) -> float:
    """US$ per 1M tokens (formula in the module docstring); NaN when the price is unknown
    (≤ 0) or there is no throughput."""
    if not (price_usd > 0) or not (tokens_per_s > 0) or not math.isfinite(tokens_per_s):
        return math.nan
    capex = price_usd / (econ.lifetime_s * econ.utilization * tokens_per_s)
    return 1e6 * (capex + energy_usd(energy_per_token_j, econ))


def implied_usd_per_chip_hour(usd_per_mtok: float, tokens_per_s: float, chips: int) -> float:
    """What a price per 1M tokens pays per chip-hour at a given throughput (all chips busy)."""
    return usd_per_mtok / 1e6 * tokens_per_s * 3600.0 / chips


def cost_note(price_usd: float, hardware: str = "") -> str:
    """The note a table puts beside a cost: empty when a price is known, else why it is NaN."""
    if price_usd > 0:
        return ""
    who = f" of {hardware}" if hardware else ""
    return f"no price in the spec{who}: cost per 1M tokens not computed (NaN)"
