"""Bad input to every CLI command: exit code 2, a one-line message naming the flag or field,
no traceback, and no output file left behind.

Each case is (argv, words that stderr must contain). Files the cases need are written into
`tmp_path`; `{tmp}` in an argument is replaced by that folder. Cases stop at validation, before
any simulation runs, so the whole file takes a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infersim.cli import main

FILES: dict[str, bytes] = {
    "bad.yaml": b"name: x\nkind: gpu\n  bad: [\n",
    "empty.yaml": b"",
    "latin1.yaml": b"name: caf\xe9\n",
    "nocols.csv": b"a,b\n1,2\n",
    "op_badint.csv": b"op,m,k,n\nmatmul,x,2,3\n",
    "op_header_only.csv": b"op,m,k,n\n",
    "latin1.csv": b"op,m,k,n\nmatmul,1,2,3 \xe9\n",
    "trace_bad.csv": b"arrival_s,prompt_tokens,output_tokens\n0,10,x\n",
    "badjson.json": b'{"model_type": "llama"',
}

# (argv, substrings stderr must contain). Cases marked "# fixed" crashed or were silently
# accepted before this pass; the others already worked and guard against regressions.
CASES: list[tuple[str, list[str]]] = [
    # unknown names and typos in flag values
    ("simulate --model nosuch", ["nosuch", "models list"]),
    ("simulate --hw nosuch", ["nosuch", "hw list"]),
    ("simulate --phase decod", ["phase", "decod"]),
    ("simulate --weights bf17", ["weights", "bf17"]),
    ("simulate --runtime graf", ["runtime", "graf"]),
    ("serve --policy fifo", ["--policy", "fifo"]),
    ("serve --arrival burst", ["--arrival", "burst"]),
    ("op matmul --m 1 --k 1 --n 1 --dtype bf17", ["dtype", "bf17"]),
    ("study run nosuch", ["nosuch", "study list"]),
    # numbers: negative, zero, non-integer, non-finite
    ("simulate --batch 0", ["batch"]),
    ("simulate --batch 1.5", ["--batch", "1.5"]),
    ("simulate --context -5", ["context"]),
    ("simulate --tp 0", ["tp"]),
    ("simulate --moe-imbalance nan", ["moe_imbalance", "nan"]),  # fixed
    ("simulate --phase spec_decode --acceptance 1.5", ["acceptance", "[0, 1]"]),  # fixed
    ("simulate --phase spec_decode --draft-len -3", ["draft_len"]),  # fixed
    ("serve --rate 0", ["rate"]),
    ("serve --requests 0", ["num_requests", "0"]),  # fixed (was replaced by 1000)
    ("serve --prompt 0", ["prompt_tokens", "0"]),  # fixed (was replaced by 1024)
    ("serve --block-size 0", ["block_size"]),
    ("serve --seed -1", ["--seed"]),  # fixed (numpy ValueError)
    ("sweep {tmp}/missing.yaml --chunk-size 0", ["--chunk-size"]),  # fixed (accepted)
    ("sweep {tmp}/missing.yaml --commit-every -1", ["--commit-every"]),  # fixed (accepted)
    ("study run serving --workers 0", ["--workers"]),  # fixed (accepted)
    ("models show llama-3.1-8b --context -1", ["--context"]),
    # impossible configurations
    ("simulate --tp 3", ["tp=3", "num_attention_heads"]),
    ("simulate --pp 33", ["pp=33", "layers"]),
    ("simulate --ep 3", ["ep=3", "experts"]),
    ("simulate --context 1000000000000", ["context", "max_position_embeddings"]),
    ("serve --prompt 200000 --requests 5", ["prompt_tokens", "max_position_embeddings"]),  # fixed
    ("op attention --batch 1 --heads 32 --kv-heads 5 --head-dim 8 --q-len 1 --kv-len 2",
     ["kv_heads"]),
    # contradictory flags
    ("simulate --phase decode --prompt 100", ["--prompt", "prefill"]),  # fixed (ignored)
    ("simulate --draft-len 3", ["--draft-len", "spec_decode"]),  # fixed (ignored)
    ("serve --cv 0.5", ["--cv", "gamma"]),  # fixed (ignored)
    ("serve --arrival-trace {tmp}/trace_bad.csv", ["--arrival-trace", "--arrival trace"]),
    ("serve --find-max-rate --arrival closed", ["--find-max-rate"]),
    # huge values: a clear error instead of an hour-long run or an out-of-memory kill
    ("serve --requests 1000000000", ["num_requests", "10,000,000"]),  # fixed (hung)
    ("serve --replicas 1000000000", ["replicas", "10,000"]),  # fixed (hung)
    ("serve --arrival closed --users 1000000000", ["users"]),  # fixed (hung)
    # files: missing, folders, malformed, empty, not UTF-8, missing columns
    ("simulate --model {tmp}/missing.json", ["missing.json", "no such file"]),
    ("simulate --model {tmp}/badjson.json", ["badjson.json", "not valid JSON"]),
    ("simulate --hw {tmp}/bad.yaml", ["bad.yaml", "line 3"]),
    ("hw validate {tmp}/empty.yaml", ["empty.yaml", "empty"]),
    ("hw show {tmp}/latin1.yaml", ["latin1.yaml"]),
    ("op --from-csv {tmp}", ["--from-csv", "folder"]),  # fixed (IsADirectoryError)
    ("op --from-csv {tmp}/latin1.csv", ["--from-csv", "UTF-8"]),  # fixed (UnicodeDecodeError)
    ("op --from-csv {tmp}/nocols.csv", ["--from-csv", "'op' column"]),  # fixed (unclear)
    ("op --from-csv {tmp}/op_badint.csv", ["op_badint.csv:2", "m", "'x'"]),  # fixed (ValueError)
    ("op --from-csv {tmp}/op_header_only.csv", ["--from-csv", "no data rows"]),  # fixed (rc 0)
    ("serve --arrival trace --arrival-trace {tmp}", ["folder"]),  # fixed (IsADirectoryError)
    ("serve --arrival trace --arrival-trace {tmp}/nocols.csv", ["nocols.csv", "arrival_s"]),
    ("serve --arrival trace --arrival-trace {tmp}/trace_bad.csv", ["trace_bad.csv:2", "output_tokens"]),
    ("sweep {tmp}", ["folder", "study"]),  # fixed (IsADirectoryError)
    ("sweep {tmp}/latin1.yaml", ["latin1.yaml", "UTF-8"]),  # fixed (UnicodeDecodeError)
    ("sweep {tmp}/bad.yaml", ["bad.yaml", "YAML"]),
    # --set
    ("simulate --set memory.hbm.bandwidth_tb_per_s", ["--set", "FIELD.PATH=VALUE"]),
    ("simulate --set nosuch.field=3", ["nosuch"]),
    ("simulate --set memory.hbm.bandwidth_tb_per_s=abc", ["memory.hbm.bandwidth_tb_per_s"]),
    ("simulate --set memory.hbm.bandwidth_tb_per_s=[1", ["--set", "[1"]),  # fixed (YAMLError)
]

# Commands given an output path that cannot be written: (argv, flag, output path).
OUTPUTS: list[tuple[str, str]] = [
    ("simulate --csv {out}", "--csv"),
    ("trace llama-3.2-1b --csv {out}", "--csv"),
    ("map llama-3.2-1b --csv {out}", "--csv"),
    ("serve --requests 5 --requests-csv {out}", "--requests-csv"),
    ("roofline -o {out}.png", "-o"),
    ("sweep studies/quantization_specdec/study.yaml -o {out}", "-o"),
    ("study run serving --quick -o {out}", "-o"),
    ("validate -o {out}", "-o"),
]


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    for name, data in FILES.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


def _run(argv: str, tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    args = [a.replace("{tmp}", str(tmp)) for a in argv.split()]
    rc = main(args)
    return rc, capsys.readouterr().err


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize(("argv", "words"), CASES, ids=[c[0][:60] for c in CASES])
def test_bad_input_exits_2_with_a_named_problem(argv: str, words: list[str], tmp: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    before = _listing(tmp)
    rc, err = _run(argv, tmp, capsys)
    assert rc == 2, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, f"{w!r} not in {err!r}"
    assert _listing(tmp) == before  # nothing written next to the inputs


@pytest.mark.parametrize(("argv", "flag"), OUTPUTS, ids=[o[0].split()[0] for o in OUTPUTS])
@pytest.mark.parametrize("where", ["under_a_file", "is_a_folder"])
def test_unwritable_output_fails_before_any_work(argv: str, flag: str, where: str, tmp: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """An output path under a regular file can never be created (portable stand-in for
    /proc/x/out.csv, also for root); an existing folder cannot be replaced by a file. File
    outputs given a folder are refused; folder outputs given a file are refused."""
    blocker = tmp / "blocker.txt"
    blocker.write_text("not a folder")
    folder = tmp / "existing"
    folder.mkdir()
    is_dir_output = flag == "-o" and not argv.startswith("roofline")
    if where == "under_a_file":
        out = blocker / "sub" / "out"
    elif is_dir_output:
        out = blocker  # a folder output given an existing file
    else:
        out = folder / "x.png" if argv.startswith("roofline") else folder
        if argv.startswith("roofline"):
            out.mkdir()
            out = out.with_suffix("")  # "{out}.png" below names the folder again
    before = _listing(tmp)
    rc, err = _run(argv.replace("{out}", str(out)), tmp, capsys)
    assert rc == 2, err
    assert "Traceback" not in err
    assert flag in err, err
    assert _listing(tmp) == before


def test_phase_flag_for_its_own_phase_is_accepted(tmp: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The contradiction check must not reject the flags where they apply (a spec_decode step
    with a draft length runs and reports)."""
    rc, err = _run("trace llama-3.2-1b --phase spec_decode --draft-len 2 --acceptance 0.5 "
                   "--context 16 --json", tmp, capsys)
    assert rc == 0, err


