"""The query2 interpreter: a compiled `Program` run once per timeperiod.

Invariants:
* a program is parsed once (`compile_query`) and is immutable; each timeperiod is
  evaluated from scratch in a fresh namespace: the built-ins, ``TIMEINTERVAL``
  (``<start>/<end>`` in UTC, ``+00:00`` form, as Rust's ``to_rfc3339``) and the Python
  server's ``NAME``, ``STARTTIME``, ``ENDTIME``; nothing is shared between periods;
* statements run in order; ``return x;`` only sets ``RETURN`` (execution goes on); at the
  end an unset ``RETURN`` is ``EmptyQuery``; the first failing period aborts the request;
* evaluation is left to right, depth first; a call evaluates its arguments before it
  looks its name up (``nosuch(undefined)`` reports ``undefined``);
* the deadline is checked before every statement and every call (`QueryTimeout`);
* recursion is bounded by the parser's nesting cap; values nested deeper by repeated
  statements end in a `QueryError`, never a `RecursionError`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final

from fastaw.errors import BadRequest, QueryError, QueryTimeout
from fastaw.query import ast
from fastaw.query.convert import concat_frames, parse_interval
from fastaw.query.dataflow import Dataflow, thread_pool
from fastaw.query.diag import at, error
from fastaw.query.functions import BUILTINS, SORTS_FIRST, query_bucket_oldest_first
from fastaw.query.liveness import released_after
from fastaw.query.output import encode_results, encode_value
from fastaw.query.parser import parse
from fastaw.query.source import EventSource
from fastaw.query.values import (
    Builtin,
    Context,
    Value,
    events_to_frame,
    frame_to_events,
    is_event_list,
    query_eq,
)
from fastaw.timefmt import NS_PER_SECOND, format_ns
from fastaw.transforms.dictionary import query_dictionary
from fastaw.transforms.frame import Events

#: Most elements a ``+`` may build in a plain list, most characters in a string.
MAX_ITEMS: Final = 10_000_000
MAX_CHARS: Final = 100_000_000

_MISSING: Final = object()
_threads = 1


def statement_threads(threads: int) -> None:
    """Run the independent statements of this process's queries on ``threads`` threads at
    once (1: one after another; see `fastaw.query.dataflow`)."""
    global _threads
    _threads = max(1, threads)


def parse_timeperiod(text: str) -> tuple[int, int]:
    """``"<start>/<end>"`` → (start ns, end ns); `BadRequest` naming the period if invalid.

    Each end is parsed by `fastaw.timefmt.parse_datetime` (a superset of RFC 3339).
    """
    if not isinstance(text, str):
        raise BadRequest(f"invalid timeperiod {text!r}: not a string")
    try:
        return parse_interval(text)
    except ValueError as exc:
        raise BadRequest(f"invalid timeperiod {text!r}: {exc}") from None


def _rfc3339(ns: int) -> str:
    """chrono's ``to_rfc3339()`` of a UTC instant: AutoSi fraction, ``+00:00``."""
    return format_ns(ns)[:-1] + "+00:00"


def _isoformat(ns: int) -> str:
    """Python's ``datetime.isoformat()`` of a UTC instant (µs, 6 digits when non-zero)."""
    seconds, frac = divmod(ns, NS_PER_SECOND)
    text = format_ns(seconds * NS_PER_SECOND)[:-1]
    micros = frac // 1000
    return f"{text}.{micros:06d}+00:00" if micros else f"{text}+00:00"


def _plus(a: Value, b: Value) -> Value:
    """``a + b``: numbers add, lists and strings concatenate (event lists stay frames)."""
    if isinstance(a, float):
        if isinstance(b, float):
            return a + b
        raise error("InvalidType", "Cannot use + on something that is not a number with a number!")
    if isinstance(a, list | Events):
        if not isinstance(b, list | Events):
            raise error("InvalidType", "Cannot use + on something that is not a list with a list!")
        if isinstance(a, Events) and isinstance(b, Events):
            return concat_frames([a, b])
        if isinstance(a, Events) and isinstance(b, list) and is_event_list(b):
            return concat_frames([a, events_to_frame(b)]) if b else a  # type: ignore[arg-type]
        if isinstance(b, Events) and isinstance(a, list) and is_event_list(a):
            return concat_frames([events_to_frame(a), b]) if a else b  # type: ignore[arg-type]
        left = frame_to_events(a) if isinstance(a, Events) else a
        right = frame_to_events(b) if isinstance(b, Events) else b
        if len(left) + len(right) > MAX_ITEMS:
            raise error("InvalidType", f"list longer than {MAX_ITEMS} elements")
        return [*left, *right]
    if isinstance(a, str):
        if not isinstance(b, str):
            # sic: Rust reuses the list message for strings.
            raise error("InvalidType", "Cannot use + on something that is not a list with a list!")
        if len(a) + len(b) > MAX_CHARS:
            raise error("InvalidType", f"string longer than {MAX_CHARS} characters")
        return a + b
    raise error("InvalidType", "Cannot use + on something that is not a number, list or string!")


