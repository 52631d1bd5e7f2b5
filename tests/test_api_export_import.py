"""Export and import: E14, E15, E16 (spec §5)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.api_helpers import BUCKET_BODY, assert_error, create_bucket, ev, events, insert
from tests.asgi_client import ASGIClient


def envelope(*buckets: dict[str, Any]) -> dict[str, Any]:
    return {"buckets": {b["id"]: b for b in buckets}}


def bucket(bucket_id: str, *event_list: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": bucket_id, **BUCKET_BODY, "events": list(event_list), **fields}


def do_import(client: ASGIClient, body: dict[str, Any]) -> Any:
    response = client.post("/api/0/import", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def multipart(boundary: str, parts: list[tuple[str, bytes]]) -> bytes:
    """A multipart/form-data body; each part is (Content-Disposition params, content)."""
    out = b""
    for disposition, content in parts:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n"
                "Content-Type: application/json\r\n\r\n").encode() + content + b"\r\n"
    return out + f"--{boundary}--".encode()


def test_import_export_roundtrip(client: ASGIClient) -> None:
    """Port of aw-server-rust ``test_import_export`` (incl. the multipart ``boundary=a``)."""
    do_import(client, envelope(bucket("id1", ev("2000-01-01T00:00:00Z", 1.0))))
    # importing into an existing bucket merges
    do_import(client, envelope(bucket("id1", ev("2000-01-02T00:00:00Z", 1.0))))
    assert len(events(client, "id1")) == 2
    # re-importing an existing event is idempotent
    do_import(client, envelope(bucket("id1", ev("2000-01-01T00:00:00Z", 1.0))))
    assert len(events(client, "id1")) == 2
    # an event inside a longer existing one is not a duplicate
    do_import(client, envelope(bucket("id1", ev("2000-01-01T00:00:00Z", 30.0))))
    do_import(client, envelope(bucket("id1", ev("2000-01-01T00:00:00.5Z", 0.25))))
    assert len(events(client, "id1")) == 4

    response = client.get("/api/0/buckets/id1/export")
    assert response.status_code == 200
    exported = response.json()
    assert list(exported) == ["buckets"] and list(exported["buckets"]) == ["id1"]
    assert client.delete("/api/0/buckets/id1").status_code == 200

    # the Rust test's exact multipart body: name="buckets.json", no filename
    body = (b"--a\r\nContent-Disposition: form-data; name=\"buckets.json\"\r\n"
            b"Content-Type: application/json\r\n\r\n" + response.content + b"\r\n--a--")
    imported = client.post("/api/0/import", content=body,
                           headers={"content-type": "multipart/form-data; boundary=a"})
    assert imported.status_code == 200, imported.text
    assert client.get("/api/0/buckets/id1").status_code == 200

    everything = client.get("/api/0/export").json()
    assert list(everything["buckets"]) == ["id1"]
    assert len(everything["buckets"]["id1"]["events"]) == 4


def test_export_headers(client: ASGIClient) -> None:
    response = client.get("/api/0/export")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == (
        "attachment; filename=aw-buckets-export.json")
    assert response.json() == {"buckets": {}}

    create_bucket(client, "aw-watcher-window_host")
    response = client.get("/api/0/export")
    # aw-server-rust names a single-bucket export after the bucket
    assert response.headers["content-disposition"] == (
        "attachment; filename=aw-bucket-export_aw-watcher-window_host.json")
    create_bucket(client, "other")
    response = client.get("/api/0/export")
    assert response.headers["content-disposition"] == (
        "attachment; filename=aw-buckets-export.json")

    response = client.get("/api/0/buckets/other/export")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == (
        "attachment; filename=aw-bucket-export_other.json")
    assert list(response.json()["buckets"]) == ["other"]


def test_export_filename_is_a_safe_header(client: ASGIClient) -> None:
    """A bucket id with CR/LF, quotes or non-ASCII must not break (or inject) headers."""
    for name in ("a%0D%0AX-Injected:%201", "quote%22d", "caf%C3%A9 window"):
        assert client.post(f"/api/0/buckets/{name}", json=BUCKET_BODY).status_code == 200
        response = client.get(f"/api/0/buckets/{name}/export")
        assert response.status_code == 200
        assert "x-injected" not in response.headers
        value = response.headers["content-disposition"]
        assert value.startswith("attachment; filename=")
        assert all(32 <= ord(c) < 127 for c in value), value
        assert "\r" not in value and "\n" not in value
    response = client.get("/api/0/buckets/caf%C3%A9 window/export")
    # the exact name travels in the RFC 5987 parameter
    assert "filename*=UTF-8''aw-bucket-export_caf%C3%A9%20window.json" in (
        response.headers["content-disposition"])


def test_export_shape(client: ASGIClient) -> None:
    create_bucket(client, "b", created="2020-01-01T00:00:00Z", data={"k": "v"})
    inserted = insert(client, "b", [ev("2020-01-01T00:00:00Z", 1.0, {"n": 1}),
                                    ev("2020-01-02T00:00:00Z", 2.5, {"n": 2.0})])
    exported = client.get("/api/0/export").json()["buckets"]["b"]
    listed = client.get("/api/0/buckets/b").json()
    assert exported == {**listed, "events": list(reversed(inserted))}
    assert exported["last_updated"] == "2020-01-02T00:00:02.500Z"
    assert exported["data"] == {"k": "v"}


def test_head_export(client: ASGIClient) -> None:
    create_bucket(client, "b")
    response = client.request("HEAD", "/api/0/buckets/b/export")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-disposition"].startswith("attachment")
    assert client.request("HEAD", "/api/0/export").status_code == 200


def test_exports_leave_no_temporary_files(client: ASGIClient, tmp_path: Path) -> None:
    """A Parquet export is spooled to a file: removed after GET, and after a HEAD too."""
    create_bucket(client, "b")
    insert(client, "b", [ev("2020-01-01T00:00:00Z", 1.0, {"a": 1})])
    data_dir = tmp_path / "data"
    before = sorted(p.name for p in data_dir.iterdir())
    for method in ("HEAD", "GET", "HEAD"):
        for path in ("/api/0/export?format=parquet", "/api/0/buckets/b/export?format=parquet",
                     "/api/0/export"):
            response = client.request(method, path)
            assert response.status_code == 200, response.text
            assert (response.content == b"") == (method == "HEAD")
    assert sorted(p.name for p in data_dir.iterdir()) == before


def test_export_missing_bucket(client: ASGIClient) -> None:
    assert_error(client.get("/api/0/buckets/nope/export"), 404, "nope")


def test_export_import_into_a_fresh_server(client: ASGIClient,
                                           make_client: Callable[..., ASGIClient],
                                           tmp_path: Path) -> None:
    create_bucket(client, "w", created="2019-05-05T05:05:05.123456Z", data={"device_id": "d"})
    create_bucket(client, "a", type="afkstatus")
    insert(client, "w", [ev(f"2020-01-01T00:00:{i:02d}.000001Z", 0.5, {"title": f"t{i}", "i": i})
                         for i in range(50)])
    insert(client, "a", [ev("2020-01-01T00:00:00Z", 3600.0, {"status": "not-afk"})])
    dump = client.get("/api/0/export").content

    other = make_client(data_dir=str(tmp_path / "other"))
    response = other.post("/api/0/import", content=dump,
                          headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    for name in ("w", "a"):
        mine = client.get(f"/api/0/buckets/{name}").json()
        theirs = other.get(f"/api/0/buckets/{name}").json()
        assert theirs == mine
        strip = [{k: v for k, v in e.items() if k != "id"} for e in events(client, name)]
        assert [{k: v for k, v in e.items() if k != "id"} for e in events(other, name)] == strip


def test_import_python_export_shape(client: ASGIClient) -> None:
    """aw-server (Python) exports: no event ids, no metadata, ``name``; +00:00 timestamps."""
    body = {"buckets": {"py": {
        "id": "py", "created": "2020-01-01T00:00:00.123000+00:00", "name": None,
        "type": "currentwindow", "client": "aw-watcher-window", "hostname": "host",
        "data": {"x": 1},
        "events": [{"timestamp": "2020-01-01T00:00:01+00:00", "duration": 1.5,
                    "data": {"app": "a"}}]}}}
    do_import(client, body)
    got = client.get("/api/0/buckets/py").json()
    assert (got["created"], got["data"], got["hostname"]) == (
        "2020-01-01T00:00:00.123Z", {"x": 1}, "host")
    assert [(e["timestamp"], e["duration"], e["data"]) for e in events(client, "py")] == [
        ("2020-01-01T00:00:01Z", 1.5, {"app": "a"})]


def test_import_ignores_event_ids(client: ASGIClient) -> None:
    """An imported event id never overwrites an unrelated event (ids are global)."""
    create_bucket(client, "existing")
    (kept,) = insert(client, "existing", [ev("2000-01-01T00:00:00Z", 1.0, {"keep": "me"})])
    exported = ev("2001-01-01T00:00:00Z", 2.0, {"from": "export"}, event_id=kept["id"])
    do_import(client, envelope(bucket("imported", exported), bucket("existing", exported)))
    assert kept in events(client, "existing")
    assert len(events(client, "existing")) == 2
    (imported,) = events(client, "imported")
    assert imported["data"] == {"from": "export"} and imported["id"] != kept["id"]


def test_import_merge_keeps_bucket_metadata(client: ASGIClient) -> None:
    create_bucket(client, "b", data={"original": True})
    do_import(client, envelope(bucket("b", ev("2020-01-01T00:00:00Z"), type="changed",
                                      data={"original": False})))
    got = client.get("/api/0/buckets/b").json()
    assert got["type"] == BUCKET_BODY["type"] and got["data"] == {"original": True}
    assert len(events(client, "b")) == 1


def test_import_deduplicates_within_the_file(client: ASGIClient) -> None:
    same = ev("2020-01-01T00:00:00Z", 1.0, {"a": 1})
    do_import(client, envelope(bucket("b", same, same, ev("2020-01-01T00:00:00Z", 1.0,
                                                          {"a": 1.0}))))
    assert len(events(client, "b")) == 2  # 1 and 1.0 are different data
    do_import(client, envelope(bucket("b", same, same)))
    assert len(events(client, "b")) == 2


def test_import_honours_created_and_data(client: ASGIClient) -> None:
    do_import(client, envelope(bucket("b", created="2010-10-10T10:10:10+01:00",
                                      data={"device_id": "x"})))
    got = client.get("/api/0/buckets/b").json()
    assert (got["created"], got["data"]) == ("2010-10-10T09:10:10Z", {"device_id": "x"})


def test_import_buckets_as_a_list(client: ASGIClient) -> None:
    """aw-core's export schema describes ``buckets`` as an array; accept that too."""
    do_import(client, {"buckets": []})
    assert client.get("/api/0/buckets/").json() == {}
    do_import(client, {"buckets": [bucket("listed", ev("2020-01-01T00:00:00Z"))]})
    assert len(events(client, "listed")) == 1


