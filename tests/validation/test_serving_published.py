"""Published production-engine serving runs (validation/datasets/serving_published.py)."""

import csv
import io
import math
import re

import numpy as np
import pytest

import infersim.validation.report as rep
from infersim.api import load_hardware, load_model, serve
from infersim.hwmodels.models.gpu.engines import lookup
from infersim.simulator import ClosedLoop, Deployment, FixedLengths, ServingPolicy, Traffic
from infersim.validation.datasets import Dataset, check_frame, discover
from infersim.validation.datasets import serving_published as sp
from infersim.validation.stats import error_stats

ROWS = sp.rows()
BY_ID = {r["id"]: r for r in ROWS}


def test_every_row_has_a_source_confidence_and_a_reason_when_excluded():
    assert len(ROWS) == len(BY_ID)  # ids are unique
    for r in ROWS:
        assert re.match(r"https://\S+\.\S+", r["source"]), r["id"]
        assert r["confidence"] in {"A", "B", "C"}, r["id"]
        assert float(r["measured"]) > 0, r["id"]
        assert r["metric"] in sp.METRICS, r["id"]
        assert r["use"] in {"pass_fail", "excluded"}, r["id"]
        if r["use"] == "excluded":
            assert r["notes"].startswith("excluded: ") and len(r["notes"]) > 20, r["id"]
        else:
            # a graded row names everything `serve` needs: a known engine profile, a spec, a
            # model, lengths, arrivals and the request count
            assert lookup(r["runtime"]) is not None, r["id"]
            assert load_hardware(r["hardware"]).num_chips >= int(r["tp"]) * int(r["replicas"])
            load_model(r["model"])
            assert int(r["isl"]) > 0 and int(r["osl"]) > 0 and int(r["requests"]) > 0
            assert r["arrival"] in {"infinite", "poisson", "closed"}
    assert sum(r["use"] == "pass_fail" for r in ROWS) >= 20


def test_discovered_by_validate():
    ds = {d.name: d for d in discover()}
    assert sp.NAME in ds and ds[sp.NAME].list_rows


def test_one_row_graded_by_hand_from_serve_output():
    r = BY_ID["vllm060-8b-h100-prefill-heavy"]  # 500 prompts of 462 tokens, 16 out, QPS = inf
    assert r["scheduler_steps"] == "10" and r["lengths"] == "fixed"  # --num-scheduler-steps 10
    assert r["runtime"] == "vllm-v0-api" and r["max_batch"] == "512"  # max_num_seqs 512
    ms = lookup("vllm-v0-api").with_values(scheduler_steps=10.0)
    res = serve("llama-3-8b", "h100-sxm",
                Traffic(ClosedLoop(users=500), FixedLengths(462, 16), 500),
                ServingPolicy(max_batch=512, max_tokens=8192),
                deployment=Deployment(tp=1, runtime=ms, weights="bf16"))
    f = res.requests_frame()
    assert len(f) == 500 and (f["arrival_s"] == 0).all()  # all queued at once
    # the benchmark's figure: completed requests over first arrival to last finish
    by_hand = len(f) / (f["finish_s"].max() - f["arrival_s"].min())
    pred, note = sp.predict(r)
    assert pred == pytest.approx(by_hand, rel=1e-12)
    assert note == ""
    frame = check_frame(sp.load([r]), sp.NAME)
    assert frame.loc[0, "predicted"] == pytest.approx(by_hand, rel=1e-12)
    assert frame.loc[0, "group"] == "throughput_req_s (held-out)"
    st = error_stats(frame["predicted"], frame["measured"])
    assert st.median_signed == pytest.approx((by_hand - 59.0) / 59.0)


def test_tpot_row_is_the_mean_over_requests():
    r = BY_ID["vllm060-8b-h100-tpot-32qps"]
    res = sp.simulate_row(r)
    f = res.requests_frame()
    by_hand = float(np.mean((f["finish_s"] - f["first_token_s"]) / (f["output_tokens"] - 1)))
    assert sp.predict(r)[0] == pytest.approx(by_hand, rel=1e-9)


def test_report_lists_every_row_with_the_exclusion_reasons(tmp_path, monkeypatch):
    excluded = [r for r in ROWS if r["use"] == "excluded"]
    graded = BY_ID["vllm060-8b-h100-prefill-heavy"]
    selected = [graded, *excluded]
    ds = Dataset(sp.NAME, sp.DESCRIPTION, lambda: sp.load(selected), sp.__name__, True)
    monkeypatch.setattr(rep, "discover", lambda: [ds])
    md = rep.build_report(tmp_path).markdown_path.read_text()
    section = md.split(f"## Every row of `{sp.NAME}`", 1)[1].split("## Plots", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("| ")][1:]  # minus header
    assert len(lines) == len(selected)
    for r in excluded:
        line = next(ln for ln in lines if f"| {r['id']} |" in ln)
        assert "| excluded |" in line and "| – |" in line  # ungraded: no error
        assert r["notes"].split(";")[0].replace("|", "/") in line  # its reason
    g = next(ln for ln in lines if f"| {graded['id']} |" in ln)
    assert "throughput_req_s (held-out)" in g and not math.isnan(sp.predict(graded)[0])
    # the summary counts the excluded rows without grading them
    assert re.search(rf"\| {sp.NAME} \| excluded \| 0 \|", md)


def test_a_bad_cell_names_file_line_column_and_fix(tmp_path):
    from infersim.foundation.errors import InputError

    text = sp.DATA.read_text().splitlines()
    header, first = text[0], text[1]
    bad = tmp_path / "serving.csv"
    bad.write_text("\n".join([header, first.replace(",30000,", ",many,", 1)]) + "\n")
    with pytest.raises(InputError, match=r"serving.csv line 2 .*column requests: 'many'; "
                                         r"a graded row needs a positive integer"):
        sp.rows(bad)


def test_vllm_sharegpt_filter_keeps_what_benchmark_serving_keeps():
    # benchmark_serving: drop prompt < 4 or completion < 4, prompt > 1024, prompt + out > 2048
    pairs = {(3, 10): False, (10, 3): False, (4, 4): True, (1024, 1024): True,
             (1025, 10): False, (1000, 1049): False, (1000, 1048): True}
    p = np.array([a for a, _ in pairs])
    o = np.array([b for _, b in pairs])
    assert sp.vllm_sharegpt_filter(p, o).tolist() == list(pairs.values())


def test_extract_sharegpt_stores_the_quantiles_of_the_kept_rows(tmp_path):
    trace = tmp_path / "trace.csv"
    # kept: prompts 4, 10, 1000 and outputs 4, 20, 1048; the rest fail the filter
    trace.write_text("num_prefill_tokens,num_decode_tokens,num_total_tokens\n"
                     "4,4,8\n10,20,30\n1000,1048,2048\n3,10,13\n1025,10,1035\n900,1200,2100\n")
    out = tmp_path / "q.csv"
    assert sp.extract_sharegpt(trace, out) == (6, 3)
    q, pq, oq = sp.sharegpt_quantiles(out)
    assert len(q) == sp.SHAREGPT_QUANTILES and q[0] == 0.0 and q[-1] == 1.0
    assert (pq[0], pq[-1], oq[0], oq[-1]) == (4.0, 1000.0, 4.0, 1048.0)
    assert pq[100] == 10.0 and oq[100] == 20.0  # the medians of three values
    assert pq[50] == pytest.approx(7.0, abs=0.05)  # p25 of (4, 10, 1000): halfway 4 -> 10


