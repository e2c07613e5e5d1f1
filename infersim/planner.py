"""Deployment search: which TP × PP × EP × DP × CP layout of a model on a system serves a
workload at the lowest cost per token while meeting its TTFT and TPOT SLOs.

Every number comes from `infersim.api.simulate` (one answer everywhere) and
`hwmodels.economics.cost_per_mtok_usd`; this module only enumerates and compares.

Serving model (static batching of `batch` requests per replica, stated so it can be judged):
- a replica is tp × g × pp chips: g groups of tp chips per pipeline stage (`Layout`); dp =
  chips // (tp·g·pp) replicas run side by side (only layouts whose replica divides the
  system's chips are tried). For an MoE model the g groups are data-parallel attention groups
  sharing experts spread over ep = tp·g chips (`attn_dp` = g, DeepSeek-V3's deployment), or
  g = 1 with ep dividing tp; for a dense model the g groups decode data-parallel and prefill
  each prompt context-parallel over g chips (`cp` = g, ring attention).
- the batch's prompts are prefilled together: TTFT = the latency of that prefill step
  (`simulate(..., dp=attn_dp)`, or `cp=cp` for a context-parallel layout);
- then `output` decode steps, each priced at the FINAL context (prompt + output): TPOT is the
  slowest token's, so the SLO holds for every token, and memory is checked at the largest KV
  cache (a step the mapper finds infeasible — weights + KV do not fit — ends the search);
- decode steps run `simulate(..., dp=attn_dp)` (dp = g for a context-parallel layout);
- with pp > 1 stages, pp micro-batches of `batch` are in flight (one per stage, as vLLM's
  pipeline-parallel engines run them): TPOT stays the full pass of one micro-batch, memory
  is checked with the KV cache of all pp · batch sequences;
- output tokens/s of the system = dp · pp · batch · output / (TTFT + output · TPOT); energy
  per token = (prefill energy + output · decode-step energy) / (batch · output);
- cost per 1M output tokens = cost_per_mtok_usd(price of the chips used, tokens/s, energy).
`batch` is per replica (split over its attn_dp / cp groups). For each layout the largest
batch (powers of two) meeting both SLOs is kept: the price is
fixed, so the highest throughput is the lowest cost. Queueing, continuous batching and
prefill/decode interference are the serving simulator's business, not this search's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

from infersim.foundation.errors import InputError


@dataclass(frozen=True)
class PlanRow:
    """One layout: its best batch under the SLOs, or why none qualifies."""

    tp: int
    pp: int
    ep: int
    dp: int  # replicas side by side
    chips: int  # chips used: dp · tp · attn_dp · cp · pp
    batch: int  # per replica (0: no batch meets the SLOs)
    ttft_s: float
    tpot_s: float
    tokens_per_s: float  # output tokens/s of all dp replicas
    energy_per_token_j: float
    usd_per_mtok: float  # NaN when the system has no price
    meets_slo: bool
    reason: str = ""  # why the layout fails (empty when it meets the SLOs)
    attn_dp: int = 1  # data-parallel attention groups sharing the experts (simulate's dp)
    cp: int = 1  # context-parallel prefill over cp groups (decode then runs dp = cp)

    def simulate_kwargs(self, phase: str) -> dict[str, Any]:
        """The parallel arguments of `infersim.api.simulate` for this row's `phase` step."""
        kw: dict[str, Any] = dict(tp=self.tp, pp=self.pp, ep=self.ep)
        if phase == "prefill" and self.cp > 1:
            kw["cp"] = self.cp
        elif self.attn_dp * self.cp > 1:
            kw["dp"] = self.attn_dp * self.cp
        return kw

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


class Layout(NamedTuple):
    """One replica's parallel layout (see the module docstring)."""

    tp: int
    pp: int
    ep: int
    attn_dp: int = 1
    cp: int = 1

    @property
    def chips(self) -> int:
        return self.tp * self.attn_dp * self.cp * self.pp


