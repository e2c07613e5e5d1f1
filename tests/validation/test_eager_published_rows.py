"""Held-out plain-PyTorch eager rows of validation/data/published/per_user.csv (issue 12):
each on its framework's runtime profile, graded in one `eager` group, never the calibration
row, and the host-bound premise their notes rely on (the A100-40GB run predicted on the
80 GB spec) checked against the spec with the 40 GB part's memory."""

from __future__ import annotations

import pytest

from infersim.api import make_scenario
from infersim.hwmodels.spec import GpuParams
from infersim.mapper import map_trace
from infersim.validation.datasets import published_e2e as P
from infersim.workloads import build_trace

EAGER = {"litgpt-openllama7b-eager": "litgpt-eager",
         "hf-llama2-13b-eager": "hf-eager", "fms-llama2-13b-eager": "fms-eager",
         "fms-llama2-7b-b2-eager-sep23": "fms-benchmark-2023-09",
         "fms-llama2-7b-eager-sep23": "fms-benchmark-2023-09",
         "fms-llama2-13b-tp2-eager-sep23": "fms-benchmark-2023-09"}
ROWS = {r["id"]: r for r in P.read_rows("per_user.csv")}


def test_eager_rows_are_held_out_with_a_source():
    for rid, runtime in EAGER.items():
        r = ROWS[rid]
        assert r["runtime"] == runtime and r["split"] == "held-out", rid
        assert r["use"] == "pass_fail" and r["source"].startswith("https://github.com/"), rid
        assert r["confidence"] in {"A", "B", "C"}, rid
    df = P.load()
    got = df[df["case"].isin(EAGER)]
    assert set(got["group"]) == {"per-user gpu eager (held-out)"}
    assert len(got) == len(EAGER)
    assert got["predicted"].gt(0).all()
    # two calibration rows: gpt-fast (host dispatch) and FMS 70B TP8 (the FMS benchmark
    # script's set_default_device mode cost); every other eager row is held out
    assert list(df[df["group"] == "per-user gpu (calibration)"]["case"]) == [
        "gptfast-7b-eager", "fms-llama2-70b-tp8-eager"]


def test_litgpt_row_is_host_bound_so_the_40gb_part_predicts_the_same():
    r = ROWS["litgpt-openllama7b-eager"]
    on_80 = P.predict_per_user(r)[0]
    # the run was on an A100-SXM4-40GB: 1.555 TB/s HBM2, 40 GB
    on_40 = P.predict_per_user(r, {"memory.hbm.bandwidth_tb_per_s": 1.555,
                                   "memory.hbm.capacity_gb": 40})[0]
    assert on_40 == pytest.approx(on_80, rel=5e-3)
    # host-bound: the step is at least one host dispatch per kernel, > 2x its device time
    hw = P.hardware(r["hardware"], 1)
    s = map_trace(build_trace(r["model"], make_scenario("decode", 1, context=int(r["context"]))),
                  hw, r["runtime"])
    p = hw.chip.params
    assert isinstance(p, GpuParams)
    kernels = sum(m.kernels * m.op.count for m in s.ops)
    assert s.latency_s >= kernels * p.host_launch_s > 2 * s.device_s
    assert on_80 == pytest.approx(1 / s.latency_s, rel=1e-12)