def test_import_bucket_id_wins_over_the_map_key(client: ASGIClient) -> None:
    do_import(client, {"buckets": {"key": bucket("real", ev("2020-01-01T00:00:00Z"))}})
    assert list(client.get("/api/0/buckets/").json()) == ["real"]


def test_import_map_key_is_used_without_an_id(client: ASGIClient) -> None:
    body = {"buckets": {"from-key": {**BUCKET_BODY, "events": [ev("2020-01-01T00:00:00Z")]}}}
    do_import(client, body)
    assert len(events(client, "from-key")) == 1


def test_import_is_all_or_nothing(client: ASGIClient) -> None:
    """A malformed record anywhere: 400 naming it, and nothing at all is imported."""
    create_bucket(client, "existing")
    good = bucket("good", ev("2020-01-01T00:00:00Z"))
    merge = bucket("existing", ev("2020-01-01T00:00:00Z"))
    bad = bucket("bad", ev("2020-01-01T00:00:00Z"), ev("not a time"))
    response = client.post("/api/0/import", json=envelope(good, merge, bad))
    message = assert_error(response, 400, "timestamp")
    assert '"bad"' in message and "events[1]" in message
    assert client.get("/api/0/buckets/good").status_code == 404
    assert client.get("/api/0/buckets/bad").status_code == 404
    assert events(client, "existing") == []


