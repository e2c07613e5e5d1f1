"""Expert-parallel load: how much more than its even share the busiest EP rank routes.

Trained routers do not spread tokens evenly: some experts are hot in every layer, and which
ones depends on the data (NVIDIA/TensorRT-LLM, docs/source/blogs/tech_blog/
blog4_Scaling_Expert_Parallelism_in_TensorRT-LLM.md, figures 1-11: DeepSeek-R1 on a machine
translation set and on GSM8K). A step of an expert-parallel MoE layer ends when its busiest
rank has run its token-expert pairs, so the chip a trace prices is that rank.

Model: each expert's share of the routed pairs is proportional to a popularity drawn
log-normally, ln p ~ N(0, σ²), independently per expert and layer (`ROUTING_SKEW_SIGMA`);
the experts sit on the ranks in contiguous blocks (TensorRT-LLM's and vLLM's default
placement; with i.i.d. popularities any fixed placement is the same). A rank's load is the
sum of its experts' popularities; `rank_load_factor` is E[max rank load / mean rank load]
over the popularity draws. The step's own tokens add a sampling excess: a rank's pair
count is multinomial around its expectation, so the busiest of ep ranks runs about
E[max of ep normals]/sqrt(pairs per rank) above it (`sampling_excess`); `hot_rank_factor`
draws both together (the busiest rank under both, not the sum of the two busiest). The busiest expert's GEMM rows within a chip stay
`builder.routing_imbalance`'s.

Redundant experts (EPLB, `Parallelism.redundant_experts` R): the hottest experts get extra
copies one at a time (each copy takes an equal part of its expert's load) until the E + R
slots are filled, then the slots are packed heaviest first onto the rank with the least load
that still has a free slot, (E + R)/ep slots per rank: DeepSeek's EPLB and TensorRT-LLM's
load balancer do this with the loads they measured. What they measured is not the step's:
a step's popularities depart from the statistics the placement was planned on (other
requests, other batches), so the placement is planned on p·exp(δ·Z), Z standard normal per
expert, and runs the step's p (`EPLB_DRIFT_SIGMA` δ; 0 would be perfect knowledge).

σ is fitted (`python -m infersim.validation.fitting.routing_skew`, data and result in
validation/data/published/routing_skew_fit.json) on the one published EP-rank load
statistic we have: the TensorRT-LLM blog's `report_load_statistics.py` output for
DeepSeek-R1 at EP32 (256 experts, 8 per rank), averaged over layers 3-60 and iterations
100-200: (max − mean)/mean of the ranks' loads 1.564 at 1024 pairs per rank (fitted with
that count's sampling, `hot_rank_factor`). Its other column,
std/mean 0.480, is not fitted (the fit reports the model's). δ is fitted on the same blog's
statistic after EPLB (288 slots over EP36): (max − mean)/mean 0.115 at 1024 pairs per rank,
where perfect knowledge of the popularities gives 0.067; its std/mean after EPLB is not
fitted (the fit reports the model's).
"""

from __future__ import annotations

import functools
import math

import numpy as np

# Log-normal σ of the experts' routing popularity, fitted by
# `python -m infersim.validation.fitting.routing_skew` on the EP32 DeepSeek-R1 load statistic
# of NVIDIA/TensorRT-LLM blog 4 (validation/data/published/routing_skew_fit.json).
ROUTING_SKEW_SIGMA = 1.08
_DRAWS = 2048  # popularity draws per estimate (one fixed seed: deterministic)
# Log-normal σ by which a step's expert popularities depart from the statistics EPLB placed
# the redundant copies by, fitted by `python -m infersim.validation.fitting.routing_skew` on
# the post-EPLB load statistic of NVIDIA/TensorRT-LLM blog 4 (EP36, 288 slots;
# validation/data/published/routing_skew_fit.json).
EPLB_DRIFT_SIGMA = 0.097
_SEED = 20251204


def popularities(experts: int, sigma: float, draws: int = _DRAWS) -> np.ndarray:
    """`draws` × `experts` log-normal popularities (one fixed seed: deterministic)."""
    rng = np.random.default_rng(_SEED)
    return rng.lognormal(0.0, sigma, size=(draws, experts))


