"""What cuBLAS / CUTLASS GEMM kernel names say about the kernel that ran.

NVIDIA does not document these names; the fields below follow the patterns the names share
(CUTLASS documents its own scheme in its profiler docs, and a CUTLASS maintainer confirmed
the reading of `cutlass_80_..._128x128_32x4_tn_align8` in NVIDIA/cutlass#1025). What a name
does not encode stays None. Families:

- `xmma`: cuBLAS Hopper kernels, `sm90_xmma_gemm_<types>_<layout>_tilesize{M}x{N}x{K}`
  `[_cgasize{cM}x{cN}x1]_warpgroupsize..._execute_segment_k_{on|off}_...`
- `nvjet`: cuBLAS 12.8+ Hopper/Blackwell kernels,
  `nvjet[_smXX]_<types>_{M}x{N}_{K}x{stages}_{cM}x{cN}[_2cta]_{v|h}_{bz|badd}[_coopA|_coopB|_splitK][_bias]_<layout>`
- `cutlass`: CUTLASS 2.x `cutlass_<arch>_tensorop_..._{M}x{N}_{K}x{stages}_<layout>_align<a>`
  and CUTLASS 3.x `cutlass3x_sm90_..._{M}x{N}x{K}_{cM}x{cN}x{cK}_...`
- `ampere` (also `volta`, `turing`, `sm80`, `sm75`, ...): cuBLAS pre-Hopper kernels,
  `ampere_<t>_s16816gemm_<t>_{M}x{N}[_sliced1x{s}]_ldg8_..._stages_{K}x{stages}_<layout>`
- `splitk_reduce`: the split-K / segment-K reduction kernels (`splitKreduce_kernel`,
  `reduce_1Block_kernel`) that follow a split-K GEMM.
- `gemv`: cuBLAS matrix-vector kernels (`gemv2T_kernel_val`, `internal::gemvx::kernel`,
  `dot_kernel`).
- `unknown`: anything else (never an exception).
"""

from __future__ import annotations

import re
from typing import Any

FAMILIES = ("xmma", "nvjet", "cutlass", "ampere", "splitk_reduce", "gemv", "unknown")
_PRE_HOPPER = ("ampere", "volta", "turing", "sm80", "sm86", "sm89", "sm75", "sm70", "hopper")


def _blank(name: str, family: str) -> dict[str, Any]:
    return {"name": name, "family": family, "tile_m": None, "tile_n": None, "tile_k": None,
            "stages": None, "cluster_m": None, "cluster_n": None, "split_k": False,
            "reduction": False, "layout": None}


def _base(name: str) -> str:
    """The kernel's own identifier: a demangled C++ signature (`void ns::k<...>(...)`)
    reduced to its last scope name; the template arguments of CUTLASS wrappers
    (`cutlass::Kernel2<cutlass_80_...>`) are what names the GEMM, so they are kept."""
    s = name.strip()
    if s.startswith("void "):
        s = s[5:]
    inner = re.search(r"<\s*((?:cutlass|ampere|sm\d+|nvjet)\w*)", s)
    if inner and not re.match(r"(cutlass|ampere|sm\d+_xmma|nvjet)\w*_\d", s):
        return inner.group(1)
    s = s.split("(", 1)[0].split("<", 1)[0]
    return s.rsplit("::", 1)[-1]


def _ints(*xs: str | None) -> list[int | None]:
    return [int(x) if x is not None else None for x in xs]


def parse_cublas_kernel(name: str) -> dict[str, Any]:
    """Tile M×N(×K), pipeline stages, cluster shape, split-K and family of one GPU kernel
    name, as far as the name encodes them (None where it does not)."""
    try:
        return _parse(str(name))
    except Exception:  # a name is data: whatever it holds, report it as not understood
        return _blank(str(name), "unknown")