def test_import_rejects_wrong_shapes(client: ASGIClient) -> None:
    assert_error(client.post("/api/0/import", json={"buckets": "b"}), 400, "buckets")
    assert_error(client.post("/api/0/import", json={"buckets": {"b": []}}), 400)
    assert_error(client.post("/api/0/import", json={}), 400)
    assert_error(client.post("/api/0/import", json=[]), 400)
    missing_type = {"buckets": {"b": {"id": "b", "client": "c", "hostname": "h"}}}
    assert_error(client.post("/api/0/import", json=missing_type), 400, "type")
    event_without_data = envelope(bucket("b", {"timestamp": "2020-01-01T00:00:00Z"}))
    assert_error(client.post("/api/0/import", json=event_without_data), 400, "data")
    assert_error(client.post("/api/0/import", content=b"{\"buckets\":",
                             headers={"content-type": "application/json"}), 400)
    assert_error(client.post("/api/0/import", content=b"",
                             headers={"content-type": "application/json"}), 400)
    assert client.get("/api/0/buckets/").json() == {}


def test_import_needs_json_or_multipart(client: ASGIClient) -> None:
    body = json.dumps(envelope(bucket("b"))).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {} if content_type is None else {"content-type": content_type}
        assert_error(client.post("/api/0/import", content=body, headers=headers), 415)
    assert client.get("/api/0/buckets/").json() == {}


