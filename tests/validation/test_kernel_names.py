"""cuBLAS / CUTLASS kernel-name parser and measure_gpu's kernel columns, without a GPU.

The names are real: each was pasted in a public profiler dump or source file (cited per
case). Sources marked "code index id N" were found by exact-string search of the project's
public-code index, which gives a file id but not its repository; the others are GitHub
issues / PRs / forum threads. Every expected field is read off the name by hand.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from infersim.validation.gpu.kernel_names import parse_cublas_kernel, summarize

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "validation" / "gpu" / "measure_gpu.py"

XMMA = ("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_warpgroupsize1x1x1_"
        "execute_segment_k_off_kernel__5x_cublas")

# (name, source, expected fields)
CASES: list[tuple[str, str, dict[str, Any]]] = [
    (XMMA, "code index id 41157624835 (kernel list of a DeepGEMM comparison test); also in "
     "nsys kernel summaries (ids 66775556738, 27819899909)",
     dict(family="xmma", tile_m=128, tile_n=128, tile_k=64, stages=None, cluster_m=None,
          split_k=False, layout="tn")),
    ("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize_cgasize1x1x1_warpgroupsize1x1x1_"
     "aligna4_alignc4_execute_segment_k_off_kernel__5x_cublas",
     "code index id 52523043425 (vLLM kernel table; the tile digits are elided there)",
     dict(family="xmma", tile_m=None, tile_n=None, cluster_m=1, cluster_n=1, split_k=False)),
    ("nvjet_tst_192x192_64x4_2x1_v_bz_coopB_TNN", "code index id 66227485803 (profile table)",
     dict(family="nvjet", tile_m=192, tile_n=192, tile_k=64, stages=4, cluster_m=2,
          cluster_n=1, split_k=False, layout="TNN")),
    ("nvjet_tst_64x32_64x16_2x2_2cta_h_bz_splitK_TNT", "code index id 56957812144 (nsys "
     "kernel summary)",
     dict(family="nvjet", tile_m=64, tile_n=32, tile_k=64, stages=16, cluster_m=2,
          cluster_n=2, split_k=True, layout="TNT")),
    ("nvjet_tst_32x64_64x16_4x1_v_bz_TNN", "code index ids 61390609819, 51997610509 (decode "
     "profiles, aten::mm [16, 4096] x [4096, 3584])",
     dict(family="nvjet", tile_m=32, tile_n=64, tile_k=64, stages=16, cluster_m=4,
          cluster_n=1, split_k=False)),
    ("nvjet_tst_256x96_64x5_2x1_2cta_v_badd_NNT", "code index id 54246479208",
     dict(family="nvjet", tile_m=256, tile_n=96, tile_k=64, stages=5, cluster_m=2,
          cluster_n=1, split_k=False, layout="NNT")),
    ("nvjet_sm103_tst_64x8_64x16_4x1_v_bz_splitK_TNT", "code index id 67636057887 "
     "(Blackwell Ultra trace)",
     dict(family="nvjet", tile_m=64, tile_n=8, tile_k=64, stages=16, cluster_m=4,
          cluster_n=1, split_k=True)),
    ("nvjet_sm90_hss_320x128", "github.com/GindaChen/nsys-ai/pull/582 (name as quoted there, "
     "without the K x stages and cluster groups)",
     dict(family="nvjet", tile_m=None, stages=None, split_k=False)),
    ("cutlass_80_tensorop_f16_s16816gemm_relu_f16_128x128_32x4_tn_align8",
     "github.com/NVIDIA/cutlass/issues/1025 (reading confirmed by a maintainer)",
     dict(family="cutlass", tile_m=128, tile_n=128, tile_k=32, stages=4, cluster_m=None,
          split_k=False, layout="tn")),
    ("cutlass_tensorop_h16816gemm_128x128_32x5_nn_align8",
     "github.com/NVIDIA/cutlass/pull/896",
     dict(family="cutlass", tile_m=128, tile_n=128, tile_k=32, stages=5, layout="nn")),
    ("cutlass3x_sm90_tensorop_gemm_bf16_bf16_f32_bf16_bf16_128x256x64_1x1x1_0_tnn_align8_"
     "warpspecialized_cooperative_epi_tma", "code index ids 67341810013, 4658133169 "
     "(CUTLASS changelog: the 3.x kernel naming)",
     dict(family="cutlass", tile_m=128, tile_n=256, tile_k=64, stages=None, cluster_m=1,
          cluster_n=1, layout="tnn")),
    ("cutlass3x_sm90_tensorop_gemm_bf16_bf16_f32_bf16_bf16_128x128x64_2x1x1_0_nnn_align8_"
     "warpspecialized_cooperative_epi_tma", "code index id 52387602622 (CUTLASS profiler "
     "build line)",
     dict(family="cutlass", tile_m=128, tile_n=128, tile_k=64, cluster_m=2, cluster_n=1)),
    ("void cutlass::Kernel2<cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_128x128_64x3_tn_"
     "align8>(cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_128x128_64x3_tn_align8::Params)",
     "code index id 28786920182 (PyTorch profiler notes; the demangled wrapper form)",
     dict(family="cutlass", tile_m=128, tile_n=128, tile_k=64, stages=3, layout="tn")),
    ("void cutlass::Kernel2<cutlass_80_simt_sgemm_64x64_8x5_tn_align1>(cutlass_80_simt_sgemm_"
     "64x64_8x5_tn_align1::Params)", "code index ids 61890730667, 61544620682",
     dict(family="cutlass", tile_m=64, tile_n=64, tile_k=8, stages=5, layout="tn")),
    ("ampere_fp16_s16816gemm_fp16_64x64_sliced1x2_ldg8_relu_f2f_stages_64x6_tn",
     "github.com/NVIDIA/cutlass/issues/1025",
     dict(family="ampere", tile_m=64, tile_n=64, tile_k=64, stages=6, split_k=False,
          layout="tn")),
    ("ampere_bf16_s1688gemm_bf16_128x128_ldg8_f2f_stages_32x1_nn",
     "github.com/karpathy/nanochat/pull/105",
     dict(family="ampere", tile_m=128, tile_n=128, tile_k=32, stages=1, layout="nn")),
    ("ampere_bf16_s16816gemm_bf16_256x128_ldg8_f2f_stages_32x3_nn",
     "github.com/karpathy/nanochat/pull/105",
     dict(family="ampere", tile_m=256, tile_n=128, tile_k=32, stages=3)),
    ("volta_sgemm_64x32_sliced1x4_nn", "github.com/NVIDIA/cutlass/issues/533",
     dict(family="ampere", tile_m=64, tile_n=32, tile_k=None, stages=None, split_k=False,
          layout="nn")),
    ("void splitKreduce_kernel<float, float, float, float>(cublasSplitKParams<float>, float "
     "const*, float const*, float*, float const*, float const*, float const*)",
     "code index id 6924892121 (TensorFlow profile dump)",
     dict(family="splitk_reduce", split_k=True, reduction=True, tile_m=None)),
    ("cublasLt::splitKreduce_kernel", "code index id 62216669817 (SGLang profile table)",
     dict(family="splitk_reduce", split_k=True, reduction=True)),
    ("void reduce_1Block_kernel<float, int=128, int=7, cublasGemvTensorStridedBatched<float>, "
     "cublasGemvTensorStridedBatched<float>>(float const *, float)",
     "code index id 47245451023 (nvprof dump)",
     dict(family="splitk_reduce", reduction=True)),
    ("gemv2T_kernel_val", "code index id 70380675702", dict(family="gemv", tile_m=None)),
    ("dot_kernel", "code index id 61632226777 (cuBLAS M=1, N=96: dot_kernel + "
     "reduce_1Block_kernel)", dict(family="gemv")),
]


@pytest.mark.parametrize("name,source,expected", CASES, ids=[c[0][:40] for c in CASES])
def test_parse_real_kernel_names(name: str, source: str, expected: dict[str, Any]) -> None:
    got = parse_cublas_kernel(name)
    assert got["name"] == name
    assert {k: got[k] for k in expected} == expected, source


@pytest.mark.parametrize("name", [
    "void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>>()",
    "void flash_fwd_kernel<Flash_fwd_kernel_traits<128,128,128,4>>", "", "xyz_123x456_7x8",
    "aten::mm", "ncclDevKernel_AllReduce_Sum_bf16_RING_LL128", "nvjet", "sm90_xmma_gemm"])
def test_unknown_names_are_unknown_or_partial_never_raise(name: str) -> None:
    got = parse_cublas_kernel(name)
    if name in ("nvjet", "sm90_xmma_gemm"):  # a family prefix alone: no tile facts
        assert got["tile_m"] is None and got["split_k"] is False
    else:
        assert got["family"] == "unknown"
        assert got["tile_m"] is None and got["split_k"] is False


def test_parse_non_string_is_unknown() -> None:
    assert parse_cublas_kernel(None)["family"] == "unknown"  # type: ignore[arg-type]


def test_summarize_picks_longest_gemm_and_flags_split_k_from_reduce_kernel() -> None:
    ks = [{"name": "nvjet_tst_64x8_64x16_2x1_v_bz_TNT", "time_s": 3e-6},
          {"name": XMMA, "time_s": 20e-6},
          {"name": "cublasLt::splitKreduce_kernel", "time_s": 2e-6}]
    s = summarize(ks)
    assert s["kernel_family"] == "xmma" and (s["tile_m"], s["tile_n"]) == (128, 128)
    assert s["split_k"] is True  # a reduction kernel ran with the GEMM
    assert s["kernel_time_s"] == pytest.approx(25e-6)
    assert summarize([])["kernel_family"] == ""


# ---------------------------------------------------------------- measure_gpu, no torch


def _load_measure_gpu() -> Any:
    spec = importlib.util.spec_from_file_location("_measure_gpu_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _Event:
    def __init__(self, key: str, device: str, count: int, device_us: float,
                 cpu_us: float = 0.0):
        self.key = key
        self.device_type = f"DeviceType.{device}"
        self.count = count
        self.device_time_total = device_us
        self.cpu_time_total = cpu_us


class _FakeBench:
    cuda = True

    def sync(self) -> None:
        pass


def _fake_profiler(monkeypatch: pytest.MonkeyPatch, events: list[_Event],
                   fail: bool = False) -> None:
    """torch.profiler stand-in: `profile(activities=...)` as a context manager whose
    key_averages() and events() return `events`."""

    class _Prof:
        def __init__(self, activities: Any) -> None:
            if fail:
                raise RuntimeError("CUPTI unavailable")
            assert activities == ["CUDA"]

        def __enter__(self) -> _Prof:
            return self

        def __exit__(self, *a: Any) -> None:
            return None

        def key_averages(self) -> list[_Event]:
            return events

        def events(self) -> list[Any]:  # the raw events (graph_kernels reads them)
            return events

    fake = types.ModuleType("torch.profiler")
    fake.ProfilerActivity = types.SimpleNamespace(CUDA="CUDA", CPU="CPU")  # type: ignore[attr-defined]
    fake.profile = _Prof  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))
    monkeypatch.setitem(sys.modules, "torch.profiler", fake)


def test_gemm_row_from_fake_profiler(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    mg = _load_measure_gpu()
    # 3 profiled calls: a split-K GEMM (12 us) + its reduction (2 us) per call; host-side
    # events and the workspace memset must not count as kernels
    events = [_Event("aten::linear", "CPU", 3, 0.0, 90.0),
              _Event("cudaLaunchKernel", "CPU", 6, 0.0, 15.0),
              _Event("nvjet_tst_64x32_64x16_2x2_2cta_h_bz_splitK_TNT", "CUDA", 3, 36.0),
              _Event("Memset (Device)", "CUDA", 3, 3.0),
              _Event("Activity Buffer Request", "CUDA", 1, 40.0),
              _Event("cublasLt::splitKreduce_kernel", "CUDA", 3, 6.0)]
    _fake_profiler(monkeypatch, events)
    fn_calls: list[int] = []
    fields = mg.gemm_row_fields(_FakeBench(), lambda: fn_calls.append(1))
    assert len(fn_calls) == 1 + 3  # one warm call, then the 3 profiled calls
    w = mg.Writer(tmp_path, {"device": "NVIDIA H200", "driver": "x", "torch": "x", "cuda": "x",
                             "date": "x"})
    w.add("gemm", "linear", [1e-5, 2e-5, 3e-5], dtype="fp16", m=96, k=4096, n=12288, **fields)
    row = next(csv.DictReader((w.save()).open()))
    assert json.loads(row["kernels"]) == ["nvjet_tst_64x32_64x16_2x2_2cta_h_bz_splitK_TNT",
                                          "cublasLt::splitKreduce_kernel"]
    assert row["kernel_family"] == "nvjet"
    assert (row["tile_m"], row["tile_n"], row["tile_k"], row["stages"]) == ("64", "32", "64",
                                                                            "16")
    assert (row["cluster_m"], row["cluster_n"], row["split_k"]) == ("2", "2", "True")
    assert float(row["kernel_time_s"]) == pytest.approx((36.0 + 6.0) / 3 * 1e-6)
    assert float(row["time_s"]) == pytest.approx(2e-5)


def test_profiler_failure_keeps_the_timed_row(monkeypatch: pytest.MonkeyPatch) -> None:
    mg = _load_measure_gpu()
    _fake_profiler(monkeypatch, [], fail=True)
    fields = mg.gemm_row_fields(_FakeBench(), lambda: None)
    assert fields == {"kernels": "", "kernel_family": "profile failed: RuntimeError"}
    assert set(fields) <= set(mg.FIELDS)


def test_kernel_list_per_call_counts() -> None:
    mg = _load_measure_gpu()
    ev = [_Event("dot_kernel", "CUDA", 4, 8.0), _Event("reduce_1Block_kernel", "CUDA", 4, 4.0)]
    ks = mg.kernel_list(ev, calls=2)
    assert [(k["name"], k["calls"]) for k in ks] == [("dot_kernel", 2.0),
                                                      ("reduce_1Block_kernel", 2.0)]
    assert [k["time_s"] for k in ks] == pytest.approx([4e-6, 2e-6])


def test_sweep_estimate_one_gemm_by_hand() -> None:
    mg = _load_measure_gpu()
    # M=1, K=N=1024 fp16 is bandwidth-bound: 2 B x (1024 + 1024^2 + 1024) = 2,101,248 B at
    # 2.5 TB/s = 0.8405 us; each call also flushes 2 x 256 MiB at 2.5 TB/s = 214.75 us;
    # 32 calls + 0.06 s host overhead
    want = 32 * (2_101_248 / 2.5e12 + 2 * 268_435_456 / 2.5e12) + 0.06
    assert mg.sweep_estimate_s(((1024, 1024),), (1,), 32) == pytest.approx(want, rel=1e-9)


def test_help_and_clean_exit_without_torch() -> None:
    code = ("import sys, runpy; sys.modules['torch'] = None; sys.argv = ['measure_gpu.py'] + "
            f"sys.argv[1:]; runpy.run_path({str(SCRIPT)!r}, run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "--gemm-sweep" in r.stdout
    r = subprocess.run([sys.executable, "-c", code, "--gemm-sweep", "--out", "/nonexistent"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip() == "measure_gpu: PyTorch is required"
    # a mistyped section is named in one line, before anything is imported or measured
    r = subprocess.run([sys.executable, "-c", code, "--only", "gemm,flush_prob", "--out",
                        "/nonexistent"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "measure_gpu: --only: unknown section 'flush_prob'; use any of overhead, elementwise, "
        "gemm, gemm_sweep, attention, flush_probe, e2e, moe"]


def test_flush_probe_summary_by_hand() -> None:
    mg = _load_measure_gpu()
    # one replay of 3 x (flush, op): each flush is two kernels (a 50 us pass and a small
    # second pass), the op two kernels (main 10 us + reduce 2 us) in the first two calls and
    # one of 14 us in the last. Flushes after an op take 50 + 10 and 50 + 12 us (the first
    # flush of the replay follows no op and does not count); a flush's last kernel ends
    # 1.5 us before the op starts, every other gap is 1 us
    ks, t = [], 0.0
    seq = (("amax", 50.0), ("amax2", 8.0), ("main", 10.0), ("reduce", 2.0), ("amax", 50.0),
           ("amax2", 10.0), ("main", 10.0), ("reduce", 2.0), ("amax", 50.0), ("amax2", 12.0),
           ("main", 14.0))
    for i, (name, dur) in enumerate(seq):
        ks.append((name, t * 1e-6, dur * 1e-6))
        nxt = seq[i + 1][0] if i + 1 < len(seq) else ""
        t += dur + (1.5 if name == "amax2" and nxt == "main" else 1.0)
    sm = mg.flush_probe_summary(ks, {"amax", "amax2"})
    assert sm["op_kernel_s"] == pytest.approx(12e-6)  # median of 12, 12, 14 us
    assert sm["flush_after_op_s"] == pytest.approx(61e-6)  # median of 60, 62 us
    assert sm["gap_s"] == pytest.approx(1.5e-6)


def test_graph_kernels_reads_device_kernels_in_start_order(monkeypatch: pytest.MonkeyPatch) -> None:
    mg = _load_measure_gpu()

    class _Ev:
        def __init__(self, name: str, device: str, start: float, end: float) -> None:
            self.name, self.device_type = name, f"DeviceType.{device}"
            self.time_range = types.SimpleNamespace(start=start, end=end)

    events = [_Ev("cudaGraphLaunch", "CPU", 0.0, 5.0), _Ev("add_kernel", "CUDA", 70.0, 72.5),
              _Ev("Memset (Device)", "CUDA", 1.0, 2.0), _Ev("amax_kernel", "CUDA", 10.0, 69.0)]

    _fake_profiler(monkeypatch, events)  # type: ignore[arg-type]
    replays: list[int] = []

    class _Bench(_FakeBench):
        def capture(self, fn: Any, flush: bool) -> Any:
            assert flush
            return types.SimpleNamespace(replay=lambda: replays.append(1))

    ks = mg.graph_kernels(_Bench(), None)
    assert replays == [1]  # one profiled replay
    # host events and the memset are dropped; µs become seconds; sorted by start
    assert [k[0] for k in ks] == ["amax_kernel", "add_kernel"]
    assert ks[0][1:] == pytest.approx((10e-6, 59e-6)) and ks[1][1:] == pytest.approx((70e-6, 2.5e-6))


def test_moe_section_code_path_on_cpu(tmp_path: Path) -> None:
    # the prepared MoE section runs on a CPU build of PyTorch (torch._grouped_mm): a tiny layer
    # of 8 experts, top-2, 64 tokens gives 16 rows per expert and one row per piece
    pytest.importorskip("torch")
    r = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--only", "moe",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = list(csv.DictReader((tmp_path / "gpu_ops.csv").open()))
    assert [x["name"] for x in rows] == ["grouped_gate_up", "grouped_down",
                                         "dense_gate_up_equiv", "permute", "finalize"]
    assert {(x["m"], x["batch"], x["heads"], x["kv_heads"]) for x in rows} == {("16", "64", "8",
                                                                                 "2")}
    assert all(float(x["time_s"]) > 0 for x in rows)


def test_moe_rows_map_to_the_trace_ops_they_time() -> None:
    from infersim.validation.datasets.gpu_measurements import op_for_row
    from infersim.workloads.ops import OpKind

    row = {"kind": "moe", "name": "grouped_gate_up", "dtype": "bf16", "m": "32", "k": "2048",
           "n": "1536", "heads": "128"}
    op = op_for_row(row)
    assert op is not None and op.kind is OpKind.MOE_EXPERTS
    assert op.flops == 2 * 32 * 2048 * 1536 * 128  # every expert's 32 rows
    dense = op_for_row({**row, "name": "dense_gate_up_equiv"})
    assert dense is not None and dense.flops == op.flops and dense.shape.groups == 1
    assert op_for_row({**row, "name": "permute"}) is None  # PyTorch's gather: not graded


def test_staircase_shapes_and_counts_are_vidur_h100_gemms_off_the_grid() -> None:
    """The staircase part of --gemm-sweep times GEMMs the Vidur H100 profiles measured:
    every 8 tokens from 136 to 1,024 (112 counts of Vidur's sweep, 106 of them off the
    graded grid, whose 192 ... 1,024 anchor it), each (K, N) an H100 GEMM of those
    profiles."""
    from infersim.validation.datasets import vidur

    mg = _load_measure_gpu()
    assert len(mg.STAIR_M) == 112
    assert list(mg.STAIR_M) == list(range(136, 1025, 8))
    assert set(mg.STAIR_M) <= set(vidur.SWEEP_TOKENS)
    assert len(set(mg.STAIR_M) - set(vidur.TOKENS)) == 106
    rows = vidur.compute_sweep_frame()
    h100 = rows[(rows.gpu == "h100") & (rows.cls == "gemm")]
    have = {(int(k), int(n)) for k, n in zip(h100.k, h100.n, strict=True)}
    assert set(mg.STAIR_SHAPES) <= have and len(set(mg.STAIR_SHAPES)) == 6
