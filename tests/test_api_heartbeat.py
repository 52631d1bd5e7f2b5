"""Heartbeats over HTTP: E12 and the semantics of spec §4 (merge rule, anchor, edge cases)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from tests.api_helpers import assert_error, create_bucket, ev, events, heartbeat, insert
from tests.asgi_client import ASGIClient


def ts(seconds: float, day: str = "2020-01-01") -> str:
    """A timestamp ``seconds`` after midnight (UTC) of ``day``."""
    whole = int(seconds)
    frac = round((seconds - whole) * 1000)
    text = f"{day}T{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"
    return text + (f".{frac:03d}Z" if frac else "Z")


def summary(client: ASGIClient, bucket: str = "b") -> list[tuple[str, float, dict[str, Any]]]:
    return [(e["timestamp"], e["duration"], e["data"]) for e in events(client, bucket)]


def test_probed_table(client: ASGIClient) -> None:
    """Spec §4.1's probed sequence with pulsetime 10, answer by answer."""
    create_bucket(client, "b")
    first = heartbeat(client, "b", ev(ts(0), 0, {"a": 1}), 10)
    base = first["id"]
    assert first == {"id": base, "timestamp": ts(0), "duration": 0.0, "data": {"a": 1}}
    assert heartbeat(client, "b", ev(ts(5), 0, {"a": 1}), 10) == {
        "id": base, "timestamp": ts(0), "duration": 5.0, "data": {"a": 1}}
    # inside the event: merged, unchanged
    assert heartbeat(client, "b", ev(ts(3), 1, {"a": 1}), 10) == {
        "id": base, "timestamp": ts(0), "duration": 5.0, "data": {"a": 1}}
    # 20 > 5 + 10: a new event
    assert heartbeat(client, "b", ev(ts(20), 0, {"a": 1}), 10) == {
        "id": base + 1, "timestamp": ts(20), "duration": 0.0, "data": {"a": 1}}
    # other data: a new event
    assert heartbeat(client, "b", ev(ts(21), 0, {"a": 2}), 10) == {
        "id": base + 2, "timestamp": ts(21), "duration": 0.0, "data": {"a": 2}}
    # starts before the last event: a new event (out of order)
    assert heartbeat(client, "b", ev(ts(10), 0, {"a": 2}), 10) == {
        "id": base + 3, "timestamp": ts(10), "duration": 0.0, "data": {"a": 2}}
    assert summary(client) == [(ts(21), 0.0, {"a": 2}), (ts(20), 0.0, {"a": 1}),
                               (ts(10), 0.0, {"a": 2}), (ts(0), 5.0, {"a": 1})]


def test_out_of_order_heartbeat_updates_the_right_row(client: ASGIClient) -> None:
    """Spec §4.5 item 1: the merge lands on the anchor (the out-of-order event), not the newest."""
    create_bucket(client, "b")
    heartbeat(client, "b", ev(ts(21), 0, {"a": 2}), 10)
    out_of_order = heartbeat(client, "b", ev(ts(10), 0, {"a": 2}), 10)
    merged = heartbeat(client, "b", ev(ts(15), 0, {"a": 2}), 10)
    assert merged == {**out_of_order, "duration": 5.0}
    assert summary(client) == [(ts(21), 0.0, {"a": 2}), (ts(10), 5.0, {"a": 2})]


def test_insert_invalidates_the_anchor(client: ASGIClient) -> None:
    """Spec §4.5 item 2: a POST of events between heartbeats must not be overwritten."""
    create_bucket(client, "b")
    heartbeat(client, "b", ev(ts(0), 0, {"a": 1}), 100)
    insert(client, "b", [ev(ts(30), 0, {"b": 1})])
    result = heartbeat(client, "b", ev(ts(40), 0, {"a": 1}), 100)
    # the fallback is the newest event ({"b": 1}); other data, so a new event
    assert (result["timestamp"], result["data"]) == (ts(40), {"a": 1})
    assert summary(client) == [(ts(40), 0.0, {"a": 1}), (ts(30), 0.0, {"b": 1}),
                               (ts(0), 0.0, {"a": 1})]


