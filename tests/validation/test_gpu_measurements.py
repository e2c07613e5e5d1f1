"""The committed H200 session (validation/data/gpu/h200-sxm-2026-12-04) as the GPU
measurement dataset grades it, and the claims its README makes from the raw files."""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

import pytest

from infersim.hwmodels import CostContext, cost_model, load_hardware
from infersim.hwmodels.models.gpu import engines as E
from infersim.validation.datasets import gpu_measurements as gm
from infersim.workloads.dtypes import DType

SESSION = gm.DATA / "h200-sxm-2026-12-04"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def frame():  # type: ignore[no-untyped-def]
    return gm.load()


def test_only_read_flush_op_rows_are_graded(frame) -> None:  # type: ignore[no-untyped-def]
    # counted from the raw files: op rows with flush == "read" are graded, the rest are not
    graded = informative = 0
    for p in sorted(SESSION.glob("*/*/gpu_ops.csv")):
        for r in _rows(p):
            if r["kind"] in ("gemm", "attention", "elementwise") and r["time_s"]:
                if r.get("flush") == "read":
                    graded += 1
                else:
                    informative += 1
    ops = frame[frame["group"].str.startswith("operators")]
    memset = ops["group"].str.contains("memset flush")
    # run3 and run7, each: full (gemm 144, attention 10, elementwise 76) + sweep (588)
    assert (~memset).sum() == graded == 2 * (144 + 10 + 76 + 588)
    assert memset.sum() == informative
    assert frame["predicted"].map(math.isfinite).all() and frame["predicted"].gt(0).all()


def test_eager_steps_are_graded_on_the_fastest_block_of_the_session(frame) -> None:  # type: ignore[no-untyped-def]
    # counted from the raw files: each eager e2e case of the session has one graded row, the
    # smallest of its blocks' medians over all runs; every block stays, informative
    blocks: dict[str, list[float]] = {}
    for p in sorted(SESSION.glob("*/*/gpu_ops.csv")):
        for r in _rows(p):
            if r["kind"] == "e2e" and r["runtime"] == "eager":
                case = f"e2e/{r['name']}/{r['dtype']}/{r['batch']}/{r['q_len']}/{r['kv_len']}/eager"
                blocks.setdefault(case, []).append(float(r["time_s"]))
    graded = frame[(frame["group"] == "end-to-end (eager)")
                   & ~frame["case"].str.endswith("(sustained)")]
    assert sorted(graded["case"]) == sorted(blocks)
    for case, ts in blocks.items():
        assert graded.loc[graded["case"] == case, "measured"].item() == min(ts)
    every = frame[frame["group"] == gm.EAGER_BLOCKS_GROUP]
    assert len(every) == sum(map(len, blocks.values()))
    # the reason: the same 1B decode step, three processes back to back (run8), spread over
    # a factor 2 on the host while its CUDA-graph replay stayed within 10 %
    def step(part: str, runtime: str) -> float:
        rows = _rows(SESSION / f"run8/{part}/gpu_ops.csv")
        return next(float(r["time_s"]) for r in rows if r["kind"] == "e2e"
                    and r["name"] == "llama-3.2-1b" and r["batch"] == "1" and r["q_len"] == "1"
                    and r["runtime"] == runtime)
    parts = ("e2e-fresh", "e2e-after-probe", "e2e-fresh2")
    eager = [step(p, "eager") for p in parts]
    graph = [step(p, "graph") for p in parts]
    assert max(eager) / min(eager) > 2.0
    assert max(graph) / min(graph) < 1.1


def test_op_rows_are_costed_from_idle_with_the_library_that_ran(frame) -> None:  # type: ignore[no-untyped-def]
    # a large bf16 GEMM of run3: the dataset's prediction is the from-idle cost (boosted
    # clock) with the tiles of the cuBLAS whose kernels the file names (nvjet), which is
    # faster than the busy-GPU cost of the same op
    rows = _rows(SESSION / "run3/full/gpu_ops.csv")
    assert gm.gemm_library(rows) == 1.0
    assert gm.gemm_library([{**r, "kernel_family": ""} for r in rows]) == 0.0
    row = next(r for r in rows
               if r["kind"] == "gemm" and r["dtype"] == "bf16" and r["m"] == "2048"
               and r["k"] == "4096" and r["n"] == "6144")
    hw = load_hardware("h200-sxm")
    op = gm.op_for_row(row)
    assert op is not None
    graph = E.lookup("graph")
    assert graph is not None
    nvjet = graph.with_values(gemm_tile_set=1.0)
    idle = cost_model(hw).op_cost(op, hw, CostContext(from_idle=True, profile=nvjet)).time_s
    busy = cost_model(hw).op_cost(op, hw, CostContext(profile=nvjet)).time_s
    got = frame[(frame["case"] == "gemm/matmul/bf16/2048/4096/6144/graph")
                & frame["notes"].str.contains("run3/full")]["predicted"]
    assert len(got) == 1 and got.iloc[0] == pytest.approx(idle)
    assert idle < busy


