"""The dashboard's queries (spec Appendix A) end to end on the real transforms, and the
places where query values meet transform arguments (numbers are floats, rules, regexes)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fastaw.errors import QueryError
from fastaw.query import MemorySource, compile_query, statement_threads
from fastaw.query.functions import BUILTINS

PERIOD = "2024-05-01T00:00:00+02:00/2024-05-02T00:00:00+02:00"


@pytest.fixture(autouse=True, params=[1, 3], ids=["in-sequence", "3-threads"])
def _statement_threads(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test twice: statements one after another, and at once (`dataflow`)."""
    statement_threads(request.param)
    yield
    statement_threads(1)
HOST = "laptop"


def at(hms: str) -> str:
    return f"2024-05-01T{hms}Z"


def dataset() -> MemorySource:
    """Two and a half minutes of activity at 10:00 UTC, then AFK."""
    return MemorySource(
        {
            f"aw-watcher-window_{HOST}": [
                {"timestamp": at("10:00:00"), "duration": 60, "data": {"app": "Firefox", "title": "GitHub - ActivityWatch"}},
                {"timestamp": at("10:01:00"), "duration": 58, "data": {"app": "Code", "title": "query.py - fastaw"}},
                {"timestamp": at("10:02:00"), "duration": 30, "data": {"app": "Firefox", "title": "YouTube"}},
            ],
            f"aw-watcher-afk_{HOST}": [
                {"timestamp": at("10:00:00"), "duration": 150, "data": {"status": "not-afk"}},
                {"timestamp": at("10:02:30"), "duration": 600, "data": {"status": "afk"}},
            ],
            f"aw-watcher-web-firefox_{HOST}": [
                {"timestamp": at("10:00:00"), "duration": 60, "data": {"url": "https://github.com/ActivityWatch", "title": "GitHub", "audible": False}},
                {"timestamp": at("10:02:00"), "duration": 30, "data": {"url": "https://www.youtube.com/watch?v=1", "title": "YouTube", "audible": True}},
            ],
        },
        hostnames={f"aw-watcher-window_{HOST}": HOST, f"aw-watcher-afk_{HOST}": HOST},
    )  # fmt: skip


CATEGORIES = (
    '[[["Work"],{"type":"regex","regex":"fastaw|GitHub"}],'
    '[["Work","Programming"],{"type":"regex","regex":"query\\.py","ignore_case":true}],'
    '[["Media"],{"type":"regex","regex":"YouTube"}],'
    '[["Media","Music"],{"type":"none"}]]'
)

# fullDesktopQuery, one statement per array element as querystr_to_array sends it.
FULL_DESKTOP = f"""
events = flood(query_bucket(find_bucket("aw-watcher-window_")));
not_afk = flood(query_bucket("aw-watcher-afk_{HOST}"));
not_afk = filter_keyvals(not_afk, "status", ["not-afk"]);
browser_events = [];
events_firefox = flood(query_bucket("aw-watcher-web-firefox_{HOST}"));
window_firefox = filter_keyvals(events, "app", ["org.mozilla.firefox"]);
window_firefox_re = filter_keyvals_regex(events, "app", "(?i)(firefox|librewolf|waterfox|nightly)");
window_firefox = sort_by_timestamp(concat(window_firefox, window_firefox_re));
events_firefox = filter_period_intersect(events_firefox, window_firefox);
events_firefox = split_url_events(events_firefox);
browser_events = concat(browser_events, events_firefox);
browser_events = sort_by_timestamp(browser_events);
audible_events = filter_keyvals(browser_events, "audible", [true]);
not_afk = period_union(not_afk, audible_events);
events = filter_period_intersect(events, not_afk);
stopwatch_events = [];
events = union_no_overlap(stopwatch_events, events);
events = categorize(events, {CATEGORIES});
title_events = sort_by_duration(merge_events_by_keys(events, ["app", "title"]));
app_events   = sort_by_duration(merge_events_by_keys(title_events, ["app"]));
cat_events   = sort_by_duration(merge_events_by_keys(events, ["$category"]));
app_events  = limit_events(app_events, 100);
title_events  = limit_events(title_events, 100);
duration = sum_durations(events);
browser_events = split_url_events(browser_events);
browser_urls = merge_events_by_keys(browser_events, ["url"]);
browser_urls = sort_by_duration(browser_urls);
browser_urls = limit_events(browser_urls, 100);
browser_domains = merge_events_by_keys(browser_events, ["$domain"]);
browser_domains = sort_by_duration(browser_domains);
browser_domains = limit_events(browser_domains, 100);
browser_titles = merge_events_by_keys(browser_events, ["title"]);
browser_titles = sort_by_duration(browser_titles);
browser_titles = limit_events(browser_titles, 100);
browser_duration = sum_durations(browser_events);
stopwatch_events = merge_events_by_keys(stopwatch_events, ["label"]);
stopwatch_events = sort_by_duration(stopwatch_events);
stopwatch_events = limit_events(stopwatch_events, 100);
RETURN = {{"window": {{"app_events": app_events, "title_events": title_events, "cat_events": cat_events, "active_events": not_afk, "duration": duration}}, "browser": {{"domains": browser_domains, "urls": browser_urls, "titles": browser_titles, "duration": browser_duration}}, "stopwatch": {{"stopwatch_events": stopwatch_events}}}};
"""


