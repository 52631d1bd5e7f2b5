"""Path matching (spec §1.2 [REC]): every route with and without a trailing slash and with
doubled slashes, no redirects; percent-decoded segments; HEAD for every GET route."""

from __future__ import annotations

import json

import pytest

from tests.api_helpers import BASE, BUCKET_BODY, assert_error, create_bucket, ev, insert, raw_call
from tests.asgi_client import ASGIClient

GET_ROUTES = [
    "/api/0/info",
    "/api/0/buckets",
    "/api/0/buckets/b",
    "/api/0/buckets/b/events",
    "/api/0/buckets/b/events/count",
    "/api/0/buckets/b/events/1",
    "/api/0/buckets/b/export",
    "/api/0/export",
    "/api/0/settings",
    "/api/0/settings/k",
]


def spellings(path: str) -> list[str]:
    """The same route written as clients (and sloppy scripts) write it."""
    inner = path.replace("/api/0/", "/api/0//")
    return [path, path + "/", BASE + "/" + path, BASE + "/" + path + "/", inner, path + "//"]


@pytest.fixture
def populated(client: ASGIClient) -> ASGIClient:
    create_bucket(client, "b")
    insert(client, "b", [ev("2020-01-01T00:00:00Z", 1.0)])
    client.post("/api/0/settings/k", json="v")
    return client


@pytest.mark.parametrize("path", GET_ROUTES)
def test_get_routes_match_every_spelling(populated: ASGIClient, path: str) -> None:
    expected = populated.get(path)
    assert expected.status_code == 200, expected.text
    for spelling in spellings(path):
        response = populated.get(spelling)
        assert response.status_code == 200, spelling
        assert "location" not in response.headers
        assert response.content == expected.content, spelling


def test_post_and_delete_routes_match_every_spelling(client: ASGIClient) -> None:
    for i in range(6):
        spelling = spellings(f"/api/0/buckets/b{i}")[i]
        assert client.post(spelling, json=BUCKET_BODY).status_code == 200, spelling
    assert len(client.get("/api/0/buckets/").json()) == 6
    for i, spelling in enumerate(spellings("/api/0/buckets/b/events")):
        inserted = client.post(spelling, json=[ev(f"2020-01-01T00:00:0{i}Z")])
        assert inserted.status_code == 404  # bucket "b" does not exist: the route matched
        assert inserted.json()["message"].startswith("The requested bucket 'b'")
    create_bucket(client, "b")
    for spelling in spellings("/api/0/buckets/b/events"):
        assert client.post(spelling, json=[ev("2020-01-01T00:00:00Z")]).status_code == 200
    for spelling in spellings("/api/0/buckets/b/heartbeat"):
        response = client.post(spelling + "?pulsetime=1", json=ev("2020-01-01T00:00:00Z"))
        assert response.status_code == 200, spelling
    for spelling in spellings("/api/0/settings/k"):
        assert client.post(spelling, json=1).status_code == 201, spelling
        assert client.delete(spelling).status_code == 200, spelling
    for spelling in spellings("/api/0/import"):
        response = client.post(spelling, json={"buckets": {}})
        assert response.status_code == 200, spelling
    event_id = client.get("/api/0/buckets/b/events?limit=1").json()[0]["id"]
    assert client.delete(f"/api/0/buckets/b/events/{event_id}/").json() == {"success": 1}
    for i in range(6):
        spelling = spellings(f"/api/0/buckets/b{i}")[i]
        assert client.delete(spelling).status_code == 200, spelling
    assert list(client.get("/api/0/buckets/").json()) == ["b"]


def test_client_spellings(populated: ASGIClient) -> None:
    """What aw-client, aw-client-js and aw-client-rust actually send."""
    for path in ("/api/0/buckets/", "/api/0/export", "/api/0/settings", "/api/0/settings/k",
                 "/api/0/buckets/b/events?limit=-1", "/api/0/buckets/b/events/count"):
        assert populated.get(path).status_code == 200, path


