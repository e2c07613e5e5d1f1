"""Write a calibration as a hardware spec YAML (kind `cpu`) in the spec language of
docs/hardware-spec.md, every fitted number citing the measurement file it came from."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from infersim.validation.fit import Calibration
from infersim.validation.hostinfo import HostInfo, cpu_flags, simd_bits, simd_flag
from infersim.validation.threads import ChipScaling

# Energies are not measurable here (no RAPL in a VM); these are stated assumptions.
_ENERGY_PJ_PER_BIT = {1: 0.16, 2: 0.31, 3: 1.6}
_DRAM_PJ_PER_BIT = 20.0
_PJ_PER_FLOP = {"fp32": 2.3, "fp64": 4.6}
_HOROWITZ = ("Horowitz, 'Computing's energy problem', ISSCC 2014, 45 nm figures as tabulated "
             "in reference §4.2")


@dataclass(frozen=True)
class LevelPlan:
    """Names and nominal (OS-reported) capacities of the cache levels the threads use."""

    names: tuple[str, ...]  # caches then main memory, e.g. ("l1", "l2", "l3", "dram")
    nominal_bytes: tuple[float, ...]  # one per cache
    described: tuple[str, ...]  # "48 KiB per core × 2 cores" per cache


def level_plan(host: HostInfo) -> LevelPlan:
    """Caches as the threads see them: a private cache counts once per thread that has its
    own instance (capacities of all instances the kernels use add up)."""
    names, nominal, described = [], [], []
    for c in host.caches:
        if c.size_bytes <= 0:
            continue
        instances = max(1, min(host.threads, math.ceil(host.threads / max(1, c.shared_by_cpus))))
        names.append(f"l{c.level}")
        nominal.append(float(c.size_bytes * instances))
        described.append(f"{_human(c.size_bytes)} per instance x {instances} instance(s) used "
                         f"by {host.threads} thread(s)")
    if not names:  # unknown host: a generic three-level hierarchy
        names = ["l1", "l2", "l3"]
        nominal = [32 * 1024.0 * host.threads, 1024**2.0 * host.threads, 16 * 1024**2.0]
        described = ["unknown (generic guess)"] * 3
    return LevelPlan((*names, "dram"), tuple(nominal), tuple(described))


def _human(nbytes: float) -> str:
    for unit, f in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if nbytes >= f:
            return f"{nbytes / f:g} {unit}"
    return f"{nbytes:g} B"


def _g(x: float) -> str:
    return f"{x:.4g}"


def _capacity(nbytes: float, is_dram: bool) -> tuple[str, str]:
    if is_dram:
        return "capacity_gb", _g(nbytes / 1e9)
    if nbytes < 1024**2:
        return "capacity_kib", _g(nbytes / 1024)
    return "capacity_mib", _g(nbytes / 1024**2)


def host_simd_bits(host: HostInfo) -> tuple[int, str]:
    """(SIMD width in bits, its source) of the MEASURED host: the width its measurement file
    records (`HostInfo.simd_width_bits`, written by `infersim calibrate`), so that a refit on
    another machine describes the machine that ran the kernels; this host's flags only for a
    file from before the field (0)."""
    if host.simd_width_bits > 0:
        flag = simd_flag(host.simd_width_bits)
        seen = f"include {flag}" if flag else "have neither avx2 nor avx512f"
        return host.simd_width_bits, (f"host: /proc/cpuinfo flags {seen} (the measured host's: "
                                       "simd_width_bits in the measurement file's header)")
    return simd_bits(cpu_flags())


def spec_name(host: HostInfo) -> str:
    return f"cpu-{host.slug}"


def cpu_spec_yaml(cal: Calibration, host: HostInfo, plan: LevelPlan, data_ref: str,
                  profile: str, scaling: ChipScaling | None = None) -> str:
    """The calibrated spec as YAML text. `data_ref` names the measurement file. With a
    `scaling` from fewer threads to the chip, `cal` holds whole-chip figures
    (threads.scale_calibration) and their sources say how each was derived."""
    m = f"measured: {data_ref}"
    lines = [
        f"# Calibrated host CPU: {host.cpu_model}, {host.threads} Numba worker thread(s) "
        f"({host.threading_layer} layer), numba {host.numba_version}, numpy {host.numpy_version}.",
        f"# Written by `infersim calibrate` ({profile} profile) on {host.date_utc} from the "
        f"measurements in {data_ref}.",
        "# Modelling decisions:",
        "# - Compute units are ACHIEVED ceilings of the calibration kernels, not datasheet peaks:",
        "#   matrix = the cache-blocked Numba GEMM (validation/kernels/cpu.py, also used by the",
        "#   small transformer), vector = an elementwise FMA-chain kernel.",
        "# - Memory levels are fitted bandwidth plateaus and effective capacities of all cores",
        "#   together (hwmodels/models/cpu.py: a working set W is served by each level in",
        "#   proportion to what it holds). Caches hold activations only: weights and KV stream",
        "#   from DRAM in a model step, as the rest of the model evicts them between uses.",
        "# - cpu.call_overhead_us is the fitted fixed cost of one kernel call (STREAM intercept);",
        "#   GEMM B operands (weights) and attention K/V were measured cold, as in a model step.",
        "# Omitted: energy and power (not measurable in this VM: assumed values below), NUMA,",
        "# frequency scaling, SMT, bf16/fp16 arithmetic, price and area.",
        f"name: {spec_name(host)}",
        "kind: cpu",
        "description: " + json.dumps(f"{host.cpu_model}, {host.threads} threads, calibrated "
                                     f"{host.date_utc} by infersim calibrate", ensure_ascii=False),
    ]
    clock = host.tsc_hz / 1e9 if host.tsc_hz > 0 else 2.0
    sources: dict[str, str] = {
        "clock_ghz": ("host: /proc/cpuinfo BogoMIPS / 2 (the TSC rate; not used by the model)"
                      if host.tsc_hz > 0 else "assumed: unknown host clock; not used by the model"),
    }
    lines.append(f"clock_ghz: {_g(clock)}")
    lines.append("compute:")
    for unit, flops, what in (("matrix", cal.matrix_flops, "gemm"),
                              ("vector", cal.vector_flops, "vfma")):
        if not flops:
            continue
        peaks = ", ".join(f"{dt}: {_g(v / 1e9)}" for dt, v in sorted(flops.items()))
        lines += [f"  {unit}:", f"    type: {unit}", f"    count: {host.threads}",
                  f"    peak_gflops: {{{peaks}}}"]
        sources[f"compute.{unit}.count"] = "host: Numba worker threads (NUMBA_NUM_THREADS)"
        sources[f"compute.{unit}.peak_gflops"] = (
            f"{m} ({what} rows with role=fit; "
            + ("robust fit of FLOP/s per dtype with gemm_half_rows and "
               "weight_stream_efficiency, memory hierarchy held fixed; B cold)"
               if what == "gemm" else "FLOPs / (median time - call overhead))"))
    lines.append("memory:")
    for i, name in enumerate(plan.names):
        lv = cal.levels[i]
        dram = i == len(plan.names) - 1
        ck, cv = _capacity(lv.capacity_bytes, dram)
        energy = _DRAM_PJ_PER_BIT if dram else _ENERGY_PJ_PER_BIT.get(i + 1, 1.6)
        holds = "[weights, kv, activations]" if dram else "[activations]"
        lines += [f"  {name}:", f"    {ck}: {cv}", f"    bandwidth_gb_per_s: {_g(lv.bandwidth_Bps / 1e9)}",
                  f"    energy_pj_per_bit: {energy:g}", f"    holds: {holds}"]
        if dram:
            sources[f"memory.{name}.{ck}"] = "host: /proc/meminfo MemTotal"
        else:
            sources[f"memory.{name}.{ck}"] = (
                f"{m} (effective capacity fitted to the STREAM sweep; the OS reports "
                f"{plan.described[i]})")
        sources[f"memory.{name}.bandwidth_gb_per_s"] = (
            f"{m} (bandwidth plateau fitted to the STREAM copy/scale/add/triad/sum sweep, "
            "rows with role=fit)")
        sources[f"memory.{name}.energy_pj_per_bit"] = (
            f"assumed: {_HOROWITZ}" + ("; DDR at the low end of 20-40 pJ/bit" if dram else ""))
    tdp = 8.0 * host.threads
    lines += ["power:", f"  tdp_w: {_g(tdp)}", f"  idle_w: {_g(tdp / 4)}"]
    sources["power.tdp_w"] = "assumed: ~8 W per core of a server CPU (not measurable in a VM)"
    sources["power.idle_w"] = "assumed: a quarter of the assumed TDP"
    flops_e = ", ".join(f"{dt}: {_PJ_PER_FLOP[dt]:g}" for dt in sorted(
        set(cal.matrix_flops) | set(cal.vector_flops)) if dt in _PJ_PER_FLOP)
    if flops_e:
        lines += ["energy:", f"  pj_per_flop: {{{flops_e}}}"]
        sources["energy.pj_per_flop"] = (
            f"assumed: {_HOROWITZ}: fp32 multiply 3.7 pJ + add 0.9 pJ per FMA = 2.3 pJ/FLOP; "
            "fp64 twice that (wider datapath)")
    bits, bits_src = host_simd_bits(host)
    lines += ["cpu:", f"  cores: {host.threads}", f"  simd_width_bits: {bits}",
              "  fma_units_per_core: 2", f"  call_overhead_us: {_g(cal.overhead_s * 1e6)}",
              f"  gemm_half_rows: {_g(cal.gemm_half_rows)}",
              f"  gemm_stream_rows: {cal.gemm_stream_rows}",
              f"  weight_stream_efficiency: {_g(min(1.0, max(0.01, cal.weight_stream_efficiency)))}",
              f"  attention_efficiency: {_g(min(1.0, cal.attention_efficiency))}"]
    sources["cpu.cores"] = "host: Numba worker threads (one per core used)"
    sources["cpu.simd_width_bits"] = bits_src
    sources["cpu.fma_units_per_core"] = "assumed: 2 FMA pipes per core (recent x86 cores)"
    sources["cpu.call_overhead_us"] = (
        f"{m} (intercept of the STREAM sweep, fitted with the memory levels; an empty parallel "
        f"kernel took {cal.empty_kernel_s * 1e6:.3g} us)")
    sources["cpu.gemm_half_rows"] = (f"{m} (fitted with the GEMM ceilings over the gemm rows "
                                     "with role=fit, B cold)")
    sources["cpu.gemm_stream_rows"] = ("kernel structure: validation/kernels/cpu.py gemm_tiled "
                                       "runs rows in groups of 4; fewer rows take its GEMV "
                                       "loop")
    sources["cpu.weight_stream_efficiency"] = (f"{m} (fitted with the GEMM ceilings: GEMV-"
                                               "like rows stream their cold B from DRAM)")
    sources["cpu.attention_efficiency"] = (f"{m} (attention rows with role=fit, K/V cold, "
                                           "relative to the fp32 GEMM ceiling)")
    if scaling is not None and not scaling.identity:
        lines[2:2] = _scaling_comment(scaling)
        _scaled_sources(sources, scaling, plan)
    lines.append("sources:")
    lines += [f"  {k}: {json.dumps(v, ensure_ascii=False)}" for k, v in sources.items()]
    return "\n".join(lines) + "\n"


def _scaling_comment(s: ChipScaling) -> list[str]:
    how = "measured" if s.measured else "ASSUMED linear in cores"
    return [f"# Other processes held cores: the kernels ran with {s.threads} of "
            f"{s.chip_threads} worker threads",
            f"#   (header threads_*); whole-chip figures = those measurements x the scaling "
            f"from {s.threads} to {s.chip_threads}",
            f"#   threads ({how}): compute and cache bandwidth x {s.compute:.3g}, DRAM "
            f"x {s.dram:.3g}."]


def _scaled_sources(sources: dict[str, str], s: ChipScaling, plan: LevelPlan) -> None:
    """Rewrite the sources of the figures scaled from t threads to the chip."""
    dram = plan.names[-1]

    def scaled(key: str, factor: float, what: str) -> None:
        base = sources[key]
        where = f"{base}, with {s.threads} of {s.chip_threads} thread(s)"
        if s.measured:
            sources[key] = (f"{where}; x {factor:.4g} {what} (threads probe in the "
                            "measurement file's header: scale_probe)")
        else:
            sources[key] = f"{s.why}; {what} x {factor:.4g} applied to {where}"

    for key in [k for k in sources if k.startswith("compute.") and k.endswith(".peak_gflops")]:
        scaled(key, s.compute, "compute scaling (per-core FMA units)")
    for name in plan.names[:-1]:
        scaled(f"memory.{name}.bandwidth_gb_per_s", s.compute,
               "compute scaling (per-core load/store ports)")
        for key in [k for k in sources if k.startswith(f"memory.{name}.capacity_")]:
            sources[key] += (f"; scaled to the cache instances {s.chip_threads} threads use "
                             f"(measured with {s.threads})")
    scaled(f"memory.{dram}.bandwidth_gb_per_s", s.dram, "STREAM triad scaling")
    sources["cpu.call_overhead_us"] += (f"; measured with {s.threads} of {s.chip_threads} "
                                        "threads (waking more workers is not included)")


def fitted_summary(cal: Calibration, plan: LevelPlan) -> list[Mapping[str, str]]:
    """Rows for a table of the fitted parameters."""
    rows: list[Mapping[str, str]] = [
        {"parameter": "call overhead",
         "value": f"{cal.overhead_s * 1e6:.2f} µs (empty kernel {cal.empty_kernel_s * 1e6:.2f})"}]
    for i, lv in enumerate(cal.levels):
        cap = ("(machine memory)" if i == len(cal.levels) - 1
               else f"{_human(lv.capacity_bytes)} (OS: {_human(plan.nominal_bytes[i])})")
        rows.append({"parameter": f"{lv.name} bandwidth / capacity",
                     "value": f"{lv.bandwidth_Bps / 1e9:.1f} GB/s, {cap}"})
    for dt, v in sorted(cal.matrix_flops.items()):
        rows.append({"parameter": f"GEMM ceiling {dt}", "value": f"{v / 1e9:.1f} GFLOP/s"})
    rows.append({"parameter": "GEMM rows for half the ceiling",
                 "value": f"{cal.gemm_half_rows:.1f}"})
    rows.append({"parameter": "GEMM weight-stream / DRAM bandwidth",
                 "value": f"{cal.weight_stream_efficiency:.2f}"})
    rows.append({"parameter": "attention / GEMM FLOP rate",
                 "value": f"{cal.attention_efficiency:.2f}"})
    for dt, v in sorted(cal.vector_flops.items()):
        rows.append({"parameter": f"vector FMA ceiling {dt}", "value": f"{v / 1e9:.1f} GFLOP/s"})
    return rows
