"""Reads: short read-only transactions that return ready-to-send JSON bytes.

Every method opens its own transaction and closes it before returning, so a reader never
holds a snapshot across an ``await``; it can run on any thread or in any process.
Stored events carry their rendered JSON, so listing events is a cursor walk that joins
byte strings; only the (at most two) events clipped at the range edges are re-rendered.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from itertools import islice
from operator import itemgetter
from typing import Any, Final

from fastaw.models import Bucket, BucketStats, Event, render_bucket
from fastaw.storage import keys
from fastaw.storage.env import Env
from fastaw.storage.rows import Rows, clip, event_of, position, render, rendered_of, scan_bounds


class Reader:
    """Read access to a store."""

    def __init__(self, env: Env) -> None:
        self.env = env

    # -- buckets -------------------------------------------------------------------------
    def _bucket_json(self, rows: Rows, bucket: Bucket, events: bytes | None = None) -> bytes:
        return render_bucket(bucket, rows.stats(bucket.num), rows.first_start(bucket.num), events)

    def buckets_json(self) -> bytes:
        """``{id: bucket, ...}`` of every bucket."""
        with self.env.read() as txn:
            rows = Rows(self.env, txn)
            parts = []
            for bucket in rows.buckets():
                name = _json_string(bucket.id)
                parts.append(name + b":" + self._bucket_json(rows, bucket))
        return b"{" + b",".join(parts) + b"}"

    def bucket_json(self, bucket_id: str) -> bytes:
        with self.env.read() as txn:
            rows = Rows(self.env, txn)
            return self._bucket_json(rows, rows.require_bucket(bucket_id))

    def bucket(self, bucket_id: str) -> Bucket | None:
        with self.env.read() as txn:
            return Rows(self.env, txn).bucket(bucket_id)

    def bucket_list(self) -> list[Bucket]:
        with self.env.read() as txn:
            return list(Rows(self.env, txn).buckets())

    def stats(self, bucket_id: str) -> tuple[Bucket, BucketStats, int | None]:
        with self.env.read() as txn:
            rows = Rows(self.env, txn)
            bucket = rows.require_bucket(bucket_id)
            return bucket, rows.stats(bucket.num), rows.first_start(bucket.num)

    # -- events --------------------------------------------------------------------------
    def events_json(self, bucket_id: str, start: int | None = None, end: int | None = None,
                    limit: int | None = None) -> bytes:
        """The bucket's events overlapping [start, end], newest first, clipped, as JSON."""
        body: list[bytes] = []
        self.write_events(body.append, bucket_id, start, end, limit)
        return b"".join(body)  # one part: no copy

    def write_events(self, emit: Callable[[bytes], None], bucket_id: str,
                     start: int | None = None, end: int | None = None,
                     limit: int | None = None, chunk_rows: int | None = None) -> None:
        """`events_json` handed to ``emit`` in pieces of about ``chunk_rows`` events (one
        piece when None), all read in one snapshot; the pieces joined are the JSON array.
        A missing bucket raises before anything is emitted.

        The walk goes down from the range end in three parts: the rows that start within
        ``max_duration`` of the end (they may need clipping: checked one by one), the rows
        that surely lie inside the range (their stored JSON is sent as is, read in batches
        at C level), and the rows that start before the range start (checked one by one).
        """
        with self.env.read() as txn:
            rows = Rows(self.env, txn)
            bucket = rows.require_bucket(bucket_id)
            if limit == 0 or (start is not None and end is not None and start > end):
                emit(b"[]")
                return
            stats = rows.stats(bucket.num)
            bounds = scan_bounds(bucket.num, start, end, stats.max_duration)
            # Keys in [safe_low, safe_high) need no check: they start inside the range and,
            # with no negative durations stored, end inside it too.
            safe_low = bounds.start_key
            safe_high = bounds.upper
            if end is not None and stats.max_duration > 0:
                safe_high = max(safe_low, scan_bounds(
                    bucket.num, None, max(end - stats.max_duration, keys.MIN_START), 0).upper)
            if stats.min_duration < 0:
                safe_low = safe_high
            walk = _Walk(start, end, -1 if limit is None else limit, emit,
                         chunk_rows or sys.maxsize)
            with txn.cursor(db=self.env.events) as cursor:
                if (position(cursor, bounds.upper)
                        and walk.checked(cursor, safe_high)
                        and walk.unchecked(cursor, safe_low)):
                    walk.checked(cursor, bounds.low)
            walk.flush(final=True)

    def events(self, bucket_id: str, start: int | None = None, end: int | None = None,
               limit: int | None = None, clipped: bool = True) -> list[Event]:
        """Like `events_json` but as `Event` values (for tests and tools)."""
        out: list[Event] = []
        with self.env.read() as txn:
            rows = Rows(self.env, txn)
            bucket = rows.require_bucket(bucket_id)
            stats = rows.stats(bucket.num)
            if limit == 0 or (start is not None and end is not None and start > end):
                return out
            for key, value in rows.scan(bucket.num, start, end, stats.max_duration):
                event = event_of(key, value)
                out.append(clip(event, start, end) if clipped else event)
                if limit is not None and len(out) >= limit:
                    break
        return out

    def count(self, bucket_id: str, start: int | None = None, end: int | None = None) -> int:
        with self.env.read() as txn:
            rows = Rows(self.env, txn)
            bucket = rows.require_bucket(bucket_id)
            stats = rows.stats(bucket.num)
            if start is None and end is None:
                return stats.count
            if start is not None and end is not None and start > end:
                return 0
            return sum(1 for _ in rows.scan(bucket.num, start, end, stats.max_duration))

    def event_json(self, bucket_id: str, event_id: int) -> bytes | None:
        with self.env.read() as txn:
            rows = Rows(self.env, txn)
            bucket = rows.require_bucket(bucket_id)
            value = rows.event_value(bucket.num, event_id)
            return None if value is None else bytes(rendered_of(value))

    def iter_rows(self, num: int, start: int | None, end: int | None,
                  page: int = 50_000) -> Iterator[list[tuple[bytes, bytes]]]:
        """Pages of (key, value) of one bucket, newest first, each page its own snapshot."""
        upper = end
        skip_key: bytes | None = None
        while True:
            batch: list[tuple[bytes, bytes]] = []
            with self.env.read() as txn:
                rows = Rows(self.env, txn)
                max_duration = rows.stats(num).max_duration
                for key, value in rows.scan(num, start, upper, max_duration):
                    if skip_key is not None and key >= skip_key:
                        continue
                    batch.append((key, bytes(value)))
                    if len(batch) >= page:
                        break
            if not batch:
                return
            yield batch
            if len(batch) < page:
                return
            skip_key = batch[-1][0]
            upper = keys.key_start(skip_key)

    # -- settings ------------------------------------------------------------------------
    def settings_json(self) -> bytes:
        with self.env.read() as txn, txn.cursor(db=self.env.kv) as cursor:
            parts = [_json_string(bytes(k).decode()) + b":" + bytes(v) for k, v in cursor]
        return b"{" + b",".join(parts) + b"}"

    def setting_json(self, key: str) -> bytes:
        with self.env.read() as txn:
            value = txn.get(key.encode(), db=self.env.kv)
        return b"null" if value is None else bytes(value)


