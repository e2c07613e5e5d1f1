"""Traces out: the Chrome/Perfetto trace-event JSON of a serving run, and a checker of the
trace-event format that every trace infersim writes passes.

The op timeline of one step has its own exporter (`Timeline.chrome_trace`); a serving run
becomes one process per replica with
- per request, async slices (`ph` "b"/"e", `id` = request id) for its lifecycle: `queued`
  (arrival → admitted), `prefill` (admitted → first token), `decode` (first token → finish),
  and an instant event at each preemption;
- an `iterations` track of the engine's batched iterations (complete events, `ph` "X");
- rejected requests as instants on a `rejected` track.
Times are microseconds, as the format wants. The format: the Trace Event Format document
(https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU), which
Perfetto's legacy JSON importer reads.
"""

from __future__ import annotations

import math
from typing import Any

from infersim.simulator.serving import ServingResult

_US = 1e6
_PHASES = {"X", "B", "E", "b", "e", "n", "i", "I", "M", "C", "s", "t", "f"}


def _meta(pid: int, tid: int, what: str, name: str) -> dict[str, Any]:
    return {"ph": "M", "name": what, "pid": pid, "tid": tid, "args": {"name": name}}


def serving_chrome_trace(result: ServingResult) -> dict[str, Any]:
    """The serving run as a Chrome trace object (needs per-request records; iterations and
    preemptions need the run's event log: `serve(..., event_log=True)`)."""
    pr = result.per_request
    if not pr:
        raise ValueError("the serving result has no per-request records")
    events: list[dict[str, Any]] = []
    replicas = max(1, result.replicas)
    for r in range(replicas):
        events.append(_meta(r, 0, "process_name", f"replica {r}"))
        events.append(_meta(r, 1, "thread_name", "requests"))
        events.append(_meta(r, 2, "thread_name", "iterations"))
    events.append(_meta(replicas, 0, "process_name", "rejected"))
    n = len(pr["arrival_s"])
    for i in range(n):
        arrive = float(pr["arrival_s"][i])
        if bool(pr["rejected"][i]):
            events.append({"ph": "i", "name": f"request {i} rejected", "pid": replicas,
                           "tid": 0, "ts": arrive * _US, "s": "t"})
            continue
        rep = int(pr["replica"][i])
        if rep < 0:
            continue  # never admitted before the run ended
        marks = [("queued", arrive, float(pr["scheduled_s"][i])),
                 ("prefill", float(pr["scheduled_s"][i]), float(pr["first_token_s"][i])),
                 ("decode", float(pr["first_token_s"][i]), float(pr["finish_s"][i]))]
        for name, t0, t1 in marks:
            if not (math.isfinite(t0) and math.isfinite(t1)) or t1 < t0:
                continue
            common = {"name": name, "cat": "request", "id": i, "pid": rep, "tid": 1}
            events.append({**common, "ph": "b", "ts": t0 * _US,
                           "args": {"request": i, "prompt_tokens": int(pr["prompt_tokens"][i]),
                                    "output_tokens": int(pr["output_tokens"][i])}})
            events.append({**common, "ph": "e", "ts": t1 * _US})
    log = result.events or ()
    starts: dict[int, list[tuple[float, str]]] = {}
    for t, what, rep, rid in log:
        if what == "preempt":
            events.append({"ph": "n", "name": "preempted", "cat": "request", "id": rid,
                           "pid": rep, "tid": 1, "ts": t * _US})
        elif rid < 0 and rep >= 0:
            starts.setdefault(rep, []).append((t, what))
    for rep, its in starts.items():
        its.sort()
        for (t0, what), (t1, _) in zip(its, [*its[1:], (math.nan, "")], strict=True):
            end = t1 if math.isfinite(t1) else result.duration_s
            events.append({"ph": "X", "name": what, "cat": "iteration", "pid": rep, "tid": 2,
                           "ts": t0 * _US, "dur": max(0.0, end - t0) * _US})
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"model": result.model, "hardware": result.hardware,
                          "policy": result.policy}}


def check_trace_events(obj: Any) -> list[str]:
    """Problems with `obj` as a Trace Event Format JSON object ([] when it conforms): the
    object form with a `traceEvents` list; every event a mapping with a known `ph`, a name,
    integer pid/tid, a finite non-negative `ts` (metadata excepted); complete events with a
    finite `dur` ≥ 0; async events with `cat` and `id`, each begin closed by an end of the
    same (cat, id, name) that is not earlier."""
    if not isinstance(obj, dict) or not isinstance(obj.get("traceEvents"), list):
        return ["not an object with a traceEvents list"]
    out: list[str] = []
    open_async: dict[tuple[Any, Any, Any], list[float]] = {}
    for k, e in enumerate(obj["traceEvents"]):
        where = f"traceEvents[{k}]"
        if not isinstance(e, dict):
            out.append(f"{where}: not an object")
            continue
        ph = e.get("ph")
        if ph not in _PHASES:
            out.append(f"{where}: unknown ph {ph!r}")
            continue
        if not isinstance(e.get("name"), str):
            out.append(f"{where}: no name")
        for f in ("pid", "tid"):
            if not isinstance(e.get(f), int) or isinstance(e.get(f), bool):
                out.append(f"{where}: {f} must be an integer")
        if ph == "M":
            if not isinstance(e.get("args", {}).get("name"), str):
                out.append(f"{where}: metadata without args.name")
            continue
        ts = e.get("ts")
        if not isinstance(ts, (int, float)) or not math.isfinite(ts) or ts < 0:
            out.append(f"{where}: ts must be a finite number ≥ 0")
            continue
        if ph == "X":
            dur = e.get("dur")
            if not isinstance(dur, (int, float)) or not math.isfinite(dur) or dur < 0:
                out.append(f"{where}: complete event needs dur ≥ 0")
        if ph in ("b", "e", "n"):
            if "cat" not in e or "id" not in e:
                out.append(f"{where}: async event needs cat and id")
                continue
            key = (e["cat"], e["id"], e["name"])
            if ph == "b":
                open_async.setdefault(key, []).append(float(ts))
            elif ph == "e":
                stack = open_async.get(key)
                if not stack:
                    out.append(f"{where}: end without a begin for {key}")
                elif stack.pop() > ts:
                    out.append(f"{where}: end before its begin for {key}")
    out += [f"async {key} never ended" for key, st in open_async.items() if st]
    return out
