"""The real `aw_client.ActivityWatchClient` (PyPI 0.5.15) against a live `fastaw serve`.

Ports the cases of aw-server's live suite (`tests/test_client.py`, spec/api.md §10.2) and
adds every other client method: queued heartbeats through the RequestQueue, naive
datetimes, counts, deletes, export/import, settings and (when present) queries.
The client reads its config and keeps its queue and lock files under the XDG dirs that
the autouse fixture points at a temp dir; the server runs in testing mode on a free port.
"""

from __future__ import annotations

import importlib.util
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from aw_client import ActivityWatchClient
from aw_core.models import Event

from tests.conftest import LiveServer
from tests.live_helpers import NS, sequential_heartbeats, shapes, to_ns

START = datetime(2024, 3, 1, 9, 30, 0, 123000, tzinfo=UTC)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("server-home")
    env = {f"XDG_{kind}_HOME": str(home / kind.lower()) for kind in ("DATA", "CONFIG", "CACHE")}
    live = LiveServer(home / "store", extra=["--testing"], env=env)
    yield live
    live.stop()


@pytest.fixture
def aw(server: LiveServer) -> Iterator[ActivityWatchClient]:
    client = ActivityWatchClient("aw-client-test", testing=True, port=server.port)
    assert client.server_address == server.url
    yield client
    if client.request_queue.is_alive():
        client.disconnect()
    client.instance.fp.close()  # the client's single-instance lock file


@pytest.fixture
def bucket(aw: ActivityWatchClient) -> Iterator[str]:
    bucket_id = f"test-{uuid.uuid4().hex[:10]}"
    aw.create_bucket(bucket_id, "testevents")
    yield bucket_id
    aw.delete_bucket(bucket_id)  # testing mode: no ?force=1 needed


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def wait_flushed(aw: ActivityWatchClient) -> None:
    """Until the RequestQueue has sent everything queued so far."""
    queue = aw.request_queue
    wait_for(lambda: queue.connected and queue._persistqueue.qsize() == 0
             and queue._current is None)


def hourly(n: int, start: datetime = START, label: str = "test") -> list[Event]:
    return [Event(timestamp=start + timedelta(hours=i), duration=timedelta(hours=1),
                  data={"label": label, "i": i}) for i in range(n)]


def status_of(error: requests.HTTPError) -> int:
    assert error.response is not None
    return error.response.status_code


def same(a: Event, b: Event) -> bool:
    return bool(a.timestamp == b.timestamp and a.duration == b.duration and a.data == b.data)


# -- info and buckets ----------------------------------------------------------------------

def test_get_info(aw: ActivityWatchClient) -> None:
    aw.wait_for_start(timeout=5)
    info = aw.get_info()
    assert info["testing"] is True
    assert info["hostname"] and info["device_id"]


def test_create_list_delete_bucket(aw: ActivityWatchClient) -> None:
    aw.create_bucket("test-lifecycle", "testevents")
    aw.create_bucket("test-lifecycle", "testevents")  # 304: fine for the client
    buckets = aw.get_buckets()
    assert buckets["test-lifecycle"]["id"] == "test-lifecycle"
    assert buckets["test-lifecycle"]["type"] == "testevents"
    assert buckets["test-lifecycle"]["client"] == "aw-client-test"
    aw.delete_bucket("test-lifecycle")
    assert "test-lifecycle" not in aw.get_buckets()
    with pytest.raises(requests.HTTPError) as missing:
        aw.delete_bucket("test-lifecycle", force=True)
    assert status_of(missing.value) == 404


def test_list_buckets(aw: ActivityWatchClient, bucket: str) -> None:
    assert aw.get_buckets()[bucket]["id"] == bucket


# -- heartbeats ----------------------------------------------------------------------------

def test_heartbeat(aw: ActivityWatchClient, bucket: str) -> None:
    e1 = Event(timestamp=START, data={"label": "test"})
    e2 = Event(timestamp=START + timedelta(seconds=1), data={"label": "test"})
    aw.heartbeat(bucket, e1, pulsetime=0)
    aw.heartbeat(bucket, e2, pulsetime=10)
    newest = aw.get_events(bucket, limit=1)[0]
    assert newest.timestamp == e1.timestamp
    assert newest.duration == e2.timestamp - e1.timestamp
    assert isinstance(newest.id, int)


