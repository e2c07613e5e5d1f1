"""Op-level timeline DES: exact hand-computed timelines, exports, and a real-schedule check."""

from __future__ import annotations

import json

import pytest

from infersim.hwmodels.cost import Runtime
from infersim.simulator.timeline import Lane, expand, simulate_timeline
from infersim.workloads import build_trace, load_model, ops
from infersim.workloads.ops import Collective, OpKind
from infersim.workloads.scenario import Parallelism, Phase, Scenario
from tests._support import allreduce, h100_like, mm, schedule_of, timed

US = 1e-6


def spans(tl, lane=Lane.COMPUTE, stage=None):
    return [(s.op, s.micro_batch, round(s.start_s / US, 9), round(s.end_s / US, 9))
            for s in tl.spans if s.lane == lane and (stage is None or s.stage == stage)]


def test_serial_chain_graph_runtime(hw1):
    sched = schedule_of([timed(mm("a"), 1 * US), timed(mm("b"), 2 * US),
                         timed(mm("c"), 3 * US)], hw1)
    tl = simulate_timeline(sched)
    # one stream: each op starts when the previous ends; no host gaps under `graph`
    assert spans(tl) == [("a", 0, 0, 1), ("b", 0, 1, 3), ("c", 0, 3, 6)]
    assert tl.makespan_s == pytest.approx(6 * US)
    assert spans(tl, Lane.HOST) == []


def test_eager_host_gaps_make_small_kernels_host_bound(hw1):
    sched = schedule_of([timed(mm("a"), 1 * US), timed(mm("b"), 5 * US),
                         timed(mm("c"), 1 * US)], hw1, runtime=Runtime.EAGER)
    tl = simulate_timeline(sched, host_launch_s=3 * US)
    # host launches back to back: a launched at 3, b at 6, c at 9 (µs)
    assert spans(tl, Lane.HOST) == [("a", 0, 0, 3), ("b", 0, 3, 6), ("c", 0, 6, 9)]
    # a waits for its launch; b waits for its launch (6 > 4); c waits for b (11 > 9)
    assert spans(tl) == [("a", 0, 3, 4), ("b", 0, 6, 11), ("c", 0, 11, 12)]
    assert tl.makespan_s == pytest.approx(12 * US)


def test_fusion_group_is_one_launch(hw1):
    ops_ = [timed(mm("a"), 1 * US), timed(mm("b"), 1 * US, fusion_group="g"),
            timed(mm("c"), 1 * US, fusion_group="g")]
    unfused = simulate_timeline(schedule_of([timed(o.op, 1 * US) for o in ops_], hw1,
                                            runtime=Runtime.EAGER), host_launch_s=3 * US)
    fused = simulate_timeline(schedule_of(ops_, hw1, runtime=Runtime.EAGER),
                              host_launch_s=3 * US)
    # unfused: launches end at 3, 6, 9 → kernels [3,4], [6,7], [9,10]
    assert unfused.makespan_s == pytest.approx(10 * US)
    # fused b+c share the launch ending at 6 → [3,4], [6,7], [7,8]
    assert spans(fused) == [("a", 0, 3, 4), ("b", 0, 6, 7), ("c", 0, 7, 8)]
    assert len(spans(fused, Lane.HOST)) == 2


def test_default_host_launch_comes_from_the_chip_under_eager_only(hw1):
    ops_ = [timed(mm("a"), 1 * US), timed(mm("b"), 1 * US)]
    eager = simulate_timeline(schedule_of(ops_, hw1, runtime=Runtime.EAGER))
    graph = simulate_timeline(schedule_of(ops_, hw1, runtime=Runtime.GRAPH))
    host = hw1.chip.params.host_launch_s  # 8 µs in the fixture
    assert eager.host_launch_s == host
    # launches end at 8 and 16 µs; each 1 µs kernel starts at its launch
    assert eager.makespan_s == pytest.approx(2 * host + 1 * US)
    assert graph.makespan_s == pytest.approx(2 * US)


