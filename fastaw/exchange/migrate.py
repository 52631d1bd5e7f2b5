"""Migration from an existing ActivityWatch install: aw-server-rust and aw-server SQLite.

Sources (read with the stdlib ``sqlite3`` through a ``file:…?mode=ro`` URI — or
``immutable=1`` for a WAL database whose server is stopped, see `connect_readonly` — the
database and its WAL are never written and no file is created beside them):

* aw-server-rust ``sqlite.db`` (schema of aw-datastore/src/datastore.rs, versions 1–6):
  ``buckets(id INTEGER PK, name TEXT UNIQUE, type, client, hostname, created TEXT,
  data TEXT)`` and ``events(id, bucketrow → buckets.id, starttime INTEGER ns, endtime
  INTEGER ns, data TEXT)``; settings in ``key_value(key, value, last_modified)`` under
  ``settings.<key>``. Duration = endtime − starttime, exactly.
* aw-server (Python) ``peewee-sqlite.v2.db`` (aw-core aw_datastore/storages/peewee.py):
  ``bucketmodel(key INTEGER PK, id TEXT UNIQUE, created DATETIME text, name, type, client,
  hostname, datastr TEXT — absent in old files)`` and ``eventmodel(id, bucket_id →
  bucketmodel.key, timestamp DATETIME text ``YYYY-MM-DD HH:MM:SS[.ffffff]+00:00``, duration
  DECIMAL seconds, datastr TEXT)``.

Every bucket keeps its id, type, client, hostname, created and data. Events get fresh ids;
each batch is one transaction through the writer and de-duplicated against what the store
already holds (same start, duration, data), so a migration can be interrupted and re-run —
or run again after more data was recorded — without duplicates. Settings are copied when
fastaw has no value for the key yet.
"""

from __future__ import annotations

import concurrent.futures
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec
import platformdirs

from fastaw.errors import BadRequest
from fastaw.exchange.wire import WireBucket, canonical_datas, to_bucket
from fastaw.models import Bucket, canonical_data
from fastaw.storage import Writer
from fastaw.storage.bulk import BulkInserter, InsertCounts, create_or_get
from fastaw.storage.mutations import Writes
from fastaw.timefmt import parse_datetime, seconds_to_ns

BATCH: Final = 50_000
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
Progress = Callable[[int], None]


@dataclass
class SourceBucket:
    key: int
    bucket: Bucket
    events: int


@dataclass
class BucketResult:
    bucket_id: str
    created: bool
    read: int = 0
    imported: int = 0
    skipped: int = 0
    unreadable: int = 0


@dataclass
class MigrationSummary:
    source: str
    kind: str
    buckets: list[BucketResult] = field(default_factory=list)
    settings: int = 0
    seconds: float = 0.0

    @property
    def events_read(self) -> int:
        return sum(b.read for b in self.buckets)

    @property
    def events_imported(self) -> int:
        return sum(b.imported for b in self.buckets)

    @property
    def events_skipped(self) -> int:
        return sum(b.skipped for b in self.buckets)


def default_sources(testing: bool = False) -> list[Path]:
    """aw-server-rust's and aw-server's databases in the standard data dirs, if present."""
    base = Path(platformdirs.user_data_dir("activitywatch", appauthor=False))
    rust = "sqlite-testing.db" if testing else "sqlite.db"
    python = "peewee-sqlite-testing.v2.db" if testing else "peewee-sqlite.v2.db"
    candidates = [base / "aw-server-rust" / rust, base / "aw-server" / python]
    return [path for path in candidates if path.is_file()]