#: Rows read per batch where no row needs a check (`_Walk.unchecked`).
BATCH = 2048
_rendered: Final = itemgetter(slice(keys.VALUE_HEADER_SIZE, None))  # value -> its JSON


class _Walk:
    """The JSON of the events of one `Reader.events_json` range, collected newest first.

    Each step starts with the cursor on the next row to consider and returns True when it
    stopped on a row below its floor (the next step goes on from there), False when there
    is nothing more to take (the start of the database, or the limit reached).
    """

    def __init__(self, start: int | None, end: int | None, limit: int,
                 emit: Callable[[bytes], None], chunk_rows: int) -> None:
        self.start = start
        self.end = end
        self.remaining = limit  # events still to take; negative: no limit
        self.parts: list[bytes] = []  # taken, not yet emitted
        self.emit = emit
        self.chunk_rows = chunk_rows
        self.opened = False  # the "[" was emitted

    def flush(self, final: bool = False) -> None:
        """Emit the parts taken so far as the next piece of the JSON array."""
        parts = self.parts
        if not parts:
            if final:
                self.emit(b"]" if self.opened else b"[]")
            return
        parts[0] = (b"," if self.opened else b"[") + parts[0]
        if final:
            parts[-1] = parts[-1] + b"]"
        self.opened = True
        piece = b",".join(parts)
        del parts[:]  # the same list: the steps hold it
        self.emit(piece)

    def checked(self, cursor: Any, floor: bytes) -> bool:
        """Take the rows down to ``floor`` (excluded), each checked against the range:
        dropped when it ends before it, re-rendered when it needs clipping."""
        start, end, parts = self.start, self.end, self.parts
        for key, value in cursor.iterprev():
            if key < floor:
                return True
            ev_start = keys.key_start(key)
            ev_end = ev_start + keys.value_duration(value)
            if start is not None and ev_end < start:
                continue
            if (start is None or ev_start >= start) and (end is None or ev_end <= end):
                parts.append(value[keys.VALUE_HEADER_SIZE:])
            else:
                parts.append(render(clip(event_of(key, value), start, end)))
            self.remaining -= 1
            if self.remaining == 0:
                return False
            if len(parts) >= self.chunk_rows:
                self.flush()
        return False

    def unchecked(self, cursor: Any, floor: bytes) -> bool:
        """Take the rows down to ``floor`` (excluded) as stored.

        Rows are read in batches of values only (no per-row Python code); the key of the
        last row of a batch tells whether the whole batch lies above the floor. The batch
        that crosses it (or the start of the database) is read again row by row.
        """
        first = cursor.key()
        if first < floor:
            return True
        parts = self.parts
        values = cursor.iterprev(keys=False)
        last: bytes | None = None  # key of the last row taken
        while True:
            size = BATCH if self.remaining < 0 else min(BATCH, self.remaining)
            before = len(parts)
            parts.extend(map(_rendered, islice(values, size)))
            if len(parts) - before == size and cursor.key() >= floor:
                self.remaining -= size
                if self.remaining == 0:
                    return False
                last = cursor.key()
                if len(parts) >= self.chunk_rows:
                    self.flush()
                continue
            del parts[before:]
            if last is None:
                cursor.set_key(first)
            elif not (cursor.set_key(last) and cursor.prev()):
                return False
            for key, value in cursor.iterprev():
                if key < floor:
                    return True
                parts.append(value[keys.VALUE_HEADER_SIZE:])
                self.remaining -= 1
                if self.remaining == 0:
                    return False
            return False


def _json_string(text: str) -> bytes:
    import msgspec

    return msgspec.json.encode(text)