def test_insert_then_heartbeat_merges_into_newest(client: ASGIClient) -> None:
    create_bucket(client, "b")
    heartbeat(client, "b", ev(ts(0), 0, {"a": 1}), 100)
    (inserted,) = insert(client, "b", [ev(ts(30), 0, {"a": 1})])
    result = heartbeat(client, "b", ev(ts(40), 0, {"a": 1}), 100)
    assert result == {**inserted, "duration": 10.0}


def test_replace_by_id_invalidates_the_anchor(client: ASGIClient) -> None:
    create_bucket(client, "b")
    anchor = heartbeat(client, "b", ev(ts(0), 0, {"a": 1}), 100)
    insert(client, "b", [ev(ts(50), 0, {"a": 1}), ev(ts(0), 0, {"moved": 1},
                                                      event_id=anchor["id"])])
    result = heartbeat(client, "b", ev(ts(60), 0, {"a": 1}), 100)
    assert (result["timestamp"], result["duration"]) == (ts(50), 10.0)
    assert summary(client) == [(ts(50), 10.0, {"a": 1}), (ts(0), 0.0, {"moved": 1})]


def test_delete_and_recreate_bucket(client: ASGIClient) -> None:
    """Spec §4.5 item 3: no 500, no merge into an event of the deleted bucket."""
    create_bucket(client, "b")
    heartbeat(client, "b", ev(ts(0), 0, {"a": 1}), 10)
    assert client.delete("/api/0/buckets/b").status_code == 200
    create_bucket(client, "b")
    result = heartbeat(client, "b", ev(ts(5), 0, {"a": 1}), 10)
    assert (result["timestamp"], result["duration"]) == (ts(5), 0.0)
    assert heartbeat(client, "b", ev(ts(6), 0, {"a": 1}), 10)["duration"] == 1.0
    assert summary(client) == [(ts(5), 1.0, {"a": 1})]


def test_deleted_anchor_event(client: ASGIClient) -> None:
    """Spec §4.5 item 4: the anchor's event deleted → fall back to the newest event."""
    create_bucket(client, "b")
    (older,) = insert(client, "b", [ev(ts(0), 2, {"a": 1})])
    anchor = heartbeat(client, "b", ev(ts(100), 0, {"a": 1}), 10)
    assert anchor["id"] != older["id"]
    client.delete(f"/api/0/buckets/b/events/{anchor['id']}")
    result = heartbeat(client, "b", ev(ts(5), 0, {"a": 1}), 10)
    assert result == {**older, "duration": 5.0}
    assert summary(client) == [(ts(0), 5.0, {"a": 1})]


def test_heartbeat_into_empty_bucket_has_an_id(client: ASGIClient) -> None:
    create_bucket(client, "b")
    result = heartbeat(client, "b", ev(ts(0), 1.5, {"x": "y"}), 0)
    assert isinstance(result["id"], int)
    assert client.get(f"/api/0/buckets/b/events/{result['id']}").json() == result


def test_consecutive_merges(client: ASGIClient) -> None:
    """aw-datastore ``test_event_heartbeat_consecutive_merges``."""
    create_bucket(client, "b")
    results = [heartbeat(client, "b", ev(ts(i), 0, {"k": "v"}), 10) for i in range(5)]
    assert len({r["id"] for r in results}) == 1
    assert results[-1]["duration"] == 4.0
    assert summary(client) == [(ts(0), 4.0, {"k": "v"})]


def test_long_pulse_merge(client: ASGIClient) -> None:
    """aw-transform ``test_heartbeat_long_pulse_merge``: 120 s later with pulsetime 120 merges."""
    create_bucket(client, "b")
    heartbeat(client, "b", ev(ts(0), 0, {"a": 1}), 120)
    assert heartbeat(client, "b", ev(ts(120), 0, {"a": 1}), 120)["duration"] == 120.0
    assert heartbeat(client, "b", ev(ts(240.001), 0, {"a": 1}), 120)["timestamp"] == ts(240.001)


def test_pulsetime_zero_merges_only_touching(client: ASGIClient) -> None:
    create_bucket(client, "b")
    heartbeat(client, "b", ev(ts(0), 1, {"a": 1}), 0)
    assert heartbeat(client, "b", ev(ts(1), 1, {"a": 1}), 0)["duration"] == 2.0
    assert heartbeat(client, "b", ev(ts(2.5), 1, {"a": 1}), 0)["timestamp"] == ts(2.5)