def rank_loads(p: np.ndarray, ep: int, slots: int,
               drift: float = EPLB_DRIFT_SIGMA) -> np.ndarray:
    """Each rank's load (draws × ep) for popularities `p` (draws × experts) over `slots`
    expert slots: contiguous blocks when slots = experts; else the EPLB placement of the
    module docstring (copies of the hottest experts, then heaviest-first packing), planned
    on popularities `drift` away from `p` (one fixed seed) and loaded with `p`."""
    draws, experts = p.shape
    if slots <= experts:
        return p.reshape(draws, ep, experts // ep).sum(axis=-1)
    seen = p
    if drift > 0.0:
        seen = p * np.exp(drift * np.random.default_rng(_SEED + 2).standard_normal(p.shape))
    reps = np.ones((draws, experts))
    rows = np.arange(draws)
    for _ in range(slots - experts):  # one more copy of the expert with the largest share
        reps[rows, np.argmax(seen / reps, axis=1)] += 1.0
    # the slots, heaviest as planned first: expert e appears reps[e] times
    order = np.argsort(-(seen / reps), axis=1)
    counts = np.take_along_axis(reps, order, axis=1).astype(int)
    planned = np.take_along_axis(seen / reps, order, axis=1)
    real = np.take_along_axis(p / reps, order, axis=1)
    items = np.zeros((draws, slots))
    plan = np.zeros((draws, slots))
    for d in range(draws):
        items[d] = np.repeat(real[d], counts[d])[:slots]
        plan[d] = np.repeat(planned[d], counts[d])[:slots]
    cap = slots // ep
    load = np.zeros((draws, ep))
    planned_load = np.zeros((draws, ep))
    used = np.zeros((draws, ep), dtype=int)
    for j in range(slots):
        masked = np.where(used < cap, planned_load, np.inf)
        r = np.argmin(masked, axis=1)
        planned_load[rows, r] += plan[:, j]
        load[rows, r] += items[:, j]
        used[rows, r] += 1
    return load


@functools.lru_cache(maxsize=256)
def expected_max_normal(n: int) -> float:
    """E[max of n independent standard normals] (0 for n = 1), by quadrature of
    x·n·φ(x)·Φ(x)^(n−1)."""
    if n <= 1:
        return 0.0
    from scipy.integrate import quad
    from scipy.stats import norm

    val, _err = quad(lambda x: x * n * norm.pdf(x) * norm.cdf(x) ** (n - 1), -12.0, 12.0,
                     limit=200)
    return float(val)


def sampling_excess(ep: int, mean_pairs: float) -> float:
    """The busiest of `ep` ranks' excess over the mean from sampling this step's tokens
    alone, relative to the mean (0 for ep = 1). The n = ep·mean_pairs pairs fall on the ranks
    as a multinomial; its centred counts have the covariance of sqrt(mean)·(Y_i − Ȳ) for
    i.i.d. standard normals Y, so the busiest is E[max Y_i]·sqrt(mean) above the mean:
    the excess is E[max of ep normals]/sqrt(mean_pairs). Against the exact expectation:
    within 1% for 2 ranks (a binomial sum), 2-7% low for 8-32 ranks at 64 pairs each and
    ~12% low at half a pair each (Monte Carlo)."""
    if ep <= 1 or mean_pairs <= 0.0:
        return 0.0
    return expected_max_normal(ep) / math.sqrt(mean_pairs)


def hot_rank_factor(experts: int, ep: int, slots: int, sigma: float,
                    mean_pairs: float, drift: float = EPLB_DRIFT_SIGMA) -> float:
    """E[max / mean] pairs of the ep ranks in one step of `mean_pairs` pairs per rank: over
    the popularity draws, rank r expects mean_pairs·ℓ_r pairs (ℓ its load over the mean) and
    gets about that ± sqrt(mean_pairs·ℓ_r) from sampling the step's tokens, so the factor is
    E[max_r ℓ_r + Z_r·sqrt(ℓ_r / mean_pairs)] with standard normals Z (one fixed seed; the
    pair count on a grid of 8 steps per octave, which moves the sampling term by ≤ 4.4%).
    Uniform routing (σ = 0, ℓ = 1) is `sampling_excess` exactly; 1 for ep = 1. `drift`: the
    EPLB placement's (`rank_loads`)."""
    if ep <= 1:
        return 1.0
    if sigma <= 0.0 or experts <= 0:
        return 1.0 + sampling_excess(ep, mean_pairs)
    if mean_pairs <= 0.0:
        return rank_load_factor(experts, ep, slots, sigma, drift)
    return _joint_factor(experts, ep, slots or experts, sigma, _pair_grid(mean_pairs), drift)


def _pair_grid(mean_pairs: float) -> float:
    """`mean_pairs` on a grid of 8 steps per octave (the joint draws are cached by it)."""
    return 2.0 ** (round(math.log2(mean_pairs) * 8.0) / 8.0)


@functools.lru_cache(maxsize=4096)
def _joint_factor(experts: int, ep: int, slots: int, sigma: float, mean_pairs: float,
                  drift: float = EPLB_DRIFT_SIGMA) -> float:
    return float(np.mean(np.max(_joint_loads(experts, ep, slots, sigma, mean_pairs, drift),
                                axis=1)))


@functools.lru_cache(maxsize=256)
def _joint_loads(experts: int, ep: int, slots: int, sigma: float,
                 mean_pairs: float, drift: float = EPLB_DRIFT_SIGMA) -> np.ndarray:
    """Each rank's pairs over the mean, draw by draw (draws × ep, read-only): its popularity
    load ℓ_r (1 under uniform routing) plus the sampling of the step's tokens,
    Z_r·sqrt(ℓ_r / mean_pairs), one fixed seed."""
    ell = (_relative_loads(experts, ep, slots, sigma, drift) if sigma > 0.0 and experts > 0
           else np.ones((_DRAWS, ep)))
    z = np.random.default_rng(_SEED + 1).standard_normal(ell.shape)
    out = ell + z * np.sqrt(ell / mean_pairs)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=256)
