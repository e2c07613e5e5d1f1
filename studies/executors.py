"""Executors: run chunks of points in local processes or on a Dask distributed cluster.

Both take `(fn, args)` tasks and yield `(task_id, result)` as tasks complete, keeping at most
a bounded number of tasks in flight (memory stays flat for million-point sweeps). Points are
shipped in chunks so the per-point scheduling overhead is a small fraction of a chunk.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

from infersim.foundation.errors import InputError

Task = tuple[int, tuple[Any, ...]]


class Executor(Protocol):
    workers: int

    def run(self, fn: Callable[..., Any], tasks: Iterable[Task]) -> Iterator[tuple[int, Any]]:
        ...

    def close(self) -> None: ...


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count() or 1)


class InlineExecutor:
    """Runs tasks one after the other in this process (workers=1; debugging; tests)."""

    workers = 1

    def run(self, fn: Callable[..., Any], tasks: Iterable[Task]) -> Iterator[tuple[int, Any]]:
        for tid, args in tasks:
            yield tid, fn(*args)

    def close(self) -> None:
        pass


# How often a worker checks that the sweep process that started it is still alive.
PARENT_POLL_S = 1.0


def die_with_parent(parent: int) -> None:
    """Pool worker initializer: end this worker when `parent` (the sweep) dies, however it
    dies (SIGKILL included). Linux: the kernel sends SIGKILL on the parent's death
    (prctl PR_SET_PDEATHSIG); everywhere: a daemon thread polls the parent pid."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                     name="infersim-parent-watch").start()


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent:
            os._exit(1)


class LocalExecutor:
    """A pool of worker processes (fork on Linux: workers inherit the imported modules).
    Workers end with the sweep process (see `die_with_parent`)."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or default_workers()
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                        initializer=die_with_parent, initargs=(os.getpid(),))

    def run(self, fn: Callable[..., Any], tasks: Iterable[Task]) -> Iterator[tuple[int, Any]]:
        it = iter(tasks)
        window = 3 * self.workers
        pending: dict[Future[Any], int] = {}
        for tid, args in it:
            pending[self.pool.submit(fn, *args)] = tid
            if len(pending) >= window:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                tid = pending.pop(f)
                yield tid, f.result()
                nxt = next(it, None)
                if nxt is not None:
                    pending[self.pool.submit(fn, *nxt[1])] = nxt[0]

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


# Transports infersim connects to: tls (use it across machines), tcp (unauthenticated: only
# on a network you control), inproc (a cluster inside this very process). Others (ucx, ws...)
# need extra libraries or are not authenticated and are refused.
DASK_SCHEMES = ("tcp", "tls", "inproc")
# How long to wait for the scheduler to answer and for the first worker to join.
DASK_CONNECT_S = 5.0
DASK_WORKER_WAIT_S = 60.0


@dataclass(frozen=True)
class TlsFiles:
    """Certificates for a `tls://` scheduler (PEM files): the CA that signed the cluster's
    certificates, and this client's certificate and key (may be one file)."""

    ca_file: str
    cert: str
    key: str | None = None


def _check_address(address: str) -> str:
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    if scheme not in DASK_SCHEMES or not rest:
        raise InputError(f"--scheduler {address}: use tcp://HOST:PORT or tls://HOST:PORT "
                         f"(scheme {scheme!r} is not supported)")
    return scheme


def _security(scheme: str, tls: TlsFiles | None, address: str) -> Any:
    """A `distributed.security.Security` for the scheduler: from `tls`, else Dask's config
    (distributed.comm.tls.*), else none (plain tcp)."""
    from distributed.security import Security

    if tls is not None:
        for name, path in (("--tls-ca", tls.ca_file), ("--tls-cert", tls.cert),
                           ("--tls-key", tls.key)):
            if path is not None and not os.path.isfile(path):
                raise InputError(f"{name} {path}: no such file")
        if scheme != "tls":
            raise InputError(f"--scheduler {address}: TLS certificates need a tls:// address")
        return Security(tls_ca_file=tls.ca_file, tls_client_cert=tls.cert,
                        tls_client_key=tls.key, require_encryption=True)
    sec = Security()  # reads distributed.comm.tls.* from Dask's config and environment
    if scheme == "tls" and not getattr(sec, "tls_ca_file", None):
        raise InputError(f"--scheduler {address}: a tls:// scheduler needs certificates: "
                         "--tls-ca, --tls-cert, --tls-key (or Dask config "
                         "distributed.comm.tls.ca-file / .client.cert / .client.key)")
    return sec


