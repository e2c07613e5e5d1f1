"""Run a hot call on a new thread, which starts with a shallow Python stack.

CPython 3.11 keeps the frames of Python calls in 16 KiB chunks and frees a chunk the moment
it empties (`_PyThreadState_PopFrame`). A hot loop whose calls straddle a chunk boundary maps
and unmaps a chunk on every crossing, at a page fault per 4 KiB touched. Where the boundary
falls depends on how deep the caller's stack is: the same serving run took 0.15 s at most
caller depths and up to 0.47 s (44,000 page faults) in a band of them, a sweep's chunk of
59 estimates 0.09 s and up to 0.35 s (`python benchmarks/bench_call_depth.py [--sweep]
--in-place`); `infersim validate` under pytest took 6.2 M page faults and 45 s of system
time, 0.44 M and 1.7 s from a shell. A notebook, a test runner or a study's worker can call
from any depth, so the calls that run such loops (`serve`, a sweep's `evaluate_chunk`) run
on a thread of their own, at one depth whoever calls them. The thread costs about 60 µs a
call: little beside a serving run or a large sweep's chunk (up to 256 estimates; a tiny
sweep's one-point chunks pay about 6 %), but more than a single estimate (`simulate`, about
0.4 ms warm) would save, so that one runs in place.

The call sees the caller's context variables (numpy's errstate, decimal contexts: a copy),
its result or exception comes back as from a plain call, and a call made on such a thread
runs in place. Under a profiler or tracer (`sys.getprofile`, `sys.gettrace`: cProfile,
coverage, a debugger), which follow the calling thread only, the call runs in place too.
"""

from __future__ import annotations

import contextvars
import functools
import sys
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_STATE = threading.local()


def on_fresh_stack(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """`fn(*args, **kwargs)`, run on a new thread (see the module docstring)."""
    if getattr(_STATE, "fresh", False) or sys.getprofile() is not None \
            or sys.gettrace() is not None:
        return fn(*args, **kwargs)
    context = contextvars.copy_context()
    box: dict[str, object] = {}

    def run() -> None:
        _STATE.fresh = True
        try:
            box["value"] = context.run(fn, *args, **kwargs)
        except BaseException as e:  # re-raised on the calling thread
            box["error"] = e

    # a daemon: an interrupted caller (Ctrl-C reaches the main thread) does not wait for it
    worker = threading.Thread(target=run, name=f"fresh-stack {fn.__qualname__}", daemon=True)
    worker.start()
    worker.join()
    if "error" in box:
        error = box.pop("error")
        assert isinstance(error, BaseException)
        raise error
    return box["value"]  # type: ignore[return-value]


def fresh_stack(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: every call of `fn` runs as `on_fresh_stack(fn, ...)`."""
    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        return on_fresh_stack(fn, *args, **kwargs)
    return call
