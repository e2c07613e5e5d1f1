"""The one error-statistics function every data set's table uses, against hand arithmetic."""

import io
import math

import pandas as pd
import pytest

from infersim.foundation.progress import Progress
from infersim.validation.stats import ape, error_stats, summarize, worst_cases


def test_error_stats_by_hand():
    # APEs: 0.10, 0.10, 0.00, 0.50 → median 0.10; p90 (linear): sorted [0, .1, .1, .5],
    # position 0.9·3 = 2.7 → 0.1 + 0.7·(0.5 − 0.1) = 0.38; signed: [.1, −.1, 0, .5] → 0.05
    st = error_stats([110, 90, 100, 150], [100, 100, 100, 100])
    assert st.n == 4 and st.excluded == 0
    assert st.median_ape == pytest.approx(0.10)
    assert st.p90_ape == pytest.approx(0.38)
    assert st.max_ape == pytest.approx(0.50)
    assert st.median_signed == pytest.approx(0.05)


def test_invalid_rows_are_excluded_and_counted():
    st = error_stats([1.0, 2.0, float("nan"), 5.0], [1.0, 0.0, 3.0, 4.0])
    assert st.n == 2 and st.excluded == 2
    assert st.median_ape == pytest.approx((0.0 + 0.25) / 2)
    assert math.isnan(ape([1.0], [-1.0])[0])
    assert error_stats([], []).n == 0


def test_summarize_groups_and_worst_cases():
    df = pd.DataFrame({"dataset": ["a", "a", "a", "b"], "group": ["x", "x", "y", "x"],
                       "predicted": [1.1, 0.8, 2.0, 3.0], "measured": [1.0, 1.0, 1.0, 3.0]})
    s = summarize(df).set_index(["dataset", "group"])
    assert s.loc[("a", "x"), "n"] == 2
    assert s.loc[("a", "x"), "median_ape"] == pytest.approx((0.1 + 0.2) / 2)
    assert s.loc[("a", "y"), "median_ape"] == pytest.approx(1.0)
    assert s.loc[("b", "x"), "median_ape"] == 0.0
    w = worst_cases(df, 2)
    assert list(w.ape) == pytest.approx([1.0, 0.2])


def test_progress_eta_weighs_steps():
    # weights 1, 1, 2 (total 4); after the first step finished at t = 1 s the ETA is
    # 1 s × (4 − 1) / 1 = 3 s; after the second (t = 2 s): 2 × (4 − 2) / 2 = 2 s
    now = [0.0]
    out = io.StringIO()
    p = Progress(4.0, steps=3, stream=out, clock=lambda: now[0])
    p.step("a", 1.0)
    now[0] = 1.0
    p.step("b", 1.0)
    now[0] = 2.0
    p.step("c", 2.0)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[1/3] a") and "ETA   --" in lines[0]
    assert "ETA  3.0s" in lines[1]
    assert "ETA  2.0s" in lines[2]
