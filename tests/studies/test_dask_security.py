"""Dask: refused schemes, TLS to a remote scheduler, an authenticated local cluster, and a
scheduler with no workers (a message, not a silent wait)."""

from __future__ import annotations

import asyncio
import time

import pytest

from infersim.cli import main
from infersim.foundation.errors import InputError
from infersim.studies.executors import DaskExecutor, TlsFiles
from infersim.studies.runner import run_sweep
from infersim.studies.spec import load_study
from tests._support import SMALL_GRID

distributed = pytest.importorskip("distributed", reason="dask[distributed] not installed")


@pytest.mark.parametrize(("address", "needle"), [
    ("ucx://127.0.0.1:8786", "scheme 'ucx' is not supported"),
    ("ws://127.0.0.1:8786", "scheme 'ws' is not supported"),
    ("tls://127.0.0.1:8786", "--tls-ca"),
])
def test_unsupported_or_unauthenticated_schemes_are_one_line(write_study, tmp_path, capsys,
                                                             address, needle):
    t = time.perf_counter()
    rc = main(["sweep", str(write_study(SMALL_GRID)), "-o", str(tmp_path / "x"),
               "--executor", "dask", "--scheduler", address, "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and needle in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()  # refused before anything was written
    assert time.perf_counter() - t < 30  # no connection attempt, no wait


def test_scheduler_without_workers_times_out_with_a_message(write_study, tmp_path):
    study = load_study(write_study(SMALL_GRID))
    with distributed.LocalCluster(n_workers=0, processes=False,
                                  dashboard_address=None) as cluster:
        t = time.perf_counter()
        with pytest.raises(InputError, match="no worker joined within 1 s"):
            run_sweep(study, tmp_path / "out", executor="dask",
                      scheduler=cluster.scheduler_address, worker_wait_s=1.0, progress=False)
        assert time.perf_counter() - t < 10


async def _handshake(addr: str, sec) -> bool:
    """Open (and close) a connection to the scheduler the way a client would."""
    from distributed.comm import connect

    comm = await connect(addr, timeout=3, **sec.get_connection_args("client"))
    await comm.close()
    return True


def test_local_cluster_is_tls_and_refuses_strangers():
    from distributed.security import Security

    ex = DaskExecutor(workers=1, processes=False)
    try:
        addr = ex.client.scheduler.address
        assert addr.startswith("tls://")
        assert ex.client.submit(sum, [1, 2]).result() == 3
        for stranger in (Security(), Security.temporary()):  # no certificate; another CA
            with pytest.raises((OSError, TypeError, ValueError)):
                asyncio.run(_handshake(addr, stranger))
        assert asyncio.run(_handshake(addr, ex._cluster.security))  # the cluster's own: ok
    finally:
        ex.close()


@pytest.mark.slow
def test_sweep_over_tls_with_certificate_files(write_study, tmp_path):
    from distributed.security import Security

    sec = Security.temporary()  # PEM text: the cluster's CA and certificates
    files = {}
    for name in ("tls_ca_file", "tls_client_cert", "tls_client_key"):
        p = tmp_path / f"{name}.pem"
        p.write_text(getattr(sec, name))
        files[name] = str(p)
    study = load_study(write_study(SMALL_GRID))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None, security=sec,
                                  protocol="tls://") as cluster:
        assert cluster.scheduler_address.startswith("tls://")
        res = run_sweep(study, tmp_path / "out", executor="dask",
                        scheduler=cluster.scheduler_address, progress=False,
                        tls=TlsFiles(files["tls_ca_file"], files["tls_client_cert"],
                                     files["tls_client_key"]))
    assert res.n_evaluated == 6 and res.n_errors == 0