def _is_wal(path: Path) -> bool:
    """Whether the database header says WAL mode (file format versions 2 at bytes 18–19)."""
    with open(path, "rb") as stream:
        header = stream.read(20)
    return len(header) == 20 and header[18:20] == b"\x02\x02"


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection that leaves the database, its WAL and its folder untouched.

    * rollback-journal database: ``mode=ro`` (shared locks only, no file created);
    * WAL database with no ``-wal`` file (its server is not running): ``immutable=1`` —
      a plain ``mode=ro`` open would create ``-wal``/``-shm`` files next to it;
    * WAL database in use (``-wal`` present): ``mode=ro``, which reads the WAL through the
      server's ``-shm`` index like any reader — the database and WAL are never written.
    """
    resolved = Path(path).resolve()
    if not resolved.is_file():
        raise BadRequest(f"{path} does not exist")
    mode = "ro"
    if _is_wal(resolved) and not Path(str(resolved) + "-wal").exists():
        mode = "ro&immutable=1"
    uri = "file:" + urllib.parse.quote(str(resolved)) + "?mode=" + mode
    try:
        conn = sqlite3.connect(uri, uri=True)
        conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise BadRequest(f"Cannot open {path} as an SQLite database: {exc}") from None
    return conn


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def detect_kind(conn: sqlite3.Connection) -> str:
    tables = _tables(conn)
    if {"buckets", "events"} <= tables:
        return "aw-server-rust"
    if {"bucketmodel", "eventmodel"} <= tables:
        return "aw-server"
    raise BadRequest("Not an ActivityWatch database: expected the tables buckets/events "
                     "(aw-server-rust) or bucketmodel/eventmodel (aw-server)")


def _data(text: Any, where: str) -> bytes:
    if isinstance(text, bytes):
        if text.startswith(_ZSTD_MAGIC):
            raise BadRequest(f"{where}: event data is zstd-compressed (an aw-server-rust "
                             "build with compression-zstd); export it to JSON with that "
                             "server and import the export instead")
        text = text.decode("utf-8")
    value = msgspec.json.decode(text) if text else {}
    if not isinstance(value, dict):
        raise ValueError("data is not a JSON object")
    return canonical_data(value)


class Source:
    """One ActivityWatch database opened read-only."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.conn = connect_readonly(self.path)
        self.kind = detect_kind(self.conn)

    def close(self) -> None:
        self.conn.close()

    def buckets(self) -> list[SourceBucket]:
        out: list[SourceBucket] = []
        if self.kind == "aw-server-rust":
            has_data = "data" in _columns(self.conn, "buckets")
            rows = self.conn.execute(
                "SELECT b.id, b.name, b.type, b.client, b.hostname, b.created, "
                + ("b.data, " if has_data else "'{}', ")
                + "(SELECT count(*) FROM events e WHERE e.bucketrow = b.id) "
                "FROM buckets b ORDER BY b.name")
        else:
            has_data = "datastr" in _columns(self.conn, "bucketmodel")
            rows = self.conn.execute(
                "SELECT b.key, b.id, b.type, b.client, b.hostname, b.created, "
                + ("b.datastr, " if has_data else "'{}', ")
                + "(SELECT count(*) FROM eventmodel e WHERE e.bucket_id = b.key) "
                "FROM bucketmodel b ORDER BY b.id")
        for key, name, type_, client, hostname, created, data, count in rows:
            where = f"bucket {name!r} of {self.path.name}"
            try:
                meta = msgspec.json.decode(data or "{}")
            except msgspec.DecodeError:
                meta = {}
            wire = WireBucket(type=type_ or "", client=client or "", hostname=hostname or "",
                              id=name, created=_created(created),
                              data=meta if isinstance(meta, dict) else {})
            out.append(SourceBucket(key, to_bucket(name, wire, where), count))
        return out

    def event_batches(self, source: SourceBucket, unreadable: list[int]
                      ) -> Iterator[tuple[list[int], list[int], list[bytes]]]:
        """Columns of the bucket's events in batches; ids of unreadable rows are collected."""
        if self.kind == "aw-server-rust":
            query = "SELECT id, starttime, endtime - starttime, data FROM events " \
                    "WHERE bucketrow = ?"
        else:
            query = "SELECT id, timestamp, duration, datastr FROM eventmodel WHERE bucket_id = ?"
        cursor = self.conn.execute(query, (source.key,))
        while True:
            rows = cursor.fetchmany(BATCH)
            if not rows:
                return
            fast = self._columns(rows)
            yield fast if fast is not None else self._rows(rows, unreadable)

    def _columns(self, rows: list[Any]) -> tuple[list[int], list[int], list[bytes]] | None:
        """The batch converted column-wise, or None if any row needs a closer look."""
        _, firsts, seconds, texts = (list(column) for column in zip(*rows, strict=True))
        if {type(text) for text in texts} != {str}:
            return None
        try:
            if self.kind == "aw-server-rust":
                if {type(x) for x in firsts} | {type(x) for x in seconds} != {int}:
                    return None
                starts, durations = firsts, seconds
            else:
                from fastaw.exchange.columns import nearest_ns, parse_timestamps

                parsed = parse_timestamps(firsts)
                ns = nearest_ns([float(x) for x in seconds])
                if parsed.null_count() or ns.null_count():
                    return None
                starts, durations = parsed.to_list(), ns.to_list()
            datas = canonical_datas([text.encode() for text in texts], _no_place, 0)
        except (BadRequest, ValueError, TypeError):
            return None
        return starts, durations, datas

    def _rows(self, rows: list[Any], unreadable: list[int]
              ) -> tuple[list[int], list[int], list[bytes]]:
        """Row by row: unreadable rows are skipped (their ids collected)."""
        rust = self.kind == "aw-server-rust"
        starts: list[int] = []
        durations: list[int] = []
        datas: list[bytes] = []
        for row_id, start, duration, data in rows:
            try:
                if rust:
                    start_ns, duration_ns = int(start), int(duration)
                else:
                    start_ns = _python_time(start)
                    duration_ns = seconds_to_ns(float(duration))
                canonical = _data(data, f"event {row_id} of {self.path.name}")
            except (ValueError, TypeError, msgspec.DecodeError, UnicodeDecodeError):
                unreadable.append(row_id)
                continue
            starts.append(start_ns)
            durations.append(duration_ns)
            datas.append(canonical)
        return starts, durations, datas

    def settings(self) -> dict[str, bytes]:
        if self.kind != "aw-server-rust" or "key_value" not in _tables(self.conn):
            return {}
        out: dict[str, bytes] = {}
        for key, value in self.conn.execute(
                "SELECT key, value FROM key_value WHERE key LIKE 'settings.%'"):
            try:
                out[key[len("settings."):]] = msgspec.json.encode(msgspec.json.decode(value))
            except (msgspec.DecodeError, TypeError):
                continue
        return out


