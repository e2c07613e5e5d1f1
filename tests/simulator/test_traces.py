"""Traces out: Chrome/Perfetto JSON of the op timeline and of serving, Chakra execution traces."""

from __future__ import annotations

import json

import pytest

import infersim as isim
from infersim.cli import main
from infersim.simulator import Deployment, FixedLengths, Poisson, Traffic
from infersim.simulator.timeline import simulate_timeline
from infersim.simulator.traces import check_trace_events, serving_chrome_trace
from infersim.workloads.ops import Collective, CollectiveShape


def test_checker_finds_broken_traces():
    ok = {"traceEvents": [{"ph": "X", "name": "a", "pid": 0, "tid": 0, "ts": 1.0, "dur": 2.0}]}
    assert check_trace_events(ok) == []
    assert check_trace_events([]) != []
    bad = [{"ph": "X", "name": "a", "pid": 0, "tid": 0, "ts": 1.0},  # no dur
           {"ph": "Q", "name": "a", "pid": 0, "tid": 0, "ts": 1.0},  # unknown phase
           {"ph": "b", "name": "a", "cat": "r", "id": 1, "pid": 0, "tid": 0, "ts": 5.0},
           {"ph": "e", "name": "a", "cat": "r", "id": 1, "pid": 0, "tid": 0, "ts": 4.0},
           {"ph": "b", "name": "z", "cat": "r", "id": 2, "pid": 0, "tid": 0, "ts": 1.0}]
    problems = check_trace_events({"traceEvents": bad})
    assert len(problems) == 4, problems  # no dur, unknown ph, end before begin, never ended


def test_op_timeline_trace_conforms():
    r = isim.simulate("llama-3.1-8b", "h100-sxm", context=512)
    obj = simulate_timeline(r.schedule).chrome_trace()
    assert check_trace_events(obj) == []


def test_single_request_lifecycle_matches_its_latencies():
    r = isim.serve("llama-3.1-8b", "h100-sxm", Traffic(Poisson(1.0), FixedLengths(512, 32), 1),
                   deployment=Deployment(), seed=0, event_log=True)
    obj = serving_chrome_trace(r)
    assert check_trace_events(obj) == []
    span = {}
    for e in obj["traceEvents"]:
        if e.get("cat") == "request" and e["ph"] in "be":
            span.setdefault(e["name"], {})[e["ph"]] = e["ts"] / 1e6
    d = r.to_dict()
    # one request on an idle engine: no queue, prefill = TTFT, decode = e2e - TTFT
    assert span["queued"]["e"] - span["queued"]["b"] == pytest.approx(0.0, abs=1e-9)
    assert span["prefill"]["e"] - span["queued"]["b"] == pytest.approx(d["ttft_p50_s"])
    assert span["decode"]["e"] - span["prefill"]["e"] == pytest.approx(
        d["e2e_p50_s"] - d["ttft_p50_s"])
    iters = [e for e in obj["traceEvents"] if e.get("cat") == "iteration"]
    assert len(iters) >= 32  # a prefill iteration, then one decode iteration per output token


def test_serving_trace_has_every_completed_request():
    r = isim.serve("llama-3.1-8b", "h100-sxm", Traffic(Poisson(8.0), FixedLengths(256, 16), 80),
                   deployment=Deployment(), seed=1, event_log=True)
    obj = serving_chrome_trace(r)
    assert check_trace_events(obj) == []
    decoded = {e["id"] for e in obj["traceEvents"] if e.get("name") == "decode" and e["ph"] == "b"}
    assert len(decoded) == r.completed == 80


def test_cli_writes_traces_and_refuses_unwritable(tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(["simulate", "--context", "256", "--trace", str(out)]) == 0
    assert check_trace_events(json.loads(out.read_text())) == []
    assert main(["serve", "--requests", "20", "--prompt", "128", "--output", "8", "--trace",
                 str(tmp_path / "s.json")]) == 0
    assert check_trace_events(json.loads((tmp_path / "s.json").read_text())) == []
    capsys.readouterr()
    (tmp_path / "a-file").write_text("x")
    assert main(["map", "llama-3.1-8b", "--trace", str(tmp_path / "a-file" / "t.json")]) == 2
    assert "--trace" in capsys.readouterr().err


# ------------------------------------------------------------------------------- Chakra


def _varint(b: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        n |= (b[i] & 0x7F) << shift
        shift += 7
        i += 1
        if not b[i - 1] & 0x80:
            return n, i


def test_chakra_round_trip_and_wire_format(tmp_path):
    pytest.importorskip("google.protobuf")
    from infersim.simulator.chakra import read_chakra, write_chakra

    r = isim.simulate("llama-3.1-70b", "dgx-h100", tp=4, pp=2, context=1024)
    paths = write_chakra(r.schedule, tmp_path / "step")
    assert [p.name for p in paths] == [f"step.{i}.et" for i in range(8)]
    total_flops = 0.0
    for rank, path in enumerate(paths):
        meta, nodes = read_chakra(path)
        assert meta.version == "0.0.4"
        ids = [n.id for n in nodes]
        assert ids == list(range(1, len(nodes) + 1))
        # a chain: every node but the first depends on the one before it
        assert all(list(n.data_deps) == [n.id - 1] for n in nodes[1:])
        stage = rank // 4
        expected = sum(mo.op.count for mo in r.schedule.ops if mo.stage == stage
                       and not (isinstance(mo.op.shape, CollectiveShape)
                                and mo.op.shape.collective == Collective.SEND_RECV
                                and stage == 1))
        assert len(nodes) == expected + (1 if stage == 1 else 0)  # + the stage's receive
        kinds = {n.type for n in nodes}
        assert kinds >= {4, 7} and (6 in kinds) == (stage == 1) and (5 in kinds) == (stage == 0)
        if rank % 4 == 0:
            total_flops += sum(a.int64_val for n in nodes for a in n.attr if a.name == "num_ops")
        coll = [n for n in nodes if n.type == 7 and n.name == "attn_allreduce"]
        for n in coll:
            attrs = {a.name: a for a in n.attr}
            # decode batch 1: each rank contributes one hidden vector of bf16: 8192 x 2 bytes
            assert attrs["comm_size"].int64_val == 8192 * 2 and attrs["comm_type"].int64_val == 0
    compute_flops = sum(mo.op.flops * mo.op.count for mo in r.schedule.ops
                        if not isinstance(mo.op.shape, CollectiveShape))
    assert total_flops == pytest.approx(compute_flops, rel=1e-9)

    # the bytes themselves, read without protobuf: length prefix, then field 1 (id, varint)
    raw = paths[0].read_bytes()
    n0, i = _varint(raw, 0)
    i += n0  # skip GlobalMetadata
    _, i = _varint(raw, i)
    assert raw[i] == 0x08 and raw[i + 1] == 1  # Node.id = 1
    assert raw[i + 2] == 0x12  # Node.name, length-delimited
    name_len = raw[i + 3]
    assert raw[i + 4:i + 4 + name_len] == b"embed_tokens"