def test_collectives_overlap_compute_across_micro_batches(hw1):
    sched = schedule_of([timed(mm("A"), 2 * US), timed(allreduce("AR"), 1 * US),
                         timed(mm("B"), 2 * US)], hw1)
    one = simulate_timeline(sched)
    assert one.makespan_s == pytest.approx(5 * US)  # a single chain never overlaps
    tl = simulate_timeline(sched, micro_batches=2)
    # mb0: A[0,2] AR[2,3] B waits for A1 → [4,6]; mb1: A[2,4] AR[4,5] B waits for B0 → [6,8]
    assert spans(tl) == [("A", 0, 0, 2), ("A", 1, 2, 4), ("B", 0, 4, 6), ("B", 1, 6, 8)]
    assert spans(tl, Lane.LINK) == [("AR", 0, 2, 3), ("AR", 1, 4, 5)]
    assert tl.makespan_s == pytest.approx(8 * US)  # vs 10 µs run back to back


def test_pipeline_stages_throughput_set_by_stage_latency_by_sum(hw8):
    layer = timed(mm("layer", count=4, block="layer"), 1 * US)
    send = timed(ops.collective(Collective.SEND_RECV, 1024.0, 2, name="send", block="pp"),
                 0.5 * US)
    sched = schedule_of([layer, send], hw8, tp=4, pp=2)
    assert [(k.name, k.stage, k.lanes) for k in expand(sched)] == [
        ("layer", 0, (Lane.COMPUTE,)), ("layer", 0, (Lane.COMPUTE,)), ("send", 0, (Lane.LINK,)),
        ("layer", 1, (Lane.COMPUTE,)), ("layer", 1, (Lane.COMPUTE,))]
    tl = simulate_timeline(sched, micro_batches=3)
    # stage 0 runs layers 0-1 (2 µs), sends (0.5 µs on its link), stage 1 runs layers 2-3.
    # mb j on stage 0: [2j, 2j+2]; send [2j+2, 2j+2.5]; stage 1 busy from max(...)
    s1 = [(mb, a, b) for (_, mb, a, b) in spans(tl, stage=1)]
    assert s1 == [(0, 2.5, 3.5), (0, 3.5, 4.5), (1, 4.5, 5.5), (1, 5.5, 6.5),
                  (2, 6.5, 7.5), (2, 7.5, 8.5)]
    assert tl.makespan_s == pytest.approx(8.5 * US)
    # pid = first chip of each stage's TP group
    assert {(s.stage, s.chip) for s in tl.spans} == {(0, 0), (1, 4)}


def test_ops_outside_the_layers_go_to_first_and_last_stage(hw8):
    sched = schedule_of([timed(mm("embed", block="embed"), 1 * US),
                         timed(mm("layer", count=6, block="layer"), 1 * US),
                         timed(mm("head", block="head"), 1 * US)], hw8, pp=3)
    got = [(k.name, k.stage, k.layer) for k in expand(sched)]
    assert got == [("embed", 0, -1), ("layer", 0, 0), ("layer", 0, 1), ("layer", 1, 2),
                   ("layer", 1, 3), ("layer", 2, 4), ("layer", 2, 5), ("head", 2, -1)]


def test_chrome_trace_is_valid_json_with_complete_events(hw1, tmp_path):
    sched = schedule_of([timed(mm("a"), 1 * US, memory_s=0.5 * US),
                         timed(allreduce(), 2 * US)], hw1)
    tl = simulate_timeline(sched)
    path = tmp_path / "trace.json"
    tl.to_chrome_trace(path)
    doc = json.loads(path.read_text())
    xs = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert len(xs) == len(tl.spans) == 3  # a on compute + memory, allreduce on link
    for e in xs:
        assert {"name", "ph", "ts", "dur", "pid", "tid"} <= e.keys()
    link = next(e for e in xs if e["name"] == "allreduce")
    assert link["ts"] == pytest.approx(1.0) and link["dur"] == pytest.approx(2.0)  # µs
    names = {e["args"]["name"] for e in doc["traceEvents"] if e["ph"] == "M"}
    assert {"compute", "memory", "link"} <= names


