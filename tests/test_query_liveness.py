"""Variables are let go after the last statement that reads them (`fastaw.query.liveness`),
one after another and in the dataflow; what a query answers is unchanged (that part is
checked against runs that keep every variable in `test_query_dataflow.py`)."""

from __future__ import annotations

import weakref
from typing import Any

import polars as pl
import pytest

from fastaw.query import MemorySource, compile_query, dataflow, interp
from fastaw.query.liveness import released_after
from fastaw.query.parser import parse
from fastaw.query.values import Builtin, Context, Value

PERIOD = "2000-01-01T00:00:00Z/2000-01-02T00:00:00Z"


def released(*lines: str) -> list[set[str]]:
    return [set(names) for names in released_after(parse("\n".join(lines)).body)]


def test_a_variable_is_released_after_its_last_read() -> None:
    assert released(
        'a = query_bucket("w");',
        'b = query_bucket("b");',
        "c = flood(a);",
        "d = concat(b, c);",
        "RETURN = d;",
    ) == [set(), set(), {"a"}, {"b", "c"}, {"d"}]


def test_a_variable_never_read_is_released_where_it_is_assigned() -> None:
    assert released("a = 1;", "a = 2;", "RETURN = 3;") == [{"a"}, {"a"}, set()]


def test_reads_inside_an_if_count_and_its_assignments_are_variables() -> None:
    assert released(
        "a = 1;",
        "b = 2;",
        "if a == 1 { c = b; } elif true { d = 1; } else { nop(); }",
        "RETURN = c;",
    ) == [set(), set(), {"a", "b", "d"}, {"c"}]


def test_builtins_return_and_timeinterval_are_never_released() -> None:
    lines = ('TIMEINTERVAL = "x";', 'a = query_bucket("w");', "RETURN = flood(a);",
             "return b = nop();")
    assert released(*lines) == [set(), set(), {"a"}, {"b"}]


@pytest.mark.parametrize("threads", [1, 3])
def test_a_frame_is_freed_once_nothing_reads_it_again(
        threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``make(name, …)`` builds a new frame and notes, by weak reference, which of the
    frames made before are still alive; ``probe()`` only notes that (and is not a pure
    built-in, so it runs after every statement before it is done and bound)."""
    frames: dict[str, weakref.ref[pl.DataFrame]] = {}
    seen: dict[str, set[str]] = {}

    def alive() -> set[str]:
        return {name for name, ref in frames.items() if ref() is not None}

    def make(ctx: Context, args: list[Value]) -> Value:
        name = args[0]
        assert isinstance(name, str)
        seen[name] = alive()
        frame = pl.DataFrame({"x": [len(args)]})
        frames[name] = weakref.ref(frame)
        return frame

    def probe(ctx: Context, args: list[Value]) -> Value:
        seen["probe"] = alive()
        return None

    monkeypatch.setitem(interp.BUILTINS, "make", Builtin("make", make))
    monkeypatch.setitem(interp.BUILTINS, "probe", Builtin("probe", probe))
    monkeypatch.setattr(dataflow, "PURE", dataflow.PURE | {"make"})
    program = compile_query([
        'a = make("a");',
        'b = make("b");',
        'c = make("c", a);',
        'd = make("d", b, c);',
        "probe();",
        'r = make("r", d);',
        "RETURN = 1;",
    ])
    assert program.run(MemorySource({}), [PERIOD], threads=threads) == b"[1.0]"
    assert seen["d"] == {"b", "c"}  # a's one reader, c, has run
    assert seen["probe"] == {"d"}
    assert seen["r"] == {"d"}

    program.released = tuple(frozenset() for _ in program.released)
    frames.clear()
    program.run(MemorySource({}), [PERIOD], threads=threads)
    assert seen["probe"] == {"a", "b", "c", "d"}


def test_a_value_two_names_hold_lives_while_either_does() -> None:
    lines = ['a = query_bucket("w");', "b = a;", "a = 1;", "RETURN = b;"]
    events: list[dict[str, Any]] = [
        {"timestamp": "2000-01-01T10:00:00Z", "duration": 2, "data": {"k": 1}}]
    source = MemorySource({"w": events}, hostnames={"w": "h"})
    for threads in (1, 3):
        answer = compile_query(lines).run(source, [PERIOD], threads=threads)
        assert b'"duration":2.0' in answer