def test_heartbeat_random_order(aw: ActivityWatchClient, bucket: str) -> None:
    """Shuffled heartbeats do not collapse into one event (upstream only checks that they
    do not fail); fastaw's result equals the model of the same order, sent sequentially."""
    offsets = list(range(100))
    random.Random(3).shuffle(offsets)
    for offset in offsets:
        event = Event(timestamp=START + timedelta(seconds=offset), data={"label": "test"})
        aw.heartbeat(bucket, event, pulsetime=2)
    start_ns = round(START.timestamp()) * NS + START.microsecond * 1000
    model = sequential_heartbeats(
        [(start_ns + offset * NS, 0, {"label": "test"}) for offset in offsets], 2 * NS)
    assert shapes(e.to_json_dict() for e in aw.get_events(bucket)) == model


def test_queued_heartbeat(aw: ActivityWatchClient, bucket: str) -> None:
    aw.connect()
    e1 = Event(timestamp=START, data={"label": "test"})
    e2 = Event(timestamp=START + timedelta(seconds=1), data={"label": "test"})
    e3 = Event(timestamp=START + timedelta(seconds=2), data={"label": "other"})
    for event in (e1, e2, e3):  # e1+e2 pre-merged by the client, sent when e3 differs
        aw.heartbeat(bucket, event, pulsetime=10, queued=True)
    wait_flushed(aw)
    wait_for(lambda: len(aw.get_events(bucket)) == 1)
    (event,) = aw.get_events(bucket)
    assert event.timestamp == e1.timestamp
    assert event.duration == e2.timestamp - e1.timestamp
    assert event.data == {"label": "test"}


def test_queued_heartbeats_merge_across_commits(aw: ActivityWatchClient) -> None:
    """A watcher's stream: the client pre-merges and commits every 5 s (testing); the queue
    registers the bucket on connect, and the server chains the commits into one event."""
    bucket = f"test-queued-{uuid.uuid4().hex[:8]}"
    aw.create_bucket(bucket, "currentwindow", queued=True)
    sent: list[dict[str, Any]] = []
    queue_add = aw.request_queue.add_request

    def record(endpoint: str, data: dict[str, Any]) -> None:
        sent.append(data)
        queue_add(endpoint, data)

    aw.request_queue.add_request = record  # type: ignore[method-assign]
    aw.connect()
    for second in range(30):
        event = Event(timestamp=START + timedelta(seconds=second), data={"app": "editor"})
        aw.heartbeat(bucket, event, pulsetime=2.0, queued=True)
    assert len(sent) >= 4  # pre-merged commits of about 5 s each
    wait_flushed(aw)
    wait_for(lambda: bucket in aw.get_buckets() and aw.get_events(bucket) != [])
    expected = sequential_heartbeats(
        [(to_ns(e["timestamp"]), round(e["duration"] * NS), e["data"]) for e in sent], 2 * NS)
    assert len(expected) == 1
    wait_for(lambda: shapes(e.to_json_dict() for e in aw.get_events(bucket)) == expected)
    (event,) = aw.get_events(bucket)
    assert event.timestamp == START
    assert event.duration >= timedelta(seconds=20)  # the last seconds stay in the client
    aw.delete_bucket(bucket)


def test_midnight_heartbeats(aw: ActivityWatchClient, bucket: str) -> None:
    """20 heartbeats a minute apart across local midnight, labels 1,1,2,3,4 cycling: the
    repeated label merges (pulsetime 90 s) → 16 events, 8 of them after midnight."""
    local = datetime.now().astimezone().tzinfo
    midnight = datetime(2024, 3, 2, tzinfo=local)
    first = midnight - timedelta(minutes=10)
    labels = ["1", "1", "2", "3", "4"]
    for i in range(20):
        event = Event(timestamp=first + timedelta(minutes=i), data={"label": labels[i % 5]})
        aw.heartbeat(bucket, event, pulsetime=90)
    assert len(aw.get_events(bucket)) == 16
    after = aw.get_events(bucket, start=midnight + timedelta(milliseconds=1))
    assert len(after) == 8


# -- inserting and reading events ----------------------------------------------------------

def test_insert_event(aw: ActivityWatchClient, bucket: str) -> None:
    event = Event(timestamp=START, duration=timedelta(seconds=1.5), data={"label": "x"})
    aw.insert_event(bucket, event)
    (fetched,) = aw.get_events(bucket, limit=1)
    assert same(fetched, event)


