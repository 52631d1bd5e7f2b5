"""CORS (incl. preflight), the Host-header check and the API key (spec §1.9, §7, E23)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.api_helpers import BUCKET_BODY, assert_error, raw_call
from tests.asgi_client import ASGIClient

OWN = "http://127.0.0.1:5600"
KEY_MESSAGE = "Missing or invalid API key"


# -- CORS ----------------------------------------------------------------------------------

@pytest.mark.parametrize("origin", [
    "http://127.0.0.1:5600", "http://localhost:5600",
    "chrome-extension://nglaklhklhcoonedhgnpgddginnjdadi",  # the official aw-watcher-web
    "moz-extension://5c0a0b1c-aaaa-bbbb-cccc-0123456789ab",  # any Firefox extension
])
def test_allowed_origins_are_echoed(client: ASGIClient, origin: str) -> None:
    response = client.get("/api/0/buckets/", headers={"origin": origin})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize("origin", [
    "http://evil.example", "null", "http://127.0.0.1:5601", "https://127.0.0.1:5600",
    "http://localhost:5600.evil.example", "chrome-extension://someotherextensionid",
    "moz-extension://", "http://127.0.0.1:27180",
])
def test_disallowed_origins_are_refused_before_executing(client: ASGIClient,
                                                         origin: str) -> None:
    response = client.post("/api/0/buckets/evil", json=BUCKET_BODY, headers={"origin": origin})
    assert_error(response, 403, "Origin")
    assert "access-control-allow-origin" not in response.headers
    assert client.get("/api/0/buckets/evil").status_code == 404
    # a "simple" cross-origin form POST (no preflight) is refused just the same
    response = client.post("/api/0/import", content=b"x", headers={
        "origin": origin, "content-type": "multipart/form-data; boundary=a"})
    assert_error(response, 403)


def test_requests_without_origin_are_not_cors(client: ASGIClient) -> None:
    response = client.get("/api/0/info")
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_testing_mode_origins(make_client: Callable[..., ASGIClient]) -> None:
    client = make_client(testing=True)
    for origin in ("http://127.0.0.1:27180", "http://localhost:27180",
                   "chrome-extension://anyextension"):
        response = client.get("/api/0/info", headers={"origin": origin})
        assert response.headers["access-control-allow-origin"] == origin


def test_configured_origins(make_client: Callable[..., ASGIClient]) -> None:
    client = make_client(cors=["http://dashboard.example:8080/"],
                         cors_regex=[r"https://[a-z]+\.good\.example"])
    for origin in ("http://dashboard.example:8080", "https://app.good.example"):
        response = client.get("/api/0/info", headers={"origin": origin})
        assert response.headers["access-control-allow-origin"] == origin
    # regexes are anchored: a match inside the origin is not enough
    for origin in ("https://app.good.example.evil.com", "http://x.https://app.good.example",
                   "http://dashboard.example:8081"):
        assert_error(client.get("/api/0/info", headers={"origin": origin}), 403)


def test_preflight(client: ASGIClient) -> None:
    response = client.options("/api/0/buckets/b/events", headers={
        "origin": OWN, "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, authorization"})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == OWN
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "DELETE"} <= methods
    assert response.headers["access-control-allow-headers"] == "content-type, authorization"


def test_preflight_without_origin(client: ASGIClient) -> None:
    """aw-server-rust ``test_cors_catching``."""
    response = client.options("/api/0/buckets/")
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert client.options("/any/path/at/all").status_code == 200


def test_preflight_refusals(client: ASGIClient) -> None:
    assert_error(client.options("/api/0/buckets/", headers={
        "origin": "http://evil.example", "access-control-request-method": "GET"}), 403)
    # a method outside GET/POST/DELETE: 403 like aw-server-rust's CORS layer
    assert_error(client.options("/api/0/buckets/b", headers={
        "origin": OWN, "access-control-request-method": "PUT"}), 403, "PUT")


def test_error_responses_carry_cors_headers(client: ASGIClient) -> None:
    response = client.get("/api/0/buckets/nope", headers={"origin": OWN})
    assert_error(response, 404)
    assert response.headers["access-control-allow-origin"] == OWN


# -- Host header ---------------------------------------------------------------------------

@pytest.mark.parametrize("host", [b"127.0.0.1:5600", b"localhost:5600", b"localhost",
                                  b"127.0.0.1", b"[::1]:5600"])
def test_loopback_hosts_pass(client: ASGIClient, host: bytes) -> None:
    status, _, body = raw_call(client, "GET", b"/api/0/info", [(b"host", host)])
    assert status == 200, body


@pytest.mark.parametrize("headers", [
    [], [(b"host", b"")], [(b"host", b"192.168.0.1:1234")], [(b"host", b"evil.example:5600")],
    [(b"host", b"127.0.0.1.evil.example")], [(b"host", b"localhost.evil.example:5600")],
])
def test_other_hosts_are_refused(client: ASGIClient, headers: list[tuple[bytes, bytes]]) -> None:
    for method, path in (("GET", b"/api/0/info"), ("OPTIONS", b"/api/0/buckets/"),
                         ("GET", b"/"), ("POST", b"/api/0/buckets/x")):
        status, response_headers, body = raw_call(client, method, path, headers, b"{}")
        assert status == 400, (method, path, body)
        assert response_headers[b"content-type"] == b"application/json"
        assert "Host header is invalid" in json.loads(body)["message"]
    assert client.get("/api/0/buckets/x").status_code == 404


def test_host_check_overrides_cors_refusal(client: ASGIClient) -> None:
    """aw-server-rust: a bad Host answers 400 even when the Origin would be refused (403)."""
    status, _, body = raw_call(client, "GET", b"/api/0/info", [
        (b"host", b"evil.example"), (b"origin", b"http://evil.example")])
    assert status == 400, body


@pytest.mark.parametrize("bind", ["0.0.0.0", "192.168.1.10"])
def test_no_host_check_when_not_bound_to_loopback(make_client: Callable[..., ASGIClient],
                                                  bind: str) -> None:
    client = make_client(host=bind)
    for headers in ([], [(b"host", b"192.168.0.1:1234")]):
        status, _, body = raw_call(client, "GET", b"/api/0/info", headers)
        assert status == 200, body


# -- API key -------------------------------------------------------------------------------

def test_no_api_key_configured(client: ASGIClient) -> None:
    assert client.get("/api/0/info").status_code == 200
    assert client.get("/api/0/buckets/").status_code == 200


def test_empty_api_key_disables_auth(make_client: Callable[..., ASGIClient]) -> None:
    client = make_client(api_key="")
    assert client.get("/api/0/buckets/").status_code == 200


@pytest.fixture
def keyed(make_client: Callable[..., ASGIClient]) -> ASGIClient:
    return make_client(api_key="secret123")


def test_api_key_required(keyed: ASGIClient) -> None:
    assert keyed.get("/api/0/info").status_code == 200
    for path in ("/api/0/buckets/", "http://127.0.0.1:5600//api/0/buckets/",
                 "/api/0//buckets/", "/%61pi/0/buckets/", "/api/0/settings",
                 "/api/0/export", "/api/0/nonexistent"):
        response = keyed.get(path)
        assert_error(response, 401, KEY_MESSAGE)
    for method, path in (("POST", "/api/0/buckets/b"), ("DELETE", "/api/0/buckets/b"),
                         ("POST", "/api/0/import"), ("POST", "/api/0/settings/k")):
        assert_error(keyed.request(method, path, json=BUCKET_BODY), 401)
    assert keyed.get("/api/0/buckets/",
                     headers={"authorization": "Bearer secret123"}).json() == {}


@pytest.mark.parametrize("authorization", [
    "Bearer wrong", "Basic secret123", "bearer secret123", "Bearer  secret123",
    "Bearer secret1234", "Bearer secret12", "secret123", "Bearer",
])
def test_api_key_invalid(keyed: ASGIClient, authorization: str) -> None:
    assert_error(keyed.get("/api/0/buckets/", headers={"authorization": authorization}), 401)


def test_api_key_valid(keyed: ASGIClient) -> None:
    auth = {"authorization": "Bearer secret123"}
    create = keyed.post("/api/0/buckets/b", json=BUCKET_BODY, headers=auth)
    assert create.status_code == 200
    assert list(keyed.get("/api/0/buckets/", headers=auth).json()) == ["b"]


def test_api_key_exemptions(keyed: ASGIClient) -> None:
    # preflights carry no credentials
    response = keyed.options("/api/0/buckets/", headers={
        "origin": OWN, "access-control-request-method": "GET"})
    assert response.status_code == 200
    # the server's own pages are not API
    assert keyed.get("/").status_code == 200


def test_api_key_refusal_has_cors_headers(keyed: ASGIClient) -> None:
    response = keyed.get("/api/0/buckets/", headers={"origin": OWN})
    assert_error(response, 401, KEY_MESSAGE)
    assert response.headers["access-control-allow-origin"] == OWN


def test_gates_run_before_the_handler(keyed: ASGIClient) -> None:
    auth = (b"authorization", b"Bearer secret123")
    assert_error(keyed.post("/api/0/buckets/b", json=BUCKET_BODY), 401)
    assert keyed.get("/api/0/buckets/b", headers={
        "authorization": "Bearer secret123"}).status_code == 404
    status, _, _ = raw_call(keyed, "POST", b"/api/0/buckets/c",
                            [(b"host", b"evil"), auth, (b"content-type", b"application/json")],
                            json.dumps(BUCKET_BODY).encode())
    assert status == 400
    assert keyed.get("/api/0/buckets/c", headers={
        "authorization": "Bearer secret123"}).status_code == 404
