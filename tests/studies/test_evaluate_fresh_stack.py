"""A sweep's chunk runs on a fresh stack (foundation.fresh_stack) with the numbers it gives in
place, and a bad point is still a row, not an exception."""

from __future__ import annotations

import threading

from infersim.studies.evaluate import evaluate_chunk

NAMES = ("model", "hardware", "scenario.phase", "scenario.batch", "scenario.context")


def test_a_chunk_gives_the_same_rows_on_a_fresh_stack_as_in_place():
    rows = [("llama-3.1-8b", "h100-sxm", "decode", b, 1024) for b in (1, 8, 64)]
    fresh = evaluate_chunk("simulate", NAMES, rows)
    in_place = evaluate_chunk.__wrapped__("simulate", NAMES, rows)  # type: ignore[attr-defined]
    assert [s for s, _ in fresh] == ["ok"] * 3
    assert fresh == in_place
    # batch 64 reads the weights once for 64 tokens: more tokens/s than batch 1
    assert fresh[2][1]["tokens_per_s"] > fresh[0][1]["tokens_per_s"]


def test_a_bad_point_is_an_invalid_row_on_the_fresh_stack():
    before = threading.active_count()
    out = evaluate_chunk("simulate", NAMES, [("no-such-model", "h100-sxm", "decode", 1, 1024)])
    assert out[0][0] == "invalid" and "no-such-model" in out[0][1]["reason"]
    assert threading.active_count() == before  # the chunk's thread has ended