class DaskExecutor:
    """Tasks on a Dask distributed cluster: `scheduler` address, or a LocalCluster of N workers.

    Trust: results come back pickled, and unpickling runs code, so a worker (or anyone who
    can join the cluster as one) can run code in the sweep process. Connect only to clusters
    you control; across machines use tls:// with certificates (mutual TLS). The local cluster
    uses temporary self-signed TLS credentials (`security=True`): other users of the machine
    cannot connect to it or join it.

    Workers must have infersim installed (same version); each worker process keeps its own
    model/hardware caches across tasks."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None,
                 processes: bool = True, *, tls: TlsFiles | None = None,
                 worker_wait_s: float = DASK_WORKER_WAIT_S):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError("--executor dask needs dask[distributed]: "
                             "pip install 'dask[distributed]'") from None
        self._cluster = None
        if scheduler:
            scheme = _check_address(scheduler)
            sec = _security(scheme, tls, scheduler)
            try:
                self.client = Client(scheduler, timeout=f"{DASK_CONNECT_S}s", security=sec)
            except (OSError, ValueError, TypeError) as e:  # ValueError: malformed address
                why = " ".join(str(e).split()) or type(e).__name__
                raise InputError(f"--scheduler {scheduler}: cannot connect ({why}); give an "
                                 "address like tcp://10.0.0.5:8786 or tls://10.0.0.5:8786 "
                                 "with --tls-ca/--tls-cert/--tls-key") from None
        else:
            if tls is not None:
                raise InputError("--tls-* options are for a remote --scheduler; the local "
                                 "cluster makes its own temporary certificates")
            try:  # the local cluster's temporary TLS certificates are made with it
                import cryptography  # noqa: F401
            except ImportError:
                raise InputError("--executor dask: the local cluster's TLS needs the "
                                 "cryptography package: pip install 'infersim[dask]'") from None
            n = workers or default_workers()
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1,
                                         processes=processes, dashboard_address=None,
                                         security=True)
            self.client = Client(self._cluster)
        try:
            self.client.wait_for_workers(1, timeout=worker_wait_s)
        except (TimeoutError, OSError) as e:
            where = scheduler or "the local cluster"
            self.close()
            raise InputError(f"--scheduler {where}: no worker joined within {worker_wait_s:g} s "
                             "(start workers with `dask worker ADDRESS`, or raise "
                             "--worker-timeout)") from e
        info = self.client.scheduler_info()
        self.workers = max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))

    def run(self, fn: Callable[..., Any], tasks: Iterable[Task]) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed

        it = iter(tasks)
        window = 3 * self.workers
        ids: dict[str, int] = {}
        first = []
        for tid, args in it:
            f = self.client.submit(fn, *args, pure=False)
            ids[str(f.key)] = tid
            first.append(f)
            if len(first) >= window:
                break
        ac = as_completed(first)
        for f in ac:
            tid = ids.pop(str(f.key))
            yield tid, f.result()
            f.release()
            nxt = next(it, None)
            if nxt is not None:
                g = self.client.submit(fn, *nxt[1], pure=False)
                ids[str(g.key)] = nxt[0]
                ac.add(g)

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def check_executor_args(kind: str, scheduler: str | None, tls: TlsFiles | None) -> None:
    """The checks `make_executor` makes before connecting anywhere (run before a sweep
    writes anything, so that a refused run leaves no trace)."""
    if kind not in ("local", "dask", "inline"):
        raise InputError(f"--executor {kind!r}: use local or dask")
    if (scheduler is not None or tls is not None) and kind != "dask":
        raise InputError("--scheduler and --tls-* are used with --executor dask")
    if kind == "dask" and scheduler:
        try:
            _security(_check_address(scheduler), tls, scheduler)
        except ImportError:
            pass  # reported by DaskExecutor with the install command


def make_executor(kind: str = "local", workers: int | None = None,
                  scheduler: str | None = None, *, tls: TlsFiles | None = None,
                  worker_wait_s: float = DASK_WORKER_WAIT_S) -> Executor:
    check_executor_args(kind, scheduler, tls)
    if kind == "local":
        if workers is not None and workers < 1:
            raise InputError(f"--workers must be ≥ 1, got {workers}")
        if workers == 1:
            return InlineExecutor()
        return LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(scheduler, workers, tls=tls, worker_wait_s=worker_wait_s)
    if kind == "inline":
        return InlineExecutor()
    raise InputError(f"--executor {kind!r}: use local or dask")