def test_insert_events(aw: ActivityWatchClient, bucket: str) -> None:
    events = hourly(2)
    aw.insert_events(bucket, events)
    fetched = sorted(aw.get_events(bucket), key=lambda e: e.timestamp)
    assert len(fetched) == 2 and all(map(same, fetched, events))


def test_get_event_single(aw: ActivityWatchClient, bucket: str) -> None:
    aw.insert_events(bucket, hourly(10))
    for listed in aw.get_events(bucket):
        assert isinstance(listed.id, int)
        single = aw.get_event(bucket, listed.id)
        assert single is not None
        assert single.id == listed.id and same(single, listed)


def test_get_event_missing_is_404(aw: ActivityWatchClient, bucket: str) -> None:
    # aw-client 0.5.15 means to return None on 404 but raises (spec/clients.md §1.1)
    with pytest.raises(requests.HTTPError) as missing:
        aw.get_event(bucket, 987_654_321)
    assert status_of(missing.value) == 404


def test_get_events_interval(aw: ActivityWatchClient, bucket: str) -> None:
    events = hourly(1000)
    aw.insert_events(bucket, events)
    end = START + timedelta(days=1)
    fetched = aw.get_events(bucket, limit=50, start=START, end=end)
    assert len(fetched) == 25  # 24 hours plus the event starting exactly at `end`
    newest = fetched[0]
    assert newest.timestamp == end and newest.duration == timedelta(0)
    assert all(map(same, fetched[1:], reversed(events[:24])))
    middle = aw.get_events(bucket, start=START + timedelta(minutes=30),
                           end=START + timedelta(hours=2, minutes=15))
    assert [e.duration for e in middle] == [timedelta(minutes=15), timedelta(hours=1),
                                            timedelta(minutes=30)]


def test_get_events_with_naive_datetimes(aw: ActivityWatchClient, bucket: str) -> None:
    """A naive datetime is sent without an offset; the server takes it as UTC."""
    aw.insert_events(bucket, hourly(48))
    start, end = START + timedelta(hours=5), START + timedelta(hours=9)
    aware = aw.get_events(bucket, start=start, end=end)
    naive_start = start.replace(tzinfo=None)
    naive_end = end.replace(tzinfo=None)
    naive = aw.get_events(bucket, start=naive_start, end=naive_end)
    # inclusive: from the event ending at `start` (clipped to 0 s) to the one starting at `end`
    assert len(aware) == 6 and [e.id for e in naive] == [e.id for e in aware]
    assert aw.get_eventcount(bucket, start=naive_start, end=naive_end) == 6
    assert len(aw.get_events(bucket, limit=3, start=naive_start)) == 3


def test_store_many_events(aw: ActivityWatchClient, bucket: str) -> None:
    events = [Event(timestamp=START + timedelta(seconds=i), duration=timedelta(seconds=1),
                    data={"i": i}) for i in range(1000)]
    aw.insert_events(bucket, events)
    fetched = aw.get_events(bucket, limit=-1)
    assert len(fetched) == 1000
    assert [e.data["i"] for e in fetched] == list(range(999, -1, -1))  # newest first
    assert aw.get_eventcount(bucket) == 1000


def test_midnight(aw: ActivityWatchClient, bucket: str) -> None:
    local = datetime.now().astimezone().tzinfo
    first = datetime(2024, 3, 2, tzinfo=local) - timedelta(minutes=50)
    events = [Event(timestamp=first + timedelta(minutes=i), duration=timedelta(minutes=1),
                    data={"label": "midnight"}) for i in range(100)]
    aw.insert_events(bucket, events)
    fetched = aw.get_events(bucket, limit=-1)
    assert len(fetched) == 100
    assert all(map(same, sorted(fetched, key=lambda e: e.timestamp), events))


def test_eventcount_and_delete_event(aw: ActivityWatchClient, bucket: str) -> None:
    aw.insert_events(bucket, hourly(10))
    assert aw.get_eventcount(bucket) == 10
    start = START + timedelta(hours=2)
    assert aw.get_eventcount(bucket, start=start, end=start + timedelta(hours=3)) == 5
    victim = aw.get_events(bucket, limit=1)[0]
    victim_id = victim.id
    assert isinstance(victim_id, int)
    aw.delete_event(bucket, victim_id)
    assert aw.get_eventcount(bucket) == 9
    assert victim_id not in [e.id for e in aw.get_events(bucket)]
    aw.delete_event(bucket, victim_id)  # deleting again is not an error