def _arith(op: str, a: Value, b: Value) -> Value:
    """``- * / %`` on two numbers (f64 semantics: overflow → inf, ``x % 0`` → NaN)."""
    if not isinstance(a, float) or not isinstance(b, float):
        raise error("InvalidType", "Cannot sub something that is not a number!")
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0.0:
            raise error("MathError", "Tried to divide by zero!")
        return a / b
    try:
        return math.fmod(a, b)  # IEEE remainder with the dividend's sign, like Rust's %
    except ValueError:
        return math.nan


class _Evaluation:
    """One evaluation of a program for one timeperiod."""

    __slots__ = ("ctx", "deadline", "env", "src")

    def __init__(
        self, src: str, env: dict[str, Value], source: EventSource, deadline: float | None
    ) -> None:
        self.src = src
        self.env = env
        self.ctx = Context(env, source)
        self.deadline = deadline

    def run_program(self, body: tuple[ast.Stmt, ...],
                    released: tuple[frozenset[str], ...]) -> None:
        """`run_block` for the top level: after each statement, drop the variables no
        later statement reads (``released``, see `fastaw.query.liveness`)."""
        for stmt, names in zip(body, released, strict=True):
            self.run_block((stmt,))
            for name in names:
                self.env.pop(name, None)

    def run_concurrently(self, body: tuple[ast.Stmt, ...], threads: int,
                         released: tuple[frozenset[str], ...]) -> None:
        """`run_program`, with statements that do not depend on each other run at the same
        time on ``threads`` threads (`fastaw.query.dataflow`); the same values and the same
        first error."""

        def evaluate(env: dict[str, Value], expr: ast.Expr) -> Value:
            task = _Evaluation(self.src, env, self.ctx.source, self.deadline)
            task.check_deadline()
            return task.eval(expr)

        def bind(stmt: ast.Assign | ast.Return, result: Callable[[], Value]) -> None:
            with self.located(stmt):
                self.bind(stmt, result())

        flow = Dataflow(thread_pool(threads), self.env, evaluate, bind)
        for stmt, names in zip(body, released, strict=True):
            self.check_deadline()
            if not flow.add(stmt, names):
                flow.finish()
                self.run_block((stmt,))
                for name in names:
                    self.env.pop(name, None)
        flow.finish()

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise QueryTimeout("Query timed out")

    @contextmanager
    def located(self, stmt: ast.Stmt) -> Iterator[None]:
        """A `QueryError` raised in the block, given ``stmt``'s position if it has none."""
        try:
            yield
        except QueryError as exc:
            located = at(exc, self.src, stmt.pos)
            if located is exc:
                raise
            raise located from exc

    def run_block(self, body: tuple[ast.Stmt, ...]) -> None:
        for stmt in body:
            self.check_deadline()
            with self.located(stmt):
                self.run_stmt(stmt)

    def bind(self, stmt: ast.Assign | ast.Return, value: Value) -> None:
        """Bind the value of an assignment or a ``return`` (``return x = …;`` assigns
        ``x`` and leaves ``RETURN`` None)."""
        if isinstance(stmt, ast.Assign):
            self.env[stmt.name] = value
        elif isinstance(stmt.body, ast.Assign):
            self.env[stmt.body.name] = value
            self.env["RETURN"] = None
        else:
            self.env["RETURN"] = value

    def run_stmt(self, stmt: ast.Stmt) -> None:
        if isinstance(stmt, ast.Assign):
            self.bind(stmt, self.eval(stmt.value))
        elif isinstance(stmt, ast.ExprStmt):
            self.eval(stmt.value)
        elif isinstance(stmt, ast.Return):
            self.bind(stmt, self.eval(stmt.body.value))
        else:
            for branch in stmt.branches:
                if self.condition(branch.condition):
                    self.run_block(branch.body)
                    return
            if stmt.orelse is not None:
                self.run_block(stmt.orelse)

    def condition(self, expr: ast.Expr) -> bool:
        value = self.eval(expr)
        if isinstance(value, bool):
            return value
        try:
            query_eq(value, True)  # raises Rust's "Cannot compare values of different types"
        except QueryError as exc:
            raise at(exc, self.src, expr.pos) from None
        raise AssertionError("unreachable: query_eq accepted a non-bool")

    def eval(self, expr: ast.Expr) -> Value:
        if isinstance(expr, ast.Number | ast.String | ast.Bool):
            return expr.value
        if isinstance(expr, ast.Name):
            value = self.env.get(expr.name, _MISSING)
            if value is _MISSING:
                raise at(error("VariableNotDefined", expr.name), self.src, expr.pos)
            return value  # type: ignore[return-value]
        if isinstance(expr, ast.Call):
            return self.call(expr)
        if isinstance(expr, ast.Chain):
            acc = self.eval(expr.first)
            for step in expr.rest:
                rhs = self.eval(step.operand)
                try:
                    if step.op == "+":
                        acc = _plus(acc, rhs)
                    elif step.op == "==":
                        acc = query_eq(acc, rhs)
                    else:
                        acc = _arith(step.op, acc, rhs)
                except QueryError as exc:
                    raise at(exc, self.src, step.pos) from None
            return acc
        if isinstance(expr, ast.List):
            return [self.eval(item) for item in expr.items]
        return {key: self.eval(value) for key, value in zip(expr.keys, expr.values, strict=True)}

    def call(self, expr: ast.Call, *, oldest_first: bool = False) -> Value:
        """Evaluate the arguments, then look the name up and call it. With
        ``oldest_first``, a call of ``query_bucket`` answers in the order a stable sort by
        start time would give its events (`SORTS_FIRST`)."""
        # (looking the name up before the arguments are evaluated cannot see another
        # value: expressions assign nothing)
        fn = self.env.get(expr.name, _MISSING)
        sorts = isinstance(fn, Builtin) and fn.name in SORTS_FIRST
        args = [self.call(arg, oldest_first=True) if sorts and isinstance(arg, ast.Call)
                else self.eval(arg) for arg in expr.args]
        self.check_deadline()
        try:
            if fn is _MISSING:
                raise error("VariableNotDefined", expr.name)
            if not isinstance(fn, Builtin):
                raise error("InvalidType", expr.name)
            if oldest_first and fn.name == "query_bucket":
                return query_bucket_oldest_first(self.ctx, args)
            return fn.fn(self.ctx, args)
        except QueryError as exc:
            located = at(exc, self.src, expr.pos, expr.name)
            if located is exc:
                raise
            raise located from exc


