"""Deployment search: which TP × PP × EP × DP layout of a model on a system serves a workload
at the lowest cost per token while meeting its TTFT and TPOT SLOs.

Every number comes from `infersim.api.simulate` (one answer everywhere) and
`hwmodels.economics.cost_per_mtok_usd`; this module only enumerates and compares.

Serving model (static batching of `batch` requests per replica, stated so it can be judged):
- a replica is tp × pp chips; dp = chips // (tp·pp) replicas run side by side (only layouts
  where tp·pp divides the system's chips are tried); ep shards experts inside a replica.
- the batch's prompts are prefilled together: TTFT = the latency of that prefill step;
- then `output` decode steps, each priced at the FINAL context (prompt + output): TPOT is the
  slowest token's, so the SLO holds for every token, and memory is checked at the largest KV
  cache (a step the mapper finds infeasible — weights + KV do not fit — ends the search);
- with pp > 1 stages, pp micro-batches of `batch` are in flight (one per stage, as vLLM's
  pipeline-parallel engines run them): TPOT stays the full pass of one micro-batch, memory
  is checked with the KV cache of all pp · batch sequences;
- output tokens/s of the system = dp · pp · batch · output / (TTFT + output · TPOT); energy
  per token = (prefill energy + output · decode-step energy) / (batch · output);
- cost per 1M output tokens = cost_per_mtok_usd(price of the chips used, tokens/s, energy).
For each layout the largest batch (powers of two) meeting both SLOs is kept: the price is
fixed, so the highest throughput is the lowest cost. Queueing, continuous batching and
prefill/decode interference are the serving simulator's business, not this search's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from infersim.foundation.errors import InputError


@dataclass(frozen=True)
class PlanRow:
    """One layout: its best batch under the SLOs, or why none qualifies."""

    tp: int
    pp: int
    ep: int
    dp: int
    chips: int  # chips used: dp · tp · pp
    batch: int  # per replica (0: no batch meets the SLOs)
    ttft_s: float
    tpot_s: float
    tokens_per_s: float  # output tokens/s of all dp replicas
    energy_per_token_j: float
    usd_per_mtok: float  # NaN when the system has no price
    meets_slo: bool
    reason: str = ""  # why the layout fails (empty when it meets the SLOs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def layouts(model: Any, chips: int) -> list[tuple[int, int, int]]:
    """(tp, pp, ep) with tp·pp dividing `chips` that can shard `model` (validate_parallelism):
    ep runs over the divisors of tp for MoE models, 1 otherwise."""
    from infersim.workloads.builder import validate_parallelism
    from infersim.workloads.scenario import Parallelism

    out: list[tuple[int, int, int]] = []
    for tp in _divisors(chips):
        for pp in _divisors(chips // tp):
            eps = _divisors(tp) if model.moe is not None else [1]
            for ep in eps:
                try:
                    validate_parallelism(model, Parallelism(tp, pp, ep))
                except InputError:
                    continue
                out.append((tp, pp, ep))
    return out


def plan(model: str | Path | dict[str, Any] | Any, hardware: str | Path | Any, *,
         prompt: int, output: int, ttft_slo_s: float, tpot_slo_s: float,
         weights: str = "bf16", kv: str | None = None, runtime: str = "graph",
         max_batch: int = 1024, economics: Any = None) -> list[PlanRow]:
    """Every layout of `model` on `hardware`, best batch under the SLOs, sorted: layouts that
    meet the SLOs first by cost per 1M output tokens (then by chips), then the rest."""
    from infersim.api import load_hardware, load_model, simulate
    from infersim.hwmodels.economics import Economics, cost_per_mtok_usd, hardware_price_usd

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
    for tp, pp, ep in layouts(m, hw.num_chips):
        dp = hw.num_chips // (tp * pp)
        used = dp * tp * pp
        price = hardware_price_usd(hw) * used / hw.num_chips
        kw: dict[str, Any] = dict(weights=weights, kv=kv, tp=tp, pp=pp, ep=ep, runtime=runtime)
        best: PlanRow | None = None
        reason = ""
        batch = 1
        while batch <= max_batch:
            pre = simulate(m, hw, "prefill", batch, prompt=prompt, **kw)
            dec = simulate(m, hw, "decode", batch, context=prompt + output - 1, **kw)
            full = dec if pp == 1 else simulate(m, hw, "decode", batch * pp,
                                                context=prompt + output - 1, **kw)
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
                           cost_per_mtok_usd(price, tokens, energy, econ), True)
            reason = ""
            batch *= 2
        if best is None:
            rows.append(PlanRow(tp, pp, ep, dp, used, 0, math.nan, math.nan, 0.0, math.nan,
                                math.nan, False, reason))
        else:
            rows.append(best)
    return sorted(rows, key=lambda r: (not r.meets_slo, _nan_last(r.usd_per_mtok),
                                       -r.tokens_per_s, r.chips))


def _nan_last(x: float) -> float:
    return math.inf if math.isnan(x) else x