def test_memset_flush_slows_skinny_gemms_in_the_same_session() -> None:
    # README claim: after the memset flush, M <= 64 GEMMs took a median >= 10 % longer than
    # after the read flush; from M = 1024 up the two agree within 3 %
    read = {(r["m"], r["k"], r["n"]): float(r["time_s"])
            for r in _rows(SESSION / "run3/sweep/gpu_ops.csv")}
    memset = {(r["m"], r["k"], r["n"]): float(r["time_s"])
              for r in _rows(SESSION / "run3/sweep-memset/gpu_ops.csv")}
    assert read.keys() == memset.keys()
    skinny = [memset[k] / read[k] for k in read if int(k[0]) <= 64]
    large = [memset[k] / read[k] for k in read if int(k[0]) >= 1024]
    assert statistics.median(skinny) > 1.10
    assert abs(statistics.median(large) - 1.0) < 0.03


def test_sustained_gemm_rate_is_the_specs_sustained_rate() -> None:
    # the 8192^3 bf16 loop of run2 after 0.5 s (power-limited) against mma_efficiency x peak
    # of h200-sxm (fitted on Vidur's H100 GEMMs, never on this machine)
    lines = (SESSION / "run2/log.txt").read_text().splitlines()
    start = next(i for i, s in enumerate(lines) if "sustained bf16 GEMM" in s)
    samples = []
    for s in lines[start + 2:]:
        parts = s.split(",")
        if len(parts) != 2 or not parts[0][:1].isdigit():
            break
        samples.append((float(parts[0]), float(parts[1])))
    assert len(samples) > 100
    sustained = statistics.median(tf for t, tf in samples if t > 0.5)
    first = samples[1][1]  # the first full sample, from idle
    hw = load_hardware("h200-sxm")
    p = hw.chip.params
    tensor = next(u for u in hw.chip.compute if u.name == "tensor")
    peak = 989.4  # dense bf16 TFLOP/s of the H100/H200 datasheet (reference §1.1)
    assert tensor.peak_flops[DType.BF16] / 1e12 == pytest.approx(peak, rel=1e-3)
    assert sustained == pytest.approx(p.mma_efficiency * peak, rel=0.03)
    assert first / sustained > 1.1  # the boost the from-idle costing describes


def test_kernel_census_agrees_across_instruments_and_exceeds_the_model(frame) -> None:  # type: ignore[no-untyped-def]
    # run4's census (kernel_census.py) and run2's e2e notes (measure_gpu.py) count the same
    # eager 1B decode step independently; the eager runtime launches a few fewer (25 per
    # layer against 25-26 measured)
    census = _rows(SESSION / "run4/kernel_census.csv")
    per_step = sum(float(r["calls_per_step"]) for r in census
                   if r["case"].startswith("llama-3.2-1b decode b1 "))
    rows = frame[(frame["group"] == "kernels per eager decode step (informative)")
                 & (frame["case"] == "e2e/llama-3.2-1b/bf16/1/1/1025/eager")
                 & frame["notes"].str.contains(r"/run[12]/full$")]
    assert len(rows) == 2  # run1 and run2
    assert (rows["measured"] == per_step).all() and per_step == 405
    # per layer: 2 norms, 4 GEMMs + the split-K reduce of one (cuBLAS 13 splits down_proj
    # alone, one `splitKreduce_kernel` per layer in the census), 10 RoPE, 2 KV writes,
    # attention + its split-KV combine (batch 1 over 1,025 keys splits), 2 residual adds,
    # silu, mul = 25
    reduces = sum(float(r["calls_per_step"]) for r in census
                  if r["case"].startswith("llama-3.2-1b decode b1 ")
                  and "splitKreduce" in r["kernel"])
    layers, modelled_per_layer = 16, 25
    assert reduces == layers
    assert rows["predicted"].iloc[0] == layers * modelled_per_layer + 3  # embed, norm, head
    assert rows["predicted"].iloc[0] < per_step


