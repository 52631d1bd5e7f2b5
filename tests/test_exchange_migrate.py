"""Migration from the reference servers' SQLite databases.

* ``tests/data/aw-server-0.12.0.peewee.db`` was written by the real aw-server 0.12.0 and
  ``aw-server-0.12.0.export.json`` is that server's own export of it
  (``tools/make_aw_fixtures.py`` makes both).
* The aw-server-rust database is built here with the DDL of aw-server-rust's
  ``aw-datastore/src/datastore.rs`` (migrations v1 … v6, ``user_version = 6``): no Rust
  toolchain is available to run the real server, so the test owns its schema.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from fastaw.cli import main
from fastaw.errors import BadRequest
from fastaw.exchange.migrate import default_sources, migrate
from fastaw.storage import Env, Reader, Writer
from fastaw.timefmt import parse_datetime, seconds_to_ns

DATA = Path(__file__).parent / "data"
PEEWEE = DATA / "aw-server-0.12.0.peewee.db"
REFERENCE_EXPORT = DATA / "aw-server-0.12.0.export.json"

RUST_SCHEMA = """
CREATE TABLE buckets (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL,
    type TEXT NOT NULL, client TEXT NOT NULL, hostname TEXT NOT NULL, created TEXT NOT NULL,
    data_deprecated TEXT DEFAULT '{}', data TEXT NOT NULL DEFAULT '{}');
CREATE INDEX bucket_id_index ON buckets(id);
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, bucketrow INTEGER NOT NULL,
    starttime INTEGER NOT NULL, endtime INTEGER NOT NULL, data TEXT NOT NULL,
    FOREIGN KEY (bucketrow) REFERENCES buckets(id));
CREATE TABLE key_value (key TEXT PRIMARY KEY, value TEXT, last_modified NUMBER NOT NULL);
CREATE INDEX events_bucketrow_starttime_endtime_index
    ON events(bucketrow, starttime DESC, endtime);
CREATE INDEX events_bucketrow_endtime_starttime_index
    ON events(bucketrow, endtime, starttime DESC);
PRAGMA user_version = 6;
"""

PEEWEE_SCHEMA = """
CREATE TABLE "bucketmodel" ("key" INTEGER NOT NULL PRIMARY KEY, "id" VARCHAR(255) NOT NULL,
    "created" DATETIME NOT NULL, "name" VARCHAR(255), "type" VARCHAR(255) NOT NULL,
    "client" VARCHAR(255) NOT NULL, "hostname" VARCHAR(255) NOT NULL{datastr});
CREATE TABLE "eventmodel" ("id" INTEGER NOT NULL PRIMARY KEY, "bucket_id" INTEGER NOT NULL,
    "timestamp" DATETIME NOT NULL, "duration" DECIMAL(10, 5) NOT NULL,
    "datastr" VARCHAR(255) NOT NULL, FOREIGN KEY ("bucket_id") REFERENCES "bucketmodel" ("key"));