def test_extract_flag_rejects_bad_sources_in_one_line(tmp_path, capsys):
    assert sp.main(["--extract-sharegpt", "a.csv", "b.pkl", "c.csv"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "TRACE [OUTPUTS]" in err
    missing = tmp_path / "missing.pkl"
    assert sp.main(["--extract-sharegpt", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.pkl" in err and "No such file" in err


def test_length_pairs_read_from_a_data_only_pickle_and_nothing_else_is_run(tmp_path):
    import os
    import pickle

    from infersim.foundation.errors import InputError

    good = tmp_path / "pairs.pkl"
    good.write_bytes(pickle.dumps([(4, 4), (10, 20), (1000, 1048), (3, 10)]))
    p, o = sp.read_length_pairs(good)
    assert p.tolist() == [4, 10, 1000, 3] and o.tolist() == [4, 20, 1048, 10]
    out = tmp_path / "q.csv"
    assert sp.extract_sharegpt(good, out) == (4, 3)  # (3, 10) fails the filter
    # prompts from one source, outputs from another: each filtered on its own pairs
    trace = tmp_path / "trace.csv"
    trace.write_text("num_prefill_tokens,num_decode_tokens\n7,5\n8,6\n9,7\n2000,5\n")
    assert sp.extract_sharegpt(trace, out, outputs=good) == (4, 3)
    _, pq, oq = sp.sharegpt_quantiles(out)
    assert (pq[0], pq[-1], oq[0], oq[-1]) == (7.0, 9.0, 4.0, 1048.0)

    class Payload:  # unpickling it would call os.getcwd: the reader must refuse, not run it
        def __reduce__(self):
            return (os.getcwd, ())

    bad = tmp_path / "evil.pkl"
    bad.write_bytes(pickle.dumps([(4, 4), Payload()]))
    with pytest.raises(InputError, match=r"evil.pkl: refers to .*getcwd; expected a pickle "
                                         r"of \(prompt, output\) integer pairs only"):
        sp.read_length_pairs(bad)
    flat = tmp_path / "flat.pkl"
    flat.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(InputError, match=r"flat.pkl: expected a list of \(prompt, output\) "
                                         r"integer pairs, got an array of shape \(3,\)"):
        sp.read_length_pairs(flat)


def test_sharegpt_sample_obeys_the_filter_at_the_scaled_lengths(tmp_path):
    # quantiles whose prompt side must be scaled up ~1.7x to reach a mean of 202: unfiltered,
    # its longest prompts would pass 1024 tokens; benchmark_serving would never send them
    q = np.linspace(0.0, 1.0, 5)
    path = tmp_path / "q.csv"
    path.write_text("quantile,prompt_tokens,output_tokens\n" + "".join(
        f"{a},{b},{c}\n" for a, b, c in zip(q, (4, 20, 40, 150, 1024), (4, 100, 300, 600, 2000),
                                            strict=True)))
    ls = sp.sharegpt_lengths(500, 202, 179, path=path)
    p, o = np.array(ls.prompt_tokens), np.array(ls.output_tokens)
    assert sp.vllm_sharegpt_filter(p, o).all() and len(p) == 500
    assert abs(p.mean() - 202) <= 0.5 and abs(o.mean() - 179) <= 0.5
    # the scale that reaches the mean pushes some drawn prompts past 1024: they were dropped
    assert p.max() <= sp.MAX_PROMPT and np.mean(p > 900) > 0


def test_sglang_random_lengths_reproduce_the_published_token_totals():
    # total_input_tokens / total_output_tokens that sglang.bench_serving printed for the
    # H200 runs (datacrunch-research/h200-benchmarks, llama_3_3_70b_online_output.jsonl)
    published = {300: (152612, 160347), 600: (308748, 308712), 1200: (615860, 607936),
                 2400: (1222995, 1218922), 3200: (1629242, 1642637)}
    for n, (tin, tout) in published.items():
        ls = sp.sglang_random_lengths(n, 1024, 1024)
        assert sum(ls.prompt_tokens) == tin and len(ls.prompt_tokens) == n
        assert min(ls.output_tokens) >= 1  # a 0-token draw is sent as 1 token
        # equal to the published total but for those few 0 -> 1 (p = 1/1025 each)
        assert tout <= sum(ls.output_tokens) <= tout + n // 100
        assert not ls.replace and min(ls.prompt_tokens) >= 1 and max(ls.prompt_tokens) <= 1024
    rows = [r for r in sp.rows() if r["lengths"] == "sglang-random"]
    assert rows and all(r["requests"] in {str(n) for n in published} for r in rows)


def test_sharegpt_sample_has_the_published_means_and_each_pair_once():
    q, pq, oq = sp.sharegpt_quantiles()
    assert q[0] == 0.0 and pq[-1] <= sp.MAX_PROMPT and oq[-1] <= sp.MAX_TOTAL  # the filter's
    ls = sp.sharegpt_lengths(500, 202, 179)
    assert not ls.replace and len(ls.prompt_tokens) == 500
    # each length is rounded once after scaling: the means are off by at most 0.5 token
    assert abs(np.mean(ls.prompt_tokens) - 202) <= 0.5
    assert abs(np.mean(ls.output_tokens) - 179) <= 0.5
    assert sp.sharegpt_lengths(500, 202, 179) == ls  # deterministic for the seed
    assert sp.sharegpt_lengths(500, 202, 179, seed=1) != ls
    # a spread, not the mean: the longest output is well above twice the mean
    assert max(ls.output_tokens) > 2 * 179 and min(ls.output_tokens) < 179 / 4


def test_sharegpt_row_replays_the_sample_and_is_graded_by_hand():
    r = BY_ID["vllm060-8b-h100-sharegpt"]
    assert r["lengths"] == "sharegpt" and (r["isl"], r["osl"]) == ("202", "179")
    res = sp.simulate_row(r)
    f = res.requests_frame()
    ls = sp.sharegpt_lengths(500, 202, 179)
    assert sorted(zip(f["prompt_tokens"], f["output_tokens"], strict=True)) == sorted(
        zip(ls.prompt_tokens, ls.output_tokens, strict=True))
    by_hand = len(f) / (f["finish_s"].max() - f["arrival_s"].min())
    assert sp.predict(r)[0] == pytest.approx(by_hand, rel=1e-12)


@pytest.mark.parametrize("column,value,message", [
    ("lengths", "zipf", r"column lengths: 'zipf'; use fixed, sharegpt or sglang-random"),
    ("scheduler_steps", "0", r"column scheduler_steps: '0'; give a positive integer"),
    ("dp", "two", r"column dp: 'two'; give a positive integer or leave it empty"),
    ("ep", "0", r"column ep: '0'; give a positive integer or leave it empty"),
    ("pp", "x", r"column pp: 'x'; give a positive integer or leave it empty"),
])
def test_bad_lengths_or_scheduler_steps_cell_names_the_column(tmp_path, column, value,
                                                                message):
    from infersim.foundation.errors import InputError

    text = sp.DATA.read_text().splitlines()
    rows_ = list(csv.DictReader(io.StringIO("\n".join(text[:2]))))
    rows_[0][column] = value
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows_[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows_)
    bad = tmp_path / "serving.csv"
    bad.write_text(out.getvalue())
    with pytest.raises(InputError, match=rf"serving.csv line 2 .*{message}"):
        sp.rows(bad)


def test_fitted_constants_are_reproduced_by_their_command_and_graded_as_calibration():
    from infersim.hwmodels.models.gpu.engines import knob

    for (runtime, name), ids in sp.fitted_groups().items():
        rs = [BY_ID[rid] for rid in ids]
        for r in rs:
            # stated lengths, not sampled; or a median ITL or TTFT at a Poisson load (a
            # decode step at the running batch; the wait for a step plus one prompt's
            # prefill), which the mean lengths set, not the sample's tail
            assert r["runtime"] == runtime
            assert r["lengths"] == "fixed" or (
                r["metric"] in ("itl_p50_s", "ttft_p50_s") and r["arrival"] == "poisson")
            assert sp.group(r).endswith("(calibration)")
        # `--fit-frontend` bisects for the root of the rows' mean log slowness (one row:
        # predicted = measured), monotone in a CPU cost: the committed value is that root to
        # 1% when 0.99x and 1.01x of it land on either side (cheaper than a full refit)
        v = knob(lookup(runtime), name)
        assert sp.fit_gap(rs, name, 0.99 * v) > 0.0 > sp.fit_gap(rs, name, 1.01 * v), ids
    # the bisection itself: a slower measurement needs a larger CPU cost (coarse tolerance)
    r = dict(BY_ID["trtllm2407-8b-h100-decode-heavy"])
    r["measured"] = str(0.8 * float(r["measured"]))
    assert sp.fit_knob(r, "stream_chunk_s", rtol=0.05) > 1.05 * knob(
        lookup("trtllm-triton-v011"), "stream_chunk_s")
    assert sp.group(BY_ID["trtllm2407-8b-h100-sharegpt"]) == "throughput_req_s (held-out)"


def test_output_tail_sets_the_k_longest_outputs_by_hand():
    from infersim.simulator import LengthSamples

    s = LengthSamples((10, 20, 30, 40), (5, 9, 1, 9), replace=False)
    t = sp.with_output_tail(s, 2, 100)
    assert t.output_tokens == (5, 100, 1, 100)  # the two 9s: the longest two
    assert t.prompt_tokens == s.prompt_tokens and t.replace is False
    assert sp.with_output_tail(s, 1, 7).output_tokens == (5, 9, 1, 7)  # tie: the later one
    assert sp.with_output_tail(s, 0, 100) == s
    with pytest.raises(ValueError):
        sp.with_output_tail(s, 1, 0)


def test_a_longer_output_tail_drains_at_batch_one_by_the_decode_steps():
    """Four requests queued at once; the longest one decodes alone at the end, so raising it
    from 16 to 40 output tokens adds 24 batch-1 decode steps, each priced as `simulate`'s
    decode step at its context (the sum computed here from the mapper, not from serve)."""
    from infersim.api import simulate
    from infersim.simulator import LengthSamples

    s = LengthSamples((32, 32, 32, 32), (8, 8, 8, 16), replace=False)

    def run(lengths):
        res = serve("llama-3.2-1b", "h100-sxm", Traffic(ClosedLoop(users=4), lengths, 4),
                    ServingPolicy(max_batch=8, max_tokens=1024),
                    deployment=Deployment(tp=1, runtime="trtllm", weights="bf16"))
        return res.requests_frame()["finish_s"].max()

    extra = run(sp.with_output_tail(s, 1, 40)) - run(s)
    # tokens 17..40 of the long request: its context before token j is 32 + j - 1 keys
    by_hand = sum(simulate("llama-3.2-1b", "h100-sxm", "decode", 1, context=32 + j - 1,
                           runtime="trtllm").latency_s for j in range(17, 41))
    assert extra == pytest.approx(by_hand, rel=5e-3)


def test_tail_flag_prints_both_predictions_and_rejects_a_bad_value(capsys, monkeypatch):
    assert sp.main(["--tail", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--tail '3'" in err and "K:TOKENS" in err
    assert sp.parse_tail("3:1000") == (3, 1000)
    rows = [BY_ID["vllm060-8b-h100-sharegpt"], BY_ID["vllm060-8b-h100-prefill-heavy"]]
    monkeypatch.setattr(sp, "rows", lambda path=sp.DATA: rows)
    assert sp.main(["--tail", "3:1000"]) == 0
    out = capsys.readouterr().out
    assert "vllm060-8b-h100-sharegpt" in out and "prefill-heavy" not in out  # ShareGPT only
    f = sp.tail_sensitivity(3, 1800, rows)
    assert list(f["case"]) == ["vllm060-8b-h100-sharegpt"]
    base = float(sp.simulate_row(rows[0]).throughput_req_s)
    assert f.loc[0, "predicted"] == pytest.approx(base, rel=1e-12)
    assert f.loc[0, "signed"] == pytest.approx((base - 37.0) / 37.0)
    # three outputs of 1800 tokens drain longer than the sample's own longest
    longest = max(sp.sharegpt_lengths(500, 202, 179).output_tokens)
    assert longest < 1800
    assert f.loc[0, "predicted_tail"] < 0.9 * base


def test_sglang_v03_pays_its_per_request_cpu_between_gpu_steps_by_hand():
    """Without v0.4's overlap scheduler, each running request's scheduler work (95.6 µs,
    fitted on sglang030-8b-a100-itl-rps8) lengthens the step: 32 requests add 32 × 95.6 µs
    (the front-end floor, 32 × 137 µs, stays below the ~18 ms GPU step)."""
    from infersim.api import simulate

    def step(rt):
        return simulate("llama-3.1-70b", "dgx-h100", "decode", 32, context=400, runtime=rt,
                        tp=4).latency_s

    assert step("sglang-v03-api") - step("sglang-api") == pytest.approx(32 * 95.6e-6, rel=1e-9)
    r = BY_ID["sglang030-8b-a100-itl-rps8"]
    assert sp.group(r) == "itl_p50_s (calibration)"
    assert sp.group(BY_ID["sglang030-8b-a100-itl-rps4"]) == "itl_p50_s (held-out)"


def test_long_prompt_row_is_graded_on_the_compiled_engine(monkeypatch):
    """A 20000/2000 row (1,000 requests of 22k tokens) runs on the compiled engine (TensorRT-
    LLM's reserve admission, whole prompts, held-request walk and CUDA-graph padding); its
    all-at-t=0 open-loop run is the reference engine's closed loop of one user per request,
    bit for bit (40 requests here: a test of the plumbing, not of the number)."""
    from infersim.simulator.serving import compiled

    r = BY_ID["trtllm-8b-h100-20000-2000"]
    assert sp.group(r) == "throughput_tok_s (held-out)" and r["requests"] == "1000"
    # trtllm-bench without chunked prefill: max_num_tokens >= longest prompt + max batch
    assert int(r["max_tokens"]) == int(r["isl"]) + int(r["max_batch"]) == 20064
    small = {**r, "requests": "40"}
    calls = []
    run = compiled.run
    monkeypatch.setattr(compiled, "run", lambda *a, **k: calls.append(1) or run(*a, **k))
    res = sp.simulate_row(small)
    assert calls == [1]  # the compiled loop ran it
    assert res.completed == 40 and res.rejected == 0 and res.preemptions == 0
    ref = serve(r["model"], r["hardware"],
                Traffic(ClosedLoop(users=40), FixedLengths(20000, 2000), 40),
                ServingPolicy(max_batch=64, max_tokens=20064),
                deployment=Deployment(tp=1, runtime="trtllm-pytorch", weights="fp8",
                                      activations="fp8", kv="fp8", lm_head="bf16"),
                engine="simpy")
    assert calls == [1]
    assert res.throughput_tok_s == ref.throughput_tok_s > 0
    assert (res.requests_frame()["finish_s"] == ref.requests_frame()["finish_s"]).all()
    # with the budget of the other rows (8192), one 20000-token prompt does not fit an
    # iteration: TensorRT-LLM without chunked context (its default, `chunked_context` 0) can
    # never schedule it -- why trtllm-bench raises max_num_tokens to ISL + max_batch -- so
    # every request is rejected; with chunked context on, its in-flight batching (policy
    # `auto` -> chunked) runs it in chunks beside the decodes; prefill-first scheduling
    # rejects every request
    old = sp.simulate_row({**small, "max_tokens": "8192"})
    assert old.policy == "chunked" and old.completed == 0 and old.rejected == 40
    on = sp.simulate_row({**small, "max_tokens": "8192"},
                         knobs={"trtllm-pytorch": {"chunked_context": 1.0}})
    assert on.policy == "chunked" and on.completed == 40 and on.rejected == 0
    sep = serve(r["model"], r["hardware"], Traffic(ClosedLoop(users=40),
                                                   FixedLengths(20000, 2000), 40),
                ServingPolicy(kind="continuous", max_batch=64, max_tokens=8192),
                deployment=Deployment(tp=1, runtime="trtllm-pytorch", weights="fp8",
                                      activations="fp8", kv="fp8"))
    assert sep.completed == 0 and sep.rejected == 40


def test_perf_overview_rows_use_the_pages_request_count_for_their_lengths():
    # the $num_requests table of docs/source/performance/perf-overview.md (NVIDIA/TensorRT-LLM
    # at 00f3768): input/output length -> requests
    table = {(128, 128): 30000, (128, 2048): 3000, (128, 4096): 1500, (1000, 2000): 1500,
             (2048, 128): 3000, (2048, 2048): 1500, (5000, 500): 1500, (1000, 1000): 3000,
             (500, 2000): 3000, (20000, 2000): 1000}
    perf = [r for r in ROWS if r["source"].endswith("/performance/perf-overview.html")]
    assert len(perf) == 256 and all(r["use"] == "pass_fail" for r in perf)
    for r in perf:
        assert int(r["requests"]) == table[int(r["isl"]), int(r["osl"])], r["id"]


def test_trtllm_bench_settings_by_hand():
    """trtllm-bench's own max_batch / max_num_tokens (calc_engine_setting, get_settings) for
    Llama-3.1-8B fp8 on one H100 (81559 MiB = 85.52e9 B): fp8 KV per token 2 x 32 layers x 8
    heads x 128 = 65,536 B; free = 85.52e9 - 8.03e9 parameters = 77.49e9 B, x 0.90."""
    params = sp.trtllm_bench_free_bytes("llama-3.1-8b", "h100-sxm", 1)
    assert params == pytest.approx(85.52e9 - 8.03e9, rel=2e-3)
    # 128/2048: 0.9 x 77.49e9 / (65,536 x 2176) = 489 requests -> 128 x ceil(489/128) = 512;
    # tokens 489 x (1 + 128/2048) = 520 -> at least 2048; 2048 >= 128 + 512
    assert sp.trtllm_bench_settings("llama-3.1-8b", "h100-sxm", 1, 128, 2048) == (512, 2048)
    # 128/128: 4,157 requests, capped at 4096; tokens 4096 x 2 = 8192 -> 1024 x 8
    assert sp.trtllm_bench_settings("llama-3.1-8b", "h100-sxm", 1, 128, 128) == (4096, 8192)
    # 20000/2000: 48 requests -> at least 64; the prompt must fit: 20000 + 64
    assert sp.trtllm_bench_settings("llama-3.1-8b", "h100-sxm", 1, 20000, 2000) == (64, 20064)
    # 5000/500: 193 -> 32 x 7 = 224; tokens 193 x 11 = 2128 -> 256 x 9 = 2304 < 5000 + 224
    assert sp.trtllm_bench_settings("llama-3.1-8b", "h100-sxm", 1, 5000, 500) == (224, 5224)


def test_trtllm_bench_counts_an_nvfp4_checkpoint_at_half_a_byte_per_parameter():
    """Llama-3.3-70B NVFP4 on one B200 (spec: NVML's 192.2 GB): 0.5 B per parameter (BYTES_PER_ELEM
    in tensorrt_llm/bench/build/tuning.py), fp8 KV 2 x 80 layers x 8 heads x 128 = 163,840 B
    per token."""
    from infersim.workloads.summary import param_counts

    params = param_counts(load_model("llama-3.3-70b"))[0]
    assert 70.0e9 < params < 71.0e9
    free = sp.trtllm_bench_free_bytes("llama-3.3-70b", "b200", 1, "fp4")
    assert free == pytest.approx(192.2e9 - 0.5 * params, rel=1e-9)
    assert free - sp.trtllm_bench_free_bytes("llama-3.3-70b", "b200", 1, "fp8") == \
        pytest.approx(0.5 * params, rel=1e-9)
    # 128/4096: 0.9 x 156.9e9 / (163,840 x 4,224) = 204 requests -> 32 x 7 = 224; tokens
    # 204 x (1 + 128/4096) = 210 -> at least 2048
    assert sp.trtllm_bench_settings("llama-3.3-70b", "b200", 1, 128, 4096,
                                    weights="fp4") == (224, 2048)
    # the same run with fp8 weights leaves less KV room: 0.9 x 121.6e9 / ... = 158 -> 160
    assert sp.trtllm_bench_settings("llama-3.3-70b", "b200", 1, 128, 4096) == (160, 2048)


def test_every_trtllm_bench_row_carries_the_settings_its_spec_derives():
    """A row whose max_batch / max_tokens are trtllm-bench's own settings stores what
    `row_bench_settings` derives from the row's spec now: a spec change that moves them (the
    B200's capacity, 180e9 -> 192.2e9 B, raised 23 rows') must regenerate the rows, not
    leave them stale."""
    rows = [r for r in sp.rows() if "trtllm_bench_settings" in r["notes"]]
    assert len(rows) > 400
    stale = [(r["id"], r["max_batch"], r["max_tokens"], sp.row_bench_settings(r))
             for r in rows
             if (int(r["max_batch"]), int(r["max_tokens"])) != sp.row_bench_settings(r)]
    assert not stale, stale[:3]


def test_trtllm_bench_settings_under_pipeline_parallelism_by_hand():
    """trtllm-bench with --pp: the free memory of all tp x pp GPUs, the request count divided
    by pp (finetune_setting: each micro-batch's limits). Llama-3.3-70B NVFP4 (70.55e9
    parameters at 0.5 B), fp8 KV 163,840 B per token, 128/2048, on 96 GB RTX PRO 6000 boards:
    PP4 0.9 x (4 x 96e9 - 35.28e9) / (163,840 x 2,176) = 880 requests, / 4 = 220 per
    micro-batch -> 32 x 7 = 224; one board 153 -> 32 x 5 = 160; tokens at least 2048."""
    assert sp.trtllm_bench_settings("llama-3.3-70b", "rtx-pro-6000x8", 1, 128, 2048,
                                    weights="fp4", pp=4) == (224, 2048)
    assert sp.trtllm_bench_settings("llama-3.3-70b", "rtx-pro-6000", 1, 128, 2048,
                                    weights="fp4") == (160, 2048)
    r = BY_ID["trtllm-70b-rtxpro6000pp4-128-2048"]
    assert (r["pp"], r["max_batch"], r["max_tokens"]) == ("4", "224", "2048")
    assert sp.row_bench_settings(r) == (224, 2048)


def test_trtllm_bench_settings_count_an_fp16_kv_cache_at_two_bytes():
    """An unquantized FP16 engine keeps an fp16 KV cache: trtllm-bench's heuristic counts 2
    bytes per element (BYTES_PER_ELEM), so half the requests of an fp8 cache fit. Llama 3.1 8B
    on one A100 80 GB (85.9e9 B): free = 85.9e9 - 2 x 8.03e9; fp16 KV per token 2 x 32 x 8 x
    128 x 2 = 131,072 B; 128/2048: 0.9 x 69.8e9 / (131,072 x 2176) = 220 requests -> 32 x 7 =
    224."""
    free = sp.trtllm_bench_free_bytes("llama-3.1-8b", "a100-sxm-80gb", 1, "fp16")
    requests = 0.9 * free / (131072 * 2176)
    assert 192 < requests <= 224
    assert sp.trtllm_bench_settings("llama-3.1-8b", "a100-sxm-80gb", 1, 128, 2048,
                                    weights="fp16", kv="fp16")[0] == 224
    assert sp.trtllm_bench_settings("llama-3.1-8b", "a100-sxm-80gb", 1, 128, 2048,
                                    weights="fp16", kv="fp8")[0] > 224
    with pytest.raises(ValueError, match="kv dtype 'fp6': use one of"):
        sp.trtllm_bench_settings("llama-3.1-8b", "a100-sxm-80gb", 1, 128, 2048, kv="fp6")


def test_rows_of_one_run_are_graded_from_one_simulation(monkeypatch):
    """The mean TTFT and mean ITL rows of a published run share its simulation: one
    `simulate_row` call for the pair, each row reading its own metric, the same values as
    grading each row alone."""
    pair = [BY_ID["trtllm014-8b-h100-sonnet16-qps4-ttft"],
            BY_ID["trtllm014-8b-h100-sonnet16-qps4-itl"]]
    assert sp.run_key(pair[0]) == sp.run_key(pair[1])
    alone = [sp.predict(r)[0] for r in pair]
    calls = []
    run = sp.simulate_row
    monkeypatch.setattr(sp, "simulate_row", lambda *a, **k: calls.append(1) or run(*a, **k))
    together = sp.load(pair)
    assert len(calls) == 1
    assert list(together["predicted"]) == alone
    assert alone[0] != alone[1]  # TTFT and ITL, not one number twice


def test_the_b200_rows_are_the_pages_nvfp4_columns_two_fitting_the_spec():
    b200 = [r for r in ROWS if r["hardware"] in ("b200", "hgx-b200")
            and r["source"].endswith("/performance/perf-overview.html")
            and not sp.is_moe(r["model"])]
    assert len(b200) == 20
    assert {(r["model"], r["tp"]) for r in b200} == {("llama-3.3-70b", "1"),
                                                    ("llama-3.1-405b", "4")}
    assert all((r["weights"], r["activations"], r["kv"]) == ("fp4", "fp4", "fp8") for r in b200)
    calib = [r["id"] for r in b200 if sp.group(r).endswith("(calibration)")]
    assert sorted(calib) == sorted(rid for rid, (hw, _) in sp.SPEC_FITTED.items() if hw == "b200")
    # as published: (70B TP1, 405B TP4) at 1000/1000 and 2048/128
    by = {(r["model"], r["isl"], r["osl"]): float(r["measured"]) for r in b200}
    assert by["llama-3.3-70b", "1000", "1000"] == 7007
    assert by["llama-3.1-405b", "1000", "1000"] == 5209
    assert by["llama-3.3-70b", "2048", "128"] == 1339
    assert by["llama-3.1-405b", "2048", "128"] == 749


def test_the_gb200_rows_are_the_pages_gb200_columns_all_held_out():
    """The page's 'GB200 192GB (GB200 NVL72)' columns: 70B, Scout and Qwen3-30B-A3B on one GPU,
    405B TP4 on four GPUs of the rack; the spec shares the B200's fitted constants, so no
    GB200 row fits anything."""
    gb = [r for r in ROWS if r["hardware"] in ("gb200", "gb200-nvl72")]
    assert len(gb) == 40
    assert {(r["model"], r["hardware"], r["tp"]) for r in gb} == {
        ("llama-3.3-70b", "gb200", "1"), ("llama-4-scout", "gb200", "1"),
        ("qwen3-30b-a3b", "gb200", "1"), ("llama-3.1-405b", "gb200-nvl72", "4")}
    assert all(sp.group(r).endswith("(held-out)") for r in gb)
    by = {(r["model"], r["isl"], r["osl"]): r["measured"] for r in gb}
    # as published
    assert by["llama-3.3-70b", "2048", "128"] == "1450"
    assert by["llama-3.1-405b", "20000", "2000"] == "739"
    assert by["llama-4-scout", "128", "128"] == "19954"


def test_perf_overview_rows_run_trtllm_benchs_own_settings_on_the_pytorch_backend():
    perf = [r for r in ROWS if r["source"].endswith("/performance/perf-overview.html")]
    for r in perf:
        assert (int(r["max_batch"]), int(r["max_tokens"])) == sp.row_bench_settings(r), r["id"]
        assert r["runtime"] == "trtllm-pytorch", r["id"]
        if (r["dp"] or "1") == "1":  # one TP group: exactly trtllm-bench's settings
            assert sp.row_bench_settings(r) == sp.trtllm_bench_settings(
                r["model"], r["hardware"], int(r["tp"]), int(r["isl"]), int(r["osl"]),
                weights=r["weights"], pp=int(r["pp"] or 1)), r["id"]


def test_moe_rows_are_the_pages_moe_tables_on_attention_dp_ranks_by_hand():
    """The page's four MoE tables (Llama 4 Scout / Maverick, Qwen3-235B-A22B, Qwen3-30B-A3B;
    90 published values): multi-GPU columns as attention data parallelism over their GPUs
    with the experts on all of them (the page's MoE command sets enable_attention_dp), one
    GPU as is; graded on their own (`throughput_tok_s MoE`); with the GB200 TP1 columns of
    Scout and Qwen3-30B-A3B (20 more)."""
    moe = [r for r in ROWS if r["source"].endswith("/performance/perf-overview.html")
           and sp.is_moe(r["model"])]
    assert len(moe) == 110
    assert {sp.group(r) for r in moe} == {"throughput_tok_s MoE (held-out)"}
    for r in moe:
        gpus = {"b200": 1, "gb200": 1, "hgx-b200": 8, "dgx-h200": 8,
                "dgx-h100": 8}[r["hardware"]]
        if r["model"] == "llama-4-scout" and r["hardware"] not in ("b200", "gb200"):
            gpus = 4
        assert r["tp"] == "1" and (r["dp"] or "1") == (r["ep"] or "1") == str(gpus), r["id"]
    by = {r["id"]: r for r in moe}
    # as published: Qwen3-235B-A22B H200 TP8 128/2048, Maverick H100 TP8 2048/2048,
    # Qwen3-30B-A3B B200 TP1 2048/128
    assert by["trtllm-qwen235b-h200tp8-128-2048"]["measured"] == "42821"
    assert by["trtllm-maverick-h100tp8-2048-2048"]["measured"] == "6916"
    assert by["trtllm-qwen30b-b200-2048-128"]["measured"] == "6251"
    assert by["trtllm-qwen30b-gb200-2048-128"]["measured"] == "6595"
    assert by["trtllm-scout-gb200-128-2048"]["measured"] == "15238"
    # trtllm-bench sizes the TP8 group: 8 x 150.75e9 B (the H200 spec's HBM) less 235.09e9
    # fp8 parameters leaves 970.9e9 B; fp8 KV per token 2 x 94 layers x max(8, 4) heads x
    # 128 = 192,512 B; 0.9 x 970.9e9 / (192,512 x 2,176) = 2,086 requests -> 256 x 9 = 2,304;
    # tokens 2,086 x (1 + 128/2048) = 2,216 -> 2,304, raised to 128 + 2,304 = 2,432; each of
    # the 8 ranks' schedulers gets those limits
    r = by["trtllm-qwen235b-h200tp8-128-2048"]
    assert sp.trtllm_bench_settings(r["model"], r["hardware"], 8, 128, 2048) == (2304, 2432)
    assert (r["max_batch"], r["max_tokens"]) == ("18432", "19456")


def test_pytorch_backend_host_work_bounds_an_iteration_from_below():
    from infersim.hwmodels.models.gpu.engines import frontend_floor

    prof = lookup("trtllm-pytorch")
    # NVIDIA/TensorRT-LLM PR #10273: 45.11 ms of host work per iteration at 1536 requests
    assert frontend_floor(prof, 1536) == pytest.approx(45.11e-3, rel=1e-9)
    assert frontend_floor(prof, 768) == pytest.approx(45.11e-3 / 2, rel=1e-9)
    assert frontend_floor(lookup("trtllm"), 1536) == 0.0  # the C++ executor: none


def test_engine_flag_grades_the_same_on_simpy(capsys, monkeypatch):
    from infersim.simulator.serving import compiled

    r = {**BY_ID["sglang030-8b-h100-sharegpt"], "requests": "60"}
    monkeypatch.setattr(sp, "rows", lambda path=sp.DATA: [r])
    calls = []
    run = compiled.run
    monkeypatch.setattr(compiled, "run", lambda *a, **k: calls.append(1) or run(*a, **k))
    printed = []
    for engine, ran in (("compiled", [1]), ("simpy", [1])):  # simpy: no further compiled run
        assert sp.main(["--engine", engine]) == 0
        assert calls == ran, engine
        printed.append(capsys.readouterr().out.splitlines()[-1])
    assert printed[0] == printed[1] and "sglang030-8b-h100-sharegpt" in printed[0]
    assert sp.load([r], engine="simpy").loc[0, "predicted"] == sp.predict(r)[0]


# SGLang repo, benchmark/benchmark_vllm_060/README.md at 120affb: offline runs of 5000
# ShareGPT prompts, (request throughput req/s, output token throughput tok/s)
SGLANG_README_OFFLINE = {
    "vllm060-70b-4xh100-offline": (19.04, 3700.64),
    "sglang030-70b-4xh100-offline": (19.84, 3856.01),
    "vllm060-8b-a100-offline": (21.27, 4132.37),
    "sglang030-8b-a100-offline": (22.03, 4281.51),
}


def test_sglang_repo_offline_rows_are_held_out_as_published():
    for rid, (req_s, tok_s) in SGLANG_README_OFFLINE.items():
        r = BY_ID[rid]
        assert sp.group(r) == "throughput_req_s (held-out)" and rid not in sp.FITTED
        assert float(r["measured"]) == req_s and r["metric"] == "throughput_req_s"
        # --num-prompts 5000 without --request-rate: all sent at once
        assert (r["requests"], r["arrival"], r["lengths"]) == ("5000", "infinite", "sharegpt")
        assert int(r["osl"]) == round(tok_s / req_s) == 194  # mean output of the run
        assert r["source"].endswith("120affb9613cc3f5bcd055ec09c7621d3ced0ebc/benchmark/"
                                    "benchmark_vllm_060/README.md")
        if rid.startswith("vllm"):
            # --num-scheduler-steps 10 --max_model_len 4096; max_num_seqs 256 (default)
            assert (r["runtime"], r["scheduler_steps"]) == ("vllm-v0-api", "10")
            assert (r["max_batch"], r["max_tokens"]) == ("256", "4096")
        else:
            assert (r["runtime"], r["scheduler_steps"]) == ("sglang-v03-api", "")


def test_sglang_v03_max_running_requests_from_its_source_formula():
    """SGLang v0.3.0 (tp_worker.py, model_runner.py): max_running_requests =
    min(KV tokens // 2, max_num_reqs - 1), max_num_reqs = min(max(KV tokens / context_len x
    512, 2048), 5120). KV tokens by hand: 80 GB x 0.88 minus the bf16 weights of the GPU's
    shard, over the KV bytes of one token on that GPU (2 x layers x KV heads / tp x 128 x 2)."""
    def max_running(kv_tokens: float, context_len: int = 131072) -> int:
        max_num_reqs = min(max(int(kv_tokens / context_len * 512), 2048), 5120)
        return min(int(kv_tokens // 2), max_num_reqs - 1)

    kv_8b = (0.88 * 80e9 - 8.03e9 * 2) / (2 * 32 * 8 * 128 * 2)  # 1 A100
    kv_70b = (0.88 * 80e9 - 70.6e9 * 2 / 4) / (2 * 80 * 8 // 4 * 128 * 2)  # TP4 shard
    assert 400e3 < kv_8b < 430e3 and 420e3 < kv_70b < 440e3
    for rid in ("sglang030-8b-a100-offline", "sglang030-70b-4xh100-offline",
                "sglang030-70b-4xh100-itl-rps4", "sglang030-8b-a100-itl-rps8"):
        kv = kv_8b if "-8b-" in rid else kv_70b
        assert int(BY_ID[rid]["max_batch"]) == max_running(kv) == 2047, rid
        assert BY_ID[rid]["max_tokens"] == "8192"  # chunked_prefill_size 8192


def test_offline_row_is_graded_by_hand_from_serve_output():
    r = BY_ID["sglang030-8b-a100-offline"]
    f = sp.simulate_row(r).requests_frame()
    assert len(f) == 5000 and (f["arrival_s"] == 0).all()
    by_hand = len(f) / (f["finish_s"].max() - f["arrival_s"].min())
    assert sp.predict(r)[0] == pytest.approx(by_hand, rel=1e-12)


def test_lean_puts_throughput_and_latency_rows_on_one_faster_scale():
    import pandas as pd

    df = pd.DataFrame({
        "group": ["throughput_req_s (held-out)", "tpot_s (held-out)", "itl_p50_s (held-out)",
                  "throughput_tok_s (held-out)", "itl_p50_s (calibration)", "excluded"],
        "predicted": [110.0, 0.9, 1.2, 95.0, 1.0, math.nan],
        "measured": [100.0, 1.0, 1.0, 100.0, 1.0, 5.0]})
    s = sp.lean(df)
    # faster-positive signs: +10 % (more req/s), +10 % (shorter TPOT), -20 % (longer ITL),
    # -5 % (fewer tok/s), 0 (calibration); the excluded row is not graded
    assert s["n"] == 5
    assert s["median_faster"] == pytest.approx(0.0)
    assert s["share_faster"] == pytest.approx(2 / 5)
    ape = [0.10, 0.10, 0.20, 0.05, 0.0]
    assert s["median_ape"] == pytest.approx(0.10)
    assert s["p90_ape"] == pytest.approx(np.percentile(ape, 90))  # 0.10 + 0.6 x 0.10
    held = sp.lean(df[~df["group"].str.contains("calibration")])
    assert held["n"] == 4 and held["median_faster"] == pytest.approx(0.025)  # (+10 % - 5 %)/2
    assert held["share_faster"] == pytest.approx(0.5)
    lines = sp.lean_line(df).splitlines()
    assert lines[0].startswith("graded: n=5,") and lines[1].startswith("held out: n=4,")
    assert "median signed +2.5%" in lines[1] and "predicted faster on 50%" in lines[1]
    assert sp.lean(df.iloc[5:])["n"] == 0  # only an excluded row: nothing graded


def test_validate_reports_the_lean_of_the_production_engine_rows():
    import pandas as pd

    df = pd.DataFrame({
        "dataset": [sp.NAME, sp.NAME, "published_e2e", "published_e2e", "vidur"],
        "group": ["throughput_req_s (held-out)", "excluded", "throughput (held-out)",
                  "per-user gpu eager (held-out)", "H100 gemm (fit)"],
        "case": ["not-a-csv-row", "excluded-row", "e2e", "eager", "gemm"],
        "predicted": [120.0, math.nan, 90.0, 1.0, 1.0],
        "measured": [100.0, 10.0, 100.0, 2.0, 3.0]})
    prod = sp.production_rows(df)
    assert list(prod.index) == [0, 1, 2]  # not the eager per-user row, not vidur
    lines = rep.production_lean(df)
    # graded: +20 % and -10 % -> median +5 %, one of two faster, median APE 15 %
    assert ("- graded: n=2, median APE 15.0%, p90 19.0%, median signed +5.0% "
            "(positive = predicted faster), predicted faster on 50%") in lines
    # by stack: a case id the CSV lacks stands for itself; published_e2e rows are E2E_STACK
    at = lines.index("Held-out production rows by software stack:")
    end = lines.index("Held-out production rows by chip:")
    assert lines[at + 2:end - 1] == [
        f"- {sp.E2E_STACK}: n=1, median APE 10.0%, median signed -10.0%, "
        "predicted faster on 0/1",
        "- not-a-csv-row: n=1, median APE 20.0%, median signed +20.0%, predicted faster on 1/1"]
    # by chip: rows whose hardware no table names count as "unknown"
    assert lines[end + 2:] == ["- unknown: n=2, median APE 15.0%, p90 19.0%, median signed "
                               "+5.0%, predicted faster on 50%"]
    # by layout: rows the CSV lacks (and published_e2e's) run one group
    at = lines.index("Held-out production rows by parallel layout:")
    assert lines[at + 2] == (f"- {sp.ONE_GROUP_LAYOUT}: n=2, median APE 15.0%, p90 19.0%, "
                             "median signed +5.0%, predicted faster on 50%")
    assert rep.production_lean(df.iloc[3:]) == []  # no production rows: no section


def test_lean_by_family_splits_dense_and_moe_rows_by_hand():
    """Held-out rows by model family: this data set's `<metric> MoE` groups are the
    mixture-of-experts rows, the rest dense; latency rows flipped to the faster scale."""
    import pandas as pd

    df = pd.DataFrame({
        "dataset": [sp.NAME] * 5,
        "group": ["throughput_tok_s MoE (held-out)", "throughput_tok_s MoE (held-out)",
                  "throughput_tok_s (held-out)", "tpot_s (held-out)",
                  "throughput_tok_s (calibration)"],
        "case": ["a", "b", "c", "d", "e"],
        "predicted": [150.0, 130.0, 90.0, 1.2, 500.0],
        "measured": [100.0, 100.0, 100.0, 1.0, 100.0]})
    # MoE +50 % and +30 %: median +40 %, p90 48 %; dense -10 % and a TPOT 20 % long (-20 %
    # on the faster scale): median -15 %, none faster; the calibration row left out
    assert sp.lean_by_family(df) == [
        "dense models: n=2, median APE 15.0%, p90 19.0%, median signed -15.0%, predicted "
        "faster on 0%",
        "mixture-of-experts models: n=2, median APE 40.0%, p90 48.0%, median signed +40.0%, "
        "predicted faster on 100%"]


def test_lean_by_layout_splits_attention_dp_rows_by_hand():
    """Held-out rows by parallel layout: this data set's rows whose CSV row runs dp > 1
    are the attention-data-parallel rows; the rest (and published_e2e's) one group."""
    import pandas as pd

    df = pd.DataFrame({
        "dataset": [sp.NAME] * 5 + ["published_e2e"],
        "group": ["throughput_tok_s MoE (held-out)", "throughput_tok_s MoE (held-out)",
                  "throughput_tok_s (held-out)", "ttft_s (held-out)",
                  "throughput_tok_s MoE (calibration)", "throughput (held-out)"],
        "case": ["d1", "d2", "g1", "g2", "d3", "e"],
        "predicted": [125.0, 115.0, 96.0, 0.9, 500.0, 103.0],
        "measured": [100.0, 100.0, 100.0, 1.0, 100.0, 100.0]})
    dps = {"d1": 8, "d2": 4, "g1": 1, "g2": 1, "d3": 8}
    # one group: -4 %, a TTFT 10 % short (+10 % on the faster scale), e2e +3 % -> median
    # +3 %, |errors| 4, 10, 3 -> median 4 %, p90 10 - 0.2 x 6 = 8.8 %, two of three faster;
    # dp: +25 %, +15 % -> median +20 %, p90 24 %, both faster; d3 (calibration) left out
    assert sp.layout_of(df, dps) == [sp.DP_LAYOUT, sp.DP_LAYOUT, sp.ONE_GROUP_LAYOUT,
                                     sp.ONE_GROUP_LAYOUT, sp.DP_LAYOUT, sp.ONE_GROUP_LAYOUT]
    assert sp.lean_by_layout(df, dps) == [
        f"{sp.ONE_GROUP_LAYOUT}: n=3, median APE 4.0%, p90 8.8%, median signed +3.0%, "
        "predicted faster on 67%",
        f"{sp.DP_LAYOUT}: n=2, median APE 20.0%, p90 24.0%, median signed +20.0%, "
        "predicted faster on 100%"]
    assert sp.lean_by_layout(df.iloc[4:5], dps) == []  # calibration only


def split_frame():
    """Production rows for the split-lean tests: six of this data set's (held out, one
    calibration row, one excluded) and one of published_e2e's; cases a*, b* and e."""
    import pandas as pd

    return pd.DataFrame({
        "dataset": [sp.NAME] * 6 + ["published_e2e"],
        "group": ["throughput_req_s (held-out)", "tpot_s (held-out)", "ttft_p50_s (held-out)",
                  "throughput_tok_s (held-out)", "itl_p50_s (calibration)", "excluded",
                  "throughput (held-out)"],
        "case": ["a1", "a2", "a3", "b1", "a4", "b2", "e"],
        "predicted": [130.0, 0.8, 1.1, 95.0, 2.0, math.nan, 101.0],
        "measured": [100.0, 1.0, 1.0, 100.0, 1.0, 3.0, 100.0]})


def test_lean_by_stack_splits_held_out_rows_by_engine_by_hand():
    """Each stack's held-out rows on the faster-positive scale (latency rows flipped),
    calibration and excluded rows left out, the larger stack first."""
    df = split_frame()
    stacks = {"a1": "A", "a2": "A", "a3": "A", "a4": "A", "b1": "B", "b2": "B"}
    # A: +30 %, +20 % (shorter TPOT), -10 % (longer TTFT) -> median +20 %, 2 of 3 faster,
    # |errors| 30, 20, 10 % -> median 20 %; a4 (calibration) is not counted
    # B: -5 % (b2 excluded); published_e2e: +1 %
    assert sp.lean_by_stack(df, stacks) == [
        "A: n=3, median APE 20.0%, median signed +20.0%, predicted faster on 2/3",
        "B: n=1, median APE 5.0%, median signed -5.0%, predicted faster on 0/1",
        f"{sp.E2E_STACK}: n=1, median APE 1.0%, median signed +1.0%, predicted faster on 1/1"]
    assert sp.lean_by_stack(df.iloc[4:6], stacks) == []  # calibration + excluded only


def test_lean_by_chip_splits_held_out_rows_by_the_chip_of_their_system_by_hand():
    """A system spec's rows count for its chip (dgx-h100 -> h100-sxm, mi300x-8 -> mi300x);
    calibration and excluded rows left out, the larger group first, then by name."""
    df = split_frame()
    hardware = {"a1": "dgx-h100", "a2": "h100-sxm", "a3": "dgx-h100", "a4": "h100-sxm",
                "b1": "mi300x-8", "b2": "mi300x-8", "e": "h200-sxm"}
    assert sp.chip_of(df, hardware) == ["h100-sxm"] * 3 + ["mi300x", "h100-sxm", "mi300x",
                                                           "h200-sxm"]
    # h100-sxm: +30 %, +20 % (shorter TPOT), -10 % (longer TTFT): |errors| 10, 20, 30 % ->
    # median 20 %, p90 28 % (linear between the 2nd and 3rd), median signed +20 %, 2 of 3
    # faster; h200-sxm: +1 %; mi300x: -5 % (b2 excluded)
    assert sp.lean_by_chip(df, hardware) == [
        "h100-sxm: n=3, median APE 20.0%, p90 28.0%, median signed +20.0%, predicted faster "
        "on 67%",
        "h200-sxm: n=1, median APE 1.0%, p90 1.0%, median signed +1.0%, predicted faster on "
        "100%",
        "mi300x: n=1, median APE 5.0%, p90 5.0%, median signed -5.0%, predicted faster on 0%"]
    assert sp.lean_by_chip(df.iloc[4:6], hardware) == []  # calibration + excluded only


# median TTFT in ms of SGLang's v0.3.0-vs-vLLM-v0.6.0 README (sgl-project/sglang 120affb,
# benchmark/benchmark_vllm_060/README.md): (model deployment, req/s) -> (SGLang, vLLM)
SGLANG_README_TTFT = {("8b-a100", 4): (31.98, 100.48), ("8b-a100", 8): (35.68, 120.39),
                      ("70b-4xh100", 4): (53.94, 179.15), ("70b-4xh100", 8): (58.11, 207.12)}


def test_ttft_rows_as_published_and_multi_step_sets_the_engines_ratio():
    """vLLM's multi-step passes hold an arrival to the pass's end: its median TTFT is ~3x
    SGLang's in the README (3.1-3.6x). With the passes the ratio is predicted near it (3.0-4.1x;
    the 8B A100 rows' 4.05x and 4.06x: vLLM's TTFT there 1% slow and 8% fast since its decode
    attention is flash-attn 2's kernel as it schedules itself, SGLang's 22-23% fast, those rows'
    known lean); with one scheduling step per decode step (the same profile, scheduler_steps 1)
    it is not (1.7-2.5x, 0.51-0.70 of the measured ratio: vLLM's longer CPU step, its host work
    per running sequence each step, and its async output lag of one iteration remain)."""
    for (dep, rps), (sgl, vll) in SGLANG_README_TTFT.items():
        rs = BY_ID[f"sglang030-{dep}-ttft-rps{rps}"], BY_ID[f"vllm060-{dep}-ttft-rps{rps}"]
        for r, ms in zip(rs, (sgl, vll), strict=True):
            assert sp.group(r).startswith("ttft_p50_s (") and r["metric"] == "ttft_p50_s"
            assert float(r["measured"]) == pytest.approx(ms / 1e3)
            assert r["arrival"] == "poisson" and float(r["arrival_value"]) == rps
        s, v = (sp.simulate_row(r, engine="simpy").ttft["p50"] for r in rs)
        one = sp.simulate_row({**rs[1], "scheduler_steps": "1"}, engine="simpy").ttft["p50"]
        measured = vll / sgl
        assert 0.7 * measured < v / s < 1.3 * measured
        assert one / s < 0.75 * measured


def test_closed_loop_rows_are_read_in_steady_state_by_hand():
    """A closed-loop row's figure skips the warm-up (the first WARMUP_WAVES x users requests
    by arrival) and rejected requests, and takes throughput by Little's law. Hand-made
    per-request arrays: 2 users, so requests 8, 9 and 10 (arrival order) are measured; 10
    was rejected (no tokens)."""
    from types import SimpleNamespace

    n = 11
    arrival = np.arange(n, dtype=float)[::-1].copy()  # stored out of arrival order
    first = arrival + np.where(arrival >= 8, [0.5] * n, 9.0)
    first[arrival == 10] = np.nan
    finish = first + 4.0  # 5 output tokens: 4 gaps of 1 s
    res = SimpleNamespace(per_request={"arrival_s": arrival, "first_token_s": first,
                                       "finish_s": finish, "output_tokens": np.full(n, 5),
                                       "rejected": arrival == 10})
    assert sp.WARMUP_WAVES * 2 == 8
    assert sp.steady_state(res, "ttft_s", 2) == pytest.approx(0.5)
    assert sp.steady_state(res, "tpot_s", 2) == pytest.approx(1.0)
    # e2e 4.5 s each: 2 users x 5 tokens / 4.5 s
    assert sp.steady_state(res, "throughput_tok_s", 2) == pytest.approx(10 / 4.5)
    with pytest.raises(ValueError):
        sp.steady_state(res, "itl_p50_s", 2)
    rows = [r for r in sp.rows() if r["arrival"] == "closed"]
    assert rows and all(int(r["requests"]) > sp.WARMUP_WAVES * int(r["arrival_value"])
                        for r in rows)


def test_what_if_set_equals_grading_an_edited_spec_file(tmp_path):
    """`what_if` (`--set`) predicts a row as the same row on a copy of its spec YAML with the
    field edited by hand would be predicted; a row it does not move is left out."""
    import pandas as pd

    from infersim.hwmodels.loader import resolve_spec

    r = {**BY_ID["trtllm2407-8b-h100-prefill-heavy"], "requests": "40"}  # bf16, compute-bound
    src = resolve_spec("h100-sxm").read_text()
    assert "  mma_efficiency: 0.678\n" in src
    edited = tmp_path / "h100-edited.yaml"
    edited.write_text(src.replace("  mma_efficiency: 0.678\n", "  mma_efficiency: 0.6\n"))
    by_hand = sp.predict({**r, "hardware": str(edited)})[0]
    moved, lines = sp.what_if({"gpu.mma_efficiency": 0.6}, selected=[r])
    assert list(moved["case"]) == [r["id"]]
    assert moved.loc[0, "predicted_set"] == pytest.approx(by_hand, rel=1e-12)
    assert moved.loc[0, "predicted"] == pytest.approx(sp.predict(r)[0], rel=1e-12)
    assert by_hand < moved.loc[0, "predicted"]  # slower tensor cores: fewer req/s
    m = float(r["measured"])
    assert moved.loc[0, "signed_set"] == pytest.approx((by_hand - m) / m)
    assert lines[0].startswith("as graded, graded: n=1,")
    assert any(x.startswith("with --set, held out, TensorRT-LLM r24.07: n=1,") for x in lines)
    # an override that changes nothing this row uses moves no row
    still, _ = sp.what_if({"gpu.mma_efficiency": 0.678}, selected=[r])
    assert isinstance(still, pd.DataFrame) and still.empty


def test_what_if_bad_field_is_one_line_naming_the_spec_and_exit_2(capsys):
    assert sp.main(["--set", "gpu.mma_efficiency=0.7"]) == 2
    err = capsys.readouterr().err.strip()
    # library chip specs take gpu.*, the DGX system specs chip.gpu.*: the first that rejects it
    # (the graded rows' hardware in name order: dgx-a100 before dgx-h100)
    assert err.count("\n") == 0
    assert err.startswith("error: --set on dgx-a100 (hardware of graded rows): ")
    assert "no field 'gpu'" in err and "fix:" in err
    assert sp.main(["--set", "chip.gpu.mma_efficiency"]) == 2
    assert "expected FIELD.PATH=VALUE" in capsys.readouterr().err


def test_v017_rows_are_the_c_plus_plus_engine_tables_as_published():
    """TensorRT-LLM v0.17's performance overview (258c754): the Llama 3.1 70B and Mixtral
    8x7B FP8 columns on H100 / H200 at TP 1-8 (142 published values; 70B H100 TP1 has no
    2048/2048 or 20000/2000), then the page's other columns with a spec here (88): Llama 3.1
    8B FP8 on H100 / H200, 405B FP8 TP8 on H200, and the A100 FP16 columns (8B TP1, 70B TP2
    / 4 / 8, the TP2 one without 128/4096 and 20000/2000, Mixtral TP2 / 4 / 8); the C++
    executor (`trtllm`), TP only, trtllm-bench's own batch settings at the engine's weight and
    KV widths; Mixtral graded with the MoE rows."""
    v017 = [r for r in ROWS if r["id"].startswith("trtllm017-")]
    assert len(v017) == 142 + 88
    assert all(r["source"].startswith("https://github.com/NVIDIA/TensorRT-LLM/blob/258c754")
               for r in v017)
    for r in v017:
        assert r["runtime"] == "trtllm" and r["use"] == "pass_fail", r["id"]
        assert (r["ep"] or "1") == (r["dp"] or "1") == "1", r["id"]
        assert (int(r["max_batch"]), int(r["max_tokens"])) == sp.trtllm_bench_settings(
            r["model"], r["hardware"], int(r["tp"]), int(r["isl"]), int(r["osl"]),
            weights=r["weights"], kv=r["kv"]), r["id"]
        assert (r["weights"], r["kv"]) in (("fp8", "fp8"), ("fp16", "fp16")), r["id"]
        assert (r["weights"] == "fp16") == ("a100" in r["id"]), r["id"]
        want = "throughput_tok_s MoE (held-out)" if r["model"] == "mixtral-8x7b" \
            else "throughput_tok_s (held-out)"
        assert sp.group(r) == want, r["id"]
    by = {r["id"]: float(r["measured"]) for r in v017}
    # as published: 70B H100 TP1 128/2048, 70B H200 TP8 20000/2000, Mixtral H100 TP2
    # 1000/1000, Mixtral H200 TP8 128/2048
    assert by["trtllm017-70b-h100tp1-128-2048"] == 911.62
    assert by["trtllm017-70b-h200tp8-20000-2000"] == 1920.45
    assert by["trtllm017-mixtral-h100tp2-1000-1000"] == 15770.89
    assert by["trtllm017-mixtral-h200tp8-128-2048"] == 68608.45
    assert "trtllm017-70b-h100tp1-2048-2048" not in by
    # the later columns, as published: 8B H100 128/128, 405B H200 TP8 20000/2000, A100 FP16
    # 70B TP2 2048/128 and Mixtral TP8 128/2048; the A100 70B TP2 column has no 128/4096
    assert by["trtllm017-8b-h100tp1-128-128"] == 28836.77
    assert by["trtllm017-405b-h200tp8-20000-2000"] == 535.31
    assert by["trtllm017-70b-a100tp2-2048-128"] == 148.96
    assert by["trtllm017-mixtral-a100tp8-128-2048"] == 20277.88
    assert "trtllm017-70b-a100tp2-128-4096" not in by


def test_trtllm_v014_online_rows_are_the_pages_serving_table():
    """The 'Online Serving Measurements' of the v0.17 page (TensorRT-LLM v0.14 behind Triton,
    500 requests, BF16): Llama 3.1 8B TP1 and 70B TP4 on H100 and H200, three datasets, QPS
    2-32 and INF; mean TTFT and mean ITL at every QPS, output throughput at INF."""
    rows = [r for r in ROWS if r["id"].startswith("trtllm014-")]
    assert len(rows) == 4 * 3 * (6 * 2 + 1)
    assert {r["metric"] for r in rows} == {"ttft_s", "itl_s", "throughput_tok_s"}
    assert all(r["runtime"] == "trtllm-triton" for r in rows)
    # held out but for the lowest-load rows that fit three constants (FITTED): the C++
    # executor's time per iteration on the mean ITLs of fixed lengths of the 8B on one GPU
    # (`step_overhead_s`), its broadcast round over the TP ranks on those of the 70B at TP4
    # (`step_bcast_round_s`), the Triton ensemble's latency per request on the TTFTs of 467/16
    # of every GPU and model (`request_latency_s`)
    calib = [r["id"] for r in rows if sp.group(r).endswith("(calibration)")]
    assert sorted(calib) == sorted(rid for rid in sp.FITTED if rid.startswith("trtllm014-"))
    by_knob = {k: sorted(rid for rid in calib if sp.FITTED[rid][1] == k)
               for k in {sp.FITTED[rid][1] for rid in calib}}
    assert {k: len(v) for k, v in by_knob.items()} == {
        "request_latency_s": 4, "step_overhead_s": 4, "step_bcast_round_s": 4}
    assert all("-8b-" in rid and rid.endswith("-itl") for rid in by_knob["step_overhead_s"])
    assert all("tp4-" in rid and rid.endswith("-itl") for rid in by_knob["step_bcast_round_s"])
    # the one-GPU constant is fitted before the TP one (the TP fit reads it), both before the
    # latency (each TTFT holds one iteration)
    order = [k for (_, k) in sp.fitted_groups() if k in by_knob]
    assert order == ["step_overhead_s", "step_bcast_round_s", "request_latency_s"]
    assert all("-qps2-" in rid and "sharegpt" not in rid for rid in calib)
    assert all(sp.group(r).endswith("(held-out)") for r in rows if r["id"] not in calib)
    by = {r["id"]: r for r in rows}
    # as published (ms on the page)
    assert by["trtllm014-70b-h100tp4-sonnet256-qps2-ttft"]["measured"] == "0.062"
    assert by["trtllm014-8b-h200-sharegpt-qps32-itl"]["measured"] == "0.009"
    # the table is self-consistent: at INF, output tok/s = req/s x output length, the page's
    # req/s rounded to a whole number (8B H100 467/256: 37 req/s x 256 = 9,472 ~ 9,420)
    for r in rows:
        if r["metric"] == "throughput_tok_s":
            rps = float(re.search(r"Tput ([\d.]+) req/s", r["notes"]).group(1))
            assert abs(float(r["measured"]) / int(r["osl"]) - rps) <= 0.5 + 0.02 * rps, r["id"]
        else:
            assert r["arrival"] == ("infinite" if "-inf-" in r["id"] else "poisson")


def test_itl_s_is_the_token_weighted_mean_gap():
    """`itl_s` is benchmark_serving's Mean ITL: every streamed token's gap after a request's
    first, pooled over requests, so a request's weight is its token count; by hand from
    the per-request times (one token per chunk: the gaps of a request sum to its finish
    minus its first token)."""
    r = next(r for r in ROWS if r["id"] == "trtllm014-8b-h100-sharegpt-qps32-itl")
    res = sp.simulate_row(r)
    pr = res.per_request
    gaps = np.sum(pr["finish_s"] - pr["first_token_s"])
    tokens = np.sum(pr["output_tokens"] - 1)
    assert sp.METRICS["itl_s"](res) == pytest.approx(gaps / tokens, rel=1e-9)
    # and not the request-weighted mean (ShareGPT outputs differ in length, and at 32 req/s
    # the gap changes with the load over a request's life)
    per_req = np.mean((pr["finish_s"] - pr["first_token_s"])
                      / np.maximum(pr["output_tokens"] - 1, 1))
    assert abs(sp.METRICS["itl_s"](res) / per_req - 1) > 1e-3


def test_diagnose_reads_the_iterations_of_the_run_by_hand():
    """The iteration mix read from a run's event log holds every prompt token and every
    decode token of the row by hand: 500 prompts of 462 tokens, 16 outputs each (the first
    from the prompt's iteration, 15 from decode iterations, which multi-step passes of 10
    compute as two whole passes: 20 steps, `replica` module doc); vLLM V0 runs prompts in
    iterations of their own, so every decode is in a generation-only iteration; the engine is
    never idle at an infinite rate, so the iterations' priced times add up to the run."""
    r = BY_ID["vllm060-8b-h100-prefill-heavy"]
    res = sp.simulate_row(r, event_log=True)
    mix = sp.iterations(res)
    assert mix.prompt_n * mix.prompt_tokens == pytest.approx(500 * 462)
    assert mix.prompt_decoding == 0.0
    assert mix.gen_n * mix.gen_batch == pytest.approx(500 * 20)
    assert mix.prompt_s + mix.gen_s == pytest.approx(res.duration_s, rel=1e-9)
    # the event log changes nothing of the run
    assert res.throughput_req_s == pytest.approx(sp.predict(r)[0], rel=1e-12)
    with pytest.raises(ValueError, match="event log"):
        sp.iterations(sp.simulate_row(r))


def test_implied_generation_step_spreads_the_measured_gap_by_hand():
    """A 10 s simulated run of 100 generation-only iterations (8 s of them) predicted at 1,000
    tok/s against a measured 800: the measured run lasts 12.5 s, so each generation-only step
    takes (8 + 2.5) / 100 = 105 ms."""
    from types import SimpleNamespace

    mix = sp.IterationMix(5, 2.0, 100.0, 0.0, 100, 8.0, 64.0, 500.0)
    res = SimpleNamespace(duration_s=10.0)
    assert sp.implied_gen_step_s(res, mix, 1000.0, 800.0) == pytest.approx(0.105)
    assert sp.implied_gen_step_s(res, mix, 800.0, 800.0) == pytest.approx(0.08)
    assert math.isnan(sp.implied_gen_step_s(res, sp.IterationMix(5, 2.0, 100.0, 0.0, 0, 0.0,
                                                                  0.0, 0.0), 1.0, 1.0))


def test_implied_prompt_iteration_spreads_the_measured_gap_by_hand():
    """The same run with the gap put on its 5 iterations with prompt tokens (2 s of them): the
    measured 12.5 s leave (2 + 2.5) / 5 = 900 ms for each; a faster measurement (1,250 tok/s:
    8 s) takes it from them, (2 - 2) / 5 = 0; none, NaN."""
    from types import SimpleNamespace

    mix = sp.IterationMix(5, 2.0, 100.0, 0.0, 100, 8.0, 64.0, 500.0)
    res = SimpleNamespace(duration_s=10.0)
    assert sp.implied_prompt_iteration_s(res, mix, 1000.0, 800.0) == pytest.approx(0.9)
    assert sp.implied_prompt_iteration_s(res, mix, 1000.0, 1250.0) == pytest.approx(0.0)
    assert math.isnan(sp.implied_prompt_iteration_s(
        res, sp.IterationMix(0, 0.0, 0.0, 0.0, 100, 8.0, 64.0, 500.0), 1.0, 1.0))


def test_diagnose_flag_prints_the_row_apart_and_rejects_an_unknown_id(capsys):
    r = BY_ID["vllm060-8b-h100-prefill-heavy"]
    assert sp.main(["--diagnose", r["id"]]) == 0
    out = capsys.readouterr().out.splitlines()
    pred = sp.predict(r)[0]
    assert out[0].startswith(f"{r['id']}: throughput_req_s predicted {pred:.5g}, measured "
                             f"{float(r['measured']):.5g} req/s")
    res = sp.simulate_row(r, event_log=True)
    mix = sp.iterations(res)
    imp = sp.implied_gen_step_s(res, mix, pred, float(r["measured"]))
    line = next(x for x in out if "implied generation-only step" in x)
    assert f"{1e3 * imp:.4g} ms" in line
    pimp = sp.implied_prompt_iteration_s(res, mix, pred, float(r["measured"]))
    line = next(x for x in out if "implied iteration with prompt tokens" in x)
    assert f"{1e3 * pimp:.4g} ms" in line
    assert any(x.startswith("  one generation-only step at batch ") for x in out)
    assert sp.main(["--diagnose", "no-such-row"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no row 'no-such-row'" in err


def test_diagnose_reads_a_closed_loop_row_in_steady_state_as_graded():
    """A concurrency row is graded in steady state (`steady_state`), not from the whole run:
    `--diagnose` prints the graded prediction and derives no implied step from it."""
    r = BY_ID["nim180-llama33-70b-2xh100-fp8-5000-500-c5-tput"]
    assert r["arrival"] == "closed"
    lines = sp.diagnose(r)
    assert lines[0].startswith(f"{r['id']}: throughput_tok_s predicted {sp.predict(r)[0]:.5g},")
    assert "implied generation-only step: open-loop throughput rows only" in lines[4]


# OCI's vLLM benchmark_latency table for Llama 3.1 405B FP8 on 8 x MI300X, 128 tokens in and
# 128 out (blogs.oracle.com, "Serving Llama 3.1 405B model with AMD Instinct MI300X
# Accelerators", 2024-10-10): batch size -> (output tokens/s as printed, average latency s)
OCI_MI300X_LATENCY = {1: (36, 3.530), 2: (71, 3.583), 4: (137, 3.734), 8: (258, 3.974),
                      16: (468, 4.375), 32: (798, 5.130), 64: (1184, 6.919),
                      128: (1585, 10.340), 256: (1846, 17.750)}


def test_oci_mi300x_rows_are_the_blogs_latency_table():
    for b, (tps, latency) in OCI_MI300X_LATENCY.items():
        r = BY_ID[f"oci-mi300x-405b-fp8-latency-b{b}"]
        # graded as b x 128 output tokens over the batch's average latency; the blog's TPS
        # column is that figure rounded to a whole token
        assert float(r["measured"]) == pytest.approx(b * 128 / latency, rel=5e-4)
        assert abs(b * 128 / latency - tps) <= 0.5
        assert (r["isl"], r["osl"], r["requests"], r["max_batch"]) == ("128", "128", str(b),
                                                                        str(b))
        assert (r["hardware"], r["tp"], r["runtime"], r["arrival"]) == (
            "mi300x-8", "8", "vllm-v0", "infinite")
        assert sp.group(r) == ("throughput_tok_s (calibration)" if b == 64
                               else "throughput_tok_s (held-out)")


def test_oci_mi300x_sweep_grows_per_sequence_as_a_host_cost_does():
    """Batch 1 of OCI's MI300X sweep is the weight stream, the TP8 all-reduces' latency and the
    engine's fixed 2 ms per step: predicted within 2% with no host work per sequence at all.
    Without that work the sweep reads faster the larger the batch while the GEMMs stay
    memory-bound (+2% at 4, ~+8% at 16, ~+21% at 64), since the measured step grows by ~0.4 ms
    per added sequence from batch 2 on; with vLLM V0's cost per sequence, fitted on batch 64
    with the MI300X's fp8 share (`validation.fitting.mi300x_fp8`), batches 2-32 read within 2%;
    128 and 256, where the GEMMs turn compute-bound at that share, read 9% and 14% slow (the
    two data sets behind the share, OCI's vLLM 0.6 and AMD's 0.11.1, do not agree there)."""
    def err(b: int, knobs: dict[str, dict[str, float]] | None = None) -> float:
        r = BY_ID[f"oci-mi300x-405b-fp8-latency-b{b}"]
        return sp.predict(r, knobs=knobs)[0] / float(r["measured"]) - 1.0

    none = {"vllm-v0": {"step_overhead_per_seq_s": 0.0}}
    assert abs(err(1, none)) < 0.02
    lean = [err(b, none) for b in (4, 16, 64)]
    assert lean == sorted(lean) and lean[0] > 0.0 and lean[-1] > 0.15
    assert all(abs(err(b)) < 0.02 for b in (2, 4, 8, 16, 32))
    assert all(-0.15 < err(b) < -0.05 for b in (128, 256))
