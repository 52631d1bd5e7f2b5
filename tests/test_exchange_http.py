"""`GET /api/0/export?format=…` and `POST /api/0/import` in every format (in-process app)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from tests.asgi_client import ASGIClient

EVENTS = [
    {"timestamp": "2024-01-01T00:00:00Z", "duration": 1.5, "data": {"app": "a", "n": 1}},
    {"timestamp": "2024-02-01T00:00:00.123456789Z", "duration": 2.0, "data": {"app": "é,\""}},
    {"timestamp": "2024-03-01T00:00:00Z", "duration": 0.25, "data": {"app": "c", "n": 1.0}},
]


@pytest.fixture
def filled(make_client: Callable[..., ASGIClient]) -> ASGIClient:
    client = make_client()
    for name in ("one", "two"):
        assert client.post(f"/api/0/buckets/{name}", json={
            "type": "t", "client": "c", "hostname": "h", "data": {"k": name}}).status_code == 200
        assert client.post(f"/api/0/buckets/{name}/events", json=EVENTS).status_code == 200
    return client


def _events(client: ASGIClient, bucket: str) -> list[tuple[str, float, dict[str, object]]]:
    return sorted((e["timestamp"], e["duration"], e["data"])
                  for e in client.get(f"/api/0/buckets/{bucket}/events").json())


def test_default_export_stays_compatible(filled: ASGIClient) -> None:
    response = filled.get("/api/0/export")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == (
        "attachment; filename=aw-buckets-export.json")
    body = response.json()
    assert set(body["buckets"]) == {"one", "two"}
    one = body["buckets"]["one"]
    assert [e["timestamp"] for e in one["events"]] == [e["timestamp"] for e in EVENTS][::-1]
    assert one["data"] == {"k": "one"} and one["metadata"]["start"] == "2024-01-01T00:00:00Z"


@pytest.mark.parametrize(("fmt", "content_type"), [
    ("ndjson", "application/x-ndjson"), ("csv", "text/csv; charset=utf-8"),
    ("parquet", "application/vnd.apache.parquet")])
def test_formats_and_filters(filled: ASGIClient, fmt: str, content_type: str) -> None:
    response = filled.get(f"/api/0/export?format={fmt}&bucket=two"
                          "&start=2024-01-15T00:00:00Z&end=2024-03-01T00:00:00Z")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["content-disposition"].endswith(f"aw-bucket-export_two.{fmt}")
    if fmt == "parquet":
        frame = pl.read_parquet(io.BytesIO(response.content))
        assert frame["bucket"].to_list() == ["two"]
        assert frame["timestamp_ns"].to_list() == [1706745600123456789]
    elif fmt == "csv":
        lines = response.content.decode().splitlines()
        assert lines[0] == "bucket,id,timestamp,duration,data"
        assert lines[1].startswith("two,") and "2024-02-01T00:00:00.123456789Z,2.0," in lines[1]
        assert len(lines) == 2
    else:
        rows = [json.loads(line) for line in response.content.splitlines()]
        assert rows[0]["bucket"]["id"] == "two"
        assert [row["timestamp"] for row in rows[1:]] == ["2024-02-01T00:00:00.123456789Z"]


@pytest.mark.parametrize("fmt", ["json", "ndjson", "parquet"])
def test_import_each_format_over_http(filled: ASGIClient,
                                      make_client: Callable[..., ASGIClient],
                                      tmp_path: Path, fmt: str) -> None:
    exported = filled.get(f"/api/0/export?format={fmt}").content
    fresh = make_client(data_dir=str(tmp_path / "fresh"))
    content_type = {"json": "application/json", "ndjson": "application/x-ndjson",
                    "parquet": "application/vnd.apache.parquet"}[fmt]
    response = fresh.post("/api/0/import", content=exported,
                          headers={"content-type": content_type})
    assert response.status_code == 200, response.text
    assert response.json()["events_imported"] == 6
    for name in ("one", "two"):
        assert _events(fresh, name) == _events(filled, name)
        assert fresh.get(f"/api/0/buckets/{name}").json()["data"] == {"k": name}
    again = fresh.post("/api/0/import", files={"buckets.json": ("x", exported)})
    assert again.json() == {"buckets_created": [], "buckets_merged": ["one", "two"],
                            "events_imported": 0, "events_skipped": 6}
    assert not list((tmp_path / "fresh").glob(".upload-*"))  # spooled files are removed


def test_malformed_import_answers_400_and_imports_nothing(
        make_client: Callable[..., ASGIClient], tmp_path: Path) -> None:
    client = make_client(data_dir=str(tmp_path / "d"))
    good = {"id": "good", "type": "t", "client": "c", "hostname": "h", "events": EVENTS}
    bad = {"id": "bad", "type": "t", "client": "c", "hostname": "h",
           "events": [*EVENTS, {"timestamp": "2024-13-01T00:00:00Z", "data": {}}]}
    response = client.post("/api/0/import", json={"buckets": {"good": good, "bad": bad}})
    assert response.status_code == 400
    assert '$.buckets[\\"bad\\"].events[3].timestamp' in response.text
    assert client.get("/api/0/buckets/").json() == {}


def test_unsupported_content_type(make_client: Callable[..., ASGIClient]) -> None:
    client = make_client()
    response = client.post("/api/0/import", content=b"x", headers={"content-type": "image/png"})
    assert response.status_code == 415


def test_export_of_unknown_things(filled: ASGIClient) -> None:
    assert filled.get("/api/0/export?format=xml").status_code == 400
    assert filled.get("/api/0/export?bucket=nope").status_code == 404
    assert filled.get("/api/0/buckets/nope/export").status_code == 404
    assert filled.get("/api/0/export?start=yesterday").status_code == 400
