"""A first end-to-end check that the fixtures work (in-process and live)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.asgi_client import ASGIClient
from tests.conftest import LiveServer


def test_info_in_process(client: ASGIClient) -> None:
    response = client.get("/api/0/info")
    assert response.status_code == 200
    assert response.json()["testing"] is False


def test_info_live(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    response = httpx.get(server.url + "/api/0/info")
    assert response.status_code == 200
    assert server.stop() == 0
