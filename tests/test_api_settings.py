"""Settings: E17–E20 (spec §6.1; aw-server-rust's settings tests)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api_helpers import assert_error
from tests.asgi_client import ASGIClient


def set_setting(client: ASGIClient, key: str, value: Any) -> int:
    response = client.post(f"/api/0/settings/{key}", content=json.dumps(value).encode(),
                           headers={"content-type": "application/json"})
    if response.status_code == 201:
        assert response.content == b""
    return response.status_code


def test_set_answers_201(client: ASGIClient) -> None:
    assert set_setting(client, "test_key", "test_value") == 201


def test_get_unset_is_null(client: ASGIClient) -> None:
    response = client.get("/api/0/settings/non_existent_key")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == b"null"


def test_get_all(client: ASGIClient) -> None:
    response = client.get("/api/0/settings")
    assert (response.status_code, response.json()) == (200, {})
    assert set_setting(client, "test_key", "test_value") == 201
    assert set_setting(client, "test_key_2", "test_value") == 201
    response = client.get("/api/0/settings")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"test_key": "test_value", "test_key_2": "test_value"}


@pytest.mark.parametrize("value", [
    "test_value", [1, 2, 3], {"a": {"b": [1, 2.5, None]}, "c": "é"},
    # falsy values are stored (aw-server-rust), not deleted (aw-server)
    False, 0, 0.0, "", [], {}, None, True, 1.5, 2**70,
])
def test_value_roundtrip(client: ASGIClient, value: Any) -> None:
    assert set_setting(client, "k", value) == 201
    got = client.get("/api/0/settings/k").json()
    assert got == value and type(got) is type(value)
    assert "k" in client.get("/api/0/settings").json()


def test_overwrite(client: ASGIClient) -> None:
    assert set_setting(client, "k", "first") == 201
    assert set_setting(client, "k", {"second": True}) == 201
    assert client.get("/api/0/settings/k").json() == {"second": True}


def test_delete(client: ASGIClient) -> None:
    assert set_setting(client, "k", "v") == 201
    response = client.delete("/api/0/settings/k")
    assert response.status_code == 200
    assert response.content == b""
    assert client.get("/api/0/settings/k").content == b"null"
    assert client.get("/api/0/settings").json() == {}
    # deleting an unset key is fine
    assert client.delete("/api/0/settings/k").status_code == 200


def test_webui_settings_shapes(client: ASGIClient) -> None:
    """What the web UI stores: classes (regex rules), views, booleans, numbers."""
    classes = [{"id": 1, "name": ["Work", "Programming"],
                "rule": {"type": "regex", "regex": "GitHub|vim", "ignore_case": True},
                "data": {"color": "#0F0"}}]
    values = {"classes": classes, "startOfDay": "04:00", "startOfWeek": "Monday",
              "durationDefault": 14400, "useColorFallback": False, "theme": "dark",
              "initialTimestamp": 1700000000.123}
    for key, value in values.items():
        assert set_setting(client, key, value) == 201
    assert client.get("/api/0/settings").json() == values


def test_key_length_limit(client: ASGIClient) -> None:
    """aw-server-rust ``test_illegally_long_key``: keys of 128 bytes or more answer 400."""
    long_key = "thisisaverylongk" * 8
    assert len(long_key) == 128
    assert_error(client.post(f"/api/0/settings/{long_key}", json="test_value"), 400, "long")
    assert_error(client.get(f"/api/0/settings/{long_key}"), 400, "long")
    assert_error(client.delete(f"/api/0/settings/{long_key}"), 400, "long")
    assert set_setting(client, long_key[:127], 1) == 201
    # the limit is in bytes: 64 two-byte characters are too long
    assert_error(client.post(f"/api/0/settings/{'é' * 64}", json=1), 400)
    assert client.get("/api/0/settings").json() == {long_key[:127]: 1}


def test_keys_with_special_characters(client: ASGIClient) -> None:
    for path, key in (("a%2Fb", "a/b"), ("sp%20ace", "sp ace"), ("caf%C3%A9", "café"),
                      ("dotted.key", "dotted.key"), ("q%3Fx%3D1", "q?x=1")):
        assert set_setting(client, path, key) == 201
        assert client.get(f"/api/0/settings/{path}").json() == key
    assert client.get("/api/0/settings").json() == {
        "a/b": "a/b", "sp ace": "sp ace", "café": "café", "dotted.key": "dotted.key",
        "q?x=1": "q?x=1"}


def test_bad_values(client: ASGIClient) -> None:
    assert_error(client.post("/api/0/settings/k", content=b"{nope",
                             headers={"content-type": "application/json"}), 400)
    assert_error(client.post("/api/0/settings/k", content=b"",
                             headers={"content-type": "application/json"}), 400)
    assert_error(client.post("/api/0/settings/k", content=b'"text"',
                             headers={"content-type": "text/plain"}), 415)
    assert client.get("/api/0/settings").json() == {}


def test_post_without_key(client: ASGIClient) -> None:
    response = client.post("/api/0/settings", json="v")
    assert response.status_code in (404, 405)
    assert_error(response, response.status_code)
    assert client.get("/api/0/settings").json() == {}