def test_two_heartbeats_one_second_apart(client: ASGIClient) -> None:
    """aw-client ``test_heartbeat``: pulsetime 0 then 10 → one event of e2 − e1."""
    create_bucket(client, "b")
    heartbeat(client, "b", ev(ts(0), 0, {"label": "x"}), 0)
    heartbeat(client, "b", ev(ts(1), 0, {"label": "x"}), 10)
    assert summary(client) == [(ts(0), 1.0, {"label": "x"})]


def test_same_timestamp_keeps_the_longest(client: ASGIClient) -> None:
    """aw-transform ``test_heartbeat_same_timestamp``: duration = max, order irrelevant."""
    create_bucket(client, "b")
    heartbeat(client, "b", ev(ts(0), 1, {"a": 1}), 0)
    assert heartbeat(client, "b", ev(ts(0), 3, {"a": 1}), 0)["duration"] == 3.0
    assert heartbeat(client, "b", ev(ts(0), 2, {"a": 1}), 0)["duration"] == 3.0


def test_heartbeat_duration_extends_the_event(client: ASGIClient) -> None:
    """aw-client pre-merges and flushes one heartbeat with a duration (spec §4.5 item 10)."""
    create_bucket(client, "b")
    heartbeat(client, "b", ev(ts(0), 0, {"a": 1}), 60)
    assert heartbeat(client, "b", ev(ts(30), 10, {"a": 1}), 60)["duration"] == 40.0


def test_data_equality_is_json_typed(client: ASGIClient) -> None:
    create_bucket(client, "b")
    heartbeat(client, "b", ev(ts(0), 0, {"a": 1, "b": {"c": [1, "x"]}}), 10)
    # key order does not matter
    merged = heartbeat(client, "b", ev(ts(1), 0, {"b": {"c": [1, "x"]}, "a": 1}), 10)
    assert merged["duration"] == 1.0
    # 1 and 1.0 differ, as do 1 and true
    assert heartbeat(client, "b", ev(ts(2), 0, {"a": 1.0, "b": {"c": [1, "x"]}}), 10)[
        "duration"] == 0.0
    assert heartbeat(client, "b", ev(ts(3), 0, {"a": True}), 10)["timestamp"] == ts(3)
    assert len(events(client, "b")) == 3


def test_merge_updates_metadata(client: ASGIClient) -> None:
    create_bucket(client, "b")
    heartbeat(client, "b", ev(ts(0), 0, {"a": 1}), 10)
    heartbeat(client, "b", ev(ts(8), 0, {"a": 1}), 10)
    bucket = client.get("/api/0/buckets/b").json()
    assert bucket["metadata"] == {"start": ts(0), "end": ts(8)}
    assert bucket["last_updated"] == ts(8)


def test_heartbeat_with_id_replaces_that_event(client: ASGIClient) -> None:
    """Spec §4.5 item 5: the insert path honours the id (insert-or-replace)."""
    create_bucket(client, "a")
    create_bucket(client, "b")
    (victim,) = insert(client, "a", [ev(ts(0), 1, {"old": 1})])
    result = heartbeat(client, "b", ev(ts(100), 0, {"new": 1}, event_id=victim["id"]), 10)
    assert result == {"id": victim["id"], "timestamp": ts(100), "duration": 0.0,
                      "data": {"new": 1}}
    assert events(client, "a") == []
    assert events(client, "b") == [result]
    # the merge path ignores an id
    merged = heartbeat(client, "b", ev(ts(101), 0, {"new": 1}, event_id=12345), 10)
    assert merged["id"] == victim["id"]
    assert client.get("/api/0/buckets/b/events/12345").status_code == 404