def _relative_loads(experts: int, ep: int, slots: int, sigma: float,
                    drift: float = EPLB_DRIFT_SIGMA) -> np.ndarray:
    """The ranks' loads over their mean, one row per popularity draw (read-only)."""
    if slots % ep or (slots == experts and experts % ep):
        raise ValueError(f"{slots} expert slots do not split over ep {ep}")
    draws = _DRAWS if slots == experts else _DRAWS // 8  # EPLB packs draw by draw
    loads = rank_loads(popularities(experts, sigma, draws), ep, slots, drift)
    ell = loads / loads.mean(axis=1, keepdims=True)
    ell.setflags(write=False)
    return ell


def rank_load_factor(experts: int, ep: int, slots: int = 0,
                     sigma: float = ROUTING_SKEW_SIGMA,
                     drift: float = EPLB_DRIFT_SIGMA) -> float:
    """E[max / mean] of the ep ranks' routed loads from the popularity alone (module
    docstring); 1 for ep = 1 or σ = 0 (uniform routing). `slots` = experts + redundant
    copies (0: experts)."""
    if ep <= 1 or sigma <= 0.0 or experts <= 0:
        return 1.0
    return float(np.mean(_relative_loads(experts, ep, slots or experts, sigma,
                                         drift).max(axis=1)))


