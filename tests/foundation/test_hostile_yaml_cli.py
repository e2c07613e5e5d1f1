"""Hostile YAML through the front door: one line on stderr, exit 2, quickly."""

from __future__ import annotations

import time

import pytest

from infersim.cli import main
from tests._support import billion_laughs


@pytest.mark.parametrize("value", ["&a [*a]", "*nope", "!!python/name:os.system ''",
                                   "[" * 200, "9" * 5000])
def test_hostile_set_value_is_one_line_exit_2(value, capsys):
    t0 = time.perf_counter()
    rc = main(["hw", "show", "h100-sxm", "--set", f"power.tdp_w={value}"])
    seconds = time.perf_counter() - t0
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("infersim: error:") and "power.tdp_w" in err[0]
    assert seconds < 2.0


@pytest.mark.parametrize("argv", [["hw", "validate", "{path}"], ["sweep", "{path}", "-o", "{out}"]])
def test_alias_bomb_file_is_refused_quickly(argv, tmp_path, capsys):
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs())
    args = [a.format(path=path, out=tmp_path / "out") for a in argv]
    (tmp_path / "empty.yaml").write_text("")
    main([a.format(path=tmp_path / "empty.yaml", out=tmp_path / "out") for a in argv])
    capsys.readouterr()  # the command's modules are imported: time the refusal alone
    t0 = time.perf_counter()
    rc = main(args)
    seconds = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "more than 10,000 values" in err and "line 5" in err
    assert seconds < 2.0
    assert not (tmp_path / "out").exists()


def test_deeply_nested_study_is_refused_without_recursion_error(tmp_path, capsys):
    path = tmp_path / "deep.yaml"
    path.write_text("name: deep\nsweep:\n  scenario.batch: " + "[" * 1000 + "]" * 1000 + "\n")
    rc = main(["sweep", str(path), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and "nesting deeper than 64 levels" in err and "Recursion" not in err
