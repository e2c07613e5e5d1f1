"""`workloads.routing.ROUTING_SKEW_SIGMA`: how unevenly a trained router loads the experts,
and `workloads.routing.EPLB_DRIFT_SIGMA`: how far a step's expert loads depart from those
the EPLB placement planned on, from the one published expert-parallel load statistic and
its value after EPLB.

NVIDIA/TensorRT-LLM's blog 'Scaling Expert Parallelism in TensorRT-LLM (Part 1)'
(docs/source/blogs/tech_blog/blog4_Scaling_Expert_Parallelism_in_TensorRT-LLM.md, section
'Reproducing steps', step 1) prints the output of `report_load_statistics.py` for DeepSeek-R1
run by trtllm-bench at EP32 (256 routed experts, 8 per GPU) on its dataset, token counts per
rank recorded over iterations 100-200 and averaged over MoE layers 3-60: mean 1024, std
491.65, imbalance-ratio (max − mean)/mean 1.564. Step 3 prints the same after the offline EP
load balancer (288 slots over EP36): std 53.98, imbalance-ratio 0.115.

The fit: σ of log-normal expert popularities (`workloads.routing`) at which the model's
E[(max − mean)/mean] at 256 experts over 32 ranks with the sampling of 1024 pairs per rank
(`workloads.routing.hot_rank_factor`) equals 1.564 (bisection; the statistic rises
with σ); then, at that σ, the drift δ at which the model's post-EPLB imbalance-ratio (288
slots over EP36, the placement planned on popularities δ away from the step's) equals
0.115 (bisection; 0.067 at δ = 0, perfect knowledge). Checked, not fitted: the model's
std/mean at σ against 491.65/1024, and after EPLB at σ and δ against 53.98/1024.

    python -m infersim.validation.fitting.routing_skew

writes `validation/data/published/routing_skew_fit.json`; `ROUTING_SKEW_SIGMA` carries the
value.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from infersim.validation.fitting import bisect_rising, fit_main

SOURCE = ("https://github.com/NVIDIA/TensorRT-LLM/blob/main/docs/source/blogs/tech_blog/"
          "blog4_Scaling_Expert_Parallelism_in_TensorRT-LLM.md")
EXPERTS, EP = 256, 32  # DeepSeek-R1 routed experts, the statistic's EP size
MEAN, STD, IMBALANCE = 1024.0, 491.651199, 1.564272  # 'average' row before EPLB
EPLB_EP, EPLB_SLOTS, EPLB_STD, EPLB_IMBALANCE = 36, 288, 53.976442, 0.115378  # after
OUT = Path(__file__).resolve().parents[1] / "data" / "published" / "routing_skew_fit.json"


def statistics_at(sigma: float, ep: int = EP, slots: int = EXPERTS,
                  drift: float = 0.0) -> tuple[float, float]:
    """The model's (E[(max − mean)/mean], E[std/mean]) of the ranks' loads at σ with MEAN
    pairs per rank: the busiest rank under popularity and sampling together
    (`hot_rank_factor`; with EPLB slots, placed at `drift`); the std adds the Poisson
    variance of MEAN pairs in quadrature."""
    from infersim.workloads.routing import hot_rank_factor, popularities, rank_loads

    draws = 2048 if slots == EXPERTS else 256
    loads = rank_loads(popularities(EXPERTS, sigma, draws), ep, slots, drift)
    mean = loads.mean(axis=1)
    cv = float(np.mean(np.sqrt((loads.std(axis=1) / mean) ** 2 + 1.0 / MEAN)))
    return hot_rank_factor(EXPERTS, ep, slots, sigma, MEAN, drift) - 1.0, cv


def solve(lo: float = 0.2, hi: float = 2.5, tol: float = 1e-4) -> float:
    """σ at which the model's imbalance-ratio at EP32 equals the published 1.564."""
    return bisect_rising(lambda x: statistics_at(x)[0], IMBALANCE, lo, hi, tol,
                         "σ (imbalance-ratio)")


def solve_drift(sigma: float, lo: float = 0.0, hi: float = 1.0, tol: float = 1e-3) -> float:
    """δ at which the model's post-EPLB imbalance-ratio at σ equals the published 0.115."""
    return bisect_rising(lambda d: statistics_at(sigma, EPLB_EP, EPLB_SLOTS, d)[0],
                         EPLB_IMBALANCE, lo, hi, tol, "EPLB drift (imbalance-ratio)")


def fit() -> dict[str, Any]:
    sigma = round(solve(), 2)
    ratio, cv = statistics_at(sigma)
    drift = round(solve_drift(sigma), 3)
    eplb_ratio, eplb_cv = statistics_at(sigma, EPLB_EP, EPLB_SLOTS, drift)
    perfect, _ = statistics_at(sigma, EPLB_EP, EPLB_SLOTS)
    return {
        "parameter": "workloads.routing.ROUTING_SKEW_SIGMA", "value": sigma, "source": SOURCE,
        "fitted_on": {"model": "DeepSeek-R1", "experts": EXPERTS, "ep": EP,
                      "measured_imbalance_ratio": IMBALANCE, "model_imbalance_ratio": ratio},
        "eplb_drift": {"parameter": "workloads.routing.EPLB_DRIFT_SIGMA", "value": drift,
                       "ep": EPLB_EP, "slots": EPLB_SLOTS,
                       "measured_imbalance_ratio": EPLB_IMBALANCE,
                       "model_imbalance_ratio": eplb_ratio,
                       "model_imbalance_ratio_perfect_knowledge": perfect},
        "checks": {
            "std_over_mean": {"measured": STD / MEAN, "model": cv},
            "after_eplb": {"ep": EPLB_EP, "slots": EPLB_SLOTS,
                           "measured_std_over_mean": EPLB_STD / MEAN,
                           "model_std_over_mean": eplb_cv}},
        "method": "bisection on sigma of the model's E[(max-mean)/mean] over log-normal "
                  "popularity draws (workloads.routing), value rounded to 0.01; then "
                  "bisection on the EPLB drift at that sigma of the post-EPLB "
                  "E[(max-mean)/mean], value rounded to 0.001"}


def summary(r: dict[str, Any]) -> str:
    """One line: the fitted σ, the statistic it meets and the two it is checked against."""
    c, f = r["checks"], r["fitted_on"]
    return (f"sigma = {r['value']}: imbalance-ratio {f['model_imbalance_ratio']:.3f} (measured "
            f"{f['measured_imbalance_ratio']}); std/mean {c['std_over_mean']['model']:.3f} "
            f"(measured {c['std_over_mean']['measured']:.3f}); EPLB drift "
            f"{r['eplb_drift']['value']}: after EPLB "
            f"{r['eplb_drift']['model_imbalance_ratio']:.3f} (measured "
            f"{r['eplb_drift']['measured_imbalance_ratio']}; "
            f"{r['eplb_drift']['model_imbalance_ratio_perfect_knowledge']:.3f} with perfect "
            f"knowledge), std/mean {c['after_eplb']['model_std_over_mean']:.3f} (measured "
            f"{c['after_eplb']['measured_std_over_mean']:.3f})")


def main(argv: Sequence[str] | None = None) -> int:
    return fit_main(argv, "infersim.validation.fitting.routing_skew", __doc__ or "", fit, summary, OUT)


if __name__ == "__main__":
    sys.exit(main())