def test_midnight_heartbeats(client: ASGIClient) -> None:
    """aw-client ``test_midnight_heartbeats``: labels 1,1,2,3,4 cycling, 1 min apart."""
    create_bucket(client, "b")
    labels = [1, 1, 2, 3, 4]
    start = 23 * 3600 + 50 * 60
    for i in range(20):
        seconds = start + 60 * i
        day = "2020-01-01" if seconds < 86400 else "2020-01-02"
        heartbeat(client, "b", ev(ts(seconds % 86400, day), 0, {"label": labels[i % 5]}), 90)
    assert len(events(client, "b")) == 16
    assert len(events(client, "b", start="2020-01-02T00:00:00.001Z")) == 8


def test_shuffled_heartbeats_keep_every_second(client: ASGIClient) -> None:
    """aw-client ``test_heartbeat_random_order``: no errors; nothing outside the input."""
    create_bucket(client, "b")
    order = list(range(100))
    random.Random(4).shuffle(order)
    for i in order:
        heartbeat(client, "b", ev(ts(i), 0, {"r": 1}), 2)
    listed = events(client, "b")
    covered: set[int] = set()
    for event in listed:
        start = int(event["timestamp"][11:13]) * 3600 + int(event["timestamp"][14:16]) * 60 + int(
            event["timestamp"][17:19])
        covered.update(range(start, start + int(event["duration"]) + 1))
    assert covered == set(range(100))


@pytest.mark.parametrize("pulsetime", ["0.5", "1e-3", "3", "1e300", "%2B2"])
def test_pulsetime_forms(client: ASGIClient, pulsetime: str) -> None:
    create_bucket(client, "b")
    heartbeat(client, "b", ev(ts(0), 0, {"a": 1}), pulsetime)
    result = heartbeat(client, "b", ev(ts(0.001), 0, {"a": 1}), pulsetime)
    assert result["duration"] == 0.001


def test_huge_pulsetime_saturates(client: ASGIClient) -> None:
    """Like aw-server-rust: a huge pulsetime is ≈292 years (int64 ns), not an overflow."""
    create_bucket(client, "b")
    heartbeat(client, "b", ev("1700-01-01T00:00:00Z", 0, {"a": 1}), "1e300")
    result = heartbeat(client, "b", ev("1950-01-01T00:00:00Z", 0, {"a": 1}), "1e300")
    assert result["timestamp"] == "1700-01-01T00:00:00Z"
    assert len(events(client, "b")) == 1


@pytest.mark.parametrize("query", ["", "?pulsetime=", "?pulsetime=abc", "?pulsetime=-1",
                                   "?pulsetime=nan", "?pulsetime=inf", "?pulsetime=-inf",
                                   "?pulse=1"])
def test_bad_pulsetime(client: ASGIClient, query: str) -> None:
    create_bucket(client, "b")
    response = client.post(f"/api/0/buckets/b/heartbeat{query}", json=ev(ts(0)))
    assert_error(response, 400, "pulsetime")
    assert events(client, "b") == []


def test_heartbeat_missing_bucket(client: ASGIClient) -> None:
    assert_error(client.post("/api/0/buckets/nope/heartbeat?pulsetime=1", json=ev(ts(0))), 404,
                 "nope")


def test_heartbeat_body_must_be_one_event(client: ASGIClient) -> None:
    create_bucket(client, "b")
    assert_error(client.post("/api/0/buckets/b/heartbeat?pulsetime=1", json=[ev(ts(0))]), 400)
    assert_error(client.post("/api/0/buckets/b/heartbeat?pulsetime=1",
                             json={"duration": 1, "data": {}}), 400, "timestamp")
    assert_error(client.post("/api/0/buckets/b/heartbeat?pulsetime=1",
                             json={"timestamp": ts(0)}), 400, "data")
    assert events(client, "b") == []


def test_concurrent_heartbeats_are_applied_one_at_a_time(client: ASGIClient) -> None:
    """200 identical heartbeats at once (one group commit or several): one event, one id."""
    create_bucket(client, "b")

    async def burst() -> list[int]:
        responses = await asyncio.gather(*[
            client.client.post("/api/0/buckets/b/heartbeat?pulsetime=5",
                               json=ev(ts(i % 3), 1, {"a": 1})) for i in range(200)])
        assert {r.status_code for r in responses} == {200}
        return [r.json()["id"] for r in responses]

    ids = client._run(burst())
    assert len(set(ids)) == 1
    assert summary(client) == [(ts(0), 3.0, {"a": 1})]
