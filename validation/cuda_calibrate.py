"""`infersim calibrate --device cuda`: the GPU side of calibration (numba.cuda kernels).

Same flow as the CPU: check the output path, measure (STREAM sweep from L2-sized to far
beyond L2, vector FMA, block reduction, shared-memory GEMM, empty kernel), fit the same
machine model with two levels (L2, HBM), write a spec of kind `gpu` and its measurement file
atomically, after the strict loader accepted the spec.

What the spec can and cannot say: numba.cuda has no tensor-core access, so the compute units
are the SIMT ceilings of these kernels (fp32/fp64), not the tensor-core peaks the GPU model
uses for bf16/fp8 GEMMs — take those from the datasheet spec. The launch overheads are those
of numba.cuda launches (CUDA events for the device side, the host clock for the host side),
which are higher than a C++ framework's.

Under the CUDA simulator (NUMBA_ENABLE_CUDASIM=1) everything runs, but timings are host
Python times; the fitted spec is then implausible and is refused (CalibrationError), which is
the correct outcome — the tests use this to exercise the code paths.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TextIO

from infersim.foundation.paths import check_output_file
from infersim.foundation.progress import Progress
from infersim.validation import measure
from infersim.validation.calibrate_common import (
    DATA_DIR,
    CalibrateOptions,
    CalibrateResult,
    data_ref,
    grade,
    load_checked,
    write_pair,
)
from infersim.validation.fit import Calibration, fit_all
from infersim.validation.hostinfo import host_info
from infersim.validation.kernels.timing import TimingPolicy
from infersim.validation.plan import Profile, kernel_cases

GPU_PROFILES = {
    "full": Profile(
        name="full", ws_min_bytes=256 * 1024, ws_max_bytes=4 * 1024**3, per_octave=2,
        stream_dtype="fp32", gemm_dtypes=("fp32", "fp64"),
        gemm_shapes=tuple((s, s, s) for s in (256, 512, 1024, 2048, 4096))
        + tuple((m, 4096, n) for m in (1, 16, 128, 1024) for n in (4096, 14336)),
        vfma_elems=1 << 24, policy=TimingPolicy(warmup=3, repeats=9, target_sample_s=5e-3)),
    "quick": Profile(
        name="quick", ws_min_bytes=1024**2, ws_max_bytes=1024**3, per_octave=1,
        stream_dtype="fp32", gemm_dtypes=("fp32",),
        gemm_shapes=((1, 4096, 4096), (128, 4096, 4096), (1024, 1024, 1024)),
        vfma_elems=1 << 22, policy=TimingPolicy(warmup=2, repeats=5, target_sample_s=2e-3)),
    "tiny": Profile(  # the CUDA simulator: one or two blocks per launch
        name="tiny", ws_min_bytes=1024, ws_max_bytes=2 * 1024, per_octave=1,
        stream_dtype="fp64", gemm_dtypes=("fp32",), gemm_shapes=((4, 16, 16), (16, 16, 32)),
        vfma_elems=64, policy=TimingPolicy(warmup=1, repeats=2, target_sample_s=1e-4,
                                           max_retries=0)),
}


def host_launch_s(launch, n: int = 200) -> float:
    """Host seconds per asynchronous launch (no synchronize inside the loop)."""
    from numba import cuda

    launch()
    cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        launch()
    dt = (time.perf_counter() - t0) / n
    cuda.synchronize()
    return dt


def _q(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def gpu_spec_yaml(cal: Calibration, info, data_ref: str, profile: str, date: str,
                  host_launch: float) -> str:
    """The calibrated GPU spec (kind gpu) as YAML text."""

    m = f"measured: {data_ref}"
    name = "gpu-" + "".join(ch if ch.isalnum() else "-" for ch in info.name.lower()).strip("-")
    name = f"{name}-{date.replace('-', '')}"
    l2, hbm = cal.levels[0], cal.levels[-1]
    mem_gb = (info.memory_bytes or hbm.capacity_bytes) / 1e9
    lines = [
        f"# Calibrated GPU: {info.name} (compute capability {info.compute_capability}), "
        f"written by `infersim calibrate --device cuda` ({profile} profile) on {date}.",
        "# Compute units are SIMT ceilings of numba.cuda kernels (no tensor cores): use the",
        "# datasheet spec for bf16/fp8 tensor-core peaks. Launch costs are numba.cuda's.",
        "# Omitted: power/energy (assumed), interconnect, price, area.",
        f"name: {name}", "kind: gpu",
        f"description: {_q(info.name + ' calibrated with numba.cuda kernels')}",
        f"clock_ghz: {info.clock_hz / 1e9 if info.clock_hz > 0 else 1.0:.4g}",
        "compute:",
        "  simt_gemm:", "    type: matrix", f"    count: {info.sm_count}",
        "    peak_gflops: {" + ", ".join(f"{d}: {v / 1e9:.4g}" for d, v in
                                       sorted(cal.matrix_flops.items())) + "}",
        "  simt:", "    type: vector", f"    count: {info.sm_count}",
        "    peak_gflops: {" + ", ".join(f"{d}: {v / 1e9:.4g}" for d, v in
                                       sorted(cal.vector_flops.items())) + "}",
        "memory:",
        "  l2:", f"    capacity_mib: {info.l2_bytes / 1024**2:.4g}",
        f"    bandwidth_gb_per_s: {l2.bandwidth_Bps / 1e9:.4g}", "    holds: [activations]",
        "  hbm:", f"    capacity_gb: {mem_gb:.4g}",
        f"    bandwidth_gb_per_s: {hbm.bandwidth_Bps / 1e9:.4g}",
        "    holds: [weights, kv, activations]",
        "power: {tdp_w: 700, idle_w: 90}",
        "gpu:", f"  sm_count: {info.sm_count}", f"  l2_mib: {info.l2_bytes / 1024**2:.4g}",
        f"  kernel_launch_us: {cal.overhead_s * 1e6:.4g}",
        f"  host_launch_us: {host_launch * 1e6:.4g}",
        "sources:",
        f"  clock_ghz: {_q('device attribute CLOCK_RATE (not used by the model)')}",
        f"  compute.simt_gemm: {_q(m + ' (shared-memory tiled GEMM, robust fit)')}",
        f"  compute.simt: {_q(m + ' (vector FMA kernel)')}",
        f"  memory.l2.capacity_mib: {_q(f'device attribute L2_CACHE_SIZE (effective capacity fitted to the STREAM sweep: {l2.capacity_bytes / 1024**2:.3g} MiB)')}",
        f"  memory.l2.bandwidth_gb_per_s: {_q(m + ' (plateau fitted to the STREAM sweep)')}",
        f"  memory.hbm.capacity_gb: {_q('device: cuMemGetInfo total')}",
        f"  memory.hbm.bandwidth_gb_per_s: {_q(m + ' (plateau fitted to the STREAM sweep)')}",
        f"  power: {_q('assumed: H100 SXM class board (700 W TDP, ~13% idle); not measured')}",
        f"  gpu.sm_count: {_q('device attribute MULTIPROCESSOR_COUNT')}",
        f"  gpu.l2_mib: {_q('device attribute L2_CACHE_SIZE')}",
        f"  gpu.kernel_launch_us: {_q(m + ' (CUDA events around back-to-back empty kernels)')}",
        f"  gpu.host_launch_us: {_q('measured: host time per asynchronous numba.cuda launch')}",
    ]
    return "\n".join(lines) + "\n"


def calibrate_cuda(opts: CalibrateOptions, _cpu_profile: Profile,
                   stream: TextIO) -> CalibrateResult:
    from infersim.validation.kernels.cuda import CudaBench, device_info

    start = time.monotonic()
    profile = GPU_PROFILES[opts.profile]
    info = device_info()
    date = host_info().date_utc
    slug = "".join(ch if ch.isalnum() else "-" for ch in info.name.lower()).strip("-")
    spec_path = (Path(opts.out) if opts.out is not None
                 else DATA_DIR / f"gpu-{slug}-{date.replace('-', '')}.yaml")
    check_output_file("-o", spec_path, example="spec.yaml", suffixes=(".yaml", ".yml"))
    data_path = spec_path.with_suffix(".csv")
    cases = kernel_cases(profile)
    progress = Progress(sum(measure.case_weight(c) for c in cases), steps=len(cases),
                        stream=stream, enabled=opts.progress, clock=time.monotonic)
    progress.note(f"calibrating {info.name}" + (" (CUDA SIMULATOR: timings are not real)"
                                                if info.simulated else "")
                  + f", {profile.name} profile: {len(cases)} kernel cases")
    bench = CudaBench(cases, opts.seed)
    budget = measure.Budget(opts.budget_s, start=start)  # --budget, as on the CPU
    rows = measure.measure_kernels(bench, cases, profile.policy, progress, budget)
    hl = host_launch_s(bench._launch(cases[0]))
    bench.release()
    df = measure.to_frame(rows)
    progress.note("fitting the machine model")  # CUDA timing has no contention check
    cal = fit_all(df, ("l2", "hbm"), (info.l2_bytes,), info.memory_bytes or 80e9)
    text = gpu_spec_yaml(cal, info, data_ref(data_path), profile.name, date, hl)
    hw = load_checked(text, "gpu", df, "Under the CUDA simulator the timings are host Python "
                      "times, so no plausible spec can result" if info.simulated else "")
    holdout, _ = grade(df, hw)
    meta = {"device": "cuda", "gpu": info.name, "compute_capability": info.compute_capability,
            "sm_count": info.sm_count, "simulated": info.simulated, "profile": profile.name,
            "seed": opts.seed, "date_utc": date, "spec": data_ref(spec_path),
            "elapsed_s": f"{time.monotonic() - start:.1f}", **budget.meta()}
    write_pair(data_path, measure.measurement_text(df, meta), spec_path, text)
    summary = tuple({"parameter": f"{lv.name} bandwidth", "value": f"{lv.bandwidth_Bps / 1e9:.1f} GB/s"}
                    for lv in cal.levels)
    return CalibrateResult(spec_path, data_path, hw.name, cal, holdout, None,
                           time.monotonic() - start, summary,
                           tuple(w for w in (budget.note(),) if w))