def test_multipart_any_file_field(client: ASGIClient) -> None:
    """aw-server (Python) takes every uploaded file, whatever its field name."""
    first = json.dumps(envelope(bucket("one", ev("2020-01-01T00:00:00Z")))).encode()
    second = json.dumps(envelope(bucket("two"))).encode()
    body = multipart("XyZ", [
        ('name="comment"', b"not a file, ignored"),
        ('name="upload"; filename="one.json"', first),
        ('name="more"; filename="two.json"', second),
    ])
    response = client.post("/api/0/import", content=body,
                           headers={"content-type": "multipart/form-data; boundary=XyZ"})
    assert response.status_code == 200, response.text
    assert sorted(client.get("/api/0/buckets/").json()) == ["one", "two"]


def test_multipart_buckets_field_without_filename(client: ASGIClient) -> None:
    """aw-server-rust reads a field named ``buckets`` / ``buckets.*`` even when not a file."""
    for index, name in enumerate(("buckets", "buckets.json", "buckets[0]")):
        content = json.dumps(envelope(bucket(f"b{index}"))).encode()
        body = multipart("b0undary", [(f'name="{name}"', content)])
        response = client.post("/api/0/import", content=body, headers={
            "content-type": "multipart/form-data; boundary=b0undary"})
        assert response.status_code == 200, (name, response.text)
    assert sorted(client.get("/api/0/buckets/").json()) == ["b0", "b1", "b2"]


def test_multipart_errors(client: ASGIClient) -> None:
    headers = {"content-type": "multipart/form-data; boundary=a"}
    no_file = multipart("a", [('name="comment"', b"hello")])
    assert_error(client.post("/api/0/import", content=no_file, headers=headers), 400,
                 "buckets.json")
    bad_json = multipart("a", [('name="buckets.json"; filename="x.json"', b"{nope")])
    assert_error(client.post("/api/0/import", content=bad_json, headers=headers), 400)
    assert_error(client.post("/api/0/import", content=b"garbage",
                             headers={"content-type": "multipart/form-data"}), 400, "boundary")
    assert client.get("/api/0/buckets/").json() == {}