def _no_place(index: int, field: str) -> str:
    return f"row {index}"


def _created(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _python_time(value: Any) -> int:
    if not isinstance(value, str):
        raise ValueError("timestamp is not text")
    return parse_datetime(value)


def migrate(path: Path, writer: Writer, progress: Progress | None = None,
            on_total: Callable[[int], None] | None = None) -> MigrationSummary:
    """Copy every bucket, event and setting of one database into the store."""
    started = time.perf_counter()
    source = Source(path)
    try:
        summary = MigrationSummary(str(path), source.kind)
        buckets = source.buckets()
        if on_total is not None:
            on_total(sum(b.events for b in buckets))
        for item in buckets:
            result = _migrate_bucket(source, item, writer, progress)
            summary.buckets.append(result)
        settings = source.settings()
        if settings:
            summary.settings = writer.run_sync(lambda w: _copy_settings(w, settings))
    finally:
        source.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _migrate_bucket(source: Source, item: SourceBucket, writer: Writer,
                    progress: Progress | None) -> BucketResult:
    num, created = writer.run_sync(lambda w: create_or_get(w, item.bucket))
    result = BucketResult(item.bucket.id, created)
    unreadable: list[int] = []
    pending: concurrent.futures.Future[InsertCounts] | None = None

    def settle(future: concurrent.futures.Future[InsertCounts], size: int) -> None:
        counts = future.result()
        result.imported += counts.inserted
        result.skipped += counts.skipped
        result.read += size
        if progress is not None:
            progress(size)

    # one batch is written while the next is read: the writer commits (fsync) while
    # SQLite and the conversion work on the next one
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="fastaw-migrate") as pool:
        size = 0
        for starts, durations, datas in source.event_batches(item, unreadable):
            if not starts:
                continue
            op = _insert(num, starts, durations, datas)
            if pending is not None:
                settle(pending, size)
            pending, size = pool.submit(writer.run_sync, op), len(starts)
        if pending is not None:
            settle(pending, size)
    result.unreadable = len(unreadable)
    return result


def _insert(num: int, starts: list[int], durations: list[int], datas: list[bytes]
            ) -> Callable[[Writes], InsertCounts]:
    """The writer operation for one batch (timestamps rendered here, off the writer)."""
    from fastaw.exchange.columns import format_starts

    stamps = format_starts(starts)
    return lambda writes: BulkInserter(writes, num).add(starts, durations, datas, stamps)


def _copy_settings(writes: Writes, settings: dict[str, bytes]) -> int:
    copied = 0
    for key, value in settings.items():
        if key and len(key.encode()) < 128 and writes.txn.get(
                key.encode(), db=writes.env.kv) is None:
            writes.set_setting(key, value)
            copied += 1
    return copied
