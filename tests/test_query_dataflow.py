"""Statements run at the same time (`fastaw.query.dataflow`): the same answers and the same
first error as one after another, effects in order, shared memo safe."""

from __future__ import annotations

import gc
import logging
import threading
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastaw.errors import QueryError
from fastaw.query import MemorySource, compile_query
from fastaw.transforms import dictionary
from fastaw.transforms.frame import Events

PERIOD = "2000-01-01T00:00:00Z/2000-01-02T00:00:00Z"


def at(second: int) -> str:
    return f"2000-01-01T10:{second // 60:02d}:{second % 60:02d}Z"


def _events(n: int, texts: int) -> list[dict[str, Any]]:
    return [
        {"timestamp": at(i % 3000), "duration": 1 + i % 3,
         "data": {"app": f"app{i % 7}", "title": f"t{i % texts}",
                  "url": f"https://h{i % 5}.org/p{i % texts}?q={i % 3}"}}
        for i in range(n)
    ]


class SlowSource(MemorySource):
    """A memory source whose reads take ``delay`` seconds each and are logged (start, end)."""

    def __init__(self, delay: float, **buckets: list[dict[str, Any]]) -> None:
        super().__init__(buckets, hostnames=dict.fromkeys(buckets, "h"))
        self.delay = delay
        self.reads: list[tuple[str, float, float]] = []
        self._lock = threading.Lock()

    def events(self, bucket_id: str, start_ns: int, end_ns: int) -> Events:
        began = time.monotonic()
        time.sleep(self.delay)
        frame = super().events(bucket_id, start_ns, end_ns)
        with self._lock:
            self.reads.append((bucket_id, began, time.monotonic()))
        return frame


SOURCE = MemorySource(
    {"w": _events(600, 40), "b": _events(300, 90)[::-1], "empty": []},
    hostnames={"w": "h", "b": "h", "empty": "h"},
)


def outcome(lines: list[str], threads: int, source: MemorySource = SOURCE, *,
            release: bool = True) -> Any:
    """The response bytes, or the error's type and message (``release=False``: keep every
    variable to the end, as if no statement were the last to read one)."""
    program = compile_query(lines)
    if not release:
        program.released = tuple(frozenset() for _ in program.released)
    try:
        return program.run(source, [PERIOD], threads=threads)
    except QueryError as exc:
        return type(exc).__name__, str(exc), exc.body()


DASHBOARD_LIKE = [
    'events = flood(query_bucket("w"));',
    'b = flood(query_bucket("b"));',
    'w1 = filter_keyvals(events, "app", ["app1", "app2"]);',
    'w2 = filter_keyvals_regex(events, "app", "app[34]");',
    "w = sort_by_timestamp(concat(w1, w2));",
    "b = split_url_events(filter_period_intersect(b, w));",
    'events = categorize(events, [[["A"], {"type": "regex", "regex": "t1"}], '
    '[["A", "B"], {"type": "regex", "regex": "app3"}]]);',
    'titles = sort_by_duration(merge_events_by_keys(events, ["app", "title"]));',
    'apps = sort_by_duration(merge_events_by_keys(titles, ["app"]));',
    'cats = sort_by_duration(merge_events_by_keys(events, ["$category"]));',
    'domains = sort_by_duration(merge_events_by_keys(b, ["$domain"]));',
    'RETURN = {"apps": apps, "titles": limit_events(titles, 5), "cats": cats, '
    '"domains": domains, "total": sum_durations(events)};',
]


@pytest.mark.parametrize("threads", [2, 4])
def test_a_dashboard_like_query_answers_as_in_sequence(threads: int) -> None:
    assert outcome(DASHBOARD_LIKE, threads) == outcome(DASHBOARD_LIKE, 1)
    assert outcome(DASHBOARD_LIKE, 1)[:2] == b'[{'


def test_independent_statements_run_at_the_same_time() -> None:
    source = SlowSource(0.3, a=_events(5, 5), b=_events(5, 5), c=_events(5, 5))
    lines = ['a = query_bucket("a");', 'b = query_bucket("b");', 'c = query_bucket("c");',
             "RETURN = [a, b, c];"]
    assert outcome(lines, 3, source) == outcome(lines, 1, MemorySource(
        {k: _events(5, 5) for k in "abc"}))
    starts = [began for _, began, _ in source.reads]
    ends = [ended for _, _, ended in source.reads]
    assert len(source.reads) == 3
    assert max(starts) < min(ends)  # all three reads were under way at once


