"""Cost per million tokens: the one formula studies use, with its assumptions in one place.

    cost per 1M tokens = 1e6 × ( capex_share_usd / (lifetime_s × utilization × tokens_per_s)
                                 + energy_per_token_j × pue × usd_per_kwh / 3.6e6 )

- capex_share_usd: the price of the chips a point uses (system price × chips used / chips in
  the system), amortized straight-line over `lifetime_years`. Hosting, networking beyond the
  spec's system price, staff and margin are NOT included: this is the hardware cost floor.
- utilization: the fraction of wall time the hardware runs at the modelled throughput (1 =
  always busy at this batch; real services run well below).
- energy: the simulator's energy per token (chips only) × PUE for the facility overhead.
A price of 0 (unknown) gives NaN, not a misleadingly low cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SECONDS_PER_YEAR = 365.25 * 24 * 3600.0
J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class Economics:
    """Assumptions for cost per token. Every default is an assumption, stated with its reason."""

    # assumed: 4-year straight-line depreciation, a common schedule for data-center servers
    lifetime_years: float = 4.0
    # assumed: ~US$0.10/kWh, order of US commercial/industrial electricity prices
    usd_per_kwh: float = 0.10
    # assumed: 1.0 = the hardware is always busy at the modelled throughput (upper bound)
    utilization: float = 1.0
    # assumed: 1.0 = chip energy only; set ~1.2-1.5 to include facility overhead (cooling)
    pue: float = 1.0

    def hourly_capex_usd(self, price_usd: float) -> float:
        """Amortized hardware cost per hour of wall time."""
        return price_usd / (self.lifetime_years * SECONDS_PER_YEAR) * 3600.0


def cost_per_mtok_usd(price_usd: float, tokens_per_s: float, energy_per_token_j: float,
                      econ: Economics = Economics()) -> float:
    """US$ per 1M generated tokens (formula in the module docstring); NaN when unknown."""
    if price_usd <= 0 or tokens_per_s <= 0 or not math.isfinite(tokens_per_s):
        return math.nan
    capex = price_usd / (econ.lifetime_years * SECONDS_PER_YEAR * econ.utilization
                         * tokens_per_s)
    energy = energy_per_token_j * econ.pue * econ.usd_per_kwh / J_PER_KWH
    return 1e6 * (capex + energy)


def implied_usd_per_chip_hour(usd_per_mtok: float, tokens_per_s: float, chips: int) -> float:
    """What a price per 1M tokens pays per chip-hour at a given throughput (all chips busy)."""
    return usd_per_mtok / 1e6 * tokens_per_s * 3600.0 / chips
