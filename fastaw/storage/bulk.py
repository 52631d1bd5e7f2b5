"""Bulk access for whole-history export, import and migration.

Reads: `iter_pages` walks one bucket's rows whose *start* lies in ``[start, end)`` in pages
of raw ``(key, value)`` byte strings. Every page is its own short read transaction, so a long
export never pins one snapshot (LMDB cannot reuse pages a live reader might see, and the
file would grow for as long as the export runs) and memory stays bounded by one page.
Consequence: a write that lands while an export runs is either wholly in it or wholly out
of it (pages never overlap, so nothing is exported twice).

Writes: `BulkInserter` runs inside the writer's transaction and adds events with fresh ids,
skipping every event equal — same start, duration and canonical data bytes — to one already
in the bucket, including one inserted earlier in the same import. The check is a cursor seek
to the ``bucket | start`` key prefix, so de-duplication needs no memory however large the
import is. It keeps every invariant listed in `fastaw.storage.rows`.
"""

from __future__ import annotations

import operator
import struct
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice, repeat
from typing import Any, Final, NamedTuple, Protocol

from fastaw.models import Bucket, BucketStats, encode_durations
from fastaw.storage import keys
from fastaw.storage.env import Env
from fastaw.storage.mutations import Writes
from fastaw.storage.rows import Rows, data_of
from fastaw.timefmt import format_ns

PAGE: Final = 65_536
_PREFIX: Final = struct.Struct(">IQ")
_TAIL: Final = struct.Struct(">Q")
_KEY: Final = struct.Struct(">IQQ")
_DURATION: Final = struct.Struct(">q")
_EVENT: Final = b'{"id":%d,"timestamp":"%b","duration":%b,"data":%b}'


class BucketInfo(NamedTuple):
    """A bucket's record and the facts an export header needs, from one snapshot."""

    bucket: Bucket
    stats: BucketStats
    first_start: int | None


def bucket_infos(env: Env, bucket_ids: Iterable[str] | None = None) -> list[BucketInfo]:
    """The named buckets (all when None), in name order; unknown names are skipped."""
    with env.read() as txn:
        rows = Rows(env, txn)
        if bucket_ids is None:
            buckets = list(rows.buckets())
        else:
            found = (rows.bucket(name) for name in sorted(set(bucket_ids)))
            buckets = [bucket for bucket in found if bucket is not None]
        return [BucketInfo(b, rows.stats(b.num), rows.first_start(b.num)) for b in buckets]


def _bounds(num: int, start: int | None, end: int | None) -> tuple[bytes, bytes]:
    low = keys.bucket_prefix(num) if start is None else keys.bucket_start_prefix(num, start)
    if end is None or end > keys.MAX_START:
        high = keys.bucket_end_key(num)
    else:
        high = keys.bucket_start_prefix(num, max(end, keys.MIN_START))
    return low, high


def iter_pages(env: Env, num: int, start: int | None = None, end: int | None = None, *,
               page: int = PAGE, newest_first: bool = True
               ) -> Iterator[tuple[list[bytes], list[bytes]]]:
    """Pages of (keys, values) of bucket ``num`` with ``start <= event start < end``.

    Newest first (ActivityWatch's export order: start descending, ties by id ascending)
    or oldest first. Each page is read in its own transaction; rows are pulled by the C
    iterator and only the page's last row is compared with the range end.
    """
    low, high = _bounds(num, start, end)
    while low < high:
        with env.read() as txn, txn.cursor(db=env.events) as cursor:
            # keys, then values, in two C-level walks (cheaper than splitting pairs)
            if newest_first:
                found = cursor.prev() if cursor.set_range(high) else cursor.last()
                key_list = list(islice(cursor.iterprev(values=False), page)) if found else []
                if key_list and key_list[-1] < low:
                    key_list = key_list[:bisect_left(key_list, _neg(low), key=_Desc)]
                walk = cursor.iterprev
            else:
                key_list = list(islice(cursor.iternext(values=False), page)) \
                    if cursor.set_range(low) else []
                if key_list and key_list[-1] >= high:
                    key_list = key_list[:bisect_left(key_list, high)]
                walk = cursor.iternext
            value_list = []
            if key_list and cursor.set_key(key_list[0]):
                value_list = list(islice(walk(keys=False), len(key_list)))
        if not key_list:
            return
        yield key_list, value_list
        if len(key_list) < page:
            return
        if newest_first:
            high = key_list[-1]
        else:
            low = key_list[-1] + b"\x00"