def test_kernel_census_script_cpu_dry_run(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "validation/gpu/kernel_census.py"
    r = subprocess.run([sys.executable, str(script), "--device", "cpu", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = _rows(tmp_path / "kernel_census.csv")
    cases = {row["case"] for row in rows}
    assert any(c.startswith("tiny decode b1") for c in cases)
    assert any(c.startswith("sdpa ") for c in cases)
    assert all(float(row["calls_per_step"]) > 0 for row in rows)


def test_sustained_phases_are_graded_as_steps(frame) -> None:  # type: ignore[no-untyped-def]
    phases = _rows(SESSION / "run5/phases.csv")
    sustained = frame[frame["case"].str.endswith("(sustained)")]
    got = sustained[sustained["notes"].str.endswith("/run5")]
    assert len(got) == len(phases) == 3
    # run7 (power/phases.csv, a folder deeper) adds the 512-token eager prefill
    run7 = _rows(SESSION / "run7/power/phases.csv")
    assert len(sustained) == 3 + len(run7) == 7
    assert {p["phase"] for p in run7} >= {"prefill 512 (eager)"}
    assert sorted(got["measured"]) == sorted(float(p["step_s_median"]) for p in phases)
    # priced with the tiles of the cuBLAS the session's other files name (nvjet: set 1)
    from infersim.api import make_scenario
    from infersim.mapper import map_trace
    from infersim.workloads import build_trace

    hw = load_hardware("h200-sxm")
    trace = build_trace("llama-3.1-8b", make_scenario("prefill", 1, prompt=2048))
    eager = E.lookup("eager")
    assert eager is not None
    nvjet, fixed = (map_trace(trace, hw, eager.with_values(gemm_tile_set=v)).latency_s
                    for v in (1.0, 0.0))
    row = got[got["case"] == "e2e/llama-3.1-8b/bf16/1/2048/2048/eager (sustained)"]
    assert row["predicted"].iloc[0] == pytest.approx(nvjet) and nvjet != fixed
    # the clocks of the same loops: decode keeps the boost, the prefill is power-limited
    samples = _rows(SESSION / "run5/power_states.csv")

    def clock(phase: str) -> float:
        return statistics.median(float(s["sm_mhz"]) for s in samples if s["phase"] == phase)

    assert clock("decode b1 (graph)") == clock("decode b64 (graph)") == 1980.0
    assert clock("prefill 2048 (eager)") < 1800.0


@pytest.mark.parametrize("name", ["power_states.py", "sustained_gemm.py"])
def test_power_states_script_refuses_without_a_gpu(tmp_path: Path, name: str) -> None:
    import subprocess
    import sys

    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    script = Path(__file__).resolve().parents[2] / "validation/gpu" / name
    r = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no CUDA device" in r.stderr
    assert not any(tmp_path.iterdir())  # nothing half-written


@pytest.mark.parametrize("bad", ["-1", "0", "nan", "inf", "four"])
@pytest.mark.parametrize("name", ["power_states.py", "sustained_gemm.py"])
def test_power_states_rejects_a_bad_phase_length(tmp_path: Path, bad: str, name: str) -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "validation/gpu" / name
    r = subprocess.run([sys.executable, str(script), "--seconds", bad, "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--seconds" in r.stderr.splitlines()[-1]
    assert "Traceback" not in r.stderr and not any(tmp_path.iterdir())


def test_grid_ramp_rows_are_priced_with_operands_in_l2(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # measure_gpu.py's grid-ramp sweep (back to back, no flush): each row is graded as an
    # informative overhead row, priced as the in-place add it is with its operands in L2
    from dataclasses import replace

    from infersim.hwmodels.models.gpu.figures import figures
    from infersim.workloads import ops as O
    from infersim.workloads.ops import OpKind

    header = list(_rows(SESSION / "run3/full/gpu_ops.csv")[0])
    part = tmp_path / "h200-test" / "run1" / "full"
    part.mkdir(parents=True)
    with (part / "gpu_ops.csv").open("w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=header)
        wr.writeheader()
        for n in (1, 4096, 4194304):
            wr.writerow({k: "" for k in header} | {
                "device": "NVIDIA H200", "kind": "overhead", "name": "graph_ramp_add",
                "dtype": "bf16", "numel": str(n), "bytes": str(4 * n), "runtime": "graph",
                "time_s": "2e-06", "repeats": "5"})
    monkeypatch.setattr(gm, "DATA", tmp_path)
    got = gm.load()
    assert list(got["group"].unique()) == ["overhead (informative)"] and len(got) == 3
    hw = load_hardware("h200-sxm")
    c = figures(hw)
    ctx = replace(gm.ISOLATED, warm_l2=True)
    for n, pred in zip((1, 4096, 4194304), got["predicted"], strict=True):
        op = O.vector(OpKind.ELEMENTWISE, n, "bf16", name="graph_ramp_add")
        assert pred == pytest.approx(cost_model(hw).op_cost(op, hw, ctx).time_s, rel=1e-12)
    # one element: the launch, one L2 round trip and its 4 bytes at the slower of the L2
    # rate and one SM's bytes in flight over the L2 latency (Little's law)
    assert got["predicted"].iloc[0] == pytest.approx(
        c.vec_launch + c.l2_lat + max(4.0 / (c.l2_bw * c.l2_eff), 4.0 * c.l2_lat / c.inflight),
        rel=1e-9)


def test_flush_probe_rows_grade_the_kernels_device_time(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # measure_gpu.py's flush probe: each row is graded informatively on its own kernels'
    # device time (kernel_time_s, not the read-flush time_s) against the model's kernel body,
    # the op's cost less its launch; a row whose profile failed (no kernel time) is left out
    from infersim.workloads import ops as O
    from infersim.workloads.ops import OpKind

    header = list(_rows(SESSION / "run3/full/gpu_ops.csv")[0])
    part = tmp_path / "h200-test" / "run1" / "full"
    part.mkdir(parents=True)
    base = {k: "" for k in header} | {"device": "NVIDIA H200", "kind": "flush_probe",
                                      "dtype": "bf16", "runtime": "graph", "repeats": "9",
                                      "flush": "read", "time_s": "9e-05"}
    rows = [base | {"name": "add", "numel": str(1 << 24), "kernel_time_s": "7.5e-05"},
            base | {"name": "gemv", "m": "1", "k": "4096", "n": "14336",
                    "kernel_time_s": "2.8e-05"},
            base | {"name": "sdpa_decode", "batch": "1", "heads": "32", "kv_heads": "8",
                    "head_dim": "128", "q_len": "1", "kv_len": "8192",
                    "kernel_time_s": "1.2e-05"},
            base | {"name": "silu", "numel": "1024", "notes": "probe failed: RuntimeError"}]
    with (part / "gpu_ops.csv").open("w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=header)
        wr.writeheader()
        wr.writerows(rows)
    monkeypatch.setattr(gm, "DATA", tmp_path)
    got = gm.load()
    assert list(got["group"].unique()) == [gm.PROBE_GROUP] and len(got) == 3
    assert list(got["measured"]) == [7.5e-05, 2.8e-05, 1.2e-05]
    hw = load_hardware("h200-sxm")
    ops = [O.vector(OpKind.ELEMENTWISE, 1 << 24, "bf16", inputs=2.0, name="add"),
           O.matmul(1, 4096, 14336, "bf16"),
           O.attention(1, 32, 8, 128, 1, 8192, False, "bf16")]
    for op, pred in zip(ops, got["predicted"], strict=True):
        oc = cost_model(hw).op_cost(op, hw, gm.ISOLATED)
        assert pred == pytest.approx(oc.time_s - oc.overhead_s, rel=1e-12)
        assert 0.0 < pred < oc.time_s


def _elementwise_time(run: str, name: str, numel: int) -> float:
    (row,) = [r for r in _rows(SESSION / run / "full/gpu_ops.csv")
              if r["kind"] == "elementwise" and r["name"] == name and int(r["numel"]) == numel]
    return float(row["time_s"])


def test_readme_mid_size_elementwise_claims(frame) -> None:  # type: ignore[no-untyped-def]
    # README (stop 39): at 8 M elements silu and copy ran faster after the memset flush
    # (runs 1-2) than after the read flush (run3), by more than 15 %
    for name in ("silu", "copy"):
        read = _elementwise_time("run3", name, 1 << 23)
        for run in ("run1", "run2"):
            assert _elementwise_time(run, name, 1 << 23) < 0.85 * read
    # a read-flush row is graph(flush, op) - graph(flush): it holds the write-back of the
    # lines the op left dirty, which the flush after it evicts. The row's prediction is the
    # op's time plus the model's write-back (0 for a GEMM), a memset-flush row's the op alone
    hw = load_hardware("h200-sxm")
    m = cost_model(hw)
    ops = frame[frame["group"].str.startswith("operators: elementwise")]
    for name, numel in (("silu", 1 << 22), ("add", 1 << 24), ("copy", 1 << 10)):
        op = gm.op_for_row({"kind": "elementwise", "name": name, "dtype": "bf16",
                            "numel": str(numel)})
        assert op is not None
        oc = m.op_cost(op, hw, gm.ISOLATED)
        case = f"elementwise/{name}/bf16/{numel}/graph"
        read = ops[(ops["case"] == case) & (ops["group"] == "operators: elementwise")]
        memset = ops[(ops["case"] == case) & (ops["group"] != "operators: elementwise")]
        assert len(read) == 2 and len(memset) >= 1
        assert (read["predicted"] == oc.time_s + gm.writeback_s(oc)).all()
        assert (memset["predicted"] == oc.time_s).all()
        assert gm.writeback_s(oc) > (1e-6 if numel >= 1 << 22 else -1.0)
    # the model's write-back against the flush probe's measured one (the flush after the op
    # less a flush after a flush), add / silu of 4-64 M elements in run7: within 35 %
    for probe in (_probe("run7"),):
        for name in ("add", "silu"):
            for numel in (1 << 22, 1 << 24, 1 << 26):
                p = probe[(name, numel)]
                op = gm.op_for_row({"kind": "elementwise", "name": name, "dtype": "bf16",
                                    "numel": str(numel)})
                assert op is not None
                wb = gm.writeback_s(m.op_cost(op, hw, gm.ISOLATED))
                assert abs(wb / (p["flush_after_op_s"] - p["flush_alone_s"]) - 1.0) < 0.35


def test_census_class_rows_recount_the_census(frame) -> None:  # type: ignore[no-untyped-def]
    # each census-by-class row: the device time of that class's kernels in the census CSV
    # (recounted here by name), against the eager runtime's kernel bodies for the step
    # (each op's time less kernel_launch_us per kernel, recomputed from the schedule)
    from infersim.hwmodels.models.gpu.figures import figures

    rows = _rows(SESSION / "run4/kernel_census.csv")
    got = frame[(frame["group"] == gm.CENSUS_GROUP)
                & frame["notes"].str.endswith("run4")].set_index("case")
    assert len(got) == 18  # 2 models x (decode b1, b8, prefill 512) x 3 classes
    want = sum(float(r["device_s_per_step"]) for r in rows
               if r["case"] == "llama-3.1-8b decode b1 ctx1025 (32 layers)"
               and (r["kernel"].startswith("nvjet") or "splitKreduce" in r["kernel"]))
    row = got.loc["census/llama-3.1-8b decode b1 ctx1025 (32 layers)/gemm"]
    assert row["measured"] == pytest.approx(want, rel=1e-12)
    hw = load_hardware("h200-sxm")
    f = gm.model_step("llama-3.1-8b", 1, 1, 1025, "eager", hw, 1.0).to_frame()
    mm = f[f["kind"] == "matmul"]
    body = (mm["count"] * (mm["time_s"] - mm["kernels"] * figures(hw).launch)).sum()
    assert row["predicted"] == pytest.approx(body, rel=1e-12)
    # decode GEMMs within 1.2 %; vector bodies 50-59 % below the device time (49-58 % before
    # the residual add read its fresh operand from L2, 2026-12-06)
    for case in ("llama-3.2-1b decode b1 ctx1025 (16 layers)",
                 "llama-3.2-1b decode b8 ctx1025 (16 layers)",
                 "llama-3.1-8b decode b1 ctx1025 (32 layers)",
                 "llama-3.1-8b decode b8 ctx1025 (32 layers)"):
        g = got.loc[f"census/{case}/gemm"]
        assert abs(g["predicted"] / g["measured"] - 1.0) < 0.012
    vec = got[got.index.str.endswith("/vector")]
    assert ((vec["predicted"] / vec["measured"]).between(0.41, 0.51)).all()
    assert gm.census_class("cublasLt::splitKreduce_kernel<32, 16>") == "gemm"
    assert gm.census_class("void cudnn::fusion::lean_reduction_kernel<false>") == "attention"
    assert gm.census_class("void at::native::vectorized_layer_norm_kernel<float>") == "vector"


def _probe(run: str) -> dict[tuple[str, int], dict[str, float]]:
    """The flush-probe rows of a run: (op, numel) -> time_s, kernel_time_s and the flush
    figures its notes carry."""
    out = {}
    for r in _rows(SESSION / f"{run}/full/gpu_ops.csv"):
        if r["kind"] == "flush_probe" and r["numel"]:
            notes = dict(kv.split("=") for kv in r["notes"].split("; "))
            out[(r["name"], int(r["numel"]))] = {"time": float(r["time_s"]),
                                                 "kernel": float(r["kernel_time_s"]),
                                                 **{k: float(v) for k, v in notes.items()}}
    return out


def test_readme_flush_probe_claims(frame) -> None:  # type: ignore[no-untyped-def]
    # README (stop 41, run7): from 16 M elements up the model's kernel body matches the
    # profiled kernel within 5 %, while the flush after the op runs 2-7 us longer than a flush
    # after a flush (the op's dirty lines written back there)
    probe = _probe("run7")
    rows = frame[(frame["group"] == gm.PROBE_GROUP) & frame["notes"].str.endswith("run7/full")]
    for name in ("add", "silu"):
        for numel in (1 << 24, 1 << 26):
            (r,) = rows[rows["case"] == f"flush_probe/{name}/bf16/{numel}/graph"].itertuples()
            assert r.measured == probe[(name, numel)]["kernel"]
            assert abs(r.predicted / r.measured - 1.0) < 0.05
        for numel in (1 << 22, 1 << 24, 1 << 26):
            p = probe[(name, numel)]
            assert 2e-6 < p["flush_after_op_s"] - p["flush_alone_s"] < 7e-6
    # tiny ops: their own kernel takes 1.6-2.3 us of device time, twice the model's body
    for name in ("add", "silu"):
        for numel in (1 << 12, 1 << 16, 1 << 18):
            assert 1.6e-6 <= probe[(name, numel)]["kernel"] <= 2.3e-6
    # and the same ops timed without the profiler (the elementwise rows) take 1.7-3.2 us
    for name in ("add", "silu"):
        for numel in (1 << 12, 1 << 16, 1 << 18):
            for run in ("run3", "run7"):
                assert 1.7e-6 <= _elementwise_time(run, name, numel) <= 3.2e-6


def test_readme_grid_ramp_claims() -> None:
    # README (stop 41): an L2-resident in-place add back to back in a graph takes 1.74-1.76 us
    # from 1 to 32 K elements and at most ~0.55 us more up to 1 M elements
    ramp = {int(r["numel"]): float(r["time_s"])
            for r in _rows(SESSION / "run7/full/gpu_ops.csv") if r["name"] == "graph_ramp_add"}
    assert all(1.73e-6 < ramp[n] < 1.77e-6 for n in (1, 4096, 32768))
    assert ramp[1 << 20] - ramp[1] < 0.55e-6
    assert ramp[1 << 22] > 2 * ramp[1]


def test_readme_census_sweep_claims() -> None:
    # README (stop 41, run9): PyTorch's RMSNorm kernel barely depends on the rows (5.5-5.8 us
    # per call from 1 to 128 rows at hidden 4,096, 3.4-3.7 us at hidden 2,048); at a
    # 2,048-token prefill of the 8B the non-vectorized kernels on strided views move
    # 1.3-1.7 TB/s and the contiguous vectorized add 4.3 TB/s
    rows = _rows(SESSION / "run9/kernel_census.csv")

    def per_call(case: str, key: str) -> float:
        (r,) = [r for r in rows if r["case"].startswith(case) and key in r["kernel"]]
        return float(r["device_s_per_step"]) / float(r["calls_per_step"])

    for model, lo, hi in (("llama-3.1-8b", 5.5e-6, 5.9e-6), ("llama-3.2-1b", 3.35e-6, 3.7e-6)):
        for case in ("decode b1 ", "decode b8 ", "decode b64 ", "prefill 16 ", "prefill 128 "):
            assert lo <= per_call(f"{model} {case}", "vectorized_layer_norm_kernel") <= hi
    step = [r for r in rows if r["case"].startswith("llama-3.1-8b prefill 2048 ")]

    def kernel(*keys: str) -> tuple[float, float]:
        (r,) = [r for r in step if all(k in r["kernel"] for k in keys)]
        return float(r["calls_per_step"]), float(r["device_s_per_step"])

    t, h, f, layers = 2048, 4096, 14336, 32
    # per layer, bf16: RoPE multiplies q (32 heads x 128) and k (8 x 128) by cos and by sin,
    # each read and written once; gate x up reads two 14,336-wide halves and writes one
    calls, s = kernel("elementwise_kernel<128, 4", "BinaryFunctor")
    assert calls == 5 * layers
    moved = layers * (2 * 2 * t * (32 + 8) * 128 * 2 + 3 * t * f * 2)
    assert 1.6e12 < moved / s < 1.8e12
    calls, s = kernel("elementwise_kernel<128, 4", "silu_kernel")  # silu on the gate half
    assert calls == layers and 1.25e12 < layers * 2 * t * f * 2 / s < 1.4e12
    calls, s = kernel("vectorized_elementwise_kernel", "CUDAFunctor_add")  # residual adds
    assert calls == 2 * layers and 4.2e12 < 2 * layers * 3 * t * h * 2 / s < 4.4e12


def test_readme_eager_prefill_clock_claims() -> None:
    # README (stop 41, run7/power): the 512-token eager prefill held ~1,845 MHz, between the
    # 2,048-token prefill (power-limited, ~1,710) and decode (1,980)
    samples = _rows(SESSION / "run7/power/power_states.csv")

    def clock(phase: str) -> float:
        return statistics.median(float(s["sm_mhz"]) for s in samples if s["phase"] == phase)

    assert clock("prefill 2048 (eager)") < clock("prefill 512 (eager)") < 1980.0
    assert clock("decode b1 (graph)") == 1980.0


def test_vector_launch_is_the_measured_gap_plus_a_vector_kernels_fixed_time(frame) -> None:  # type: ignore[no-untyped-def]
    # h200-sxm.yaml gpu.vector_launch_us (1.8) = the gap between dependent kernels of a
    # graph-replayed step + a vector kernel's own fixed device time. Gap: the median graph
    # step over the sessions (runs 1-8) less the census's summed device time (run7; within
    # 0.5 % of run4 and run9) less ~8 us of replay and synchronize, per kernel. Fixed time:
    # the census's vector device time less the model's bodies per kernel, at batch 1
    from infersim.hwmodels.models.gpu.figures import figures

    census = _rows(SESSION / "run7/census/kernel_census.csv")
    graph = frame[frame["group"] == "end-to-end (graph)"]
    gaps, fixed = [], []
    for model, layers in (("llama-3.2-1b", 16), ("llama-3.1-8b", 32)):
        for batch in (1, 8):
            case = f"{model} decode b{batch} ctx1025 ({layers} layers)"
            rows = [r for r in census if r["case"] == case]
            device = sum(float(r["device_s_per_step"]) for r in rows)
            kernels = sum(float(r["calls_per_step"]) for r in rows)
            step = graph[graph["case"] == f"e2e/{model}/bf16/{batch}/1/1025/graph"]["measured"]
            assert len(step) >= 5
            gaps.append((float(step.median()) - device - 8e-6) / kernels)
        (v,) = frame[(frame["group"] == gm.CENSUS_GROUP) & frame["notes"].str.endswith(
            "run7/census") & (frame["case"] == f"census/{model} decode b1 ctx1025 "
                              f"({layers} layers)/vector")].itertuples()
        n = float(v.notes.split("; ")[1].split()[0])  # "<n> kernels measured"
        fixed.append((v.measured - v.predicted) / n)
    assert all(0.65e-6 < g < 0.9e-6 for g in gaps)
    assert all(0.9e-6 < f < 1.1e-6 for f in fixed)
    c = figures(load_hardware("h200-sxm"))
    assert c.vec_launch == pytest.approx(statistics.median(gaps) + statistics.median(fixed),
                                         abs=0.05e-6)
    assert c.launch == pytest.approx(2e-6)  # GEMMs and attention keep kernel_launch_us


def test_gemm_choices_are_the_search_op_cost_prices() -> None:
    # the pick is the fastest of the candidates (first in search order on a tie) and
    # op_cost's time is its kernel body plus the launch; from idle at the boosted clock
    from infersim.workloads import ops as O

    hw = load_hardware("h100-sxm")
    model = cost_model(hw)
    nvjet = CostContext(from_idle=True,
                        profile=E.lookup("graph").with_values(gemm_tile_set=1.0))
    for ctx in (CostContext(), CostContext(from_idle=True), nvjet):
        for m in (1, 40, 536, 4096):
            op = O.matmul(m, 8192, 8192, "fp16")
            pick, cands = model.gemm_choices(op, hw, ctx)
            assert pick.time_s == min(ch.time_s for ch in cands)
            assert pick == next(ch for ch in cands if ch.time_s == pick.time_s)
            oc = model.op_cost(op, hw, ctx)
            assert oc.time_s == pytest.approx(pick.time_s + oc.overhead_s, rel=1e-12)
            assert dict(oc.detail)["tile"] == f"{pick.tile_m}x{pick.tile_n}"
            # one tile's mappings: exactly those of the full list, in the same order
            pick_t, only = model.gemm_choices(op, hw, ctx, tile=(128, 256))
            assert pick_t == pick
            assert only == tuple(ch for ch in cands if (ch.tile_m, ch.tile_n) == (128, 256))
            assert only and {ch.split_k for ch in only} <= {1, 2, 3, 4, 6, 8, 12, 16}
    with pytest.raises(TypeError):
        model.gemm_choices(O.vector(O.OpKind.ELEMENTWISE, 16, "fp16"), hw, CostContext())


def test_tile_choices_price_the_tile_cublas_ran(frame) -> None:  # type: ignore[no-untyped-def]
    # every graded nvjet GEMM row of the H200 session; each prediction is the graded one
    tiles = gm.tile_choices()
    graded = frame[frame["group"] == "operators: gemm"]
    assert len(tiles) == len(graded) > 0
    assert sorted(tiles["predicted"]) == pytest.approx(sorted(graded["predicted"]), rel=1e-12)
    # 128 x 4096 x 11008: cuBLAS 13 ran a 128-token x 96-weight tile, the search's pick
    # (tests/hwmodels/test_gemm_tile_set.py): same mapping, same prediction
    row = tiles[(tiles["m"] == 128) & (tiles["k"] == 4096) & (tiles["n"] == 11008)].iloc[0]
    assert row["same"] and row["ran"] == "128x96" and row["ratio"] == 1.0
    assert row["predicted_ran"] == pytest.approx(row["predicted"], rel=1e-12)
    known = tiles[tiles["ratio"].notna()]
    assert (known["ratio"] >= 1.0 - 1e-12).all()  # the search's pick is the fastest


def test_tile_choice_lines_by_hand() -> None:
    import pandas as pd

    df = pd.DataFrame({
        "case": list("abcde"), "m": [1] * 5, "k": [1] * 5, "n": [1] * 5,
        "measured": [100.0, 100.0, 100.0, 100.0, 100.0],
        "predicted": [100.0, 90.0, 80.0, 95.0, 70.0],
        "predicted_ran": [100.0, 99.0, 110.0, 97.0, math.nan],
        "ratio": [1.0, 1.1, 1.375, 1.02, math.nan],
        "same": [True, False, False, False, False],
        "ran": [""] * 5, "picked": [""] * 5})
    # one of five picked as cuBLAS; e's tile outside the search (1 of 5); of the four
    # known, a and d within 5 % (2 of 4); the three others: pick -10, -20, -5 % -> median
    # |error| 10 %, p90 10 + 0.8 x 10 = 18 %, signed -10 %; cuBLAS's own -1, +10, -3 % ->
    # median |error| 3 %, p90 3 + 0.8 x 7 = 8.6 %, signed -1 %
    assert gm.tile_choice_lines(df) == [
        "GEMMs whose kernel names give cuBLAS's tile (n=5): the tile search picks cuBLAS's "
        "mapping on 20%; cuBLAS's tile is outside its candidates on 20%; of the rest, the "
        "model prices cuBLAS's mapping within 5% of its pick on 50%",
        "the 3 of them where the search picks another mapping: its pick median |error| "
        "10.0%, p90 18.0%, signed -10.0%; cuBLAS's own mapping priced median |error| 3.0%, "
        "p90 8.6%, signed -1.0%"]
    assert gm.tile_choice_lines(df.iloc[:0]) == []
