"""Every mutation of the store, applied inside the writer's transaction.

These functions run only on the writer thread (`fastaw.storage.writer`), inside a
transaction that is committed — durably — before any caller is answered. They keep the
invariants stated in `fastaw.storage.rows`. Any other write to a bucket clears that
bucket's heartbeat anchor, so the next heartbeat falls back to the newest event.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any, Final

from fastaw.errors import AlreadyExists, BadRequest, NotFound
from fastaw.heartbeat import merge_heartbeat
from fastaw.models import HEAD, Bucket, BucketStats, Event, render_event
from fastaw.storage import keys
from fastaw.storage.env import Env
from fastaw.storage.inserts import PreparedRows, assign_ids
from fastaw.storage.rows import Rows, decode_bucket, encode_record, event_of

MAX_SETTING_KEY: Final = 128
_U64: Final = struct.Struct(">Q")


class Writes(Rows):
    """Mutations over one write transaction; call `finish` before committing."""

    def __init__(self, env: Env, txn: Any) -> None:
        super().__init__(env, txn)
        self.touched: set[bytes] = set()

    # -- counters ------------------------------------------------------------------------
    def _counter(self, name: bytes, floor: int = 1) -> int:
        raw = self.txn.get(name, db=self.env.meta)
        return max(floor, keys.read_u64(raw) if raw is not None else floor)

    def _take_id(self) -> int:
        event_id = self._counter(b"next_id")
        self.txn.put(b"next_id", keys.u64(event_id + 1), db=self.env.meta)
        return event_id

    def _claim_id(self, event_id: int) -> None:
        if self._counter(b"next_id") <= event_id:
            self.txn.put(b"next_id", keys.u64(event_id + 1), db=self.env.meta)

    def _put_stats(self, num: int, stats: BucketStats) -> None:
        self.txn.put(keys.u32(num), encode_record(stats), db=self.env.stats)

    def _touch(self, num: int, start: int) -> None:
        """Remember that a window changed; `finish` bumps each window once per batch."""
        self.touched.add(keys.window_key(num, keys.window_of(start)))

    def finish(self) -> None:
        """Bump the generation of every touched window and drop its chunk (before commit)."""
        for wkey in self.touched:
            raw = self.txn.get(wkey, db=self.env.windows)
            generation = 0 if raw is None else keys.read_u64(raw)
            self.txn.put(wkey, keys.u64(generation + 1), db=self.env.windows)
            self.txn.delete(wkey, db=self.env.chunks)
        self.touched.clear()

    # -- events --------------------------------------------------------------------------
    def _put(self, num: int, stats: BucketStats, event_id: int, start: int, duration: int,
             data: bytes) -> bytes:
        """Store a new row (the id must be free); returns its rendered JSON."""
        rendered = render_event(event_id, start, duration, data)
        key = keys.event_key(num, start, event_id)
        self.txn.put(key, keys.event_value(duration, rendered), db=self.env.events)
        self.txn.put(keys.id_key(event_id), key[:12], db=self.env.ids)
        stats.count += 1
        stats.max_duration = max(stats.max_duration, duration)
        stats.min_duration = min(stats.min_duration, duration)
        end = start + duration
        stats.end = end if stats.end is None else max(stats.end, end)
        self._touch(num, start)
        return rendered

    def _remove(self, key: bytes) -> None:
        """Delete a row by its events key and fix its bucket's stats."""
        value = self.txn.get(key, db=self.env.events)
        if value is None:
            return
        num, start, event_id = keys.split_event_key(key)
        end = start + keys.value_duration(bytes(value[:8]))
        self.txn.delete(key, db=self.env.events)
        self.txn.delete(keys.id_key(event_id), db=self.env.ids)
        stats = self.stats(num)
        stats.count -= 1
        stats.anchor = None
        if stats.count <= 0:
            stats = BucketStats()
        elif stats.end is not None and end >= stats.end:
            stats.end = self._recompute_end(num, stats.max_duration)
        self._put_stats(num, stats)
        self._touch(num, start)

    def _recompute_end(self, num: int, max_duration: int) -> int | None:
        newest = self.newest(num)
        if newest is None:
            return None
        best = newest.start + newest.duration
        # An event ending after `best` starts after `best - max_duration`. (Not after
        # `newest.start - max_duration`: with a negative duration `best` < `newest.start`.)
        for key, value in self.scan(num, best - max_duration, None, 0):
            best = max(best, keys.key_start(key) + keys.value_duration(bytes(value[:8])))
        return best

    def insert_events(self, bucket_id: str, events: Sequence[Event]) -> list[bytes]:
        """Insert events; an event with an id replaces the event holding that id (anywhere)."""
        num = self.require_bucket(bucket_id).num
        stats = self.stats(num)
        next_id = self._counter(b"next_id")
        rendered: list[bytes] = []
        for event in events:
            if event.id is None:
                event_id = next_id
                next_id += 1
            else:
                event_id = event.id
                next_id = max(next_id, event_id + 1)
                old = self.locate(event_id)
                if old is not None:
                    self._put_stats(num, stats)
                    self._remove(old)
                    stats = self.stats(num)
            rendered.append(self._put(num, stats, event_id, event.start, event.duration,
                                      event.data))
        self.txn.put(b"next_id", keys.u64(next_id), db=self.env.meta)
        stats.anchor = None
        self._put_stats(num, stats)
        return rendered

    def insert_rows(self, bucket_id: str, rows: PreparedRows) -> list[bytes]:
        """`insert_events` of rows prepared by `fastaw.storage.inserts.prepare_rows`: the
        same result (the JSON of every event, with its id, in request order), with only
        the id-dependent bytes made here."""
        num = self.require_bucket(bucket_id).num
        rows = rows.for_bucket(num)
        next_id = self._counter(b"next_id")
        if rows.ids is None:
            ids: Sequence[int] = range(next_id, next_id + len(rows))
            next_id += len(rows)
        else:
            ids, next_id = assign_ids(rows.ids, next_id)
        rendered = list(map(operator.add, map(HEAD.__mod__, ids), rows.tails))
        stored, end = self._store_rows(num, rows, ids, rendered)
        self.txn.put(b"next_id", keys.u64(next_id), db=self.env.meta)
        stats = self.stats(num)
        stats.count += stored
        stats.max_duration = max(stats.max_duration, rows.max_duration)
        stats.min_duration = min(stats.min_duration, rows.min_duration)
        if end is not None:
            stats.end = end if stats.end is None else max(stats.end, end)
        stats.anchor = None
        self._put_stats(num, stats)
        self.touched.update(map(keys.window_key, repeat(num), rows.windows))
        return rendered

    def _store_rows(self, num: int, rows: PreparedRows, ids: Sequence[int],
                    rendered: list[bytes]) -> tuple[int, int | None]:
        """Write the rows in ascending key order; (rows written, largest end written).

        With requested ids, the events holding them are removed first, and of several
        rows with one id only the last is written."""
        put = rows.order
        end = rows.end
        if rows.ids is not None:
            for event_id in dict.fromkeys(i for i in rows.ids if i is not None):
                old = self.locate(event_id)
                if old is not None:
                    self._remove(old)
            last = {event_id: index for index, event_id in enumerate(ids)}
            if len(last) < len(ids):
                kept = set(last.values())
                put = [i for i in (put or range(len(ids))) if i in kept]
                end = max(rows.starts[i] + rows.durations[i] for i in kept)
        event_keys = list(map(operator.add, rows.prefixes, map(
            _U64.pack, map(operator.sub, repeat(keys.MAX_U64), ids))))
        values = list(map(operator.add, rows.heads, rendered))
        id_keys = list(map(_U64.pack, ids))
        prefixes = rows.prefixes
        if put is not None:
            get = operator.itemgetter(*put) if len(put) > 1 else lambda seq: (seq[put[0]],)
            event_keys, values, id_keys, prefixes = (
                list(get(column)) for column in (event_keys, values, id_keys, prefixes))
        with self.txn.cursor(db=self.env.events) as cursor:
            cursor.putmulti(zip(event_keys, values, strict=True))
        with self.txn.cursor(db=self.env.ids) as cursor:
            cursor.putmulti(zip(id_keys, prefixes, strict=True))
        return len(event_keys), end

    def insert_many(self, num: int, events: Iterable[Event]) -> int:
        """Bulk insert of new events with fresh ids into bucket ``num`` (import, migrate)."""
        stats = self.stats(num)
        next_id = self._counter(b"next_id")
        count = 0
        for event in events:
            self._put(num, stats, next_id, event.start, event.duration, event.data)
            next_id += 1
            count += 1
        self.txn.put(b"next_id", keys.u64(next_id), db=self.env.meta)
        stats.anchor = None
        self._put_stats(num, stats)
        return count

    def delete_event(self, bucket_id: str, event_id: int) -> bool:
        bucket = self.require_bucket(bucket_id)
        key = self.locate(event_id)
        if key is None or keys.read_u32(key[:4]) != bucket.num:
            return False
        self._remove(key)
        return True

    def heartbeat(self, bucket_id: str, beat: Event, pulsetime: int) -> bytes:
        """Merge a heartbeat into the bucket's anchor event, or insert it (spec §4)."""
        bucket = self.require_bucket(bucket_id)
        stats = self.stats(bucket.num)
        last = None
        if stats.anchor is not None:
            last = self.event(bucket.num, stats.anchor)
        if last is None:
            last = self.newest(bucket.num)
        merged = None if last is None else merge_heartbeat(last, beat, pulsetime)
        if merged is not None and last is not None and last.id is not None:
            key = keys.event_key(bucket.num, last.start, last.id)
            rendered = render_event(last.id, merged.start, merged.duration, merged.data)
            self.txn.put(key, keys.event_value(merged.duration, rendered), db=self.env.events)
            stats.max_duration = max(stats.max_duration, merged.duration)
            end = merged.start + merged.duration
            stats.end = end if stats.end is None else max(stats.end, end)
            stats.anchor = last.id
            self._put_stats(bucket.num, stats)
            self._touch(bucket.num, merged.start)
            return rendered
        if beat.id is not None:
            old = self.locate(beat.id)
            if old is not None:
                self._remove(old)
                stats = self.stats(bucket.num)
            self._claim_id(beat.id)
        event_id = beat.id if beat.id is not None else self._take_id()
        rendered = self._put(bucket.num, stats, event_id, beat.start, beat.duration, beat.data)
        stats.anchor = event_id
        self._put_stats(bucket.num, stats)
        return rendered

    # -- buckets -------------------------------------------------------------------------
    def create_bucket(self, bucket: Bucket, events: Sequence[Event] = ()) -> Bucket:
        """Create a bucket (its ``num`` is assigned here); 304 when the id exists."""
        if not bucket.id:
            raise BadRequest("A bucket id must not be empty")
        limit = self.env.lmdb.max_key_size()
        if len(bucket.id.encode()) > limit:
            raise BadRequest(f"The bucket id is too long: at most {limit} bytes (UTF-8)")
        if self.bucket(bucket.id) is not None:
            raise AlreadyExists(f"Bucket '{bucket.id}' already exists")
        num = self._counter(b"next_bucket")
        self.txn.put(b"next_bucket", keys.u64(num + 1), db=self.env.meta)
        bucket.num = num
        self.txn.put(bucket.id.encode(), encode_record(bucket), db=self.env.buckets)
        self._put_stats(num, BucketStats())
        if events:
            self.insert_events(bucket.id, events)
        return bucket

    def delete_bucket(self, bucket_id: str) -> None:
        bucket = self.require_bucket(bucket_id)
        prefix = keys.bucket_prefix(bucket.num)
        with self.txn.cursor(db=self.env.events) as cursor:
            if cursor.set_range(prefix):
                while bytes(cursor.key())[:4] == prefix:
                    event_id = keys.key_id(bytes(cursor.key()))
                    self.txn.delete(keys.id_key(event_id), db=self.env.ids)
                    if not cursor.delete():
                        break
        for db in (self.env.windows, self.env.chunks):
            with self.txn.cursor(db=db) as cursor:
                if cursor.set_range(prefix):
                    while bytes(cursor.key())[:4] == prefix:
                        if not cursor.delete():
                            break
        self.txn.delete(keys.u32(bucket.num), db=self.env.stats)
        self.txn.delete(bucket_id.encode(), db=self.env.buckets)

    def update_bucket(self, bucket_id: str, **fields: object) -> None:
        raw = self.txn.get(bucket_id.encode(), db=self.env.buckets)
        if raw is None:
            raise NotFound(f"The requested bucket '{bucket_id}' does not exist")
        bucket = decode_bucket(bytes(raw))
        for name, value in fields.items():
            setattr(bucket, name, value)
        self.txn.put(bucket_id.encode(), encode_record(bucket), db=self.env.buckets)

    # -- settings ------------------------------------------------------------------------
    def set_setting(self, key: str, value: bytes) -> None:
        check_setting_key(key)
        self.txn.put(key.encode(), value, db=self.env.kv)

    def delete_setting(self, key: str) -> None:
        check_setting_key(key)
        self.txn.delete(key.encode(), db=self.env.kv)

    # -- import --------------------------------------------------------------------------
    def existing_signatures(self, num: int, start: int, end: int) -> set[tuple[int, int, bytes]]:
        """(start, duration, data) of the bucket's events starting within [start, end]."""
        found: set[tuple[int, int, bytes]] = set()
        stats = self.stats(num)
        for key, value in self.scan(num, start, end, stats.max_duration):
            event = event_of(key, value)
            if start <= event.start <= end:
                found.add((event.start, event.duration, event.data))
        return found


def check_setting_key(key: str) -> None:
    if not key:
        raise BadRequest("A setting key must not be empty")
    if len(key.encode()) >= MAX_SETTING_KEY:
        raise BadRequest(f"Too long key: a setting key must be shorter than {MAX_SETTING_KEY} bytes")

