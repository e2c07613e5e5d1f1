"""The Dask executor on a small LocalCluster gives the same table as the local executor."""

from __future__ import annotations

import pytest

from infersim.studies.runner import run_sweep
from infersim.studies.spec import load_study
from tests._support import SMALL_GRID

distributed = pytest.importorskip("distributed", reason="dask[distributed] not installed")


def test_dask_local_cluster_matches_inline(write_study, tmp_path):
    study = load_study(write_study(SMALL_GRID))
    ref = run_sweep(study, tmp_path / "ref", executor="inline", progress=False).frame
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        res = run_sweep(study, tmp_path / "dask", executor="dask",
                        scheduler=cluster.scheduler_address, chunk_size=2, progress=False)
    assert res.n_evaluated == 6
    cols = ["key", "scenario.batch", "scenario.context", "latency_s", "tokens_per_s"]
    assert res.frame[cols].equals(ref[cols])


def test_bad_scheduler_address_is_a_clean_error(write_study, tmp_path):
    from infersim.cli import main

    rc = main(["sweep", str(write_study(SMALL_GRID)), "-o", str(tmp_path / "x"),
               "--executor", "dask", "--scheduler", "tcp://127.0.0.1:1", "--no-progress"])
    assert rc == 2
