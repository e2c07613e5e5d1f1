"""Fit the calibrated machine model to kernel measurements.

The model is the CPU cost model's (hwmodels/models/cpu.py), with physical parameters:

    t(call) = t0 + max(FLOPs / P_unit(dtype), bytes × s(W; C_1..C_{L−1}, B_1..B_L))

- t0: fixed cost of one kernel call — the intercept of the STREAM sweep, fitted with the
  levels, starting from (and bounded to [¼, 2] × ) the time of an empty parallel kernel.
- P_vector(dtype): FLOP/s of the compute-bound elementwise FMA kernel.
- B_i, C_i: bandwidth plateau and effective capacity of each memory level (caches, then
  DRAM), fitted jointly to the STREAM sweep by robust least squares on log time
  (scipy.optimize.least_squares, soft-L1 loss, so one disturbed sample cannot drag a plateau).
  Capacities are bounded around the sizes the OS reports (× the instances the threads use),
  with bounds that keep the levels ordered; beyond L2 a farther level is never faster than
  the one before it (which also keeps a level the sweep did not reach at its neighbour's
  value instead of at an arbitrary bound).
- P_matrix(dtype), m½: FLOP/s of the blocked GEMM kernel per dtype, reached as
  m / (m + m½) with m rows of A, fitted robustly over the GEMM shapes with the memory model
  above held fixed (B, the weights, is cold: main-memory bandwidth).
- ε: the share of the STREAM DRAM bandwidth the GEMM kernel draws while streaming its cold
  weight operand (fitted with P and m½).
- η: the attention kernel's FLOP rate as a share of the fp32 GEMM ceiling (K/V cold).

Only rows with role "fit" are used. Everything here is deterministic (no random starts).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import least_squares, minimize_scalar

from infersim.hwmodels.models.cpu import gemm_row_efficiency, seconds_per_byte
from infersim.validation.kernels.cases import STREAM_KERNELS, Kernel

_SOFT_L1_SCALE = 0.05  # residuals (log time) beyond ~5% count linearly, not quadratically
_PRIOR_WEIGHT = 0.01  # a factor e change of an unconstrained parameter costs a 1% residual


@dataclass(frozen=True)
class LevelFit:
    """One fitted memory level. The last level's capacity is the machine's memory."""

    name: str
    capacity_bytes: float
    bandwidth_Bps: float
    nominal_capacity_bytes: float  # what the OS reports (× instances the threads use)


@dataclass(frozen=True)
class Calibration:
    """A fitted machine model (see module docstring)."""

    overhead_s: float  # per-call overhead (intercept of the STREAM sweep)
    empty_kernel_s: float  # measured time of an empty parallel kernel (cross-check)
    levels: tuple[LevelFit, ...]
    vector_flops: Mapping[str, float]  # dtype → FLOP/s of the vector FMA kernel
    matrix_flops: Mapping[str, float]  # dtype → FLOP/s of the GEMM kernel
    gemm_half_rows: float  # rows of A at which the GEMM kernel reaches half its ceiling
    gemm_stream_rows: int  # fewer rows than this: the GEMV path (no row cost)
    weight_stream_efficiency: float  # share of DRAM bandwidth a GEMM draws for its weights
    attention_efficiency: float  # attention kernel FLOP/s / matrix ceiling (fp32)
    fit_points: int
    stream_rms_log_error: float  # RMS of log(pred/meas) over the STREAM fit rows
    notes: tuple[str, ...] = field(default=())

    @property
    def capacities(self) -> tuple[float, ...]:
        return tuple(lv.capacity_bytes for lv in self.levels[:-1])

    @property
    def bandwidths(self) -> tuple[float, ...]:
        return tuple(lv.bandwidth_Bps for lv in self.levels)

    def predict(self, kernel: str, dtype: str, flops: float, nbytes: float, m: int = 0,
                weight_bytes: float = 0.0, kv_bytes: float = 0.0) -> float:
        """Model seconds of one call (the composition of the CPU cost model, for a spec whose
        caches hold activations only)."""
        if kernel in (Kernel.GEMM.value, Kernel.ATTENTION.value):
            peak = self.matrix_flops.get(dtype, 0.0)
            peak *= (self.attention_efficiency if kernel == Kernel.ATTENTION.value
                     else gemm_row_efficiency(m, self.gemm_half_rows)
                     if self.gemm_half_rows and m >= self.gemm_stream_rows else 1.0)
        else:
            peak = self.vector_flops.get(dtype, 0.0)
        compute = flops / peak if peak > 0 else 0.0
        memory = row_memory_s(nbytes, nbytes, weight_bytes, kv_bytes, self.capacities,
                              self.bandwidths, self.weight_stream_efficiency)
        return self.overhead_s + max(compute, memory)


def row_memory_s(ws: float, nbytes: float, weight_bytes: float, kv_bytes: float,
                 caps: Sequence[float], bws: Sequence[float], weight_eff: float = 1.0) -> float:
    """Memory seconds of one call as the CPU cost model prices it when the caches hold
    activations only (what `spec_writer` writes): weight bytes at `weight_eff` × and KV
    bytes at the full main-memory bandwidth, the other bytes served through the hierarchy
    for a working set `ws`."""
    act = nbytes - weight_bytes - kv_bytes
    return (weight_bytes / (bws[-1] * weight_eff) + kv_bytes / bws[-1]
            + act * seconds_per_byte(ws, caps, bws))


def _bounds(nominal: Sequence[float]) -> list[tuple[float, float]]:
    """Ordered, disjoint capacity bounds around nominal sizes: [n/4, 2n], clipped at the
    geometric means between neighbours."""
    out = []
    for i, c in enumerate(nominal):
        lo, hi = c / 4.0, c * 2.0
        if i > 0:
            lo = max(lo, math.sqrt(nominal[i - 1] * c))
        if i + 1 < len(nominal):
            hi = min(hi, math.sqrt(c * nominal[i + 1]))
        if hi <= lo:
            lo, hi = c * 0.99, c * 1.01
        out.append((lo, hi))
    return out


def fit_overhead(df: pd.DataFrame) -> float:
    """Median seconds of the empty kernel (fit rows)."""
    rows = df[(df.kernel == Kernel.EMPTY.value) & (df.role == "fit")]
    if rows.empty:
        raise ValueError("no empty-kernel measurement: cannot fit the call overhead")
    return float(rows.median_s.median())


def fit_vector_flops(df: pd.DataFrame, overhead_s: float) -> dict[str, float]:
    out: dict[str, float] = {}
    rows = df[(df.kernel == Kernel.VFMA.value) & (df.role == "fit")]
    for dt, g in rows.groupby("dtype"):
        work = np.maximum(g.median_s.to_numpy() - overhead_s, 0.05 * g.median_s.to_numpy())
        out[str(dt)] = float(np.median(g.flops.to_numpy() / work))
    if "fp32" in out and "fp64" in out:
        # a SIMD register holds twice the fp32 lanes, so an FMA chain never runs faster in
        # fp64: a measured excess is timing noise (a shared machine), bounded as the levels are
        out["fp64"] = min(out["fp64"], out["fp32"])
    return out


def fit_hierarchy(df: pd.DataFrame, overhead_s: float, vector_flops: Mapping[str, float],
                  level_names: Sequence[str], nominal_capacities: Sequence[float],
                  memory_bytes: float, fit_overhead: bool = False,
                  ) -> tuple[tuple[LevelFit, ...], float, int, float]:
    """Fit bandwidth plateaus and capacities of `level_names` (caches..., then main memory;
    `nominal_capacities` has one entry per cache) to the STREAM fit rows. With
    `fit_overhead`, the per-call overhead is fitted too (the intercept of the sweep), within
    [¼, 2] × `overhead_s` (the empty kernel's time). Returns the levels, the RMS log error,
    the number of rows used and the overhead."""
    kernels = {k.value for k in STREAM_KERNELS}
    rows = df[df.kernel.isin(kernels) & (df.role == "fit")]
    if len(rows) < 2:
        raise ValueError("too few STREAM measurements to fit the memory hierarchy")
    ws = rows.working_set_bytes.to_numpy(float)
    nbytes = rows.bytes.to_numpy(float)
    flops = rows.flops.to_numpy(float)
    peaks = np.array([vector_flops.get(d, math.inf) for d in rows.dtype])
    compute = np.where(np.isfinite(peaks), flops / peaks, 0.0)
    meas = rows.median_s.to_numpy(float)
    n_cache = len(nominal_capacities)
    nlev = n_cache + 1
    if len(level_names) != nlev:
        raise ValueError("level_names must name every cache and main memory")
    cap_bounds = _bounds(list(nominal_capacities))

    # initial guesses: bandwidth observed near the middle of each level's size range
    # bandwidth seen by each row; rows dominated by the call overhead say little, so never
    # credit them with more than twice the naive bytes / time
    bw_obs = nbytes / np.maximum(meas - overhead_s, 0.5 * meas)
    edges = [0.0, *nominal_capacities, math.inf]
    b0 = []
    for i in range(nlev):
        sel = (ws > edges[i]) & (ws <= edges[i + 1] / 2 if i < n_cache else ws > 2 * edges[i])
        b0.append(float(np.median(bw_obs[sel])) if sel.any() else float(np.median(bw_obs)))
    # Parameters: log B_1, then log(B_i / B_{i-1}) for the farther levels (≤ 0 beyond L2: a
    # farther level is never faster, which also pins a level the sweep did not reach to its
    # neighbour instead of letting it run off), then log C_i. B_1 stays within the range of
    # bandwidths actually observed.
    bw_lo, bw_hi = float(np.min(bw_obs)) / 3.0, float(np.max(bw_obs)) * 3.0
    logb0 = np.log(np.clip(b0, bw_lo * 1.01, bw_hi * 0.99))
    step_lo = np.array([-6.0] * (nlev - 1))
    step_hi = np.array([1.0] + [0.0] * (nlev - 2))
    steps0 = np.clip(np.diff(logb0), step_lo + 1e-6, step_hi - 1e-6)
    x0 = np.r_[logb0[0], steps0, np.log([math.sqrt(lo * hi) for lo, hi in cap_bounds])]
    lo = np.r_[math.log(bw_lo), step_lo, np.log([b[0] for b in cap_bounds])]
    hi = np.r_[math.log(bw_hi), step_hi, np.log([b[1] for b in cap_bounds])]
    if fit_overhead:
        x0 = np.r_[x0, math.log(overhead_s)]
        lo = np.r_[lo, math.log(overhead_s / 4.0)]
        hi = np.r_[hi, math.log(overhead_s * 2.0)]
    x0 = np.clip(x0, lo + 1e-9, hi - 1e-9)
    ncap = nlev - 1

    def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        t0 = math.exp(x[nlev + ncap]) if fit_overhead else overhead_s
        return np.exp(np.cumsum(x[:nlev])), np.exp(x[nlev:nlev + ncap]), t0

    def model_residuals(x: np.ndarray) -> np.ndarray:
        bws, caps, t0 = unpack(x)
        caps_l: list[float] = caps.tolist()
        bws_l: list[float] = bws.tolist()
        mem = np.array([b * seconds_per_byte(w, caps_l, bws_l)
                        for b, w in zip(nbytes, ws, strict=True)])
        return np.log(t0 + np.maximum(compute, mem)) - np.log(meas)

    def residuals(x: np.ndarray) -> np.ndarray:
        # a weak pull toward the initial guess keeps parameters the data do not constrain
        # (a level the sweep never reached) where the guess put them
        return np.r_[model_residuals(x), _PRIOR_WEIGHT * (x - x0)]

    sol = least_squares(residuals, x0, bounds=(lo, hi), loss="soft_l1", f_scale=_SOFT_L1_SCALE,
                        method="trf", max_nfev=2000)
    bws, caps, t0 = unpack(sol.x)
    rms = float(np.sqrt(np.mean(model_residuals(sol.x) ** 2)))
    levels = tuple(
        LevelFit(level_names[i], float(caps[i]) if i < n_cache else float(memory_bytes),
                 float(bws[i]), float(nominal_capacities[i]) if i < n_cache else float(memory_bytes))
        for i in range(nlev))
    return levels, rms, len(rows), float(t0)


def _soft_l1(r: np.ndarray) -> float:
    z = (r / _SOFT_L1_SCALE) ** 2
    return float(np.sum(2.0 * (np.sqrt(1.0 + z) - 1.0)))


def _memory_parts(rows: pd.DataFrame, levels: Sequence[LevelFit]) -> tuple[np.ndarray, np.ndarray]:
    """(weight seconds at full main-memory bandwidth, all other memory seconds) per row."""
    caps = [lv.capacity_bytes for lv in levels[:-1]]
    bws = [lv.bandwidth_Bps for lv in levels]
    w = rows.weight_bytes.to_numpy(float) / bws[-1]
    rest = np.array([row_memory_s(r.bytes, r.bytes, 0.0, r.kv_bytes, caps, bws)
                     - r.weight_bytes * seconds_per_byte(r.bytes, caps, bws)
                     for r in rows.itertuples(index=False)])
    return w, rest


def _memory_of(rows: pd.DataFrame, levels: Sequence[LevelFit], weight_eff: float = 1.0) -> np.ndarray:
    w, rest = _memory_parts(rows, levels)
    return w / weight_eff + rest


def fit_gemm(df: pd.DataFrame, overhead_s: float, levels: Sequence[LevelFit],
             stream_rows: int = 0) -> tuple[dict[str, float], float, float]:
    """GEMM ceiling per dtype, the rows-for-half-ceiling m½ (shared by the dtypes: it is a
    property of the kernel's tiling) and the weight-stream efficiency ε (share of the DRAM
    bandwidth the kernel draws for its cold B), robust fit over the GEMM fit rows with the
    hierarchy held fixed: t = t0 + max(F / (P_dtype · m / (m + m½)), B/(B_dram·ε) + rest);
    rows with m < `stream_rows` run the kernel's GEMV path (no m/(m + m½) factor)."""
    rows = df[(df.kernel == Kernel.GEMM.value) & (df.role == "fit")]
    if rows.empty:
        return {}, 0.0, 1.0
    dts = sorted(rows.dtype.unique())
    di = np.array([dts.index(d) for d in rows.dtype])
    flops = rows.flops.to_numpy(float)
    m = rows.m.to_numpy(float)
    meas = rows.median_s.to_numpy(float)
    w_s, rest_s = _memory_parts(rows, levels)

    stream = m < stream_rows  # the GEMV path: no per-tile row cost

    def resid(x: np.ndarray) -> np.ndarray:
        peaks = np.exp(x[:-2])[di]
        half = math.exp(x[-2])
        eff = 1.0 / (1.0 + math.exp(-x[-1]))  # logistic: ε in (0, 1)
        mem = w_s / eff + rest_s
        rate = np.where(stream, peaks, peaks * m / (m + half))
        return np.log(overhead_s + np.maximum(flops / rate, mem)) - np.log(meas)

    best = flops / np.maximum(meas - overhead_s, 1e-12)
    peaks0 = [math.log(float(np.max(best[di == i]))) for i in range(len(dts))]
    lo = np.r_[[math.log(1e7)] * len(dts), math.log(1e-3), -4.6]  # ε ≥ 1%
    hi = np.r_[[math.log(1e14)] * len(dts), math.log(1e5), 9.0]
    # max() makes the cost piecewise: a deterministic grid of starts, keep the best fit
    sol = None
    for half0 in (1.0, 4.0, 16.0, 64.0):
        for eff0 in (0.3, 0.6, 0.9):
            x0 = np.r_[peaks0, math.log(half0), math.log(eff0 / (1.0 - eff0))]
            s = least_squares(resid, np.clip(x0, lo + 1e-9, hi - 1e-9), bounds=(lo, hi),
                              loss="soft_l1", f_scale=_SOFT_L1_SCALE, method="trf",
                              max_nfev=2000)
            if sol is None or s.cost < sol.cost - 1e-12:
                sol = s
    assert sol is not None
    return ({d: float(math.exp(sol.x[i])) for i, d in enumerate(dts)},
            float(math.exp(sol.x[-2])), float(1.0 / (1.0 + math.exp(-sol.x[-1]))))


def fit_attention(df: pd.DataFrame, overhead_s: float, levels: Sequence[LevelFit],
                  matrix_flops: Mapping[str, float]) -> float:
    """Attention kernel FLOP rate relative to the GEMM ceiling of its dtype (1-parameter
    robust fit, memory model held fixed; K/V come from main memory). 1.0 without data."""
    rows = df[(df.kernel == Kernel.ATTENTION.value) & (df.role == "fit")]
    rows = rows[rows.dtype.isin(list(matrix_flops))]
    if rows.empty:
        return 1.0
    peak = np.array([matrix_flops[d] for d in rows.dtype])
    flops = rows.flops.to_numpy(float)
    meas = rows.median_s.to_numpy(float)
    mem = _memory_of(rows, levels)

    def loss(logeta: float) -> float:
        eta = math.exp(logeta)
        return _soft_l1(np.log(overhead_s + np.maximum(flops / (peak * eta), mem))
                        - np.log(meas))

    grid = np.linspace(math.log(1e-3), 0.0, 121)
    best = float(grid[int(np.argmin([loss(x) for x in grid]))])
    res = minimize_scalar(loss, bounds=(max(best - 0.1, math.log(1e-3)), min(best + 0.1, 0.0)),
                          method="bounded")
    return float(math.exp(res.x if res.fun <= loss(best) else best))


def fit_all(df: pd.DataFrame, level_names: Sequence[str], nominal_capacities: Sequence[float],
            memory_bytes: float, gemm_stream_rows: int = 0) -> Calibration:
    """Fit every parameter of the machine model from a measurement table. The per-call
    overhead is the intercept of the STREAM sweep (kernels with array arguments, like the
    operators of a model), started from and bounded around the empty kernel's time."""
    empty = fit_overhead(df)
    vec = fit_vector_flops(df, empty)
    levels, rms, _, t0 = fit_hierarchy(df, empty, vec, level_names, nominal_capacities,
                                       memory_bytes, fit_overhead=True)
    vec = fit_vector_flops(df, t0)
    mat, half, eff_w = fit_gemm(df, t0, levels, gemm_stream_rows)
    eta = fit_attention(df, t0, levels, mat)
    notes = [f"empty parallel kernel: {empty * 1e6:.2f} us per call"]
    for lv in levels[:-1]:
        ratio = lv.capacity_bytes / lv.nominal_capacity_bytes
        notes.append(f"{lv.name}: fitted capacity {ratio:.2f}x the reported size")
    return Calibration(t0, empty, levels, vec, mat, half, gemm_stream_rows, eff_w, eta,
                       int((df.role == "fit").sum()), rms, tuple(notes))
