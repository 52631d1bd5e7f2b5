"""Client mistakes: always a 4xx JSON ``{"message": ...}`` naming what was wrong — never HTML,
never a 500 (DESIGN §1; spec §1.3, §1.4)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api_helpers import BUCKET_BODY, assert_error, create_bucket, ev, events, raw_call
from tests.asgi_client import ASGIClient

POST_JSON_ENDPOINTS = [
    "/api/0/buckets/new",
    "/api/0/buckets/b/events",
    "/api/0/buckets/b/heartbeat?pulsetime=1",
    "/api/0/settings/k",
    "/api/0/import",
]


@pytest.fixture
def with_bucket(client: ASGIClient) -> ASGIClient:
    create_bucket(client, "b")
    return client


def _unchanged(client: ASGIClient) -> None:
    assert sorted(client.get("/api/0/buckets/").json()) == ["b"]
    assert events(client, "b") == []
    assert client.get("/api/0/settings").json() == {}


@pytest.mark.parametrize("path", POST_JSON_ENDPOINTS)
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "application/xml", "application/jsonx", "*/*"])
def test_non_json_content_type_is_415(with_bucket: ASGIClient, path: str,
                                      content_type: str | None) -> None:
    if path == "/api/0/import" and content_type is None:
        content_type = "text/html"
    headers = {} if content_type is None else {"content-type": content_type}
    body = json.dumps(ev("2020-01-01T00:00:00Z")).encode()
    assert_error(with_bucket.post(path, content=body, headers=headers), 415, "Content-Type")
    _unchanged(with_bucket)


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8",
                                          "Application/JSON", "application/json;charset=UTF-8"])
def test_json_content_type_parameters_are_accepted(with_bucket: ASGIClient,
                                                   content_type: str) -> None:
    response = with_bucket.post("/api/0/buckets/b/events", headers={"content-type": content_type},
                                content=json.dumps([ev("2020-01-01T00:00:00Z")]).encode())
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", POST_JSON_ENDPOINTS)
@pytest.mark.parametrize("body", [b"", b"   ", b"{", b"[{]", b"{'a': 1}", b"nul", b"\xff\xfe",
                                  b'{"timestamp": "2020-01-01"} trailing', b"[1,]"])
def test_malformed_json_is_400(with_bucket: ASGIClient, path: str, body: bytes) -> None:
    response = with_bucket.post(path, content=body, headers={"content-type": "application/json"})
    assert_error(response, 400)
    _unchanged(with_bucket)


@pytest.mark.parametrize(("path", "body", "named"), [
    ("/api/0/buckets/new", {"client": "c", "hostname": "h"}, "type"),
    ("/api/0/buckets/new", {**BUCKET_BODY, "type": 1}, "type"),
    ("/api/0/buckets/new", {**BUCKET_BODY, "hostname": None}, "hostname"),
    ("/api/0/buckets/new", {**BUCKET_BODY, "data": []}, "data"),
    ("/api/0/buckets/new", {**BUCKET_BODY, "created": "yesterday"}, "created"),
    ("/api/0/buckets/new", {**BUCKET_BODY, "created": 5}, "created"),
    ("/api/0/buckets/new", {**BUCKET_BODY, "events": [{"data": {}}]}, "timestamp"),
    ("/api/0/buckets/new", {**BUCKET_BODY, "events": {}}, "events"),
    ("/api/0/buckets/new", [BUCKET_BODY], "object"),
    ("/api/0/buckets/b/events", [{"data": {}}], "timestamp"),
    ("/api/0/buckets/b/events", [{"timestamp": "2020-01-01T00:00:00Z"}], "data"),
    ("/api/0/buckets/b/events", [ev("2020-01-01T00:00:00Z"), {"timestamp": 1, "data": {}}],
     "$[1].timestamp"),
    ("/api/0/buckets/b/events", [{**ev("2020-01-01T00:00:00Z"), "data": "text"}], "data"),
    ("/api/0/buckets/b/events", [{**ev("2020-01-01T00:00:00Z"), "data": None}], "data"),
    ("/api/0/buckets/b/events", [{**ev("2020-01-01T00:00:00Z"), "duration": "1"}],
     "duration"),
    ("/api/0/buckets/b/events", [{**ev("2020-01-01T00:00:00Z"), "duration": True}],
     "duration"),
    ("/api/0/buckets/b/events", [{**ev("2020-01-01T00:00:00Z"), "duration": 1e300}],
     "duration"),
    ("/api/0/buckets/b/events", [{**ev("2020-01-01T00:00:00Z"), "id": -1}], "id"),
    ("/api/0/buckets/b/events", [{**ev("2020-01-01T00:00:00Z"), "id": 1.5}], "id"),
    ("/api/0/buckets/b/events", [{**ev("2020-01-01T00:00:00Z"), "id": "1"}], "id"),
    ("/api/0/buckets/b/events", [ev("2020-13-01T00:00:00Z")], "timestamp"),
    ("/api/0/buckets/b/events", [ev("2020-01-01T00:00:00")] * 2 + [ev("1600-01-01")],
     "$[2].timestamp"),
    ("/api/0/buckets/b/events", [ev("2262-04-11T23:47:16Z", 1.0)], "$[0]"),
    ("/api/0/buckets/b/events", [ev("9999-01-01T00:00:00Z")], "timestamp"),
    ("/api/0/buckets/b/events", "text", "body"),
    ("/api/0/buckets/b/events", [[]], "$[0]"),
    ("/api/0/buckets/b/heartbeat?pulsetime=1", [ev("2020-01-01T00:00:00Z")], "object"),
    ("/api/0/buckets/b/heartbeat?pulsetime=1", {"data": {}}, "timestamp"),
    ("/api/0/buckets/b/heartbeat?pulsetime=1", {"timestamp": "now", "data": {}}, "timestamp"),
    ("/api/0/buckets/b/heartbeat?pulsetime=1", {"timestamp": "2020-01-01", "data": 1}, "data"),
])
def test_wrong_shapes_are_400_naming_the_field(with_bucket: ASGIClient, path: str, body: Any,
                                               named: str) -> None:
    assert_error(with_bucket.post(path, json=body), 400, named)
    _unchanged(with_bucket)


@pytest.mark.parametrize(("query", "named"), [
    ("start=yesterday", "start"), ("end=2020-02-30T00:00:00Z", "end"), ("start=", "start"),
    ("end=", "end"), ("start=2020-01-01T00:00:00+00:00", "start"),  # unencoded '+' is a space
    ("start=1600-01-01T00:00:00Z", "start"), ("end=3000-01-01T00:00:00Z", "end"),
    ("limit=abc", "limit"), ("limit=1.5", "limit"), ("limit=1e3", "limit"),
    ("limit=1_0", "limit"), ("limit=%201", "limit"), ("limit=0x10", "limit"),
])
def test_bad_query_parameters_are_400(with_bucket: ASGIClient, query: str, named: str) -> None:
    assert_error(with_bucket.get(f"/api/0/buckets/b/events?{query}"), 400, f"`{named}`")
    if not query.startswith("limit"):
        assert_error(with_bucket.get(f"/api/0/buckets/b/events/count?{query}"), 400,
                     f"`{named}`")


def test_unknown_query_parameters_are_ignored(with_bucket: ASGIClient) -> None:
    assert with_bucket.get("/api/0/buckets/b/events?foo=bar&starttime=x").status_code == 200


@pytest.mark.parametrize("path", ["/api/0/buckets/b/events/abc", "/api/0/buckets/b/events/1.0",
                                  "/api/0/buckets/b/events/-1", "/api/0/buckets/b/events/%201",
                                  "/api/0/buckets/b/events/1e3"])
def test_bad_event_ids_in_the_path(with_bucket: ASGIClient, path: str) -> None:
    assert_error(with_bucket.get(path), 400, "event id")
    assert_error(with_bucket.delete(path), 400, "event id")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/0/buckets/nope"), ("DELETE", "/api/0/buckets/nope"),
    ("GET", "/api/0/buckets/nope/events"), ("GET", "/api/0/buckets/nope/events/count"),
    ("GET", "/api/0/buckets/nope/events/1"), ("DELETE", "/api/0/buckets/nope/events/1"),
    ("GET", "/api/0/buckets/nope/export"),
])
def test_missing_bucket_is_404_naming_it(client: ASGIClient, method: str, path: str) -> None:
    assert_error(client.request(method, path), 404, "'nope'")


def test_missing_bucket_on_posts(client: ASGIClient) -> None:
    assert_error(client.post("/api/0/buckets/nope/events", json=[ev("2020-01-01")]), 404, "nope")
    assert_error(client.post("/api/0/buckets/nope/heartbeat?pulsetime=1",
                             json=ev("2020-01-01")), 404, "nope")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/0/nope"), ("GET", "/api/1/info"), ("GET", "/api/0"), ("GET", "/api/0/buckets/b/x"),
    ("GET", "/api/0/buckets/b/events/1/x"), ("POST", "/nope"), ("DELETE", "/nope"),
    ("GET", "/nope.html"), ("GET", "/api/0/log"), ("PUT", "/nope"),
])
def test_unknown_paths_are_404_json(client: ASGIClient, method: str, path: str) -> None:
    response = client.request(method, path)
    assert_error(response, 404)
    assert b"<html" not in response.content.lower()


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "/api/0/buckets/b"), ("PATCH", "/api/0/settings/k"), ("POST", "/api/0/info"),
    ("DELETE", "/api/0/export"), ("POST", "/api/0/buckets/b/events/count"),
])
def test_wrong_method_is_405_json(with_bucket: ASGIClient, method: str, path: str) -> None:
    assert_error(with_bucket.request(method, path, json={}), 405, method)


@pytest.mark.parametrize("path", [b"/api/0/buckets/b/events", b"/api/0/import",
                                  b"/api/0/settings/k", b"/api/0/buckets/b/heartbeat?pulsetime=1"])
def test_declared_oversized_body_is_413(with_bucket: ASGIClient, path: bytes) -> None:
    status, headers, body = raw_call(with_bucket, "POST", path, [
        (b"host", b"127.0.0.1:5600"), (b"content-type", b"application/json"),
        (b"content-length", b"99999999999999")], b"[]")
    assert status == 413
    assert headers[b"content-type"] == b"application/json"
    assert "larger than" in json.loads(body)["message"]
    _unchanged(with_bucket)


def test_errors_never_echo_html(client: ASGIClient) -> None:
    response = client.get("/api/0/buckets/<script>alert(1)</script>")
    assert_error(response, 404)
    assert response.headers["content-type"] == "application/json"


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(("path", "body", "content_type"), [
    ("/api/0/buckets/b/events",
     b'[{"timestamp": "2020-01-01", "data": {"a": ' + DEEP + b"}}]", "application/json"),
    ("/api/0/buckets/b/heartbeat?pulsetime=1",
     b'{"timestamp": "2020-01-01", "data": {"a": ' + DEEP + b"}}", "application/json"),
    ("/api/0/buckets/new", b'{"type": "t", "client": "c", "hostname": "h", "data": {"a": '
     + DEEP + b"}}", "application/json"),
    ("/api/0/settings/k", DEEP, "application/json"),
    ("/api/0/import", b'{"buckets": {"x": {"type": "t", "client": "c", "hostname": "h", '
     b'"events": [{"timestamp": "2020-01-01", "data": {"a": ' + DEEP + b"}}]}}}",
     "application/json"),
    ("/api/0/import", b'{"buckets": ' + DEEP + b"}", "application/json"),
    ("/api/0/import", b'{"bucket": "x", "timestamp": "2020-01-01", "data": {"a": ' + DEEP
     + b"}}\n", "application/x-ndjson"),
])
def test_deeply_nested_json_is_400(with_bucket: ASGIClient, path: str, body: bytes,
                                   content_type: str) -> None:
    """msgspec raises RecursionError on very deep nesting; that is the client's mistake."""
    response = with_bucket.post(path, content=body, headers={"content-type": content_type})
    assert_error(response, 400, "nested too deeply")
    _unchanged(with_bucket)


