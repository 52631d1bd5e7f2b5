"""The history generator: deterministic, plausible, and readable through the API."""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from fastaw.cli import main
from fastaw.datagen import (
    AFK,
    CHROME,
    EDITOR,
    FIREFOX,
    WINDOW,
    DayEvents,
    Desktop,
    HttpSink,
    Spec,
    StoreSink,
    generate,
    iter_days,
)
from fastaw.datagen.sinks import wire_event
from fastaw.errors import AlreadyExists
from fastaw.models import Event
from tests.asgi_client import ASGIClient
from tests.conftest import LiveServer

SMALL = Spec(seed=3, years=0.06, events_per_year=60_000, end=dt.date(2024, 3, 1))
SECOND = 1_000_000_000


def _history(spec: Spec) -> dict[str, list[Event]]:
    out: dict[str, list[Event]] = {b.key: [] for b in spec.buckets}
    for day in iter_days(spec):
        for key, events in day.items():
            out[key].extend(events)
    return out


@pytest.fixture(scope="module")
def history() -> dict[str, list[Event]]:
    return _history(SMALL)


def test_same_seed_same_events_other_seed_other_events(history: dict[str, list[Event]]) -> None:
    assert _history(SMALL) == history
    other = _history(Spec(seed=4, years=SMALL.years, events_per_year=SMALL.events_per_year,
                          end=SMALL.end))
    assert other["window"] != history["window"]


def test_a_day_does_not_depend_on_the_range() -> None:
    longer = Spec(seed=SMALL.seed, years=0.2, events_per_year=SMALL.events_per_year,
                  end=SMALL.end)
    last = SMALL.days[-1]
    day: DayEvents = Desktop(longer).day(last)
    assert day == Desktop(SMALL).day(last)


def test_worker_processes_give_the_same_history(history: dict[str, list[Event]]) -> None:
    parallel: dict[str, list[Event]] = {b.key: [] for b in SMALL.buckets}
    for day in iter_days(SMALL, jobs=2, span=3):
        for key, events in day.items():
            parallel[key].extend(events)
    assert parallel == history


def test_bucket_names_and_event_counts(history: dict[str, list[Event]]) -> None:
    assert [SMALL.bucket_id(b) for b in SMALL.buckets] == [
        "aw-watcher-window_laptop", "aw-watcher-afk_laptop", "aw-watcher-web-chrome_laptop",
        "aw-watcher-web-firefox_laptop", "aw-watcher-vscode_laptop"]
    assert [b.key for b in (WINDOW, AFK, CHROME, FIREFOX, EDITOR)] == [b.key for b in SMALL.buckets]
    expected = SMALL.events_per_year * len(SMALL.days) / 365.2425
    assert 0.6 * expected < len(history["window"]) < 1.4 * expected
    assert all(history[key] for key in ("afk", "chrome", "firefox", "editor"))
    apps = {json.loads(e.data)["app"] for e in history["window"]}
    assert len(apps) > 100  # a heavy tail of rarely used apps


def test_afk_alternates_and_windows_cover_activity(history: dict[str, list[Event]]) -> None:
    afk = history["afk"]
    for previous, event in itertools.pairwise(afk):
        assert previous.start + previous.duration <= event.start  # never overlapping
        if previous.start + previous.duration == event.start:  # inside one block
            assert previous.data != event.data
    blocks: list[list[int]] = []  # the computer is on: contiguous afk/not-afk events
    for e in afk:
        if blocks and blocks[-1][1] == e.start:
            blocks[-1][1] = e.start + e.duration
        else:
            blocks.append([e.start, e.start + e.duration])
    active = [(e.start, e.start + e.duration) for e in afk if e.data == b'{"status":"not-afk"}']
    windows = history["window"]
    assert all(e.duration >= 0 for e in windows)
    for previous, event in itertools.pairwise(windows):
        assert previous.start + previous.duration <= event.start
        assert previous.data != event.data or event.start - previous.start - previous.duration > 0
    # Every window event lies while the computer is on; every active second has a window.
    j = 0
    for event in windows:
        while blocks[j][1] < event.start + event.duration:
            j += 1
        assert blocks[j][0] <= event.start
    covered = sum(e.duration for e in windows)
    assert covered >= 0.9 * sum(end - start for start, end in active)


def test_browser_and_editor_events_follow_their_windows(history: dict[str, list[Event]]) -> None:
    focus = {}
    for event in history["window"]:
        data = json.loads(event.data)
        focus[event.start] = (event, data)
    starts = sorted(focus)

    def window_at(t: int) -> tuple[Event, dict[str, str]]:
        return focus[starts[bisect.bisect_right(starts, t) - 1]]

    for key, suffix in (("chrome", " - Google Chrome"), ("firefox", " — Mozilla Firefox")):
        for event in history[key]:
            window, data = window_at(event.start)
            tab = json.loads(event.data)
            assert set(tab) == {"audible", "incognito", "tabCount", "title", "url"}
            assert data["title"] == tab["title"] + suffix
            assert tab["url"].startswith(("https://", "http://localhost"))
            assert event.start + event.duration <= window.start + window.duration
    for event in history["editor"]:
        window, data = window_at(event.start)
        file = json.loads(event.data)
        assert data["app"] == "Code" and file["file"].startswith(file["project"] + "/")
        assert file["file"].rsplit("/", 1)[1] in data["title"]


def test_store_round_trip_through_the_api(tmp_path: Path,
                                          make_client: Callable[..., ASGIClient],
                                          history: dict[str, list[Event]]) -> None:
    report = generate(SMALL, StoreSink(SMALL, tmp_path / "data", batch=5_000), progress=False)
    assert report.events == {key: len(events) for key, events in history.items()}
    with pytest.raises(AlreadyExists, match="already exists"):
        generate(SMALL, StoreSink(SMALL, tmp_path / "data"), progress=False)
    client = make_client()
    buckets = client.get("/api/0/buckets/").json()
    assert set(buckets) == {SMALL.bucket_id(b) for b in SMALL.buckets}
    assert buckets["aw-watcher-afk_laptop"]["type"] == "afkstatus"
    assert buckets["aw-watcher-window_laptop"]["hostname"] == "laptop"
    for bucket in SMALL.buckets:
        listed = client.get(f"/api/0/buckets/{SMALL.bucket_id(bucket)}/events").json()
        sent = [json.loads(wire_event(e)) for e in reversed(history[bucket.key])]
        assert [(e["duration"], e["data"]) for e in listed] == \
            [(e["duration"], e["data"]) for e in sent]


def test_http_sink_and_command_line(tmp_path: Path, live_server: Callable[..., LiveServer]) -> None:
    spec = Spec(seed=5, years=0.01, events_per_year=40_000)
    server = live_server()
    report = generate(spec, HttpSink(spec, server.url, batch=200), progress=False)
    count = httpx.get(f"{server.url}/api/0/buckets/aw-watcher-window_laptop/events/count")
    assert count.json() == report.events["window"] > 0
    args = ["gen", "--data-dir", str(tmp_path / "cli"), "--years", "0.01", "--seed", "5",
            "--events-per-year", "40000", "--quiet"]
    assert main(args) == 0
    assert main(args) == 2  # the buckets exist now
    assert main([*args, "--replace"]) == 0