class _Desc:
    """Orders byte strings descending, for bisecting a newest-first page."""

    __slots__ = ("key",)

    def __init__(self, key: bytes) -> None:
        self.key = key

    def __lt__(self, other: _Desc) -> bool:
        return self.key > other.key


def _neg(key: bytes) -> _Desc:
    return _Desc(key)


class Rendered(Protocol):
    """A batch of new events that renders its own rows (`BulkInserter.add_rendered`).

    Rows are in ascending start order. ``datas`` (canonical data JSON of every row) is
    asked for only when duplicates are possible; ``values(ids, keep)`` is the stored value
    (`fastaw.storage.keys.event_value` of the duration and `fastaw.models.render_event`)
    of rows ``keep`` (ascending indexes) with these ids.
    """

    starts: list[int]
    durations: list[int]
    repeats: bool  # whether two rows share a start
    extent: tuple[int, int, int]  # min duration, max duration, max start + duration

    def datas(self) -> Sequence[bytes]: ...

    def values(self, ids: range, keep: list[int]) -> list[bytes]: ...


class InsertCounts(NamedTuple):
    inserted: int
    skipped: int


def create_or_get(writes: Writes, bucket: Bucket) -> tuple[int, bool]:
    """The number of the bucket named ``bucket.id``, creating it if needed; (num, created)."""
    existing = writes.bucket(bucket.id)
    if existing is not None:
        return existing.num, False
    return writes.create_bucket(bucket).num, True


class BulkInserter:
    """Inserts batches of new events into one bucket inside the writer's transaction.

    Each batch is checked for duplicates, rendered and written with ``putmulti``; ids,
    stats and window generations are updated per batch (so inserters for several buckets
    may interleave in one transaction). A duplicate can only exist where rows exist: in the
    span of starts the bucket had before (read once) or the span inserted so far; only
    events in those spans, or sharing a start within their batch, are looked up.
    """

    def __init__(self, writes: Writes, num: int) -> None:
        self.writes = writes
        self.num = num
        first = writes.first_start(num)
        newest = writes.newest(num)
        self.old = None if first is None or newest is None else (first, newest.start)
        self.new: tuple[int, int] | None = None

    def _may_exist(self, start: int) -> bool:
        old, new = self.old, self.new
        return (old is not None and old[0] <= start <= old[1]) or (
            new is not None and new[0] <= start <= new[1])

    def add(self, starts: Sequence[int], durations: Sequence[int], datas: Sequence[bytes],
            stamps: Sequence[bytes] | None = None) -> InsertCounts:
        """Insert one batch; ``stamps``, when given, must be ``format_ns(start)`` of each row
        (a caller with a vectorized formatter saves the per-row call)."""

        def render(ids: range, keep: list[int]) -> list[bytes]:
            get = _getter(keep)
            texts = [format_ns(starts[i]).encode() for i in keep] if stamps is None \
                else get(stamps)
            kept_durations = get(durations)
            return list(map(operator.add, map(_DURATION.pack, kept_durations), [
                _EVENT % row for row in zip(
                    ids, texts, encode_durations(kept_durations), get(datas), strict=True)]))

        return self._insert(starts, durations, lambda: datas, render, ascending=False)

    def add_rendered(self, batch: Rendered) -> InsertCounts:
        """Insert a batch whose rows are in ascending start order and which renders its
        own stored values (`Rendered`; the importers' column-wise path)."""
        return self._insert(batch.starts, batch.durations, batch.datas, batch.values,
                            ascending=True, repeats=batch.repeats, extent=batch.extent)

    def _insert(self, starts: Sequence[int], durations: Sequence[int],
                datas: Callable[[], Sequence[bytes]],
                render: Callable[[range, list[int]], list[bytes]], *, ascending: bool,
                repeats: bool | None = None, extent: tuple[int, int, int] | None = None
                ) -> InsertCounts:
        writes, num = self.writes, self.num
        env, txn = writes.env, writes.txn
        keep = self._fresh(starts, durations, datas, repeats)
        if not keep:
            return InsertCounts(0, len(starts))
        if not ascending:
            # ascending keys fill B-tree pages (LMDB splits an appended-to page at its end);
            # descending inserts (exports are newest first) would leave them half full
            keep.sort(key=starts.__getitem__)
        if len(keep) == len(starts) and ascending:
            kept_starts, kept_durations = starts, durations
        else:
            get = _getter(keep)
            kept_starts, kept_durations = get(starts), get(durations)
        raw_next = txn.get(b"next_id", db=env.meta)
        first_id = max(1, keys.read_u64(raw_next) if raw_next is not None else 1)
        ids = range(first_id, first_id + len(keep))
        values = render(ids, keep)
        # column-wise: map/zip run in C; only the event JSON is formatted per row
        flipped = list(map(operator.add, kept_starts, repeat(keys.SIGN)))
        row_keys = list(map(_KEY.pack, repeat(num), flipped,
                            range(keys.MAX_U64 - ids.start, keys.MAX_U64 - ids.stop, -1)))
        # distinct starts: the keys ascend (ids descend within one start)
        _put(txn, env.events, row_keys, values, ascending=repeats is False)
        _put(txn, env.ids, list(map(_TAIL.pack, ids)),
             list(map(_PREFIX.pack, repeat(num), flipped)), ascending=True)
        txn.put(b"next_id", keys.u64(first_id + len(keep)), db=env.meta)
        stats = writes.stats(num)
        stats.count += len(keep)
        if extent is None or len(keep) != len(starts):
            extent = (min(kept_durations), max(kept_durations),
                      max(map(operator.add, kept_starts, kept_durations)))
        shortest, longest, end = extent
        stats.max_duration = max(stats.max_duration, longest)
        stats.min_duration = min(stats.min_duration, shortest)
        stats.end = end if stats.end is None else max(stats.end, end)
        stats.anchor = None
        writes._put_stats(num, stats)
        ordered = kept_starts if isinstance(kept_starts, list) else list(kept_starts)
        for window in _windows(ordered):
            writes.touched.add(keys.window_key(num, window))
        low, high = ordered[0], ordered[-1]
        if self.new is not None:
            low, high = min(low, self.new[0]), max(high, self.new[1])
        self.new = (low, high)
        return InsertCounts(len(keep), len(starts) - len(keep))

    def _fresh(self, starts: Sequence[int], durations: Sequence[int],
               datas_of: Callable[[], Sequence[bytes]], repeats: bool | None = None
               ) -> list[int]:
        """Indexes of the rows that duplicate neither a stored row nor an earlier row."""
        if repeats is None:
            repeats = len(set(starts)) != len(starts)
        low, high = min(starts), max(starts)
        if not repeats and not any(span is not None and span[0] <= high and low <= span[1]
                                   for span in (self.old, self.new)):
            return list(range(len(starts)))  # nothing stored or seen can be equal
        seen: set[tuple[int, int, bytes]] = set()
        keep: list[int] = []
        datas = datas_of()
        txn, num = self.writes.txn, self.num
        with txn.cursor(db=self.writes.env.events) as cursor:
            for i, start in enumerate(starts):
                if self._may_exist(start):
                    prefix = _PREFIX.pack(num, start + keys.SIGN)
                    if cursor.set_range(prefix) and _has_duplicate(
                            cursor, prefix, durations[i], datas[i]):
                        continue
                if repeats:
                    signature = (start, durations[i], datas[i])
                    if signature in seen:
                        continue
                    seen.add(signature)
                keep.append(i)
        return keep