def _serve_small(**kw: object) -> object:
    import infersim as isim
    from infersim.simulator.serving import FixedLengths, Poisson, Traffic

    return isim.serve("llama-3.2-1b", "h100-sxm", Traffic(Poisson(1.0), FixedLengths(8, 4), 3),
                      **kw)


def _api_cases() -> list[tuple[str, object, str]]:
    import infersim as isim
    from infersim import ops

    return [
        ("acceptance", lambda: isim.make_scenario("spec_decode", acceptance=2.0), "acceptance"),
        ("moe_nan", lambda: isim.make_scenario(moe_imbalance=float("nan")), "moe_imbalance"),
        ("moe_str", lambda: isim.make_scenario(moe_imbalance="x"), "moe_imbalance"),
        ("predict_op_none", lambda: isim.predict_op(None, "h100-sxm"), "op"),  # type: ignore[arg-type]
        ("overrides_key", lambda: isim.load_hardware("h100-sxm", {1: 2}), "overrides"),  # type: ignore[dict-item]
        ("serve_traffic", lambda: isim.serve("llama-3.2-1b", "h100-sxm", "x"), "traffic"),
        ("serve_policy", lambda: _serve_small(policy="x"), "policy"),
        ("serve_seed", lambda: _serve_small(seed=-1), "seed"),
        ("matmul_float", lambda: ops.matmul(1.5, 2, 3), "m"),  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize("i", range(9))
def test_python_api_bad_input_raises_input_error(i: int) -> None:
    """The front door raises `InputError` naming the argument (was TypeError/AttributeError/
    numpy ValueError, or silently accepted, for most of these)."""
    from infersim.foundation.errors import InputError

    name, call, word = _api_cases()[i]
    with pytest.raises(InputError) as e:
        call()  # type: ignore[operator]
    assert word in str(e.value), name


def test_numpy_integers_are_integers() -> None:
    """A batch from a numpy loop is an integer: accepted and stored as a plain int."""
    import numpy as np

    import infersim as isim

    sc = isim.make_scenario("decode", np.int64(4), context=np.int32(16), tp=np.int64(1))
    assert (sc.batch, sc.context, sc.parallel.tp) == (4, 16, 1)
    assert type(sc.batch) is int
