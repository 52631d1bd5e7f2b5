"""Where generated history goes: straight into a store, or through the HTTP API.

`generate` walks the spec's days (in worker processes with ``jobs > 1``; the result is the
same because every day is generated independently) and hands each day's events to a sink:

* `StoreSink` writes into an LMDB store with the store's own writer, many thousand events
  per transaction (`Writes.insert_many`) — the bulk path, for the store of a server that
  is not running or is (LMDB is multi-process safe).
* `HttpSink` creates the buckets and posts events in batches (default 1000) to
  ``POST /api/0/buckets/<id>/events`` of any ActivityWatch-compatible server.

Buckets that already exist are refused unless ``replace`` is set, which deletes them first,
so running the generator twice never silently doubles the data.
"""

from __future__ import annotations

import http.client
import multiprocessing
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import msgspec
from tqdm import tqdm

from fastaw.datagen.desktop import BucketDef, DayEvents, Desktop, Spec
from fastaw.errors import AlreadyExists
from fastaw.models import Bucket, Event
from fastaw.storage import Env, Writer, Writes
from fastaw.timefmt import format_ns

STORE_BATCH: Final = 50_000
HTTP_BATCH: Final = 1_000


class Sink(Protocol):
    def open(self) -> None: ...
    def add(self, day: DayEvents) -> None: ...
    def close(self) -> None: ...


@dataclass
class Report:
    """What `generate` wrote."""

    spec: Spec
    days: int = 0
    events: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.events.values())

    def summary(self) -> str:
        rate = self.total / self.seconds if self.seconds else 0.0
        parts = ", ".join(f"{self.spec.bucket_id(b)} {self.events.get(b.key, 0):,}"
                          for b in self.spec.buckets)
        return (f"{self.total:,} events over {self.days:,} days in {self.seconds:.1f} s "
                f"({rate:,.0f} events/s): {parts}")


# -- day production ----------------------------------------------------------------------

_desktop: Desktop | None = None


def _init_worker(spec: Spec) -> None:
    global _desktop
    _desktop = Desktop(spec)


def _work(ordinals: list[int]) -> list[DayEvents]:
    assert _desktop is not None
    return [_desktop.day(ordinal) for ordinal in ordinals]