# -- fuzz: only declared errors escape -----------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["timestamp", "duration", "data", "id", "type", "client", "hostname",
                         "created", "events", "buckets", "x"]) | st.text(max_size=5),
        inner, max_size=5),
    max_leaves=12,
)
timestamps = st.sampled_from(["2020-01-01T00:00:00Z", "2020-01-01", "", "x", "1600-01-01",
                              "2262-04-11T23:47:16.854775807Z", "2020-01-01T00:00:00+99:00"])
eventish = st.fixed_dictionaries(
    {}, optional={"timestamp": timestamps | json_values, "duration": json_values,
                  "data": st.dictionaries(st.text(max_size=3), json_values, max_size=3)
                  | json_values, "id": st.integers() | json_values})
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    eventish.map(lambda v: json.dumps(v).encode()),
    st.lists(eventish, max_size=3).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"buckets": st.dictionaries(st.text(max_size=3), st.fixed_dictionaries(
        {"type": st.just("t"), "client": st.just("c"), "hostname": st.just("h")},
        optional={"events": st.lists(eventish, max_size=2), "created": timestamps,
                  "data": json_values}), max_size=2)}).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=40),
)
paths = st.sampled_from([*POST_JSON_ENDPOINTS, "/api/0/buckets/b/events?x=1",
                         "/api/0/buckets/b/heartbeat?pulsetime=0.5"])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(paths, bodies)