def layouts(model: Any, chips: int) -> list[Layout]:
    """Every layout whose replica divides `chips` and can shard `model`
    (validate_parallelism): MoE models with ep over the divisors of tp (attn_dp = 1) or
    attn_dp = g > 1 groups with ep = tp·g; dense models with ep = 1 and cp over the divisors
    of chips / (tp·pp)."""
    from infersim.workloads.builder import validate_parallelism
    from infersim.workloads.scenario import Parallelism

    out: list[Layout] = []
    for tp in _divisors(chips):
        for pp in _divisors(chips // tp):
            cands: list[Layout] = []
            for g in _divisors(chips // (tp * pp)):
                if model.moe is None:
                    cands.append(Layout(tp, pp, 1, 1, g))
                elif g == 1:
                    cands += [Layout(tp, pp, ep) for ep in _divisors(tp)]
                else:
                    cands.append(Layout(tp, pp, tp * g, g))
            for lay in cands:
                try:
                    validate_parallelism(model, Parallelism(lay.tp, lay.pp, lay.ep,
                                                            lay.attn_dp * lay.cp))
                except InputError:
                    continue
                out.append(lay)
    return out


def plan(model: str | Path | dict[str, Any] | Any, hardware: str | Path | Any, *,
         prompt: int, output: int, ttft_slo_s: float, tpot_slo_s: float,
         weights: str = "bf16", kv: str | None = None, runtime: Any = None,
         max_batch: int = 1024, economics: Any = None) -> list[PlanRow]:
    """Every layout of `model` on `hardware`, best batch under the SLOs, sorted: layouts that
    meet the SLOs first by cost per 1M output tokens (then by chips), then the rest.
    `runtime`: a name or a profile (`tune_runtime`); None: the hardware kind's default, as
    `simulate`'s."""
    from infersim.api import load_hardware, load_model, simulate
    from infersim.hwmodels.capex import capex_usd
    from infersim.hwmodels.economics import Economics, cost_per_mtok_usd

    for name, v in (("prompt", prompt), ("output", output), ("max_batch", max_batch)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(f"plan: {name} must be a positive integer, got {v!r}")
    for name, s in (("ttft_slo_s", ttft_slo_s), ("tpot_slo_s", tpot_slo_s)):
        if not isinstance(s, (int, float)) or isinstance(s, bool) or not s > 0:
            raise InputError(f"plan: {name} must be a positive number of seconds, got {s!r}")
    econ = economics or Economics()
    m = load_model(model)
    hw = load_hardware(hardware)
    m.check_context(prompt + output, "prompt + output")
    rows: list[PlanRow] = []
    for lay in layouts(m, hw.num_chips):
        tp, pp, ep = lay.tp, lay.pp, lay.ep
        dp = hw.num_chips // lay.chips
        used = dp * lay.chips
        price = capex_usd(hw) * used / hw.num_chips
        blank = PlanRow(tp, pp, ep, dp, used, 0, math.nan, math.nan, 0.0, math.nan, math.nan,
                        False, "", lay.attn_dp, lay.cp)
        kw: dict[str, Any] = dict(weights=weights, kv=kv, runtime=runtime)
        kw_pre = {**kw, **blank.simulate_kwargs("prefill")}
        kw_dec = {**kw, **blank.simulate_kwargs("decode")}
        best: PlanRow | None = None
        reason = ""
        batch = 1
        while batch <= max_batch:
            pre = simulate(m, hw, "prefill", batch, prompt=prompt, **kw_pre)
            dec = simulate(m, hw, "decode", batch, context=prompt + output - 1, **kw_dec)
            full = dec if pp == 1 else simulate(m, hw, "decode", batch * pp,
                                                context=prompt + output - 1, **kw_dec)
            if not pre.feasible or not dec.feasible or not full.feasible:
                bad = pre if not pre.feasible else (dec if not dec.feasible else full)
                reason = reason or f"batch {batch}: {bad.to_dict().get('reason', 'infeasible')}"
                break
            ttft, tpot = pre.latency_s, dec.latency_s
            if ttft > ttft_slo_s or tpot > tpot_slo_s:
                reason = reason or (f"batch {batch}: TTFT {ttft * 1e3:.3g} ms / TPOT "
                                    f"{tpot * 1e3:.3g} ms over the SLO")
                break
            tokens = dp * pp * batch * output / (ttft + output * tpot)
            energy = (pre.energy_j + output * dec.energy_j) / (batch * output)
            best = PlanRow(tp, pp, ep, dp, used, batch, ttft, tpot, tokens, energy,
                           cost_per_mtok_usd(price, tokens, energy, econ), True, "",
                           lay.attn_dp, lay.cp)
            reason = ""
            batch *= 2
        if best is None:
            rows.append(PlanRow(tp, pp, ep, dp, used, 0, math.nan, math.nan, 0.0, math.nan,
                                math.nan, False, reason, lay.attn_dp, lay.cp))
        else:
            rows.append(best)
    return sorted(rows, key=lambda r: (not r.meets_slo, _nan_last(r.usd_per_mtok),
                                       -r.tokens_per_s, r.chips))


def _nan_last(x: float) -> float:
    return math.inf if math.isnan(x) else x
