"""Buckets: E1 info, E2 list, E3 get, E4 create, E6 delete (spec §2.2, §2.3, §3)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from fastaw.timefmt import parse_datetime
from tests.api_helpers import BUCKET_BODY, assert_error, create_bucket, ev, events, insert
from tests.asgi_client import ASGIClient

BUCKET_KEYS = ["id", "type", "client", "hostname", "created", "data", "metadata", "events",
               "last_updated", "name"]


def test_info(client: ASGIClient) -> None:
    response = client.get("/api/0/info")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    info = response.json()
    assert set(info) == {"hostname", "version", "testing", "device_id"}
    assert info["hostname"] == socket.gethostname()
    assert info["testing"] is False
    assert info["version"].startswith("v") and info["version"].endswith(" (fastaw)")
    # the web UI strips everything after the first space and wants a semver
    major, minor, patch = info["version"][1:].split(" ")[0].split("+")[0].split(".")[:3]
    assert major.isdigit() and minor.isdigit() and patch[0].isdigit()
    assert len(info["device_id"]) == 36
    assert client.get("/api/0/info").json()["device_id"] == info["device_id"]


def test_info_testing_flag(make_client: Callable[..., ASGIClient]) -> None:
    client = make_client(testing=True)
    assert client.get("/api/0/info").json()["testing"] is True


def test_bucket_lifecycle(client: ASGIClient) -> None:
    """Port of aw-server-rust ``test_bucket``."""
    response = client.get("/api/0/buckets/")
    assert response.status_code == 200
    assert response.json() == {}
    assert_error(client.get("/api/0/buckets/id"), 404, "id")

    response = client.post("/api/0/buckets/id", json={"id": "id", **BUCKET_BODY})
    assert response.status_code == 200
    assert response.content == b""
    assert "content-type" not in response.headers

    again = client.post("/api/0/buckets/id", json={"id": "id", **BUCKET_BODY})
    assert again.status_code == 304
    assert again.content == b""

    buckets = client.get("/api/0/buckets/").json()
    assert list(buckets) == ["id"]
    bucket = buckets["id"]
    assert (bucket["id"], bucket["type"], bucket["client"], bucket["hostname"]) == (
        "id", "currentwindow", "test-client", "testhost")
    assert bucket["events"] is None
    assert bucket["metadata"] == {"start": None, "end": None}
    assert bucket["last_updated"] is None
    assert client.get("/api/0/buckets/id").json() == bucket

    assert_error(client.get("/api/0/buckets/invalid_bucket"), 404, "invalid_bucket")
    response = client.delete("/api/0/buckets/id")
    assert response.status_code == 200
    assert response.content == b""
    assert_error(client.get("/api/0/buckets/id"), 404)
    assert client.get("/api/0/buckets/").json() == {}


def test_bucket_shape_and_key_order(client: ASGIClient) -> None:
    create_bucket(client, "b", created="2024-01-01T10:00:00.123456789Z")
    response = client.get("/api/0/buckets/b")
    assert response.headers["content-type"] == "application/json"
    bucket = response.json()
    assert list(bucket) == BUCKET_KEYS
    assert bucket["created"] == "2024-01-01T10:00:00.123456789Z"
    assert bucket["data"] == {}
    assert bucket["name"] is None


def test_created_defaults_to_now(client: ASGIClient) -> None:
    before = time.time_ns()
    create_bucket(client, "b")
    after = time.time_ns()
    created = parse_datetime(client.get("/api/0/buckets/b").json()["created"])
    assert before <= created <= after


def test_create_honours_created_data_and_events(client: ASGIClient) -> None:
    body = {
        **BUCKET_BODY,
        "created": "2020-01-01T02:00:00+02:00",
        "data": {"device_id": "abc", "nested": {"n": 1, "f": 1.0}},
        "events": [ev("2020-01-02T00:00:00Z", 10.0, {"a": 1}),
                   ev("2020-01-01T00:00:00Z", 5.0, {"a": 2})],
    }
    assert client.post("/api/0/buckets/full", json=body).status_code == 200
    bucket = client.get("/api/0/buckets/full").json()
    assert bucket["created"] == "2020-01-01T00:00:00Z"
    assert bucket["data"] == {"device_id": "abc", "nested": {"f": 1.0, "n": 1}}
    assert isinstance(bucket["data"]["nested"]["f"], float)
    assert isinstance(bucket["data"]["nested"]["n"], int)
    assert bucket["metadata"] == {"start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:10Z"}
    assert bucket["last_updated"] == "2020-01-02T00:00:10Z"
    listed = events(client, "full")
    assert [(e["timestamp"], e["duration"], e["data"]) for e in listed] == [
        ("2020-01-02T00:00:00Z", 10.0, {"a": 1}), ("2020-01-01T00:00:00Z", 5.0, {"a": 2})]
    assert all(isinstance(e["id"], int) for e in listed)


def test_create_accepts_aw_client_rust_bucket(client: ASGIClient) -> None:
    """aw-client-rust posts a whole serialized Bucket, nulls included; the path names it."""
    body = {"id": "some-other-id", "name": None, "type": "t", "client": "c", "hostname": "h",
            "created": None, "data": {}, "metadata": {"start": None, "end": None},
            "events": None, "last_updated": None, "unknown": [1, 2]}
    assert client.post("/api/0/buckets/from-path", json=body).status_code == 200
    assert list(client.get("/api/0/buckets/").json()) == ["from-path"]
    assert client.get("/api/0/buckets/from-path").json()["id"] == "from-path"


def test_create_existing_changes_nothing(client: ASGIClient) -> None:
    create_bucket(client, "b", data={"v": 1})
    insert(client, "b", [ev("2020-01-01T00:00:00Z", 1.0)])
    before = client.get("/api/0/buckets/b").json()
    response = client.post("/api/0/buckets/b", json={
        "type": "other", "client": "other", "hostname": "other", "data": {"v": 2},
        "created": "2000-01-01T00:00:00Z", "events": [ev("2021-01-01T00:00:00Z", 1.0)]})
    assert response.status_code == 304
    assert response.content == b""
    assert client.get("/api/0/buckets/b").json() == before
    assert client.get("/api/0/buckets/b/events/count").json() == 1


def test_local_hostname(client: ASGIClient) -> None:
    device_id = client.get("/api/0/info").json()["device_id"]
    create_bucket(client, "web", hostname="!local", data={"browser": "firefox"})
    bucket = client.get("/api/0/buckets/web").json()
    assert bucket["hostname"] == socket.gethostname()
    assert bucket["data"] == {"browser": "firefox", "device_id": device_id}


def test_device_id_reuses_aw_server_rust_file(make_client: Callable[..., ASGIClient]) -> None:
    from fastaw.config import aw_server_rust_device_id_file

    path = aw_server_rust_device_id_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("2240971d-bd6d-43a3-b0d8-23f34698bc4d\n", encoding="utf-8")
    client = make_client()
    assert client.get("/api/0/info").json()["device_id"] == "2240971d-bd6d-43a3-b0d8-23f34698bc4d"


def test_list_several_buckets(client: ASGIClient) -> None:
    for name in ("b1", "b2", "b3"):
        create_bucket(client, name, type=f"type-{name}")
    buckets = client.get("/api/0/buckets/").json()
    assert sorted(buckets) == ["b1", "b2", "b3"]
    assert all(b["id"] == name and b["type"] == f"type-{name}" for name, b in buckets.items())


def test_metadata_follows_events(client: ASGIClient) -> None:
    create_bucket(client, "b")
    first, middle, last = insert(client, "b", [
        ev("2020-01-01T00:00:00Z", 60.0), ev("2020-01-01T01:00:00Z", 7200.0),
        ev("2020-01-01T02:00:00Z", 60.0)])
    meta = client.get("/api/0/buckets/b").json()["metadata"]
    # the end is the largest end, not the end of the event that starts last
    assert meta == {"start": "2020-01-01T00:00:00Z", "end": "2020-01-01T03:00:00Z"}
    client.delete(f"/api/0/buckets/b/events/{middle['id']}")
    bucket = client.get("/api/0/buckets/b").json()
    assert bucket["metadata"] == {"start": "2020-01-01T00:00:00Z", "end": "2020-01-01T02:01:00Z"}
    assert bucket["last_updated"] == "2020-01-01T02:01:00Z"
    client.delete(f"/api/0/buckets/b/events/{first['id']}")
    client.delete(f"/api/0/buckets/b/events/{last['id']}")
    bucket = client.get("/api/0/buckets/b").json()
    assert bucket["metadata"] == {"start": None, "end": None}
    assert bucket["last_updated"] is None


def test_delete_bucket_removes_its_events(client: ASGIClient) -> None:
    create_bucket(client, "b")
    create_bucket(client, "keep")
    insert(client, "b", [ev("2020-01-01T00:00:00Z", 1.0), ev("2020-01-01T00:00:01Z", 1.0)])
    kept = insert(client, "keep", [ev("2020-01-01T00:00:00Z", 1.0)])
    assert client.delete("/api/0/buckets/b?force=1").status_code == 200
    assert_error(client.get("/api/0/buckets/b/events"), 404, "b")
    create_bucket(client, "b")
    assert events(client, "b") == []
    assert client.get("/api/0/buckets/b").json()["metadata"] == {"start": None, "end": None}
    assert events(client, "keep") == kept
    # ids stay unique after a bucket is deleted and recreated
    again = insert(client, "b", [ev("2020-01-01T00:00:00Z", 1.0)])
    assert again[0]["id"] > kept[0]["id"]


def test_delete_missing_bucket(client: ASGIClient) -> None:
    assert_error(client.delete("/api/0/buckets/nope"), 404, "nope")


def test_require_force_delete(make_client: Callable[..., ASGIClient]) -> None:
    client = make_client(require_force_delete=True)
    create_bucket(client, "b")
    assert_error(client.delete("/api/0/buckets/b"), 401, "force=1")
    assert_error(client.delete("/api/0/buckets/b?force=true"), 401, "force=1")
    assert client.get("/api/0/buckets/b").status_code == 200
    assert client.delete("/api/0/buckets/b?force=1").status_code == 200
    assert client.get("/api/0/buckets/b").status_code == 404


def test_bucket_id_too_long_for_the_store(client: ASGIClient) -> None:
    long_id = "x" * 600
    assert_error(client.post(f"/api/0/buckets/{long_id}", json=BUCKET_BODY), 400, "bucket id")
    assert_error(client.get(f"/api/0/buckets/{long_id}"), 404)
    assert client.get("/api/0/buckets/").json() == {}
    ok_id = "é" * 255  # 510 bytes: the longest that fits
    assert client.post(f"/api/0/buckets/{ok_id}", json=BUCKET_BODY).status_code == 200
    assert list(client.get("/api/0/buckets/").json()) == [ok_id]