def test_the_first_error_in_program_order_wins() -> None:
    """The second statement fails at once, the first only after a slow read: the answer is
    still the first one's error, as in a sequential run."""
    source = SlowSource(0.3, slow=_events(5, 5))
    lines = ['a = categorize(query_bucket("slow"), 5);', 'b = query_bucket("missing");',
             "RETURN = [a, b];"]
    sequential = outcome(lines, 1, source)
    assert sequential[0] == "InvalidParameters" or "categorize" in sequential[1]
    assert outcome(lines, 4, source) == sequential


@pytest.mark.parametrize("lines", [
    # a task reading from a failed one does not run; the failure is reported
    ['a = query_bucket("missing");', "b = flood(a);", "RETURN = b;"],
    # a builtin's name reassigned: the call is not a task (and fails as in sequence)
    ['flood = query_bucket("w");', "x = flood(flood);", "RETURN = x;"],
    # names read before they are assigned, reassigned, and read after
    ['x = limit_events(y, 1);', 'y = query_bucket("w");', "RETURN = x;"],
    ['a = query_bucket("w");', "b = a;", "a = limit_events(a, 1);", "RETURN = [a, b];"],
    # TIMEINTERVAL reassigned between reads: query_bucket reads it implicitly
    ['a = query_bucket("w");', 'TIMEINTERVAL = "2000-01-01T10:00:00Z/2000-01-01T10:00:30Z";',
     'b = query_bucket("w");', "RETURN = [a, b];"],
    ['TIMEINTERVAL = "x";', 'a = query_bucket("w");', "RETURN = a;"],
    # if, return and bare expressions are barriers, then evaluation goes on
    ['a = query_bucket("w");', "if sum_durations(a) == 0 { RETURN = 1; } else { RETURN = 2; }",
     "b = flood(a);", "return b;", "c = 1;"],
    ['a = query_bucket("w");', "nop();", 'return c = merge_events_by_keys(a, ["app"]);'],
    ["RETURN = 1 / 0;", 'x = query_bucket("missing");'],
    ['x = query_bucket("empty");', "y = x + x;", "RETURN = y;"],
    # variables read last inside an if, after one, by a return, by both names of one
    ['a = query_bucket("w");', "b = flood(a);",
     "if sum_durations(b) == 0 { c = 1; } else { c = limit_events(a, 1); }", "RETURN = c;"],
    ['a = query_bucket("w");', "if true { a = flood(a); }", "b = limit_events(a, 3);",
     "RETURN = b;"],
    ['a = query_bucket("w");', 'return b = limit_events(a, 2);', "RETURN = [b, b];"],
    ['a = query_bucket("w");', "b = a;", "a = 1;", "RETURN = [b, a, b];"],
])
def test_edge_cases_answer_as_in_sequence(lines: list[str]) -> None:
    sequential = outcome(lines, 1)
    assert outcome(lines, 3) == sequential
    assert outcome(lines, 1, release=False) == sequential


def test_print_runs_in_order(caplog: pytest.LogCaptureFixture) -> None:
    lines = ['a = query_bucket("w");', 'print("one", sum_durations(a));',
             'b = merge_events_by_keys(a, ["app"]);', 'print("two", sum_durations(b));',
             "flood = print;", 'c = flood("three");', "RETURN = b;"]
    with caplog.at_level(logging.INFO, logger="fastaw"):
        assert outcome(lines, 3) == outcome(lines, 1)
    printed = [r.getMessage() for r in caplog.records if r.name == "fastaw.query"]
    assert printed == ["String(one)", "Number(1200)", "String(two)", "Number(1200)",
                       "String(three)"] * 2


def test_print_by_another_name_runs_in_order(caplog: pytest.LogCaptureFixture) -> None:
    source = SlowSource(0.2, w=_events(5, 5))
    lines = ["flood = print;", 'print("zero");',
             'a = flood("one", sum_durations(query_bucket("w")));', 'b = flood("two");',
             "RETURN = 1;"]
    with caplog.at_level(logging.INFO, logger="fastaw"):
        outcome(lines, 3, source)
    printed = [r.getMessage() for r in caplog.records if r.name == "fastaw.query"]
    assert printed == ["String(zero)", "String(one)", "Number(9)", "String(two)"]