def test_frame_and_plot(hw1, tmp_path):
    tl = simulate_timeline(schedule_of([timed(mm("a"), 1 * US), timed(mm("b"), 2 * US)], hw1))
    df = tl.to_frame()
    assert list(df.columns[:4]) == ["op", "kind", "resource", "stage"]
    assert df["end_s"].max() == tl.makespan_s
    assert tl.busy_s("compute") == pytest.approx(3 * US)
    png = tmp_path / "tl.png"
    tl.plot(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_real_decode_step_serial_makespan_equals_sum_of_op_times(hw1, llama8b):
    from infersim.mapper import map_trace

    trace = build_trace(llama8b,
                        Scenario(Phase.DECODE, 4, context=512, parallel=Parallelism()))
    sched = map_trace(trace, hw1, Runtime.GRAPH)
    tl = simulate_timeline(sched)
    # one chain, no host gaps: Σ device time of every execution + the per-step sync, by hand
    total = sum(mo.cost.time_s * mo.op.count for mo in sched.ops) + sched.step_overhead_s
    assert tl.makespan_s == pytest.approx(total, rel=1e-9)
    kernels = sum(max(mo.kernels, 0) * mo.op.count for mo in sched.ops)
    assert len(expand(sched)) == kernels
    assert any(s.kind == OpKind.ATTENTION.value for s in tl.spans)
    # under eager every kernel pays an 8 µs launch: host-bound lower bound
    eager = simulate_timeline(sched, host_launch_s=8 * US)
    assert eager.makespan_s >= kernels * 8 * US
    assert eager.makespan_s >= tl.makespan_s


@pytest.mark.parametrize(("runtime", "pp", "model"), [
    (Runtime.EAGER, 1, "llama-3.2-1b"), (Runtime.GRAPH, 1, "llama-3.1-8b"),
    (Runtime.FUSED, 1, "mixtral-8x7b"), (Runtime.GRAPH, 2, "llama-3.1-8b"),
    (Runtime.FUSED, 4, "llama-3.1-70b"), (Runtime.EAGER, 2, "llama-3.1-8b"),
    (Runtime.EAGER, 4, "llama-3.1-70b"), (Runtime.EAGER, 8, "llama-3.1-70b")])
def test_des_agrees_with_the_mappers_closed_form(runtime, pp, model):
    # The mapper solves the host/device recurrence in closed (max-plus) form per stage, each
    # stage's host launching from t = 0 while its device waits for the previous stage; the
    # DES replays it event by event (one host process per stage). With one micro-batch they
    # must agree, eager pipelines included.
    from infersim.mapper import map_trace

    tp = 8 // pp if model == "llama-3.1-70b" else 1
    hw = h100_like(tp * pp)
    trace = build_trace(load_model(model), Scenario(Phase.DECODE, 8, context=1000,
                                                    parallel=Parallelism(tp, pp)))
    sched = map_trace(trace, hw, runtime)
    tl = simulate_timeline(sched)
    assert tl.makespan_s == pytest.approx(sched.latency_s, rel=1e-9)
    if pp > 1:
        assert tl.makespan_s == pytest.approx(sum(sched.stage_times_s) + sched.step_overhead_s)
        # micro-batches pipeline: 2 of them take less than twice one
        assert simulate_timeline(sched, micro_batches=2).makespan_s < 2 * tl.makespan_s


def test_bad_micro_batches():
    from infersim.foundation.errors import InputError

    with pytest.raises(InputError):
        simulate_timeline(None, micro_batches=0)  # type: ignore[arg-type]
