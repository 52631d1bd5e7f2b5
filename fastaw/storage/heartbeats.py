"""The heartbeats of one write batch, merged in memory and written once (write-behind).

A watcher's heartbeats arrive many per commit, mostly merging into the same event. The
writer (`fastaw.storage.writer`) applies consecutive heartbeats of a batch through one
`HeartbeatBatch`: each bucket's record, stats and last event are read from the
transaction once; every heartbeat then merges into, or inserts after, the previous one in
memory (the rule of `fastaw.heartbeat`, exactly as `Writes.heartbeat` applies it); and
`flush` writes the outcome into the transaction — each changed row once, each bucket's
stats once, the id counter once, each window generation once.

Durability contract: unchanged. `flush` runs before any other operation of the batch
reads the transaction and before the commit, and no request is answered before that
commit. A heartbeat that fails (unknown bucket) changes nothing: every check comes before
the first change to the batch state. A heartbeat naming an ``id`` (a replacement) is
left to `Writes.heartbeat` (`NotBatchable`).
"""

from __future__ import annotations

from typing import Any

from fastaw.heartbeat import merge_heartbeat
from fastaw.models import BucketStats, Event, render_event
from fastaw.storage import keys
from fastaw.storage.env import Env
from fastaw.storage.mutations import Writes


class NotBatchable(Exception):
    """This heartbeat needs `Writes.heartbeat` (it names an event id)."""


class _Hot:
    """One bucket's state within the batch: stats, the anchor event, rows to write."""

    __slots__ = ("added", "last", "num", "rows", "stats")

    def __init__(self, num: int, stats: BucketStats, last: Event | None) -> None:
        self.num = num
        self.stats = stats
        self.last = last
        self.rows: dict[int, tuple[Event, bytes]] = {}  # id → (event, rendered JSON)
        self.added: list[int] = []  # ids of new rows (they need an `ids` entry)


class HeartbeatBatch:
    """Heartbeats applied in memory over one write transaction; `flush` writes them."""

    def __init__(self, env: Env, txn: Any) -> None:
        self.writes = Writes(env, txn)
        self.hot: dict[str, _Hot] = {}
        self.next_id: int | None = None  # None: not read yet

    def __bool__(self) -> bool:
        return bool(self.hot)

    def _load(self, bucket_id: str) -> _Hot:
        writes = self.writes
        num = writes.require_bucket(bucket_id).num
        stats = writes.stats(num)
        last = None if stats.anchor is None else writes.event(num, stats.anchor)
        if last is None:
            last = writes.newest(num)
        hot = self.hot[bucket_id] = _Hot(num, stats, last)
        return hot

    def apply(self, bucket_id: str, beat: Event, pulsetime: int) -> bytes:
        """`Writes.heartbeat`, in memory; the JSON of the resulting event."""
        if beat.id is not None:
            raise NotBatchable
        hot = self.hot.get(bucket_id) or self._load(bucket_id)
        last = hot.last
        merged = None if last is None else merge_heartbeat(last, beat, pulsetime)
        added = merged is None or last is None or last.id is None
        if added:
            if self.next_id is None:
                self.next_id = self.writes._counter(b"next_id")
            event = Event(self.next_id, beat.start, beat.duration, beat.data)
        else:
            assert merged is not None and last is not None
            event = Event(last.id, merged.start, merged.duration, merged.data)
        assert event.id is not None
        rendered = render_event(event.id, event.start, event.duration, event.data)
        # -- from here on nothing can fail: change the batch state
        stats = hot.stats
        if added:
            self.next_id = event.id + 1
            hot.added.append(event.id)
            stats.count += 1
            stats.min_duration = min(stats.min_duration, event.duration)
        hot.rows[event.id] = (event, rendered)
        hot.last = event
        stats.max_duration = max(stats.max_duration, event.duration)
        end = event.start + event.duration
        stats.end = end if stats.end is None else max(stats.end, end)
        stats.anchor = event.id
        return rendered

    def flush(self) -> None:
        """Write everything applied so far into the transaction and forget it."""
        if not self.hot:
            return
        writes = self.writes
        txn, env = writes.txn, writes.env
        for hot in self.hot.values():
            for event_id, (event, rendered) in hot.rows.items():
                key = keys.event_key(hot.num, event.start, event_id)
                txn.put(key, keys.event_value(event.duration, rendered), db=env.events)
                writes._touch(hot.num, event.start)
            for event_id in hot.added:
                txn.put(keys.id_key(event_id),
                        keys.bucket_start_prefix(hot.num, hot.rows[event_id][0].start),
                        db=env.ids)
            writes._put_stats(hot.num, hot.stats)
        if self.next_id is not None:
            txn.put(b"next_id", keys.u64(self.next_id), db=env.meta)
        writes.finish()
        self.hot.clear()
        self.next_id = None