# -- export, import, settings, query -------------------------------------------------------

def test_export_all_and_bucket(aw: ActivityWatchClient, bucket: str) -> None:
    aw.insert_events(bucket, hourly(3))
    everything = aw.export_all()
    assert all("id" in b and "events" in b for b in everything["buckets"].values())
    assert len(everything["buckets"][bucket]["events"]) == 3
    one = aw.export_bucket(bucket)
    assert list(one["buckets"]) == [bucket]
    exported = one["buckets"][bucket]
    assert exported["id"] == bucket and exported["type"] == "testevents"
    assert exported["events"] == everything["buckets"][bucket]["events"]


def test_import_bucket_round_trip(aw: ActivityWatchClient, bucket: str) -> None:
    originals = hourly(5, label="imported")
    aw.insert_events(bucket, originals)
    exported = aw.export_bucket(bucket)["buckets"][bucket]
    aw.delete_bucket(bucket)
    assert bucket not in aw.get_buckets()

    aw.import_bucket(exported)
    restored = sorted(aw.get_events(bucket), key=lambda e: e.timestamp)
    assert len(restored) == 5 and all(map(same, restored, originals))
    assert aw.get_buckets()[bucket]["type"] == "testevents"

    aw.import_bucket(exported)  # the same events again: merged without duplicates
    assert aw.get_eventcount(bucket) == 5

    copy = dict(exported, id=f"{bucket}-copy")
    aw.import_bucket(copy)
    assert aw.get_eventcount(f"{bucket}-copy") == 5
    aw.delete_bucket(f"{bucket}-copy")


def test_settings(aw: ActivityWatchClient) -> None:
    aw.set_setting("test", "test")
    aw.set_setting("test_list", '["a", "b"]')
    aw.set_setting("test_dict", '{"a": 1}')
    aw.set_setting("test_value", {"nested": [1, 2.5, None, True]})  # type: ignore[arg-type]
    get: Callable[[str], Any] = aw.get_setting
    assert get("test") == "test"
    assert get("test_list") == '["a", "b"]'
    assert get("test_dict") == '{"a": 1}'
    assert aw.get_setting("test_value") == {"nested": [1, 2.5, None, True]}
    assert aw.get_setting("test2") is None
    everything = aw.get_setting()
    assert everything["test"] == "test" and everything["test_dict"] == '{"a": 1}'


@pytest.mark.skipif(importlib.util.find_spec("fastaw.query") is None,
                    reason="fastaw.query does not exist yet")
def test_query(aw: ActivityWatchClient, bucket: str) -> None:
    aw.insert_events(bucket, hourly(6))
    periods = [(START, START + timedelta(hours=2, minutes=30)),
               (START + timedelta(hours=3), START + timedelta(days=1))]
    query = f'events = query_bucket("{bucket}");\nRETURN = events;'
    first, second = aw.query(query, periods)
    assert [e["data"]["i"] for e in first] == [2, 1, 0]  # newest first, clipped
    assert first[0]["duration"] == 1800.0
    assert [e["data"]["i"] for e in second] == [5, 4, 3, 2]  # 2 ends at the period start
    assert second[-1]["duration"] == 0.0
    summed = aw.query(f'RETURN = sum_durations(query_bucket("{bucket}"));',
                      [(START, START + timedelta(days=1))])
    assert summed == [6 * 3600.0]
    tz = timezone(timedelta(hours=2))  # moment-style local offsets in timeperiods
    local = aw.query(query, [(START.astimezone(tz), (START + timedelta(hours=1)).astimezone(tz))])
    assert [e["data"]["i"] for e in local[0]] == [1, 0]


def test_client_never_touches_the_real_home(aw: ActivityWatchClient) -> None:
    home = os.path.expanduser("~")
    assert not os.environ["XDG_DATA_HOME"].startswith(os.path.join(home, ".local"))
    queue_file = aw.request_queue._persistqueue.path
    assert str(queue_file).startswith(os.environ["XDG_DATA_HOME"])