def busiest_with_identical(experts: int, ep: int, slots: int, sigma: float, mean_pairs: float,
                           identical: int, top_k: int) -> tuple[float, float]:
    """(E[pairs of the busiest rank], E[identical rows' experts on it]) of a step whose routed
    tokens include `identical` rows that are one and the same input (CUDA-graph padding's
    dummy requests: the same token id at the same position, so the same hidden state in every
    layer): the router sends all of them to the same `top_k` experts, a k-subset of the
    experts unrelated to their popularity (drawn uniformly, one fixed seed per popularity
    draw). Rank r then runs mean_pairs·(ℓ_r + Z_r·sqrt(ℓ_r/mean_pairs)) pairs of the real
    tokens (`hot_rank_factor`'s terms; `mean_pairs` = the real pairs per rank) plus
    identical·n_r, n_r the subset's experts it holds (experts in contiguous blocks of
    experts/ep; a redundant copy of one is not modelled here); the busiest rank is the
    largest sum, draw by draw. With no identical rows the first value is mean_pairs ×
    `hot_rank_factor`."""
    k = max(1, min(int(top_k), experts))
    u = max(0, int(identical))
    if ep <= 1:
        return mean_pairs + u * k, float(k)
    if mean_pairs > 0.0:
        real = mean_pairs * _joint_loads(experts, ep, slots or experts, sigma,
                                         _pair_grid(mean_pairs))
    else:
        real = np.zeros((_DRAWS, ep))
    held = _identical_experts_per_rank(experts, ep, k, real.shape[0])
    total = real + u * held
    busiest = np.argmax(total, axis=1)
    rows = np.arange(total.shape[0])
    return float(np.mean(total[rows, busiest])), float(np.mean(held[rows, busiest]))


@functools.lru_cache(maxsize=64)
def _identical_experts_per_rank(experts: int, ep: int, k: int, draws: int) -> np.ndarray:
    """draws × ep counts of a uniformly drawn k-subset of the experts on each rank (contiguous
    blocks of experts/ep; one fixed seed; read-only)."""
    rng = np.random.default_rng(_SEED + 2)
    picks = np.argsort(rng.random((draws, experts)), axis=1)[:, :k]
    per = max(1, experts // ep)
    counts = np.zeros((draws, ep))
    np.add.at(counts, (np.repeat(np.arange(draws), k), np.minimum(picks.ravel() // per, ep - 1)),
              1.0)
    counts.setflags(write=False)
    return counts


# token routings drawn for `destinations` (one fixed seed: deterministic)
_ROUTE_DRAWS = 8192


@functools.lru_cache(maxsize=256)
def destinations(experts: int, top_k: int, ranks: int, nodes: int, n_group: int = 1,
                 topk_group: int = 1) -> tuple[float, float]:
    """(distinct nodes, distinct ranks) one token's experts sit on, in expectation: the
    fan-out of an exchange that sends a token row once per destination node and once per
    destination rank (DeepEP's normal kernels) instead of once per expert.

    The experts sit in contiguous blocks over `ranks` ranks and the ranks in contiguous
    blocks over `nodes` nodes (`Parallelism`: nodes filled in order). Routing is uniform
    within the routing rules (the busiest rank's excess is `hot_rank_factor`'s): without
    groups (`n_group` 1) a token's `top_k` experts are any top_k distinct experts; with
    group-limited routing it picks `topk_group` of the `n_group` contiguous groups and its
    top_k experts within them, each picked group holding at least one of them (assumed:
    DeepSeek-V3 ranks the groups by their best experts' scores, so a picked group's best
    expert is among the token's top k; with top_k < topk_group, top_k of the picked groups
    hold one each). Estimated over `_ROUTE_DRAWS` routings drawn with one fixed seed."""
    if top_k <= 0 or experts <= 0:
        return 0.0, 0.0
    rng = np.random.default_rng(_SEED + 1)
    d = _ROUTE_DRAWS
    k = min(top_k, experts)
    if n_group <= 1 or topk_group >= n_group:
        chosen = np.argsort(rng.random((d, experts)), axis=1)[:, :k]
    else:
        per = experts // n_group
        groups = np.argsort(rng.random((d, n_group)), axis=1)[:, :topk_group]
        keys = rng.random((d, topk_group, per))
        # each picked group's lowest key is its guaranteed expert: it sorts first
        keys[np.arange(d)[:, None], np.arange(topk_group)[None, :], keys.argmin(axis=2)] = -1.0
        flat = keys.reshape(d, topk_group * per)
        pick = np.argsort(flat, axis=1)[:, :k]
        chosen = groups[np.arange(d)[:, None], pick // per] * per + pick % per
    rank = chosen * ranks // experts
    node = rank * nodes // ranks

    def distinct(a: np.ndarray) -> float:
        a = np.sort(a, axis=1)
        return float(np.mean(1 + np.count_nonzero(np.diff(a, axis=1), axis=1)))

    return distinct(node), distinct(rank)
