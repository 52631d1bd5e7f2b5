"""Small helpers shared by the in-process API tests (``tests/test_api_*.py``)."""

from __future__ import annotations

from typing import Any, Final

import httpx

from tests.asgi_client import ASGIClient

BASE: Final = "http://127.0.0.1:5600"
JSON_HEADERS: Final = {"content-type": "application/json"}
BUCKET_BODY: Final = {"type": "currentwindow", "client": "test-client", "hostname": "testhost"}


def ev(timestamp: str, duration: float = 0.0, data: dict[str, Any] | None = None,
       event_id: int | None = None) -> dict[str, Any]:
    """An event as a client sends it."""
    event: dict[str, Any] = {"timestamp": timestamp, "duration": duration,
                             "data": {} if data is None else data}
    if event_id is not None:
        event["id"] = event_id
    return event


def create_bucket(client: ASGIClient, bucket_id: str = "b", **fields: Any) -> httpx.Response:
    body = {**BUCKET_BODY, **fields}
    response = client.post(f"/api/0/buckets/{bucket_id}", json=body)
    assert response.status_code in (200, 304), response.text
    return response


def insert(client: ASGIClient, bucket_id: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = client.post(f"/api/0/buckets/{bucket_id}/events", json=events)
    assert response.status_code == 200, response.text
    inserted: list[dict[str, Any]] = response.json()
    return inserted


def heartbeat(client: ASGIClient, bucket_id: str, event: dict[str, Any],
              pulsetime: float | str) -> dict[str, Any]:
    response = client.post(f"/api/0/buckets/{bucket_id}/heartbeat?pulsetime={pulsetime}",
                           json=event)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def events(client: ASGIClient, bucket_id: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"/api/0/buckets/{bucket_id}/events", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    listed: list[dict[str, Any]] = response.json()
    return listed


def assert_error(response: httpx.Response, status: int, *fragments: str) -> str:
    """A JSON ``{"message": ...}`` error with ``status`` whose message names every fragment."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json", response.headers
    body = response.json()
    assert isinstance(body, dict), body
    message = body["message"]
    assert isinstance(message, str) and message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


async def _raw_call(app: Any, method: str, raw_path: bytes, headers: list[tuple[bytes, bytes]],
                    body: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    path, _, query = raw_path.partition(b"?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path.decode("latin-1"),
             "raw_path": path, "query_string": query, "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 50000),
             "server": ("127.0.0.1", 5600)}
    await app(scope, receive, send)
    start = sent[0]
    assert start["type"] == "http.response.start"
    response_headers = {bytes(k).lower(): bytes(v) for k, v in start["headers"]}
    return start["status"], response_headers, b"".join(m.get("body", b"") for m in sent[1:])


def raw_call(client: ASGIClient, method: str, raw_path: bytes,
             headers: list[tuple[bytes, bytes]] | None = None,
             body: bytes = b"") -> tuple[int, dict[bytes, bytes], bytes]:
    """Call the app with an exact ASGI scope (e.g. without a Host header), on its loop."""
    return client._run(_raw_call(client.app, method, raw_path, headers or [], body))