def iter_days(spec: Spec, jobs: int = 1, span: int = 7) -> Iterator[DayEvents]:
    """Every day's events in order; ``jobs`` worker processes generate ahead."""
    days = list(spec.days)
    if jobs <= 1:
        desktop = Desktop(spec)
        for ordinal in days:
            yield desktop.day(ordinal)
        return
    groups = [days[i:i + span] for i in range(0, len(days), span)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(jobs, initializer=_init_worker, initargs=(spec,)) as pool:
        for group in pool.imap(_work, groups):
            yield from group


def generate(spec: Spec, sink: Sink, *, jobs: int = 1, progress: bool = True) -> Report:
    """Generate the spec's history into ``sink``; returns counts and timing."""
    report = Report(spec, events={b.key: 0 for b in spec.buckets})
    started = time.perf_counter()
    sink.open()
    bar = tqdm(total=len(spec.days), unit="day", disable=not progress, smoothing=0.05)
    try:
        for day in iter_days(spec, jobs):
            sink.add(day)
            report.days += 1
            for key, events in day.items():
                report.events[key] += len(events)
            bar.update(1)
            if report.days % 16 == 0:
                elapsed = time.perf_counter() - started
                bar.set_postfix(events=f"{report.total:,}",
                                rate=f"{report.total / elapsed:,.0f}/s", refresh=False)
    finally:
        bar.close()
        sink.close()  # what was generated so far is kept, even after an interruption
    report.seconds = time.perf_counter() - started
    return report


def _bucket_record(spec: Spec, bucket: BucketDef) -> Bucket:
    return Bucket(id=spec.bucket_id(bucket), num=0, type=bucket.type, client=bucket.client,
                  hostname=spec.hostname, created=spec.day_start_ns(spec.first_day))


# -- into a store ------------------------------------------------------------------------


class StoreSink:
    """Bulk insert into the store at ``data_dir`` through its writer."""

    def __init__(self, spec: Spec, data_dir: Path, *, map_size: int | None = None,
                 replace: bool = False, batch: int = STORE_BATCH) -> None:
        self.spec = spec
        self.data_dir = Path(data_dir)
        self.map_size = map_size
        self.replace = replace
        self.batch = batch
        self.nums: dict[str, int] = {}
        self.pending: dict[str, list[Event]] = {}
        self.size = 0
        self._env: Env | None = None
        self._writer: Writer | None = None

    def open(self) -> None:
        kwargs: dict[str, Any] = {} if self.map_size is None else {"map_size": self.map_size}
        self._env = Env(self.data_dir, **kwargs)
        self._writer = Writer(self._env)
        self._writer.start()
        records = [_bucket_record(self.spec, b) for b in self.spec.buckets]

        def create(writes: Writes) -> dict[str, int]:
            nums = {}
            for bucket, record in zip(self.spec.buckets, records, strict=True):
                if writes.bucket(record.id) is not None:
                    if not self.replace:
                        raise AlreadyExists(f"Bucket '{record.id}' already exists "
                                            "(use --replace to overwrite it)")
                    writes.delete_bucket(record.id)
                nums[bucket.key] = writes.create_bucket(record).num
            return nums

        try:
            self.nums = self._writer.run_sync(create)
        except BaseException:
            self.close()
            raise
        self.pending = {b.key: [] for b in self.spec.buckets}

    def add(self, day: DayEvents) -> None:
        for key, events in day.items():
            self.pending[key].extend(events)
            self.size += len(events)
        if self.size >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self.size or self._writer is None:
            return
        work = [(self.nums[key], events) for key, events in self.pending.items() if events]

        def insert(writes: Writes) -> None:
            for num, events in work:
                writes.insert_many(num, events)

        self._writer.run_sync(insert)
        self.pending = {key: [] for key in self.pending}
        self.size = 0

    def close(self) -> None:
        try:
            if self.pending:
                self.flush()
        finally:
            if self._writer is not None:
                self._writer.stop()
            if self._env is not None:
                self._env.close()
            self._writer = self._env = None


# -- through HTTP ------------------------------------------------------------------------

_float: Final = msgspec.json.Encoder()


def wire_event(event: Event) -> bytes:
    """An event as a client sends it (timestamp, duration in seconds, data)."""
    return b"".join((b'{"timestamp":"', format_ns(event.start).encode(), b'","duration":',
                     _float.encode(event.duration / 1e9), b',"data":', event.data, b"}"))


class HttpSink:
    """Create the buckets and post events in batches to a running server."""

    def __init__(self, spec: Spec, url: str, *, replace: bool = False,
                 batch: int = HTTP_BATCH, timeout: float = 600.0) -> None:
        self.spec = spec
        self.url = url.rstrip("/")
        self.replace = replace
        self.batch = batch
        self.timeout = timeout
        self.pending: dict[str, list[Event]] = {}
        self._conn: http.client.HTTPConnection | None = None

    def _request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        if self._conn is None:
            parts = urllib.parse.urlsplit(self.url)
            factory = (http.client.HTTPSConnection if parts.scheme == "https"
                       else http.client.HTTPConnection)
            self._conn = factory(parts.netloc, timeout=self.timeout)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        prefix = urllib.parse.urlsplit(self.url).path
        self._conn.request(method, prefix + urllib.parse.quote(path, safe="/?=&"), body=body,
                           headers=headers)
        response = self._conn.getresponse()
        return response.status, response.read()

    def _check(self, method: str, path: str, body: bytes | None = None) -> None:
        status, text = self._request(method, path, body)
        if status >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {text[:300]!r}")

    def open(self) -> None:
        for bucket in self.spec.buckets:
            bucket_id = self.spec.bucket_id(bucket)
            path = f"/api/0/buckets/{bucket_id}"
            body = msgspec.json.encode({"client": bucket.client, "type": bucket.type,
                                        "hostname": self.spec.hostname})
            exists = self._request("GET", path)[0] == 200
            if exists and not self.replace:
                raise AlreadyExists(f"Bucket '{bucket_id}' already exists at {self.url} "
                                    "(use --replace to overwrite it)")
            if exists:
                self._check("DELETE", path + "?force=1")
            self._check("POST", path, body)
        self.pending = {b.key: [] for b in self.spec.buckets}

    def add(self, day: DayEvents) -> None:
        for key, events in day.items():
            pending = self.pending[key]
            pending.extend(events)
            if len(pending) >= self.batch:
                self._post(key, pending)
                pending.clear()

    def _post(self, key: str, events: list[Event]) -> None:
        bucket = next(b for b in self.spec.buckets if b.key == key)
        path = f"/api/0/buckets/{self.spec.bucket_id(bucket)}/events"
        for i in range(0, len(events), self.batch):
            body = b"[" + b",".join(wire_event(e) for e in events[i:i + self.batch]) + b"]"
            self._check("POST", path, body)

    def close(self) -> None:
        try:
            for key, events in self.pending.items():
                if events:
                    self._post(key, events)
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