def test_percent_encoded_slash_is_part_of_the_id(client: ASGIClient) -> None:
    """aw-server-rust decodes segments: ``a%2Fb`` names the bucket ``a/b``."""
    assert client.post("/api/0/buckets/a%2Fb", json=BUCKET_BODY).status_code == 200
    assert list(client.get("/api/0/buckets/").json()) == ["a/b"]
    assert client.get("/api/0/buckets/a%2Fb").json()["id"] == "a/b"
    assert client.get("/api/0/buckets/a%2fb").json()["id"] == "a/b"
    (event,) = insert(client, "a%2Fb", [ev("2020-01-01T00:00:00Z")])
    assert client.get(f"/api/0/buckets/a%2Fb/events/{event['id']}").json() == event
    assert client.get("/api/0/buckets/a%2Fb/events/count").json() == 1
    # the unencoded spelling is another path (and no route)
    assert_error(client.get("/api/0/buckets/a/b"), 404)
    assert list(client.get("/api/0/buckets/a%2Fb/export").json()["buckets"]) == ["a/b"]
    assert client.delete("/api/0/buckets/a%2Fb").status_code == 200
    assert client.get("/api/0/buckets/").json() == {}


@pytest.mark.parametrize(("encoded", "bucket_id"), [
    ("with%20space", "with space"), ("caf%C3%A9", "café"), ("%E2%9C%93%F0%9F%98%80", "✓😀"),
    ("q%3Fx", "q?x"), ("h%23sh", "h#sh"), ("pct%25", "pct%"), ("plus+sign", "plus+sign"),
    ("aw-watcher-window_my-host.local", "aw-watcher-window_my-host.local"),
])
def test_bucket_ids_are_percent_decoded(client: ASGIClient, encoded: str, bucket_id: str) -> None:
    assert client.post(f"/api/0/buckets/{encoded}", json=BUCKET_BODY).status_code == 200
    assert list(client.get("/api/0/buckets/").json()) == [bucket_id]
    assert client.get(f"/api/0/buckets/{encoded}").json()["id"] == bucket_id


def test_raw_utf8_in_the_path(client: ASGIClient) -> None:
    """A client that sends UTF-8 unencoded (curl does) names the same bucket."""
    headers = [(b"host", b"127.0.0.1:5600"), (b"content-type", b"application/json")]
    status, _, body = raw_call(client, "POST", "/api/0/buckets/café ✓".encode(), headers,
                               json.dumps(BUCKET_BODY).encode())
    assert status == 200, body
    assert list(client.get("/api/0/buckets/").json()) == ["café ✓"]
    assert client.get("/api/0/buckets/caf%C3%A9%20%E2%9C%93").status_code == 200
    status, _, _ = raw_call(client, "GET", b"/api/0/buckets/caf\xc3\xa9%20%E2%9C%93", headers)
    assert status == 200
    # the same in a query string (the export filter names buckets)
    status, _, body = raw_call(client, "GET", "/api/0/export?bucket=café ✓".encode(), headers)
    assert status == 200 and list(json.loads(body)["buckets"]) == ["café ✓"]
    # bytes that are not UTF-8 cannot name it (nor crash anything)
    status, _, _ = raw_call(client, "GET", b"/api/0/buckets/caf\xe9", headers)
    assert status == 404


def test_count_segment_wins_over_an_event_id(client: ASGIClient) -> None:
    create_bucket(client, "b")
    insert(client, "b", [ev("2020-01-01T00:00:00Z")] * 3)
    assert client.get("/api/0/buckets/b/events/count").content == b"3"


def test_bucket_named_like_a_route_word(client: ASGIClient) -> None:
    for name in ("events", "count", "export", "heartbeat", "buckets"):
        create_bucket(client, name)
        insert(client, name, [ev("2020-01-01T00:00:00Z")])
        assert client.get(f"/api/0/buckets/{name}/events/count").json() == 1
    assert sorted(client.get("/api/0/buckets").json()) == [
        "buckets", "count", "events", "export", "heartbeat"]


@pytest.mark.parametrize("path", GET_ROUTES)
def test_head_answers_every_get_route_without_a_body(populated: ASGIClient, path: str) -> None:
    get = populated.get(path)
    head = populated.request("HEAD", path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    if "content-length" in get.headers:
        assert head.headers["content-length"] == get.headers["content-length"]


def test_head_of_missing_resources(client: ASGIClient) -> None:
    for path in ("/api/0/buckets/nope", "/api/0/nope", "/api/0/buckets/nope/events/1"):
        response = client.request("HEAD", path)
        assert response.status_code == 404
        assert response.content == b""
        assert response.headers["content-type"] == "application/json"


def test_head_does_not_write(client: ASGIClient) -> None:
    response = client.request("HEAD", "/api/0/buckets/b")
    assert response.status_code == 404
    assert client.get("/api/0/buckets/").json() == {}


def test_root_page(client: ASGIClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
