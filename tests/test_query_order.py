"""``query_bucket`` called as an argument of a built-in that sorts by start time first
(`fastaw.query.functions.SORTS_FIRST`) answers oldest first; what those built-ins return
is the same as for the newest-first list (read through a variable, which always is)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fastaw.query import MemorySource, compile_query
from fastaw.query.functions import SORTS_FIRST

PERIOD = "2000-01-01T00:00:10Z/2000-01-01T00:01:00Z"
BASE_NS = 946_684_800 * 10**9  # 2000-01-01T00:00:00Z


def _events() -> st.SearchStrategy[list[dict[str, Any]]]:
    # few distinct starts and durations: ties, zero durations, events touching and
    # crossing both ends of the period, odd-ns gaps
    event = st.fixed_dictionaries({
        "timestamp": st.sampled_from([0, 5, 10, 10, 12, 30, 30, 59, 60, 61]).map(
            lambda s: BASE_NS + s * 10**9).flatmap(
            lambda ns: st.sampled_from([ns, ns + 1, ns + 999_999_999])),
        "duration": st.sampled_from([0, 0.5, 1, 2, 5, 7.000000001, 30]),
        "data": st.sampled_from([{"a": 1}, {"a": 1.0}, {"a": "x"}, {}]),
    })
    return st.lists(event, max_size=25).map(
        lambda events: [{**e, "id": i} for i, e in enumerate(events, start=1)])


def _run(lines: list[str], source: MemorySource) -> Any:
    return compile_query(lines).run(source, [PERIOD], threads=1)


@settings(max_examples=150, deadline=None)
@given(_events(), _events())
def test_sorting_builtins_answer_the_same_for_either_order(
        a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    source = MemorySource({"a": a, "b": b})
    calls = {
        "flood": ("flood({0})", 1),
        "sort_by_timestamp": ("sort_by_timestamp({0})", 1),
        "filter_period_intersect": ("filter_period_intersect({0}, {1})", 2),
        "period_union": ("period_union({0}, {1})", 2),
    }
    assert set(calls) == SORTS_FIRST
    for template, _ in calls.values():
        direct = template.format('query_bucket("a")', 'query_bucket("b")')
        via_names = template.format("x", "y")
        assert _run([f"RETURN = {direct};"], source) == _run(
            ['x = query_bucket("a");', 'y = query_bucket("b");', f"RETURN = {via_names};"],
            source)


def test_query_bucket_alone_or_in_other_calls_stays_newest_first() -> None:
    events = [{"timestamp": BASE_NS + s * 10**9, "duration": 1, "data": {"n": s}}
              for s in (20, 30, 30, 40)]
    source = MemorySource({"a": events})
    for lines in (['RETURN = query_bucket("a");'], ['RETURN = limit_events(query_bucket("a"), 9);'],
                  ['RETURN = [query_bucket("a")];']):
        answer = _run(lines, source).decode()
        assert answer.index('"n":40') < answer.index('"n":30') < answer.index('"n":20')
    # ties by id ascending: event 2 before event 3
    answer = _run(['RETURN = query_bucket("a");'], source).decode()
    assert answer.index('"id":2') < answer.index('"id":3')


def test_a_rebound_name_is_called_as_what_it_now_is() -> None:
    """``flood`` bound to ``limit_events``… a built-in's own name decides, not the name it
    is called by."""
    events = [{"timestamp": BASE_NS + s * 10**9, "duration": 1, "data": {"n": s}}
              for s in (20, 30)]
    source = MemorySource({"a": events})
    answer = _run(["f = sort_by_duration;", 'RETURN = f(query_bucket("a"));'], source).decode()
    assert answer.index('"n":30') < answer.index('"n":20')
    answer = _run(["s = flood;", 'RETURN = s(query_bucket("a"));'], source).decode()
    assert answer.index('"n":20') < answer.index('"n":30')