def _put(txn: Any, db: Any, row_keys: list[bytes], values: list[bytes], *, ascending: bool
         ) -> None:
    """Write these rows; ascending keys that all sort after the last key of ``db`` are
    appended (LMDB's MDB_APPEND: no search from the root per row)."""
    with txn.cursor(db=db) as cursor:
        append = ascending and (not cursor.last() or cursor.key() < row_keys[0])
        _, added = cursor.putmulti(zip(row_keys, values, strict=True), append=append)
    if append and added != len(row_keys):  # (cannot happen: keys out of order)
        raise RuntimeError("bulk insert: rows not appended in key order")


def _getter(keep: list[int]) -> Callable[[Sequence[Any]], list[Any]]:
    """Picks the rows ``keep`` (indexes) of a column, in C."""
    if len(keep) == 1:
        return lambda seq: [seq[keep[0]]]
    pick = operator.itemgetter(*keep)
    return lambda seq: list(pick(seq))


def _windows(ascending: list[int]) -> Iterator[int]:
    """The chunk windows holding at least one of these (sorted) starts."""
    window = keys.window_of(ascending[0])
    last = keys.window_of(ascending[-1])
    while window <= last:
        first, end = keys.window_bounds(window)
        found = bisect_left(ascending, first)
        if found < len(ascending) and ascending[found] <= end:
            yield window
            window += 1
        elif found < len(ascending):
            window = keys.window_of(ascending[found])
        else:
            return


def _has_duplicate(cursor: Any, prefix: bytes, duration: int, data: bytes) -> bool:
    """Whether an event at the cursor's ``bucket | start`` has this duration and data."""
    for key, value in cursor:
        if key[:12] != prefix:
            return False
        if keys.value_duration(value) == duration and data_of(value) == data:
            return True
    return False
