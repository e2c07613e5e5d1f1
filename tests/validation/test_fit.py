"""The fit recovers known machine parameters from synthetic measurements.

The synthetic machine is written here, independently of the model code: a working set of W
bytes reused call after call is served by each level in proportion to what it holds beyond
the levels before it ((min(W, C_i) − min(W, C_{i−1})) / W), each level at its own bandwidth,
plus a fixed call overhead; GEMM calls with m rows run at P·m/(m + m½) with their B operand
(weights) read from DRAM; attention runs at η·P with K/V from DRAM. Times get seeded
multiplicative noise of a few percent, as real medians do.
"""

import numpy as np
import pandas as pd
import pytest

from infersim.validation.fit import fit_all, fit_hierarchy
from infersim.validation.kernels.cases import STREAM_KERNELS, Case, Kernel, Role

KiB, MiB = 1024.0, 1024.0**2
TRUE_BW = np.array([300e9, 150e9, 80e9, 25e9])  # L1, L2, L3, DRAM  (B/s)
TRUE_CAP = np.array([96 * KiB, 2 * MiB, 24 * MiB])  # effective capacities
OVERHEAD = 1.5e-6
GEMM_FLOPS = {"fp32": 90e9, "fp64": 45e9}
HALF_ROWS = 4.0  # small enough that GEMVs are weight-stream bound (ε identifiable)
EPS_W = 0.6  # weight-stream efficiency of the GEMM
ETA = 0.4
VEC_FLOPS = {"fp32": 350e9, "fp64": 175e9}
NOMINAL = (96 * KiB, 2 * MiB, 32 * MiB)  # what the "OS" reports; L3 larger than effective


def synthetic_time(ws: float, nbytes: float) -> float:
    served_before = 0.0
    t = 0.0
    for cap, bw in zip([*TRUE_CAP, np.inf], TRUE_BW, strict=True):
        upto = min(ws, cap)
        frac = max(upto - served_before, 0.0) / ws
        t += nbytes * frac / bw
        served_before = max(served_before, upto)
    return OVERHEAD + t


