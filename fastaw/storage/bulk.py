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
import sys
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from struct import iter_unpack
from typing import Any, Final, NamedTuple, Protocol

from fastaw.models import Bucket, BucketStats, encode_durations
from fastaw.storage import keys
from fastaw.storage.env import Env
from fastaw.storage.mutations import Writes
from fastaw.storage.rows import Rows, data_of
from fastaw.timefmt import format_ns

PAGE: Final = 65_536
_PREFIX: Final = struct.Struct(">IQ")
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

    Rows are in ascending start order. ``start_array()`` is every start as a native int64
    `array` (what the keys are packed from); the ``starts`` and ``durations`` lists are
    asked for only when duplicates are possible or rows are dropped, like ``datas``
    (canonical data JSON of every row); ``values(ids, keep)`` is the stored value
    (`fastaw.storage.keys.event_value` of the duration and `fastaw.models.render_event`)
    of rows ``keep`` (ascending indexes) with these ids.
    """

    repeats: bool  # whether two rows share a start
    extent: tuple[int, int, int]  # min duration, max duration, max start + duration

    def __len__(self) -> int: ...

    @property
    def starts(self) -> list[int]: ...

    @property
    def durations(self) -> list[int]: ...

    def start_array(self) -> array[int]: ...

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

        if not starts:
            return InsertCounts(0, 0)
        return self._insert(_Columns(array("q", starts), lambda: starts, lambda: durations,
                                     lambda: datas, render, ascending=False))

    def add_rendered(self, batch: Rendered) -> InsertCounts:
        """Insert a batch whose rows are in ascending start order and which renders its
        own stored values (`Rendered`; the importers' column-wise path)."""
        if not len(batch):
            return InsertCounts(0, 0)
        return self._insert(_Columns(
            batch.start_array(), lambda: batch.starts, lambda: batch.durations, batch.datas,
            batch.values, ascending=True, repeats=batch.repeats, extent=batch.extent))

    def _insert(self, rows: _Columns) -> InsertCounts:
        writes, num = self.writes, self.num
        env, txn = writes.env, writes.txn
        words = rows.words
        keep = self._fresh(rows)
        if not keep:
            return InsertCounts(0, len(words))
        if not rows.ascending:
            # ascending keys fill B-tree pages (LMDB splits an appended-to page at its end);
            # descending inserts (exports are newest first) would leave them half full
            keep.sort(key=words.__getitem__)
        every = len(keep) == len(words) and rows.ascending
        kept_words = words if every else array("q", map(words.__getitem__, keep))
        raw_next = txn.get(b"next_id", db=env.meta)
        first_id = max(1, keys.read_u64(raw_next) if raw_next is not None else 1)
        ids = range(first_id, first_id + len(keep))
        values = rows.render(ids, keep)
        row_keys, id_rows = _pack_keys(num, kept_words, first_id)
        # distinct starts: the keys ascend (ids descend within one start)
        _put(txn, env.events, zip(row_keys, values, strict=True), row_keys[0], len(keep),
             ascending=rows.repeats is False)
        _put(txn, env.ids, iter_unpack("8s12s", id_rows), id_rows[:8], len(keep),
             ascending=True)
        txn.put(b"next_id", keys.u64(first_id + len(keep)), db=env.meta)
        stats = writes.stats(num)
        stats.count += len(keep)
        extent = rows.extent
        if extent is None or not every:
            get = _getter(keep)
            kept_starts, kept_durations = get(rows.starts()), get(rows.durations())
            extent = (min(kept_durations), max(kept_durations),
                      max(map(operator.add, kept_starts, kept_durations)))
        shortest, longest, end = extent
        stats.max_duration = max(stats.max_duration, longest)
        stats.min_duration = min(stats.min_duration, shortest)
        stats.end = end if stats.end is None else max(stats.end, end)
        stats.anchor = None
        writes._put_stats(num, stats)
        for window in _windows(kept_words):
            writes.touched.add(keys.window_key(num, window))
        low, high = kept_words[0], kept_words[-1]
        if self.new is not None:
            low, high = min(low, self.new[0]), max(high, self.new[1])
        self.new = (low, high)
        return InsertCounts(len(keep), len(words) - len(keep))

    def _fresh(self, rows: _Columns) -> list[int]:
        """Indexes of the rows that duplicate neither a stored row nor an earlier row."""
        words = rows.words
        repeats = rows.repeats
        if repeats is None:
            repeats = rows.repeats = len(set(words)) != len(words)
        if rows.ascending:
            low, high = words[0], words[-1]
        else:
            low, high = min(words), max(words)
        if not repeats and not any(span is not None and span[0] <= high and low <= span[1]
                                   for span in (self.old, self.new)):
            return list(range(len(words)))  # nothing stored or seen can be equal
        seen: set[tuple[int, int, bytes]] = set()
        keep: list[int] = []
        starts, durations, datas = rows.starts(), rows.durations(), rows.datas()
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


class _Columns:
    """One batch as `BulkInserter._insert` takes it: the starts as an int64 array, the
    other columns (Python lists) only when asked for."""

    __slots__ = ("ascending", "datas", "durations", "extent", "render", "repeats", "starts",
                 "words")

    def __init__(self, words: array[int], starts: Callable[[], Sequence[int]],
                 durations: Callable[[], Sequence[int]],
                 datas: Callable[[], Sequence[bytes]],
                 render: Callable[[range, list[int]], list[bytes]], *, ascending: bool,
                 repeats: bool | None = None, extent: tuple[int, int, int] | None = None
                 ) -> None:
        self.words = words
        self.starts = starts
        self.durations = durations
        self.datas = datas
        self.render = render
        self.ascending = ascending
        self.repeats = repeats
        self.extent = extent


_FLIP: Final = bytes(byte ^ 0x80 for byte in range(256))  # translate: flip the top bit
_INVERT: Final = bytes(255 - byte for byte in range(256))  # translate: every bit
_BUCKET: Final = struct.Struct(">I")
_FIRST: Final = operator.itemgetter(0)


def _pack_keys(num: int, starts: array[int], first_id: int) -> tuple[list[bytes], bytes]:
    """The events keys (`fastaw.storage.keys.event_key`) of rows with these starts and the
    ids ``first_id, first_id + 1, …``, and the ``ids`` rows as one buffer (per row the
    8-byte id key, then the 12-byte ``bucket | start`` value).

    Built column by column with strided byte copies (the big-endian words of the starts
    with their sign bit flipped, the ids' words inverted) instead of one ``pack`` per row.
    """
    count = len(starts)
    width = _KEY.size
    swapped = starts[:]
    inverted = array("Q", range(first_id, first_id + count))
    if sys.byteorder == "little":
        swapped.byteswap()
        inverted.byteswap()
    start_bytes = swapped.tobytes()
    id_bytes = inverted.tobytes()
    inverted_bytes = id_bytes.translate(_INVERT)
    out = bytearray(width * count)
    for j, byte in enumerate(_BUCKET.pack(num)):
        out[j::width] = bytes((byte,)) * count
    out[4::width] = start_bytes[0::8].translate(_FLIP)
    for j in range(1, 8):
        out[4 + j::width] = start_bytes[j::8]
    for j in range(8):
        out[12 + j::width] = inverted_bytes[j::8]
    id_rows = bytearray(20 * count)
    for j in range(8):
        id_rows[j::20] = id_bytes[j::8]
    for j in range(12):
        id_rows[8 + j::20] = out[j::width]
    return list(map(_FIRST, iter_unpack(f"{width}s", out))), bytes(id_rows)


def _put(txn: Any, db: Any, rows: Iterable[tuple[bytes, bytes]], first: bytes, count: int,
         *, ascending: bool) -> None:
    """Write these ``count`` rows (``first``: the first key); ascending keys that all sort
    after the last key of ``db`` are appended (LMDB's MDB_APPEND: no search from the root
    per row)."""
    with txn.cursor(db=db) as cursor:
        append = ascending and (not cursor.last() or cursor.key() < first)
        _, added = cursor.putmulti(rows, append=append)
    if added != count:  # (cannot happen: appended keys out of order, or an id taken)
        raise RuntimeError("bulk insert: rows not added in key order")


def _getter(keep: list[int]) -> Callable[[Sequence[Any]], list[Any]]:
    """Picks the rows ``keep`` (indexes) of a column, in C."""
    if len(keep) == 1:
        return lambda seq: [seq[keep[0]]]
    pick = operator.itemgetter(*keep)
    return lambda seq: list(pick(seq))


def _windows(ascending: Sequence[int]) -> Iterator[int]:
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
