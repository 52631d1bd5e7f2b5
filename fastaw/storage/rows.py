"""Row-level access inside one LMDB transaction: the building blocks of reads and writes.

Invariants kept by every function that writes (and checked by `fastaw check`):
* an event exists in ``events`` iff its id exists in ``ids`` pointing at the same key;
* ``stats[bucket].count`` is the number of the bucket's events, ``max_duration`` is at
  least every event's duration, ``end`` is the largest event end (None when empty);
* every change to an event bumps the generation of its window in ``windows`` and drops
  the derived chunk of that window from ``chunks``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, NamedTuple

import msgspec

from fastaw.errors import NotFound
from fastaw.models import Bucket, BucketStats, Event, render_event
from fastaw.storage import keys
from fastaw.storage.env import Env

_bucket_decoder: Final = msgspec.msgpack.Decoder(Bucket)
_stats_decoder: Final = msgspec.msgpack.Decoder(BucketStats)
_encoder: Final = msgspec.msgpack.Encoder()
DATA_MARKER: Final = b',"data":'


def encode_record(record: Bucket | BucketStats) -> bytes:
    return _encoder.encode(record)


def decode_bucket(raw: bytes) -> Bucket:
    return _bucket_decoder.decode(raw)


def data_of(value: bytes | memoryview) -> bytes:
    """The canonical data JSON inside a stored event value."""
    raw = bytes(value)
    return raw[raw.index(DATA_MARKER, keys.VALUE_HEADER_SIZE) + len(DATA_MARKER) : -1]


def rendered_of(value: bytes | memoryview) -> bytes | memoryview:
    return value[keys.VALUE_HEADER_SIZE :]


def event_of(key: bytes, value: bytes | memoryview) -> Event:
    _, start, event_id = keys.split_event_key(bytes(key))
    return Event(event_id, start, keys.value_duration(bytes(value[:8])), data_of(value))


class Rows:
    """Typed helpers over one transaction (read-only or write)."""

    def __init__(self, env: Env, txn: Any) -> None:
        self.env = env
        self.txn = txn

    # -- buckets -------------------------------------------------------------------------
    def bucket(self, bucket_id: str) -> Bucket | None:
        raw = self.txn.get(bucket_id.encode(), db=self.env.buckets)
        return None if raw is None else decode_bucket(bytes(raw))

    def require_bucket(self, bucket_id: str) -> Bucket:
        bucket = self.bucket(bucket_id)
        if bucket is None:
            raise NotFound(f"The requested bucket '{bucket_id}' does not exist")
        return bucket

    def buckets(self) -> Iterator[Bucket]:
        with self.txn.cursor(db=self.env.buckets) as cursor:
            for _, raw in cursor:
                yield decode_bucket(bytes(raw))

    def stats(self, num: int) -> BucketStats:
        raw = self.txn.get(keys.u32(num), db=self.env.stats)
        return BucketStats() if raw is None else _stats_decoder.decode(bytes(raw))

    def first_start(self, num: int) -> int | None:
        with self.txn.cursor(db=self.env.events) as cursor:
            if cursor.set_range(keys.bucket_prefix(num)):
                key = bytes(cursor.key())
                if key[:4] == keys.bucket_prefix(num):
                    return keys.key_start(key)
        return None

    # -- events --------------------------------------------------------------------------
    def locate(self, event_id: int) -> bytes | None:
        """The events key of an id, or None."""
        prefix = self.txn.get(keys.id_key(event_id), db=self.env.ids)
        if prefix is None:
            return None
        return bytes(prefix) + keys.u64(keys.MAX_U64 - event_id)

    def event(self, num: int, event_id: int) -> Event | None:
        key = self.locate(event_id)
        if key is None or keys.read_u32(key[:4]) != num:
            return None
        value = self.txn.get(key, db=self.env.events)
        return None if value is None else event_of(key, value)

    def event_value(self, num: int, event_id: int) -> bytes | memoryview | None:
        key = self.locate(event_id)
        if key is None or keys.read_u32(key[:4]) != num:
            return None
        value: bytes | memoryview | None = self.txn.get(key, db=self.env.events)
        return value

    def newest(self, num: int) -> Event | None:
        """The event with the latest start (ties: the smallest id)."""
        with self.txn.cursor(db=self.env.events) as cursor:
            found = cursor.prev() if cursor.set_range(keys.bucket_end_key(num)) else cursor.last()
            if not found:
                return None
            key = bytes(cursor.key())
            if key[:4] != keys.bucket_prefix(num):
                return None
            return event_of(key, cursor.value())

    def scan(
        self, num: int, start: int | None, end: int | None, max_duration: int
    ) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) of the events overlapping [start, end] inclusive, newest first.

        An event overlaps when ``event.start <= end`` and ``event.end >= start``; events that
        began before ``start`` are found by looking back ``max_duration`` ns.
        """
        bounds = scan_bounds(num, start, end, max_duration)
        with self.txn.cursor(db=self.env.events) as cursor:
            if not position(cursor, bounds.upper):
                return
            for key, value in cursor.iterprev():
                if key < bounds.low:
                    return
                # Events that start before the range may end before it; so may events with a
                # negative duration that start inside it.
                if start is not None and (key < bounds.start_key
                                          or keys.value_duration(value) < 0):
                    ev_end = keys.key_start(key) + keys.value_duration(value)
                    if ev_end < start:
                        continue
                yield key, value


class ScanBounds(NamedTuple):
    """Key boundaries of a range scan over one bucket (see `Rows.scan`)."""

    upper: bytes  # first key past the range
    low: bytes  # no key below this can overlap the range
    start_key: bytes  # keys below this start before the range start


def scan_bounds(num: int, start: int | None, end: int | None, max_duration: int) -> ScanBounds:
    prefix = keys.bucket_prefix(num)
    if end is None or end >= keys.MAX_START:
        upper = keys.bucket_end_key(num)
    else:
        upper = keys.bucket_start_prefix(num, end + 1)
    if start is None:
        return ScanBounds(upper, prefix, prefix)
    low = keys.bucket_start_prefix(num, max(start - max(max_duration, 0), keys.MIN_START))
    return ScanBounds(upper, low, keys.bucket_start_prefix(num, max(start, keys.MIN_START)))


def position(cursor: Any, upper: bytes) -> bool:
    """Put the cursor on the last key before ``upper``; False if there is none."""
    if cursor.set_range(upper):
        return bool(cursor.prev())
    return bool(cursor.last())


def clip(event: Event, start: int | None, end: int | None) -> Event:
    """The part of an event inside [start, end] (aw-server-rust's clipping rule)."""
    ev_start, ev_end = event.start, event.start + event.duration
    new_start = ev_start if start is None else max(ev_start, start)
    new_end = ev_end if end is None else min(ev_end, end)
    if new_start == ev_start and new_end == ev_end:
        return event
    return Event(event.id, new_start, new_end - new_start, event.data)


def render(event: Event) -> bytes:
    return render_event(event.id, event.start, event.duration, event.data)