def run(query: str, source: MemorySource | None = None, periods: list[str] | None = None) -> Any:
    body = compile_query(query.strip().split("\n")).run(source or dataset(), periods or [PERIOD])
    return msgspec.json.decode(body)


def durations(events: list[dict[str, Any]], key: str) -> list[tuple[Any, float]]:
    return [(e["data"][key], e["duration"]) for e in events]


def test_full_desktop_query() -> None:
    [result] = run(FULL_DESKTOP)
    window = result["window"]
    # flood closes the 2 s gap before YouTube: Code gets 1 s more, YouTube starts 1 s early
    assert window["duration"] == 150.0
    assert durations(window["app_events"], "app") == [("Firefox", 91.0), ("Code", 59.0)]
    assert durations(window["cat_events"], "$category") == [
        (["Work"], 60.0),
        (["Work", "Programming"], 59.0),
        (["Media"], 31.0),
    ]
    assert all(e["id"] is None for e in window["title_events"])
    [active] = window["active_events"]
    assert (active["timestamp"], active["duration"], active["data"]) == (
        "2024-05-01T10:00:00Z",
        150.0,
        {},
    )
    browser = result["browser"]
    assert browser["duration"] == 90.0
    assert durations(browser["domains"], "$domain") == [("github.com", 60.0), ("youtube.com", 30.0)]
    assert result["stopwatch"] == {"stopwatch_events": []}


def test_full_desktop_query_output_is_sorted_compact_json() -> None:
    body = compile_query(FULL_DESKTOP.strip().split("\n")).run(dataset(), [PERIOD])
    assert body.startswith(b'[{"browser":{"domains":[{"data":{"$domain":"github.com",')
    assert b": " not in body and b", " not in body


def test_activity_query_many_periods() -> None:
    """activityQuery: sent with many periods at once, results in period order."""
    query = f"""
    not_afk = [];
    not_afk_curr = query_bucket("aw-watcher-afk_{HOST}");
    not_afk_curr = filter_keyvals(not_afk_curr, "status", ["not-afk"]);
    not_afk = union_no_overlap(not_afk, not_afk_curr);
    not_afk = merge_events_by_keys(not_afk, ["status"]);
    RETURN = not_afk;
    """
    periods = [f"2024-05-01T{h:02d}:00:00Z/2024-05-01T{h + 1:02d}:00:00Z" for h in range(9, 12)]
    before, during, after = run(query, periods=periods)
    # the 10:00 event touches the 09:00–10:00 period: it is returned with zero duration
    assert durations(before, "status") == [("not-afk", 0.0)]
    assert after == []
    assert durations(during, "status") == [("not-afk", 150.0)]


def test_query_explorer_default() -> None:
    query = f"""
    afk_events = query_bucket(find_bucket("aw-watcher-afk_"));
    window_events = query_bucket(find_bucket("aw-watcher-window_", "{HOST}"));
    window_events = filter_period_intersect(window_events, filter_keyvals(afk_events, "status", ["not-afk"]));
    merged_events = merge_events_by_keys(window_events, ["app", "title"]);
    merged_events = categorize(merged_events, {CATEGORIES});
    RETURN = sort_by_duration(merged_events);
    """
    [result] = run(query)
    assert [e["data"]["title"] for e in result] == [
        "GitHub - ActivityWatch",
        "query.py - fastaw",
        "YouTube",
    ]


def test_category_filter_and_multiple_lines_element() -> None:
    """WorkReport style: one array element holding many lines; list-of-list filter values."""
    query = (
        f'events = flood(query_bucket("aw-watcher-window_{HOST}"));\n'
        f"events = categorize(events, {CATEGORIES});\n"
        'events = filter_keyvals(events, "$category", [["Work"], ["Media"]]);\n'
        'RETURN = {"events": events, "duration": sum_durations(events)};'
    )
    [result] = msgspec.json.decode(compile_query([query]).run(dataset(), [PERIOD]))
    assert result["duration"] == 91.0  # flood split the 2 s gap before YouTube
    assert [e["data"]["title"] for e in result["events"]] == ["GitHub - ActivityWatch", "YouTube"]


# -- where query values meet transform arguments ---------------------------------------------