def test_a_fresh_memo_filled_from_many_threads_gives_sequential_answers() -> None:
    """Concurrent statements ask the same memo tables for the same texts (keys, merges,
    categories, url splits) while it is empty; every answer is as computed alone."""
    lines = ['w = query_bucket("w");', 'b = query_bucket("b");']
    outputs = []
    for i in range(8):
        source = "w" if i % 2 else "b"
        lines += [f'm{i} = merge_events_by_keys({source}, ["app", "title"]);',
                  f'c{i} = merge_events_by_keys(categorize({source}, '
                  f'[[["X{i % 3}"], {{"type": "regex", "regex": "t{i}"}}]]), ["$category"]);',
                  f'u{i} = merge_events_by_keys(split_url_events({source}), ["$domain"]);',
                  f'k{i} = filter_keyvals({source}, "app", ["app{i % 7}"]);']
        outputs += [f"m{i}", f"c{i}", f"u{i}", f"k{i}"]
    lines.append("RETURN = [" + ", ".join(outputs) + "];")
    previous = dictionary._limit
    dictionary.limit_texts(0)  # every run starts with an empty dictionary and memo
    try:
        expected = outcome(lines, 1)
        for _ in range(5):
            assert outcome(lines, 4) == expected
    finally:
        dictionary.limit_texts(previous)


_NAMES = ["a", "b", "c"]
_EXPRS = st.sampled_from([
    'query_bucket("w")', 'query_bucket("b")', 'query_bucket("missing")', "flood({v})",
    'merge_events_by_keys({v}, ["app"])', "concat({v}, {w})", "limit_events({v}, 2)",
    'categorize({v}, [[["A"], {{"type": "regex", "regex": "t2"}}]])', "sum_durations({v})",
    "sort_by_duration({v})", "{v} + {w}", "split_url_events({v})", "nop()",
    "filter_period_intersect({v}, {w})", "[{v}, {w}]", '"x"', "print({v})",
])


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.tuples(st.sampled_from([*_NAMES, "RETURN"]), _EXPRS,
                          st.sampled_from(_NAMES), st.sampled_from(_NAMES)),
                min_size=1, max_size=8))
def test_random_programs_answer_as_in_sequence(
        statements: list[tuple[str, str, str, str]]) -> None:
    lines = ['a = query_bucket("w");'] + [
        f"{target} = {expr.format(v=v, w=w)};" for target, expr, v, w in statements]
    sequential = outcome(lines, 1)
    assert outcome(lines, 3) == sequential
    assert outcome(lines, 1, release=False) == sequential


def test_a_run_leaves_no_garbage_cycles() -> None:
    """Tasks refer to each other while they run; the links are cut as they finish, so the
    values they computed are freed when the run ends, not by a later cycle collection."""
    program = compile_query(DASHBOARD_LIKE)
    program.run(SOURCE, [PERIOD], threads=3)  # pools and caches made on first use
    gc.collect()
    gc.disable()
    try:
        program.run(SOURCE, [PERIOD], threads=3)
        assert gc.collect() == 0
    finally:
        gc.enable()


class ThreadRecordingSource(MemorySource):
    """Notes which thread each read ran on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.threads: list[int] = []

    def events(self, bucket_id: str, start_ns: int, end_ns: int) -> Events:
        self.threads.append(threading.get_ident())
        return super().events(bucket_id, start_ns, end_ns)


def test_a_chain_of_statements_runs_on_the_calling_thread() -> None:
    """Each statement reads the one before: no hand-over between threads at every link
    (small queries would pay more for it than they gain)."""
    source = ThreadRecordingSource({"w": _events(20, 5), "b": _events(20, 5)},
                                   hostnames={"w": "h", "b": "h"})
    lines = ['a = query_bucket("w");', 'b = concat(a, query_bucket("b"));',
             'c = concat(b, query_bucket("w"));', "RETURN = sum_durations(c);"]
    assert outcome(lines, 3, source) == outcome(lines, 1, source)
    assert source.threads == [threading.get_ident()] * 6