def synthetic_table(noise: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [dict(kernel="empty", dtype="fp64", role="fit", working_set_bytes=0.0, bytes=0.0,
                 flops=0.0, median_s=OVERHEAD, m=0)]
    for dt, peak in VEC_FLOPS.items():
        c = Case(Kernel.VFMA, dt, 1 << 16)
        rows.append(dict(kernel="vfma", dtype=dt, role="fit", working_set_bytes=c.bytes,
                         bytes=c.bytes, flops=c.flops, median_s=OVERHEAD + c.flops / peak, m=0))
    for kern in STREAM_KERNELS:
        for ws in np.geomspace(4 * KiB, 512 * MiB, 52):
            reads, writes, _ = Case.elementwise_shape(kern)
            n = max(1, round(ws / ((reads + writes) * 8)))
            c = Case(kern, "fp64", n)
            t = synthetic_time(c.bytes, c.bytes) * float(np.exp(rng.normal(0, noise)))
            rows.append(dict(kernel=kern.value, dtype="fp64", role="fit",
                             working_set_bytes=c.bytes, bytes=c.bytes, flops=c.flops,
                             median_s=t, m=0))
    for dt, peak in GEMM_FLOPS.items():
        for m, k, n in [(s, s, s) for s in (128, 256, 512, 1024)] + [
                (m, 512, 3072) for m in (1, 4, 16, 64, 256)]:
            c = Case(Kernel.GEMM, dt, n=n, m=m, k=k, role=Role.FIT)
            w = k * n * c.elem_bytes  # weights: from DRAM
            act = c.bytes - w
            mem = w / (EPS_W * TRUE_BW[-1]) + (synthetic_time(c.bytes, act) - OVERHEAD)
            rate = peak * m / (m + HALF_ROWS)
            t = (OVERHEAD + max(c.flops / rate, mem)) * float(np.exp(rng.normal(0, noise)))
            rows.append(dict(kernel="gemm", dtype=dt, role="fit", working_set_bytes=c.bytes,
                             bytes=c.bytes, weight_bytes=w, flops=c.flops, median_s=t, m=m))
    for q, kv in ((1, 1024), (1, 4096), (64, 64), (256, 256), (128, 2048)):
        c = Case(Kernel.ATTENTION, "fp32", n=kv, m=q)
        mem = c.kv_bytes / TRUE_BW[-1] + (synthetic_time(c.bytes, c.bytes - c.kv_bytes) - OVERHEAD)
        t = (OVERHEAD + max(c.flops / (ETA * GEMM_FLOPS["fp32"]), mem)) * float(
            np.exp(rng.normal(0, noise)))
        rows.append(dict(kernel="attention", dtype="fp32", role="fit", working_set_bytes=c.bytes,
                         bytes=c.bytes, kv_bytes=c.kv_bytes, flops=c.flops, median_s=t, m=q))
    return pd.DataFrame(rows).fillna({"weight_bytes": 0.0, "kv_bytes": 0.0})


@pytest.mark.parametrize("noise", [0.0, 0.03])
def test_fit_recovers_known_plateaus_capacities_and_ceilings(noise):
    df = synthetic_table(noise)
    cal = fit_all(df, ("l1", "l2", "l3", "dram"), NOMINAL, 64e9)
    tol_bw = 0.02 if noise == 0 else 0.08
    tol_cap = 0.05 if noise == 0 else 0.25
    assert cal.overhead_s == pytest.approx(OVERHEAD, rel=0.01 if noise == 0 else 0.1)
    for lv, bw in zip(cal.levels, TRUE_BW, strict=True):
        assert lv.bandwidth_Bps == pytest.approx(bw, rel=tol_bw), lv
    for lv, cap in zip(cal.levels[:-1], TRUE_CAP, strict=True):
        assert lv.capacity_bytes == pytest.approx(cap, rel=tol_cap), lv
    assert cal.levels[-1].capacity_bytes == 64e9  # the machine's memory, not fitted
    for dt, p in GEMM_FLOPS.items():
        assert cal.matrix_flops[dt] == pytest.approx(p, rel=0.03 if noise == 0 else 0.06)
    assert cal.gemm_half_rows == pytest.approx(HALF_ROWS, rel=0.05 if noise == 0 else 0.3)
    assert cal.weight_stream_efficiency == pytest.approx(EPS_W, rel=0.03 if noise == 0 else 0.15)
    assert cal.attention_efficiency == pytest.approx(ETA, rel=0.02 if noise == 0 else 0.08)
    for dt, p in VEC_FLOPS.items():
        assert cal.vector_flops[dt] == pytest.approx(p, rel=1e-3)


def test_fit_ignores_held_out_rows():
    df = synthetic_table(0.0)
    # corrupt every L1-sized STREAM row but mark them held out: the fit must not see them
    l1 = (df.kernel.isin([k.value for k in STREAM_KERNELS])) & (df.working_set_bytes < 64 * KiB)
    df.loc[l1, "median_s"] *= 10
    df.loc[l1, "role"] = "holdout"
    cal = fit_all(df, ("l1", "l2", "l3", "dram"), NOMINAL, 64e9)
    assert cal.levels[1].bandwidth_Bps == pytest.approx(TRUE_BW[1], rel=0.03)
    assert cal.levels[-1].bandwidth_Bps == pytest.approx(TRUE_BW[-1], rel=0.03)


def test_fit_keeps_capacities_ordered_and_in_bounds():
    df = synthetic_table(0.05, seed=3)
    levels, rms, n, t0 = fit_hierarchy(df, OVERHEAD, VEC_FLOPS, ("l1", "l2", "l3", "dram"),
                                       NOMINAL, 64e9)
    assert t0 == OVERHEAD  # not fitted unless asked
    caps = [lv.capacity_bytes for lv in levels[:-1]]
    assert caps == sorted(caps)
    for cap, nom in zip(caps, NOMINAL, strict=True):
        assert nom / 4 <= cap <= 2 * nom
    assert rms < 0.1 and n == 5 * 52


def test_call_overhead_is_the_intercept_of_the_sweep():
    # the empty kernel is mis-measured 1.6× slower than real calls; the sweep's intercept
    # still tells the true per-call overhead
    df = synthetic_table(0.0)
    df.loc[df.kernel == "empty", "median_s"] = 1.6 * OVERHEAD
    cal = fit_all(df, ("l1", "l2", "l3", "dram"), NOMINAL, 64e9)
    assert cal.empty_kernel_s == pytest.approx(1.6 * OVERHEAD)
    assert cal.overhead_s == pytest.approx(OVERHEAD, rel=0.02)


def test_fit_needs_an_overhead_measurement():
    df = synthetic_table(0.0)
    with pytest.raises(ValueError, match="empty-kernel"):
        fit_all(df[df.kernel != "empty"], ("l1", "l2", "l3", "dram"), NOMINAL, 64e9)


def test_vector_fp64_never_fitted_faster_than_fp32():
    from infersim.validation.fit import fit_vector_flops

    # noisy timings: the fp64 chains measured 1.15x the fp32 rate (the CI failure's ratio)
    rows = []
    for dt, rate in (("fp32", 18.2e9), ("fp64", 20.9e9)):
        for flops in (1e6, 2e6, 4e6):
            rows.append({"kernel": Kernel.VFMA.value, "role": "fit", "dtype": dt,
                         "flops": flops, "median_s": flops / rate})
    got = fit_vector_flops(pd.DataFrame(rows), 0.0)
    assert got["fp32"] == pytest.approx(18.2e9)
    assert got["fp64"] == got["fp32"]
    # the right order is kept as measured
    rows = [dict(r, median_s=r["flops"] / (9.1e9 if r["dtype"] == "fp64" else 18.2e9))
            for r in rows]
    assert fit_vector_flops(pd.DataFrame(rows), 0.0)["fp64"] == pytest.approx(9.1e9)
