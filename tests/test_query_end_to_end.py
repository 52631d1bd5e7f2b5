"""The web dashboard's canonical queries (spec Appendix A) end to end: a seeded desktop
history (`fastaw gen`'s generator) in a real server, each query as the web UI sends it over
HTTP, and the answer checked against the same query worked out statement by statement by
the scalar reference transforms (`tests.reference_transforms`) from the generated events:
the Activity view (fullDesktopQuery with categories and both browsers), the Timeline
(canonicalEvents), the editor view and the per-day activity query (many periods at once)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import math
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

import tests.reference_transforms as ref
from fastaw.datagen import (
    AFK,
    CHROME,
    EDITOR,
    FIREFOX,
    WINDOW,
    Spec,
    StoreSink,
    generate,
    iter_days,
)
from fastaw.timefmt import parse_datetime
from tests.conftest import LiveServer
from tests.reference_transforms import Ev
from tests.test_transforms_classify import ref_rules

SPEC = Spec(seed=11, years=0.03, events_per_year=40_000, end=dt.date(2024, 3, 1))
S = 1_000_000_000


def _dashboard() -> ModuleType:
    """`bench/dashboard.py`: the web UI's queries, built as the web UI builds them."""
    path = Path(__file__).resolve().parent.parent / "bench" / "dashboard.py"
    spec = importlib.util.spec_from_file_location("dashboard", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _generated() -> dict[str, list[Ev]]:
    """Each bucket's events as the generator made them, ids in the order stored."""
    out: dict[str, list[Ev]] = {b.key: [] for b in SPEC.buckets}
    for day in iter_days(SPEC):
        for key, events in day.items():
            out[key] += [Ev(e.start, e.duration, json.loads(e.data)) for e in events]
    return {key: [Ev(e.ts, e.dur, e.data, i + 1) for i, e in enumerate(events)]
            for key, events in out.items()}


def _scalar_activity(history: dict[str, list[Ev]], start: int, end: int,
                     dashboard: ModuleType) -> dict[str, Any]:
    """fullDesktopQuery statement by statement, on the reference transforms."""
    def bucket(key: str) -> list[Ev]:
        return ref.flood(ref.query_bucket_clip(history[key], start, end))

    def top(events: list[Ev], keys: list[str]) -> list[Ev]:
        return ref.sort_by_duration(ref.merge_events_by_keys(events, keys))[:100]

    events = bucket(WINDOW.key)
    not_afk = ref.filter_keyvals(bucket(AFK.key), "status", ["not-afk"])
    browser_events: list[Ev] = []
    for name, browser in (("chrome", CHROME), ("firefox", FIREFOX)):
        exact, pattern = dashboard.BROWSERS[name]
        windows = ref.sort_by_timestamp(ref.filter_keyvals(events, "app", exact)
                                        + ref.filter_keyvals_regex(events, "app", pattern))
        visits = ref.split_url_events(ref.filter_period_intersect(bucket(browser.key), windows))
        browser_events = ref.sort_by_timestamp(browser_events + visits)
    audible = ref.filter_keyvals(browser_events, "audible", [True])
    not_afk = ref.period_union(not_afk, audible)
    events = ref.filter_period_intersect(events, not_afk)
    rules = [[name, rule] for name, rule in dashboard.CATEGORIES]
    events = ref.categorize(events, ref_rules(rules))
    titles = ref.sort_by_duration(ref.merge_events_by_keys(events, ["app", "title"]))
    browser_events = ref.split_url_events(browser_events)
    return {
        "window": {
            "app_events": ref.sort_by_duration(ref.merge_events_by_keys(titles, ["app"]))[:100],
            "title_events": titles[:100],
            "cat_events": ref.sort_by_duration(ref.merge_events_by_keys(events, ["$category"])),
            "active_events": not_afk,
            "duration": ref.sum_durations(events),
        },
        "browser": {
            "domains": top(browser_events, ["$domain"]),
            "urls": top(browser_events, ["url"]),
            "titles": top(browser_events, ["title"]),
            "duration": ref.sum_durations(browser_events),
        },
    }


def _facts(events: list[Any]) -> list[tuple[int, int, dict[str, Any]]]:
    """(start ns, duration ns, data) per event, from the answer's JSON or the reference.

    The reference splits only plain ASCII URLs (see `ref.split_url_events`): for a URL with
    other characters, the server percent-encodes its path as the WHATWG URL standard does,
    and the path and query it gives are left out here."""
    if events and isinstance(events[0], Ev):
        facts = [(e.ts, e.dur, e.data) for e in events]
    else:
        facts = [(parse_datetime(e["timestamp"]), round(e["duration"] * S), e["data"])
                 for e in events]
    return [(ts, dur, _comparable(data)) for ts, dur, data in facts]


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    url = data.get("url")
    if isinstance(url, str) and not url.isascii():
        return {k: v for k, v in data.items() if k not in ("$path", "$params")}
    return data


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("e2e") / "data"
    report = generate(SPEC, StoreSink(SPEC, data, batch=5_000), progress=False)
    assert report.events["window"] > 500 and report.events["chrome"] > 100
    assert report.events["editor"] > 100
    live = LiveServer(data)
    yield live
    live.stop()


def _query(server: LiveServer, lines: list[str],
           periods: list[tuple[dt.datetime, dt.datetime]]) -> list[Any]:
    reply = httpx.post(f"{server.url}/api/0/query/", timeout=60, json={
        "query": lines, "timeperiods": [f"{a.isoformat()}/{b.isoformat()}" for a, b in periods]})
    assert reply.status_code == 200, reply.text
    answers = reply.json()
    assert isinstance(answers, list) and len(answers) == len(periods)
    return answers


def _ns(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * S


#: Days near the end of the generated history (midnight UTC).
FIRST = dt.datetime.combine(SPEC.end - dt.timedelta(days=8), dt.time(), dt.UTC)


def test_the_activity_query_over_http_matches_the_scalar_reference(server: LiveServer) -> None:
    dashboard = _dashboard()
    browsers = {CHROME.key: SPEC.bucket_id(CHROME), FIREFOX.key: SPEC.bucket_id(FIREFOX)}
    lines = dashboard.full_desktop_query(SPEC.hostname, browsers)
    periods = [(FIRST + dt.timedelta(days=d), FIRST + dt.timedelta(days=d + 3))
               for d in (0, 4)]
    history = _generated()
    for answer, (a, b) in zip(_query(server, lines, periods), periods, strict=True):
        expected = _scalar_activity(history, _ns(a), _ns(b), dashboard)
        assert answer["stopwatch"] == {"stopwatch_events": []}
        for view in ("window", "browser"):
            for name, want in expected[view].items():
                got = answer[view][name]
                if name == "duration":
                    assert math.isclose(got, want, abs_tol=1e-6), (view, name)
                    continue
                assert got, (view, name)  # (the seeded days are not empty)
                assert _facts(got) == _facts(want), (view, name)


def test_the_timeline_editor_and_activity_queries_match_the_scalar_reference(
        server: LiveServer) -> None:
    dashboard = _dashboard()
    history = _generated()
    period = (FIRST, FIRST + dt.timedelta(days=2))
    start, end = _ns(period[0]), _ns(period[1])

    def bucket(key: str) -> list[Ev]:
        return ref.flood(ref.query_bucket_clip(history[key], start, end))

    # Timeline: canonicalEvents (no browsers), then the events themselves
    lines = [*dashboard.canonical_events(SPEC.hostname, {}), "RETURN = events;"]
    [timeline] = _query(server, lines, [period])
    not_afk = ref.filter_keyvals(bucket(AFK.key), "status", ["not-afk"])
    rules = [[name, rule] for name, rule in dashboard.CATEGORIES]
    events = ref.categorize(ref.filter_period_intersect(bucket(WINDOW.key), not_afk),
                            ref_rules(rules))
    assert timeline and _facts(timeline) == _facts(events)

    # editorActivityQuery: files, languages, projects
    editor = SPEC.bucket_id(EDITOR)
    lines = ["events = [];", f'events = concat(events, flood(query_bucket("{editor}")));']
    views = {"files": ["file", "language"], "languages": ["language"], "projects": ["project"]}
    for name, keys in views.items():
        lines.append(f"{name} = limit_events(sort_by_duration(merge_events_by_keys(events, "
                     f"{json.dumps(keys)})), 100);")
    lines.append('RETURN = {"files": files, "languages": languages, "projects": projects, '
                 '"duration": sum_durations(events)};')
    [answer] = _query(server, lines, [period])
    edits = bucket(EDITOR.key)
    for name, keys in views.items():
        want = ref.sort_by_duration(ref.merge_events_by_keys(edits, keys))[:100]
        assert answer[name] and _facts(answer[name]) == _facts(want), name
    assert math.isclose(answer["duration"], ref.sum_durations(edits), abs_tol=1e-6)

    # activityQuery: not-AFK time per day, many periods in one request (no flood)
    afk = SPEC.bucket_id(AFK)
    lines = ["not_afk = [];", f'not_afk_curr = query_bucket("{afk}");',
             'not_afk_curr = filter_keyvals(not_afk_curr, "status", ["not-afk"]);',
             "not_afk = union_no_overlap(not_afk, not_afk_curr);",
             'not_afk = merge_events_by_keys(not_afk, ["status"]);', "RETURN = not_afk;"]
    days = [(FIRST + dt.timedelta(days=d), FIRST + dt.timedelta(days=d + 1)) for d in range(7)]
    answers = _query(server, lines, days)
    assert sum(1 for got in answers if got) >= 4  # (days with activity: most of a week)
    for got, (a, b) in zip(answers, days, strict=True):
        current = ref.filter_keyvals(ref.query_bucket_clip(history[AFK.key], _ns(a), _ns(b)),
                                     "status", ["not-afk"])
        want = ref.merge_events_by_keys(ref.union_no_overlap([], current), ["status"])
        assert _facts(got) == _facts(want), a
