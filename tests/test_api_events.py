"""Events: E7 list, E8 insert/replace, E9 count, E10 get one, E11 delete (spec §2.1, §2.4)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api_helpers import assert_error, create_bucket, ev, events, insert
from tests.asgi_client import ASGIClient

T0 = "2018-01-01T01:01:01Z"


def test_events_roundtrip_exact_bytes(client: ASGIClient) -> None:
    """Port of aw-server-rust ``test_events`` (bodies compared byte for byte)."""
    create_bucket(client, "id")
    response = client.post("/api/0/buckets/id/events",
                           json=[{"timestamp": T0, "duration": 1.0, "data": {}}])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    expected = b'[{"id":1,"timestamp":"2018-01-01T01:01:01Z","duration":1.0,"data":{}}]'
    assert response.content == expected
    assert client.get("/api/0/buckets/id/events").content == expected

    response = client.post("/api/0/buckets/id/heartbeat?pulsetime=2",
                           json={"timestamp": "2018-01-01T01:01:02Z", "duration": 1.0, "data": {}})
    assert response.status_code == 200
    merged = b'{"id":1,"timestamp":"2018-01-01T01:01:01Z","duration":2.0,"data":{}}'
    assert response.content == merged
    assert client.get("/api/0/buckets/id/events").content == b"[" + merged + b"]"

    assert client.delete("/api/0/buckets/id/events/1").status_code == 200
    assert_error(client.get("/api/0/buckets/id/events/1"), 404, "1")
    response = client.get("/api/0/buckets/id/events/count")
    assert response.status_code == 200
    assert response.content == b"0"
    assert client.delete("/api/0/buckets/id").status_code == 200


def test_insert_single_object_answers_a_list(client: ASGIClient) -> None:
    create_bucket(client, "b")
    response = client.post("/api/0/buckets/b/events", json=ev(T0, 1.5, {"k": "v"}))
    assert response.status_code == 200
    assert response.json() == [{"id": 1, "timestamp": T0, "duration": 1.5, "data": {"k": "v"}}]


def test_insert_empty_list(client: ASGIClient) -> None:
    create_bucket(client, "b")
    assert insert(client, "b", []) == []
    assert client.get("/api/0/buckets/b/events/count").json() == 0


def test_insert_into_missing_bucket(client: ASGIClient) -> None:
    assert_error(client.post("/api/0/buckets/nope/events", json=[ev(T0)]), 404, "nope")


def test_event_fields_roundtrip(client: ASGIClient) -> None:
    create_bucket(client, "b")
    data = {"title": "Ünïcode ✓ \"quoted\"", "n": 1, "f": 1.0, "big": 2**70, "nested": {
        "list": [1, 2.5, None, True, "x"], "empty": {}}}
    sent = [
        ev("2020-01-01T00:00:00.123456789Z", 0.123456789, data),
        ev("2020-01-01T00:00:01.123456Z", 0.25),
        ev("2020-01-01T00:00:02.5+00:00", 1),
        ev("2020-01-01T03:00:03+02:00", 3600),
        ev("2020-01-01 00:00:04", 2.0),  # naive: UTC
    ]
    inserted = insert(client, "b", sent)
    got = sorted(events(client, "b"), key=lambda e: e["id"])
    assert got == inserted
    assert [(e["timestamp"], e["duration"]) for e in got] == [
        ("2020-01-01T00:00:00.123456789Z", 0.123456789),
        ("2020-01-01T00:00:01.123456Z", 0.25),
        ("2020-01-01T00:00:02.500Z", 1.0),
        ("2020-01-01T01:00:03Z", 3600.0),
        ("2020-01-01T00:00:04Z", 2.0),
    ]
    assert got[0]["data"] == data
    nested = got[0]["data"]
    assert isinstance(nested["n"], int) and isinstance(nested["f"], float)
    assert all(isinstance(e["duration"], float) for e in got)


def test_unknown_event_fields_are_ignored(client: ASGIClient) -> None:
    create_bucket(client, "b")
    inserted = insert(client, "b", [{**ev(T0, 1.0), "extra": 1, "id": None}])
    assert inserted == [{"id": 1, "timestamp": T0, "duration": 1.0, "data": {}}]


def test_missing_duration_is_zero_and_negative_kept(client: ASGIClient) -> None:
    create_bucket(client, "b")
    inserted = insert(client, "b", [{"timestamp": T0, "data": {}}, ev(T0, -5.0)])
    assert [e["duration"] for e in inserted] == [0.0, -5.0]
    assert sorted(e["duration"] for e in events(client, "b")) == [-5.0, 0.0]


def test_ids_are_global_increasing_and_never_reused(client: ASGIClient) -> None:
    create_bucket(client, "a")
    create_bucket(client, "b")
    first = insert(client, "a", [ev(T0), ev(T0), ev(T0)])
    assert [e["id"] for e in first] == [1, 2, 3]
    assert [e["id"] for e in insert(client, "b", [ev(T0)])] == [4]
    client.delete("/api/0/buckets/b/events/4")
    client.delete("/api/0/buckets/a/events/3")
    assert [e["id"] for e in insert(client, "a", [ev(T0)])] == [5]
    client.delete("/api/0/buckets/a")
    create_bucket(client, "a")
    assert [e["id"] for e in insert(client, "a", [ev(T0)])] == [6]


def test_event_with_id_replaces_in_place(client: ASGIClient) -> None:
    """aw-datastore ``test_event_replace``: ids in order, replace by id, ties in id order."""
    create_bucket(client, "b")
    inserted = insert(client, "b", [ev(T0, 1.0, {"n": i}) for i in range(3)])
    assert [e["id"] for e in inserted] == [1, 2, 3]
    assert [e["id"] for e in events(client, "b")] == [1, 2, 3]
    replaced = insert(client, "b", [ev("2018-01-01T01:01:05Z", 9.0, {"n": "new"}, event_id=2)])
    assert replaced == [{"id": 2, "timestamp": "2018-01-01T01:01:05Z", "duration": 9.0,
                         "data": {"n": "new"}}]
    listed = events(client, "b")
    assert [e["id"] for e in listed] == [2, 1, 3]
    assert listed[0] == replaced[0]
    assert client.get("/api/0/buckets/b/events/count").json() == 3
    assert client.get("/api/0/buckets/b/events/2").json() == replaced[0]


def test_event_with_id_moves_from_another_bucket(client: ASGIClient) -> None:
    create_bucket(client, "a")
    create_bucket(client, "b")
    moved = insert(client, "a", [ev(T0, 1.0, {"x": 1}), ev("2018-01-01T01:01:10Z", 100.0)])
    insert(client, "b", [ev(T0, 1.0, {"edited": True}, event_id=moved[1]["id"])])
    assert [e["id"] for e in events(client, "a")] == [moved[0]["id"]]
    assert client.get("/api/0/buckets/a").json()["metadata"]["end"] == "2018-01-01T01:01:02Z"
    assert client.get(f"/api/0/buckets/a/events/{moved[1]['id']}").status_code == 404
    assert events(client, "b") == [
        {"id": moved[1]["id"], "timestamp": T0, "duration": 1.0, "data": {"edited": True}}]
    assert client.get("/api/0/buckets/a/events/count").json() == 1


def test_event_with_unknown_id_is_inserted_with_it(client: ASGIClient) -> None:
    create_bucket(client, "b")
    assert insert(client, "b", [ev(T0, event_id=100)])[0]["id"] == 100
    assert insert(client, "b", [ev(T0)])[0]["id"] == 101
    assert client.get("/api/0/buckets/b/events/100").status_code == 200


def test_largest_event_id(client: ASGIClient) -> None:
    create_bucket(client, "b")
    top = 2**63 - 1
    assert insert(client, "b", [ev(T0, event_id=top)])[0]["id"] == top
    assert client.get(f"/api/0/buckets/b/events/{top}").json()["id"] == top
    assert_error(client.post("/api/0/buckets/b/events", json=[ev(T0, event_id=2**63)]), 400,
                 "id")
    assert_error(client.post("/api/0/buckets/b/events", json=[ev(T0, event_id=2**64 - 1)]), 400,
                 "id")
    assert_error(client.get(f"/api/0/buckets/b/events/{2**64}"), 400, "event id")
    assert_error(client.delete(f"/api/0/buckets/b/events/{2**70}"), 400, "event id")


def test_get_single_event(client: ASGIClient) -> None:
    create_bucket(client, "b")
    create_bucket(client, "other")
    inserted = insert(client, "b", [ev(T0, float(i), {"i": i}) for i in range(10)])
    listed = {e["id"]: e for e in events(client, "b")}
    for event in inserted:
        response = client.get(f"/api/0/buckets/b/events/{event['id']}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == event == listed[event["id"]]
    assert_error(client.get("/api/0/buckets/b/events/999"), 404, "999")
    assert_error(client.get(f"/api/0/buckets/other/events/{inserted[0]['id']}"), 404)
    assert_error(client.get("/api/0/buckets/nope/events/1"), 404, "nope")


def test_delete_event(client: ASGIClient) -> None:
    create_bucket(client, "b")
    create_bucket(client, "other")
    first, second = insert(client, "b", [ev(T0), ev(T0)])
    response = client.delete(f"/api/0/buckets/b/events/{first['id']}")
    assert response.status_code == 200
    assert response.json() == {"success": 1}
    assert client.delete(f"/api/0/buckets/b/events/{first['id']}").json() == {"success": 0}
    # an event of another bucket is not deleted through this one
    assert client.delete(f"/api/0/buckets/other/events/{second['id']}").json() == {"success": 0}
    assert events(client, "b") == [second]
    assert_error(client.delete("/api/0/buckets/nope/events/1"), 404, "nope")


def test_count(client: ASGIClient) -> None:
    create_bucket(client, "b")
    response = client.get("/api/0/buckets/b/events/count")
    assert (response.status_code, response.content) == (200, b"0")
    assert response.headers["content-type"] == "application/json"
    insert(client, "b", [ev(f"2020-01-01T00:00:0{i}Z", 1.0) for i in range(5)])
    assert client.get("/api/0/buckets/b/events/count").content == b"5"
    count = client.get("/api/0/buckets/b/events/count",
                       params={"start": "2020-01-01T00:00:02Z", "end": "2020-01-01T00:00:03Z"})
    assert count.json() == 3  # [1,2) touches start, [2,3) and [3,4) start inside
    count = client.get("/api/0/buckets/b/events/count",
                       params={"start": "2020-01-01T00:00:03Z", "end": "2020-01-01T00:00:01Z"})
    assert count.json() == 0
    assert client.get("/api/0/buckets/b/events/count",
                      params={"start": "2020-01-01T00:00:04.5Z"}).json() == 1
    assert client.get("/api/0/buckets/b/events/count",
                      params={"end": "2019-12-31T23:59:59Z"}).json() == 0
    assert_error(client.get("/api/0/buckets/nope/events/count"), 404, "nope")


def test_list_newest_first_with_limit(client: ASGIClient) -> None:
    """aw-datastore ``test_events_get_filters``."""
    create_bucket(client, "b")
    insert(client, "b", [ev("2000-01-01T00:00:00Z", 1.0, {"n": 1}),
                         ev("2000-01-01T00:00:10Z", 1.0, {"n": 2})])
    assert [e["data"]["n"] for e in events(client, "b")] == [2, 1]
    assert [e["data"]["n"] for e in events(client, "b", limit=1)] == [2]
    # a start filter includes the event starting at start; an end filter the one starting at end
    assert [e["data"]["n"] for e in events(client, "b", start="2000-01-01T00:00:10Z")] == [2]
    assert [e["data"]["n"] for e in events(client, "b", end="2000-01-01T00:00:00Z")] == [1]
    assert client.get("/api/0/buckets/b/events/count",
                      params={"start": "2000-01-01T00:00:00Z",
                              "end": "2000-01-01T00:00:10Z"}).json() == 2


def test_limit_values(client: ASGIClient) -> None:
    """aw-server (Python) ``test_get_events``: absent/-1/100/1000 → all; 10 → 10; 0 → []."""
    create_bucket(client, "b")
    insert(client, "b", [ev(f"2020-01-{1 + i // 24:02d}T{i % 24:02d}:00:00Z", 1.0, {"i": i})
                         for i in range(100)])
    assert len(events(client, "b")) == 100
    for limit in (-1, 100, 1000, 5000, ""):
        assert len(events(client, "b", limit=limit)) == 100, limit
    newest = events(client, "b", limit=10)
    assert [e["data"]["i"] for e in newest] == list(range(99, 89, -1))
    assert events(client, "b", limit=0) == []


def test_many_events_roundtrip(client: ASGIClient) -> None:
    """aw-server (Python) ``test_store_many_events``: all returned, newest first."""
    create_bucket(client, "b")
    sent = [ev(f"2020-01-01T00:{i // 60:02d}:{i % 60:02d}Z", 1.0, {"i": i}) for i in range(1000)]
    insert(client, "b", sent)
    got = events(client, "b", limit=-1)
    assert [e["data"]["i"] for e in got] == list(range(999, -1, -1))
    assert [(e["timestamp"], e["duration"], e["data"]) for e in reversed(got)] == [
        (e["timestamp"], e["duration"], e["data"]) for e in sent]


def test_equal_timestamps_in_id_order(client: ASGIClient) -> None:
    create_bucket(client, "b")
    ids = [e["id"] for e in insert(client, "b", [ev(T0, float(i)) for i in range(5)])]
    insert(client, "b", [ev("2018-01-01T01:01:00Z")])
    listed = events(client, "b")
    assert [e["id"] for e in listed[:5]] == ids
    assert [e["id"] for e in events(client, "b", limit=3)] == ids[:3]


def test_clipping_to_the_range(client: ASGIClient) -> None:
    """Spec §2.4's probed example, with aw-server-rust's exact answers."""
    create_bucket(client, "b")
    (event,) = insert(client, "b", [ev("2020-01-01T00:00:00Z", 172800.0, {"long": 1})])
    got = events(client, "b", start="2020-01-01T23:00:00Z", end="2020-01-02T00:00:00Z")
    assert got == [{**event, "timestamp": "2020-01-01T23:00:00Z", "duration": 3600.0}]
    got = events(client, "b", start="2020-01-02T12:00:00Z", end="2020-01-02T13:00:00Z")
    assert got == [{**event, "timestamp": "2020-01-02T12:00:00Z", "duration": 3600.0}]
    assert client.get("/api/0/buckets/b/events/count",
                      params={"start": "2020-01-02T12:00:00Z",
                              "end": "2020-01-02T13:00:00Z"}).json() == 1
    got = events(client, "b", end="2020-01-02T13:00:00Z")
    assert got == [{**event, "duration": 133200.0}]
    got = events(client, "b", start="2020-01-02T13:00:00.5Z")
    assert got == [{**event, "timestamp": "2020-01-02T13:00:00.500Z", "duration": 39599.5}]
    # the stored event is untouched
    assert events(client, "b") == [event]


def test_event_covering_the_whole_range(client: ASGIClient) -> None:
    """aw-datastore ``test_get_events_filters_cover``."""
    create_bucket(client, "b")
    insert(client, "b", [ev("2000-01-01T00:00:00Z", 3600.0 * 24 * 365)])
    params = {"start": "2000-06-01T00:00:00Z", "end": "2000-06-02T00:00:00Z"}
    got = events(client, "b", **params)
    assert [(e["timestamp"], e["duration"]) for e in got] == [("2000-06-01T00:00:00Z", 86400.0)]
    assert client.get("/api/0/buckets/b/events/count", params=params).json() == 1


def test_interval_with_limit(client: ASGIClient) -> None:
    """aw-server (Python) ``test_get_events_interval``, scaled down: inclusive end, clipped."""
    create_bucket(client, "b")
    sent = [ev(f"2020-01-{1 + i // 24:02d}T{i % 24:02d}:00:00Z", 3600.0, {"i": i})
            for i in range(100)]
    insert(client, "b", sent)
    got = events(client, "b", limit=50, start="2020-01-02T00:00:00Z", end="2020-01-03T00:00:00Z")
    # inclusive at both ends: the event starting at `end` and the one ending at `start`
    # are returned, clipped to nothing
    assert [e["data"]["i"] for e in got] == list(range(48, 22, -1))
    assert (got[0]["timestamp"], got[0]["duration"]) == ("2020-01-03T00:00:00Z", 0.0)
    assert (got[-1]["timestamp"], got[-1]["duration"]) == ("2020-01-02T00:00:00Z", 0.0)
    assert all(e["duration"] == 3600.0 for e in got[1:-1])
    got = events(client, "b", limit=5, start="2020-01-02T00:00:00Z", end="2020-01-03T00:00:00Z")
    assert [e["data"]["i"] for e in got] == [48, 47, 46, 45, 44]


def test_start_after_end_is_empty(client: ASGIClient) -> None:
    create_bucket(client, "b")
    insert(client, "b", [ev("2020-01-01T00:00:00Z", 86400.0)])
    assert events(client, "b", start="2020-01-01T12:00:00Z", end="2020-01-01T11:00:00Z") == []


def test_range_with_negative_durations(client: ASGIClient) -> None:
    """Negative durations are stored as given and filtered by ``end >= start``."""
    create_bucket(client, "b")
    insert(client, "b", [ev("2020-01-01T00:00:10Z", -5.0, {"n": "neg"}),
                         ev("2020-01-01T00:00:00Z", 4.0, {"n": "pos"})])
    params = {"start": "2020-01-01T00:00:06Z", "end": "2020-01-01T00:01:00Z"}
    assert events(client, "b", **params) == []
    assert client.get("/api/0/buckets/b/events/count", params=params).json() == 0
    params = {"start": "2020-01-01T00:00:05Z", "end": "2020-01-01T00:01:00Z"}
    assert [e["data"]["n"] for e in events(client, "b", **params)] == ["neg"]
    assert client.get("/api/0/buckets/b/events/count", params=params).json() == 1


def test_events_before_1970(client: ASGIClient) -> None:
    create_bucket(client, "b")
    inserted = insert(client, "b", [ev("1969-12-31T23:59:59.5Z", 0.25),
                                    ev("1900-01-01T00:00:00Z", 1.0)])
    assert events(client, "b") == inserted
    assert [e["timestamp"] for e in events(client, "b", start="1969-01-01T00:00:00Z")] == [
        "1969-12-31T23:59:59.500Z"]


def test_future_events_accepted(client: ASGIClient) -> None:
    create_bucket(client, "b")
    inserted = insert(client, "b", [ev("2262-04-11T00:00:00Z", 3600.0)])
    assert events(client, "b") == inserted


def test_range_params_accept_lenient_forms(client: ASGIClient) -> None:
    create_bucket(client, "b")
    insert(client, "b", [ev("2020-01-01T12:00:00Z", 1.0)])
    for start in ("2020-01-01", "2020-01-01T12:00:00", "2020-01-01T14:00:00+02:00",
                  "2020-01-01T12:00:00.000000000Z", "2020-01-01t12:00:00z"):
        assert len(events(client, "b", start=start)) == 1, start
    assert events(client, "b", start="2020-01-01T12:00:01.000000001Z") == []


def _ids(listed: list[dict[str, Any]]) -> list[int]:
    return [e["id"] for e in listed]


def test_insert_batch_replacing_twice_in_one_request(client: ASGIClient) -> None:
    create_bucket(client, "b")
    (original,) = insert(client, "b", [ev(T0)])
    insert(client, "b", [ev(T0, 1.0, {"v": 1}, event_id=original["id"]),
                         ev(T0, 2.0, {"v": 2}, event_id=original["id"])])
    assert events(client, "b") == [{"id": original["id"], "timestamp": T0, "duration": 2.0,
                                     "data": {"v": 2}}]
    assert _ids(events(client, "b")) == [original["id"]]


def test_concurrent_inserts_get_unique_ids(client: ASGIClient) -> None:
    create_bucket(client, "a")
    create_bucket(client, "b")

    async def burst() -> list[dict[str, Any]]:
        responses = await asyncio.gather(*[
            client.client.post(f"/api/0/buckets/{'ab'[i % 2]}/events",
                               json=[ev(T0, float(i)), ev(T0, float(i))]) for i in range(100)])
        assert {r.status_code for r in responses} == {200}
        return [e for r in responses for e in r.json()]

    inserted = client._run(burst())
    ids = [e["id"] for e in inserted]
    assert len(set(ids)) == 200 and sorted(ids) == list(range(1, 201))
    listed = events(client, "a") + events(client, "b")
    assert sorted(e["id"] for e in listed) == sorted(ids)


def test_a_bad_event_in_a_large_batch_is_named_and_nothing_is_inserted(
        client: ASGIClient) -> None:
    """Large lists are validated column-wise on the validator thread; the 400 still names
    the first bad event, as for a small list."""
    create_bucket(client, "b")
    sent = [ev(f"2020-01-01T00:{i // 60:02d}:{i % 60:02d}Z", 1.0, {"i": i}) for i in range(600)]
    sent[417] = ev("2020-02-30T00:00:00Z", 1.0)
    sent[500] = ev(T0, 1e300)
    assert_error(client.post("/api/0/buckets/b/events", json=sent), 400, "$[417].timestamp")
    sent[417] = ev(T0, 1.0)
    assert_error(client.post("/api/0/buckets/b/events", json=sent), 400, "$[500].duration")
    sent[500] = ev(T0, "x")  # type: ignore[arg-type]  # a wrong type: found while decoding
    assert_error(client.post("/api/0/buckets/b/events", json=sent), 400, "$[500].duration")
    assert client.get("/api/0/buckets/b/events/count").content == b"0"
