"""Vidur's collectives over every size of the sweep (`vidur.sweep_lines`, `network_sweep.csv`)."""

from __future__ import annotations

import re

import pandas as pd

from infersim.validation.datasets import vidur


def test_the_graded_picks_are_sizes_of_the_sweep_with_the_same_times():
    sweep = pd.read_csv(vidur.DATA / vidur.SWEEP_FILE)
    picks = pd.read_csv(vidur.DATA / "network.csv")
    keys = ["gpu", "collective", "group", "bytes"]
    both = picks.merge(sweep, on=keys, suffixes=("_pick", "_sweep"), how="left")
    assert both["time_us_sweep"].notna().all()  # every pick is a measured size of the sweep
    assert (both["time_us_pick"] == both["time_us_sweep"]).all()
    # one node only, 993 sizes per (GPU, collective, group): 4 lines per GPU
    assert sweep.groupby(["gpu", "collective", "group"]).size().eq(993).all()
    assert len(sweep) == 2 * 4 * 993


def test_sweep_lines_grade_every_size_the_fit_did_not_use():
    lines = vidur.sweep_lines()
    net = vidur.network_rows()
    for gpu in ("h100", "a100"):
        fit = int(((net.gpu == gpu) & (net.split == "fit")).sum())
        line = next(x for x in lines if x.startswith(gpu.upper()))
        n = int(re.search(r"n=(\d+)", line).group(1))
        assert n == 4 * 993 - fit  # the fit picks out, the held-out picks in
        med = float(re.search(r"median ([\d.]+)%", line).group(1))
        assert 0.0 < med < 100.0