CREATE UNIQUE INDEX "bucketmodel_id" ON "bucketmodel" ("id");
"""


def _run(path: Path, store: Path) -> Any:
    env = Env(store)
    writer = Writer(env)
    writer.start()
    try:
        return migrate(path, writer)
    finally:
        writer.stop()
        env.close()


def _export(store: Path) -> dict[str, Any]:
    env = Env(store, readonly=True)
    try:
        from fastaw.exchange import Selection, export_stream

        body = b"".join(export_stream(env, Selection().resolve(env), "json"))
    finally:
        env.close()
    return dict(json.loads(body)["buckets"])


def _events(bucket: dict[str, Any]) -> list[tuple[int, int, str]]:
    return sorted((parse_datetime(e["timestamp"]), seconds_to_ns(e["duration"]),
                   json.dumps(e["data"], sort_keys=True)) for e in bucket["events"])


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_real_aw_server_database_migrates_exactly(tmp_path: Path) -> None:
    source_dir = tmp_path / "aw"
    source_dir.mkdir()
    source = source_dir / "peewee-sqlite.v2.db"
    shutil.copy2(PEEWEE, source)
    before = _digest(source_dir)
    summary = _run(source, tmp_path / "store")
    assert _digest(source_dir) == before  # not one byte written, no journal left behind
    assert summary.kind == "aw-server"
    reference = json.loads(REFERENCE_EXPORT.read_text(encoding="utf-8"))["buckets"]
    ours = _export(tmp_path / "store")
    assert set(ours) == set(reference)
    for name, theirs in reference.items():
        mine = ours[name]
        for field in ("id", "type", "client", "hostname", "data"):
            assert mine[field] == theirs[field], (name, field)
        assert parse_datetime(mine["created"]) == parse_datetime(theirs["created"])
        assert _events(mine) == _events(theirs), name
    assert summary.events_read == summary.events_imported == sum(
        len(b["events"]) for b in reference.values())

    again = _run(source, tmp_path / "store")  # safe to re-run: nothing new, no duplicates
    assert again.events_imported == 0
    assert again.events_skipped == summary.events_read
    assert _export(tmp_path / "store") == ours


def _rust_db(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(RUST_SCHEMA)
    conn.execute("INSERT INTO buckets (name, type, client, hostname, created, data) VALUES "
                 "('aw-watcher-window_rust', 'currentwindow', 'aw-watcher-window', 'rusty', "
                 "'2023-05-01 09:30:00.123456789+00:00', '{\"device_id\":\"d-1\"}')")
    conn.execute("INSERT INTO buckets (name, type, client, hostname, created) VALUES "
                 "('empty', 'test', 'c', 'h', '2023-05-01T09:30:00Z')")
    rows = [
        (1, 1_682_933_400_123_456_789, 1_682_933_405_123_456_790, '{"title":"ns ✓","app":"x"}'),
        (1, 1_682_933_400_123_456_789, 1_682_933_400_123_456_789, '{"app":"zero"}'),
        (1, -5_000_000_001, -5_000_000_002, '{"app":"negative duration, pre-1970"}'),
        (1, 1_682_933_500_000_000_000, 1_682_933_560_000_000_000, '{"a":1.0,"b":1}'),
        (1, 1_682_933_600_000_000_000, 1_682_933_600_000_000_001, "not json"),
    ]
    conn.executemany(
        "INSERT INTO events (bucketrow, starttime, endtime, data) VALUES (?, ?, ?, ?)", rows)
    conn.executemany("INSERT INTO key_value (key, value, last_modified) VALUES (?, ?, 0)", [
        ("settings.theme", '"dark"'), ("settings.classes", '[{"name":["Work"]}]'),
        ("IGNORE_FILTERS_APPS", "x")])
    conn.commit()
    conn.close()


def test_aw_server_rust_database_migrates_exactly(tmp_path: Path) -> None:
    source = tmp_path / "sqlite.db"
    _rust_db(source)
    summary = _run(source, tmp_path / "store")
    assert summary.kind == "aw-server-rust"
    assert summary.settings == 2
    (window,) = [b for b in summary.buckets if b.bucket_id == "aw-watcher-window_rust"]
    assert (window.read, window.imported, window.unreadable) == (4, 4, 1)
    env = Env(tmp_path / "store", readonly=True)
    reader = Reader(env)
    rows = sorted((e.start, e.duration, e.data) for e in reader.events("aw-watcher-window_rust"))
    assert rows == [
        (-5_000_000_001, -1, b'{"app":"negative duration, pre-1970"}'),
        (1_682_933_400_123_456_789, 0, b'{"app":"zero"}'),
        (1_682_933_400_123_456_789, 5_000_000_001, '{"app":"x","title":"ns ✓"}'.encode()),
        (1_682_933_500_000_000_000, 60_000_000_000, b'{"a":1.0,"b":1}'),
    ]
    bucket = reader.bucket("aw-watcher-window_rust")
    assert bucket is not None and bucket.data == b'{"device_id":"d-1"}'
    assert bucket.created == parse_datetime("2023-05-01T09:30:00.123456789Z")
    assert bucket.hostname == "rusty" and bucket.type == "currentwindow"
    assert reader.bucket("empty") is not None
    assert json.loads(reader.settings_json()) == {
        "theme": "dark", "classes": [{"name": ["Work"]}]}
    env.close()


def _peewee_db(path: Path, with_datastr: bool) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(PEEWEE_SCHEMA.format(
        datastr=', "datastr" VARCHAR(255)' if with_datastr else ""))
    columns = "key, id, created, name, type, client, hostname" + (", datastr" if with_datastr
                                                                   else "")
    values = [1, "old-python", "2019-01-01 10:00:00.5", None, "t", "c", "h"]
    if with_datastr:
        values.append('{"x": 1}')
    conn.execute(f"INSERT INTO bucketmodel ({columns}) VALUES ({', '.join('?' * len(values))})",
                 values)
    conn.executemany(
        "INSERT INTO eventmodel (bucket_id, timestamp, duration, datastr) VALUES (1, ?, ?, ?)", [
            ("2019-01-01 10:00:00+00:00", 5, '{"app": "A", "title": "\\u00fc"}'),
            ("2019-01-01 10:00:05.250000+00:00", 0.75, '{"app": "B"}'),
            ("2019-01-01 10:00:06", 2.5, '{"app": "naive = UTC"}'),
        ])
    conn.commit()
    conn.close()


@pytest.mark.parametrize("with_datastr", [True, False])
def test_peewee_schema_variants(tmp_path: Path, with_datastr: bool) -> None:
    source = tmp_path / "peewee-sqlite.v2.db"
    _peewee_db(source, with_datastr)
    _run(source, tmp_path / "store")
    env = Env(tmp_path / "store", readonly=True)
    reader = Reader(env)
    rows = sorted((e.start, e.duration, e.data) for e in reader.events("old-python"))
    base = parse_datetime("2019-01-01T10:00:00Z")
    assert rows == [(base, 5_000_000_000, '{"app":"A","title":"ü"}'.encode()),
                    (base + 5_250_000_000, 750_000_000, b'{"app":"B"}'),
                    (base + 6_000_000_000, 2_500_000_000, b'{"app":"naive = UTC"}')]
    bucket = reader.bucket("old-python")
    assert bucket is not None
    assert bucket.data == (b'{"x":1}' if with_datastr else b"{}")
    assert bucket.created == parse_datetime("2019-01-01T10:00:00.5Z")
    env.close()


def test_default_sources_and_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    data_home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    rust_dir = data_home / "activitywatch" / "aw-server-rust"
    python_dir = data_home / "activitywatch" / "aw-server"
    rust_dir.mkdir(parents=True)
    python_dir.mkdir(parents=True)
    _rust_db(rust_dir / "sqlite.db")
    shutil.copy2(PEEWEE, python_dir / "peewee-sqlite.v2.db")
    assert default_sources() == [rust_dir / "sqlite.db", python_dir / "peewee-sqlite.v2.db"]
    store = tmp_path / "store"
    assert main(["migrate", "--quiet", "--data-dir", str(store)]) == 0
    err = capsys.readouterr().err
    assert "aw-server-rust" in err and "(aw-server)" in err and "events/s" in err
    assert "column chunks" in err and "built 0 column" not in err
    # the migration built every chunk: queries (and `fastaw chunks`) find them current
    assert main(["chunks", "--data-dir", str(store), "-q"]) == 0
    assert "built 0 chunks" in capsys.readouterr().err
    assert main(["migrate", "--quiet", "--no-chunks", "--data-dir", str(store)]) == 0
    again = capsys.readouterr().err
    assert "0 imported" in again and "column chunks" not in again
    assert main(["check", "--data-dir", str(store)]) == 0


def test_not_an_activitywatch_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(BadRequest, match="Not an ActivityWatch database"):
        _run(path, tmp_path / "store")


def test_compressed_event_data_is_refused_clearly(tmp_path: Path) -> None:
    """aw-server-rust built with compression-zstd stores zstd frames in events.data."""
    source = tmp_path / "sqlite.db"
    _rust_db(source)
    conn = sqlite3.connect(source)
    conn.execute("INSERT INTO events (bucketrow, starttime, endtime, data) VALUES "
                 "(1, 1, 2, ?)", (b"\x28\xb5\x2f\xfd" + b"\x00" * 8,))
    conn.commit()
    conn.close()
    with pytest.raises(BadRequest, match="zstd"):
        _run(source, tmp_path / "store")


def test_wal_database_of_a_stopped_server_gets_no_side_files(tmp_path: Path) -> None:
    """A plain read-only open of a WAL database would create -wal/-shm next to it."""
    folder = tmp_path / "aw"
    folder.mkdir()
    source = folder / "sqlite.db"
    _rust_db(source)
    conn = sqlite3.connect(source)
    assert conn.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
    conn.close()
    before = _digest(folder)
    assert set(before) == {"sqlite.db"}
    summary = _run(source, tmp_path / "store")
    assert summary.events_imported == 4
    assert _digest(folder) == before


def test_a_running_servers_wal_is_read_and_left_alone(tmp_path: Path) -> None:
    """While the server runs, its newest events are still in the -wal file."""
    source = tmp_path / "sqlite.db"
    _rust_db(source)
    server = sqlite3.connect(source)
    server.execute("PRAGMA journal_mode=WAL")
    server.execute("PRAGMA wal_autocheckpoint=0")
    server.execute("INSERT INTO events (bucketrow, starttime, endtime, data) VALUES "
                   "(1, 7, 9, '{\"in\":\"wal\"}')")
    server.commit()
    try:
        wal = Path(str(source) + "-wal")
        assert wal.stat().st_size > 0
        database, log = source.read_bytes(), wal.read_bytes()
        summary = _run(source, tmp_path / "store")
        assert source.read_bytes() == database and wal.read_bytes() == log
    finally:
        server.close()
    window = next(b for b in summary.buckets if b.bucket_id == "aw-watcher-window_rust")
    assert window.imported == 5