def numbers() -> MemorySource:
    return MemorySource(
        {
            "n": [
                {"timestamp": at("10:00:00"), "duration": 1, "data": {"n": 1}},
                {"timestamp": at("10:00:01"), "duration": 1, "data": {"n": 1.0}},
                {"timestamp": at("10:00:02"), "duration": 1, "data": {"n": True}},
                {"timestamp": at("10:00:03"), "duration": 1, "data": {"n": ["Work"]}},
                {"timestamp": at("10:00:04"), "duration": 1.2345678, "data": {"n": None}},
            ]
        }
    )


@pytest.mark.parametrize(
    ("vals", "matched"),
    [
        ("[1]", [1.0]),  # query numbers are floats: never equal to the integer 1
        ("[true]", [True]),
        ('[["Work"]]', [["Work"]]),
        ("[print()]", [None]),
        ("[]", []),
    ],
)
def test_filter_keyvals_value_types(vals: str, matched: list[Any]) -> None:
    [result] = run(
        f'return sort_by_timestamp(filter_keyvals(query_bucket("n"), "n", {vals}));', numbers()
    )
    assert [e["data"]["n"] for e in result] == matched


def test_sum_durations_truncates_to_ms() -> None:
    [result] = run('return sum_durations(query_bucket("n"));', numbers())
    assert result == 5.234


def test_regex_compile_error_message() -> None:
    with pytest.raises(QueryError) as info:
        run('return filter_keyvals_regex([], "app", "(unclosed");')
    assert info.value.message.startswith(
        "RegexCompileError(\"Failed to compile regex string '(unclosed': "
    )
    assert (info.value.line, info.value.column) == (1, 8)


def test_rules_are_compiled_in_order_before_events() -> None:
    """A bad regex in an earlier rule wins over a shape error in a later one (§5.2)."""
    with pytest.raises(QueryError) as info:
        run('return categorize([], [[["A"], {"type": "regex", "regex": "("}], [["B"], 1]]);')
    assert info.value.message.startswith("RegexCompileError(")
    with pytest.raises(QueryError) as info:
        run('return tag([], [["t", {"type": "regex", "regex": "!#¤%&/(="}]]);')
    assert info.value.message.startswith(
        "RegexCompileError(\"Failed to compile regex string '!#¤%&/(=':"
    )


def test_tag_sorts_and_dedups() -> None:
    query = (
        'return tag(query_bucket("n"), [["b", {"type": "regex", "regex": ""}],'
        ' ["a", {"type": "regex", "regex": "W"}], ["b", {"type": "regex", "regex": "."}]]);'
    )
    [result] = run(query, numbers())
    # only string values are searched: the list ["Work"] is not, so nothing matches
    assert {tuple(e["data"]["$tags"]) for e in result} == {()}


# -- fuzz: well-formed programs calling every built-in with odd arguments -------------------

_FUZZ_SOURCE = MemorySource(
    {
        "b": [
            {"timestamp": at("10:00:00"), "duration": 1, "data": {"a": "x", "url": "http://a.com/x", "title": "(2) x"}},
            {"timestamp": at("10:00:01"), "duration": 2, "data": {"a": 1, "title": 3}},
        ],
        "c": [],
    },
    hostnames={"b": "h"},
)  # fmt: skip
_LEAVES = st.sampled_from(
    [
        "1", "0", "2.5", '"a"', '"title"', '"url"', '""', "true", "print()", "e", "[]", "{}",
        'query_bucket("b")', 'query_bucket("c")', '"(?i)x"', '"("', '{"type": "regex", "regex": "x"}',
        '{"type": "none"}', '[["a"], {"type": "regex", "regex": "x"}]', "(1 % 0)",
        '["t", {"type": "regex", "regex": ""}]', "TIMEINTERVAL",
    ]
)  # fmt: skip


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.tuples(st.sampled_from(sorted(BUILTINS)), st.lists(inner, max_size=3)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"
        ),
        st.tuples(inner, st.sampled_from(["+", "-", "==", "*", "/", "%"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.lists(st.tuples(st.sampled_from(['"k"', '"type"', '"regex"']), inner), max_size=3).map(
            lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}"
        ),
    )


_PROGRAMS = st.lists(
    st.tuples(
        st.sampled_from(["e = ", "x = ", "return "]), st.recursive(_LEAVES, _extend, max_leaves=10)
    ),
    min_size=1,
    max_size=4,
).map(lambda stmts: ['e = query_bucket("b");'] + [f"{a}{b};" for a, b in stmts])


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_PROGRAMS)
@example(['return filter_keyvals(query_bucket("b"), "a", [1 % 0]);'])
@example(['return categorize(query_bucket("b"), [[[], {"type": "regex", "regex": ""}]]);'])
@example(['return simplify_window_titles(query_bucket("b"), "title");'])
@example(['return limit_events(query_bucket("b"), 1 % 0);'])
def test_builtins_only_raise_query_error(lines: list[str]) -> None:
    with contextlib.suppress(QueryError):  # QueryTimeout and anything else would fail
        compile_query(lines).run(_FUZZ_SOURCE, [PERIOD], deadline=time.monotonic() + 5)
