"""Reads: short read-only transactions that return ready-to-send JSON bytes.

Every method opens its own transaction and closes it before returning, so a reader never
holds a snapshot across an ``await``; it can run on any thread or in any process.
Stored events carry their rendered JSON, so listing events is a cursor walk that joins
byte strings; only the (at most two) events clipped at the range edges are re-rendered.
"""

from __future__ import annotations

from collections.abc import Iterator

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
        with self.env.read() as txn:
            rows = Rows(self.env, txn)
            bucket = rows.require_bucket(bucket_id)
            if limit == 0 or (start is not None and end is not None and start > end):
                return b"[]"
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
            parts: list[bytes] = []
            remaining = -1 if limit is None else limit
            with txn.cursor(db=self.env.events) as cursor:
                if not position(cursor, bounds.upper):
                    return b"[]"
                for key, value in cursor.iterprev():
                    if safe_low <= key < safe_high:
                        parts.append(value[8:])
                    else:
                        if key < bounds.low:
                            break
                        event = event_of(key, value)
                        if start is not None and event.start + event.duration < start:
                            continue
                        parts.append(render(clip(event, start, end)))
                    remaining -= 1
                    if remaining == 0:
                        break
            return b"[" + b",".join(parts) + b"]"

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


def _json_string(text: str) -> bytes:
    import msgspec

    return msgspec.json.encode(text)