def test_fuzzed_bodies_never_500(with_bucket: ASGIClient, path: str, body: bytes) -> None:
    response = with_bucket.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        assert_error(response, response.status_code)


query_values = st.text(alphabet=st.characters(codec="utf-8"), max_size=25) | timestamps | (
    st.integers().map(str))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["events", "events/count", "events/1", "export", ""]),
       st.dictionaries(st.sampled_from(["start", "end", "limit", "pulsetime", "force"]),
                       query_values, max_size=3))
def test_fuzzed_query_strings_never_500(with_bucket: ASGIClient, tail: str,
                                        params: dict[str, str]) -> None:
    response = with_bucket.get(f"/api/0/buckets/b/{tail}", params=params)
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        assert_error(response, response.status_code)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["GET", "POST", "DELETE", "HEAD"]),
       st.lists(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/?#"),
                        min_size=1, max_size=8), min_size=1, max_size=6))
def test_fuzzed_paths_never_500(with_bucket: ASGIClient, method: str,
                                segments: list[str]) -> None:
    from urllib.parse import quote

    path = "/" + "/".join(quote(s, safe="") for s in ["api", "0", *segments])
    response = with_bucket.request(method, path, content=b"{}",
                                   headers={"content-type": "application/json"})
    assert response.status_code < 500, (path, response.status_code, response.text)
    if response.status_code >= 400 and method != "HEAD":
        assert_error(response, response.status_code)