class Program:
    """A compiled query: parse once, then `run` it for any number of timeperiods."""

    __slots__ = ("module", "released", "text")

    def __init__(self, text: str, module: ast.Module) -> None:
        self.text = text
        self.module = module
        #: per top-level statement, the variables no later one reads
        self.released = released_after(module.body)

    def evaluate(
        self,
        source: EventSource,
        start_ns: int,
        end_ns: int,
        *,
        deadline: float | None = None,
        name: str = "",
        threads: int | None = None,
    ) -> Value:
        """Run the program for one period and return the value of ``RETURN`` (independent
        statements on ``threads`` threads at once; default: `statement_threads`)."""
        env: dict[str, Value] = dict(BUILTINS)
        env["TIMEINTERVAL"] = f"{_rfc3339(start_ns)}/{_rfc3339(end_ns)}"
        env["NAME"] = name
        env["STARTTIME"] = _isoformat(start_ns)
        env["ENDTIME"] = _isoformat(end_ns)
        evaluation = _Evaluation(self.text, env, source, deadline)
        try:
            threads = _threads if threads is None else threads
            if threads > 1:
                evaluation.run_concurrently(self.module.body, threads, self.released)
            else:
                evaluation.run_program(self.module.body, self.released)
        except RecursionError:
            raise error("InvalidType", "value nested too deeply to evaluate") from None
        if "RETURN" not in env:
            raise error("EmptyQuery")
        return env["RETURN"]

    def run(
        self,
        source: EventSource,
        timeperiods: Sequence[str],
        *,
        deadline: float | None = None,
        name: str = "",
        threads: int | None = None,
    ) -> bytes:
        """Run for every period (all are validated first) → the JSON response body.

        Raises `BadRequest` for a malformed period, `QueryError` for the first period
        whose evaluation fails, `QueryTimeout` once ``time.monotonic()`` passes
        ``deadline``.
        """
        periods = [parse_timeperiod(period) for period in timeperiods]
        results: list[bytes] = []
        with query_dictionary():
            for start, end in periods:
                value = self.evaluate(source, start, end, deadline=deadline, name=name,
                                      threads=threads)
                try:
                    results.append(encode_value(value))
                except RecursionError:
                    raise error("InvalidType", "value nested too deeply to serialize") from None
        return encode_results(results)


def compile_query(lines: Sequence[str]) -> Program:
    """Join the lines with ``"\\n"`` (as aw-server-rust does) and parse them."""
    if isinstance(lines, str) or not all(isinstance(line, str) for line in lines):
        raise BadRequest("query must be a list of strings")
    text = "\n".join(lines)
    return Program(text, parse(text))


def run_query(
    lines: Sequence[str],
    source: EventSource,
    timeperiods: Sequence[str],
    *,
    deadline: float | None = None,
    name: str = "",
    threads: int | None = None,
) -> bytes:
    """The whole ``POST /api/0/query/`` in Rust's order.

    Periods are validated first; no periods answer ``[]`` without parsing the query (so a
    broken query with no periods is not an error, as upstream).
    """
    for period in timeperiods:
        parse_timeperiod(period)
    if not timeperiods:
        return b"[]"
    return compile_query(lines).run(source, timeperiods, deadline=deadline, name=name,
                                    threads=threads)
