"""Pareto front against an O(n²) brute-force oracle written from the definition."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from infersim.studies.pareto import non_dominated, pareto_front
from tests._support import pareto_brute_force

# Small integer grids force many ties and duplicates; NaN marks failed points.
value = st.one_of(st.integers(0, 6).map(float), st.just(float("nan")))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3).flatmap(lambda k: st.tuples(
    st.lists(st.tuples(*[value] * k), min_size=0, max_size=40),
    st.lists(st.sampled_from(["minimize", "maximize"]), min_size=k, max_size=k))))
def test_matches_brute_force(case):
    pts, goals = case
    arr = np.array(pts, dtype=float).reshape(len(pts), len(goals))
    assert non_dominated(arr, goals).tolist() == pareto_brute_force(pts, goals)


def test_hand_example_min_cost_max_speed():
    # (cost, speed): B dominates A (cheaper and faster); C is fastest; D duplicates B.
    df = pd.DataFrame({"cost": [2.0, 1.0, 3.0, 1.0, 5.0],
                       "speed": [10.0, 12.0, 20.0, 12.0, 20.0]})
    mask = pareto_front(df, {"cost": "minimize", "speed": "maximize"})
    assert mask.tolist() == [False, True, True, True, False]


def test_large_random_set_3d_matches_brute_force():
    rng = np.random.default_rng(0)
    pts = rng.integers(0, 20, size=(300, 3)).astype(float)
    goals = ["minimize", "maximize", "minimize"]
    want = pareto_brute_force([tuple(p) for p in pts], goals)
    assert non_dominated(pts, goals).tolist() == want