def _parse(name: str) -> dict[str, Any]:
    b = _base(name)
    low = b.lower()
    if "splitkreduce" in low or low.startswith("reduce_1block") or "splitk_reduce" in low:
        d = _blank(name, "splitk_reduce")
        d.update(split_k=True, reduction=True)
        return d
    head = name.strip().removeprefix("void ").split("(", 1)[0].split("<", 1)[0].lower()
    if "gemv" in head or low == "dot_kernel":
        # matrix-vector paths (`gemv2T_kernel_val`, `internal::gemvx::kernel`, and the
        # `dot_kernel` + `reduce_1Block_kernel` pair cuBLAS runs for M = 1, small N)
        return _blank(name, "gemv")
    if low.startswith("sm90_xmma") or re.match(r"sm\d+_xmma", low):
        d = _blank(name, "xmma")
        m = re.search(r"tilesize(\d+)x(\d+)x(\d+)", low)
        if m:
            d["tile_m"], d["tile_n"], d["tile_k"] = _ints(*m.groups())
        c = re.search(r"cgasize(\d+)x(\d+)x\d+", low)
        if c:
            d["cluster_m"], d["cluster_n"] = _ints(*c.groups())
        d["split_k"] = "segment_k_on" in low or "splitk" in low
        lay = re.search(r"_(tn|nt|nn|tt)_", low)
        d["layout"] = lay.group(1) if lay else None
        return d
    if low.startswith("nvjet"):
        d = _blank(name, "nvjet")
        m = re.search(r"_(\d+)x(\d+)_(\d+)x(\d+)_(\d+)x(\d+)(?=_)", b)
        if m:
            (d["tile_m"], d["tile_n"], d["tile_k"], d["stages"], d["cluster_m"],
             d["cluster_n"]) = _ints(*m.groups())
        d["split_k"] = "splitk" in low
        lay = re.search(r"_([TN]{3})$", b)
        d["layout"] = lay.group(1) if lay else None
        return d
    if low.startswith("cutlass"):
        d = _blank(name, "cutlass")
        m3 = re.search(r"_(\d+)x(\d+)x(\d+)_(\d+)x(\d+)x\d+_", low)
        m2 = re.search(r"_(\d+)x(\d+)_(\d+)x(\d+)_", low)
        if m3:
            d["tile_m"], d["tile_n"], d["tile_k"], d["cluster_m"], d["cluster_n"] = _ints(
                *m3.groups())
        elif m2:
            d["tile_m"], d["tile_n"], d["tile_k"], d["stages"] = _ints(*m2.groups())
        d["split_k"] = "splitk" in low
        lay = re.search(r"_(tn|nt|nn|tt|tnn|tnt|ntn|nnn|ttn)_align", low)
        d["layout"] = lay.group(1) if lay else None
        return d
    if low.split("_", 1)[0] in _PRE_HOPPER:
        d = _blank(name, "ampere")
        m = re.search(r"_(\d+)x(\d+)_", low)
        if m:
            d["tile_m"], d["tile_n"] = _ints(*m.groups())
        st = re.search(r"stages_(\d+)x(\d+)", low)
        if st:
            d["tile_k"], d["stages"] = _ints(*st.groups())
        # `sliced1xS`: S warps split K inside a CTA and reduce in shared memory, not a
        # split-K across CTAs (NVIDIA/cutlass#533), so split_k stays False
        lay = re.search(r"_(tn|nt|nn|tt)$", low)
        d["layout"] = lay.group(1) if lay else None
        return d
    return _blank(name, "unknown")


GEMM_FAMILIES = ("xmma", "nvjet", "cutlass", "ampere", "gemv")


def summarize(kernels: list[dict[str, Any]]) -> dict[str, Any]:
    """Row fields of one GEMM call from its profiled kernels (`name`, `time_s` per call, in
    launch order): the main kernel is the longest GEMM-family kernel (the first kernel when
    none is recognised); split-K is set when that kernel's name says so or a reduction
    kernel ran with it."""
    if not kernels:
        return {"kernel_family": "", "tile_m": "", "tile_n": "", "tile_k": "", "stages": "",
                "cluster_m": "", "cluster_n": "", "split_k": "", "kernel_time_s": ""}
    parsed = [(k, parse_cublas_kernel(k["name"])) for k in kernels]
    gemms = [(k, p) for k, p in parsed if p["family"] in GEMM_FAMILIES]
    main = max(gemms, key=lambda kp: float(kp[0].get("time_s") or 0.0))[1] if gemms \
        else parsed[0][1]
    split = bool(main["split_k"]) or any(p["reduction"] for _, p in parsed)
    total = sum(float(k.get("time_s") or 0.0) for k in kernels)

    def cell(v: Any) -> Any:
        return "" if v is None else v

    return {"kernel_family": main["family"], "tile_m": cell(main["tile_m"]),
            "tile_n": cell(main["tile_n"]), "tile_k": cell(main["tile_k"]),
            "stages": cell(main["stages"]), "cluster_m": cell(main["cluster_m"]),
            "cluster_n": cell(main["cluster_n"]), "split_k": split, "kernel_time_s": total}
