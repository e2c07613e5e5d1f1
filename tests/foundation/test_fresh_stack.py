"""foundation.fresh_stack: hot calls run on a thread of their own, otherwise as plain calls."""

from __future__ import annotations

import contextvars
import sys
import threading

import pytest

from infersim.foundation.fresh_stack import fresh_stack, on_fresh_stack

CALLER = contextvars.ContextVar("caller", default="unset")


def where(x: int, y: int = 0) -> tuple[int, int]:
    return threading.get_ident(), x * 10 + y


def test_the_call_runs_on_another_thread_and_returns_as_a_plain_call():
    assert sys.getprofile() is None and sys.gettrace() is None  # as pytest runs it
    ident, value = on_fresh_stack(where, 4, y=2)
    assert value == 42
    assert ident != threading.get_ident()


def test_an_exception_comes_back_with_its_type_and_message():
    def fail() -> None:
        raise KeyError("no such spec")

    with pytest.raises(KeyError, match="no such spec"):
        on_fresh_stack(fail)


def test_the_callers_context_variables_are_seen():
    token = CALLER.set("notebook")
    try:
        assert on_fresh_stack(CALLER.get) == "notebook"
    finally:
        CALLER.reset(token)


def test_a_call_made_on_a_fresh_thread_runs_in_place():
    def outer() -> tuple[int, int]:
        inner_ident, _ = on_fresh_stack(where, 1)
        return threading.get_ident(), inner_ident

    outer_ident, inner_ident = on_fresh_stack(outer)
    assert outer_ident == inner_ident != threading.get_ident()


def test_under_a_profiler_the_call_runs_in_place():
    sys.setprofile(lambda *args: None)
    try:
        ident, _ = on_fresh_stack(where, 1)
    finally:
        sys.setprofile(None)
    assert ident == threading.get_ident()


def test_the_decorator_keeps_name_signature_and_result():
    wrapped = fresh_stack(where)
    assert wrapped.__name__ == "where" and wrapped.__wrapped__ is where  # type: ignore[attr-defined]
    assert wrapped(3, y=1)[1] == 31
