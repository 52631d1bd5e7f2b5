"""`BulkInserter` stores exactly the bytes the row-by-row path stores.

Its keys and ``ids`` rows are packed column-wise (strided byte copies) and its rows are
appended with MDB_APPEND when they sort after every stored key; whatever the order,
signs, ties and duplicates of a batch, and whatever the bucket held before, the store
must end byte for byte as `Writes.insert_many` leaves it with the same de-duplicated rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastaw.exchange.batch import FrameBatch, finish
from fastaw.models import Bucket, Event
from fastaw.storage import Env, Writes, keys
from fastaw.storage.bulk import BulkInserter, _pack_keys, create_or_get

BUCKET = Bucket(id="b", num=0, type="t", client="c", hostname="h", created=0)
Row = tuple[int, int, bytes]

_starts = st.one_of(
    st.sampled_from([keys.MIN_START + 2**62, -1, 0, 1, 10**18, 2**62 - 1, 5 * 2**48]),
    st.integers(-(2**62), 2**62 - 1),
    st.integers(0, 5))  # ties and duplicates
_rows = st.tuples(_starts, st.sampled_from([0, 1, -5, 10**9]),
                  st.sampled_from([b"{}", b'{"a":1}', b'{"t":"\\u00e9x"}',
                                   b'{"a":1,"data":{"data":2}}']))
_batches = st.lists(st.lists(_rows, min_size=1, max_size=12), min_size=1, max_size=4)


def _dump(env: Env) -> dict[str, list[tuple[bytes, bytes]]]:
    out = {}
    with env.read() as txn:
        for name in ("events", "ids", "stats", "meta", "windows", "buckets"):
            with txn.cursor(db=getattr(env, name)) as cursor:
                out[name] = [(bytes(k), bytes(v)) for k, v in cursor]
    return out


def _reference(env: Env, before: list[Row], batches: list[list[Row]], *,
               ascending: bool) -> None:
    """The same import, one row at a time: de-duplicated as the bulk path does, ids in
    ascending start order within a batch (ties in the batch's order)."""
    with env.write() as txn:
        writes = Writes(env, txn)
        num = create_or_get(writes, BUCKET)[0]
        writes.insert_many(num, [Event(0, s, d, x) for s, d, x in before])
        seen = set(before)
        for batch in batches:
            rows = sorted(batch, key=lambda row: row[0]) if ascending else batch
            kept = []
            for row in rows:
                if row not in seen:
                    seen.add(row)
                    kept.append(row)
            kept.sort(key=lambda row: row[0])
            writes.insert_many(num, [Event(0, s, d, x) for s, d, x in kept])
            for start, _, _ in kept:
                writes._touch(num, start)
            writes.finish()


def _bulk(env: Env, before: list[Row], batches: list[list[Row]], *, rendered: bool
          ) -> list[tuple[int, int]]:
    counts = []
    with env.write() as txn:
        writes = Writes(env, txn)
        num = create_or_get(writes, BUCKET)[0]
        writes.insert_many(num, [Event(0, s, d, x) for s, d, x in before])
        inserter = BulkInserter(writes, num)
        for batch in batches:
            if rendered:
                frame = finish(pl.DataFrame({
                    "start": [s for s, _, _ in batch], "duration": [d for _, d, _ in batch],
                    "data": [x.decode() for _, _, x in batch]},
                    schema={"start": pl.Int64, "duration": pl.Int64, "data": pl.String}))
                result = inserter.add_rendered(FrameBatch(frame))
            else:
                result = inserter.add([s for s, _, _ in batch], [d for _, d, _ in batch],
                                      [x for _, _, x in batch])
            counts.append(tuple(result))
            writes.finish()
    return counts


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.lists(_rows, max_size=6), batches=_batches, rendered=st.booleans())
def test_bulk_inserts_store_the_bytes_of_row_by_row_inserts(
        tmp_path_factory: Any, before: list[Row], batches: list[list[Row]],
        rendered: bool) -> None:
    before = sorted(set(before))
    root: Path = tmp_path_factory.mktemp("bulk")
    bulk, reference = Env(root / "bulk"), Env(root / "reference")
    try:
        counts = _bulk(bulk, before, batches, rendered=rendered)
        _reference(reference, before, batches, ascending=rendered)
        assert _dump(bulk) == _dump(reference)
        assert sum(inserted for inserted, _ in counts) == \
            len(set(row for batch in batches for row in batch) - set(before))
        assert sum(inserted + skipped for inserted, skipped in counts) == \
            sum(map(len, batches))
    finally:
        bulk.close()
        reference.close()


def test_rows_after_stored_ones_are_appended_and_others_inserted(tmp_path: Path) -> None:
    """A batch that sorts before the bucket's last key (or another bucket's) is not
    appended (MDB_APPEND would refuse it), one after it is; both land in key order."""
    env = Env(tmp_path / "s")
    other = Bucket(id="z", num=0, type="t", client="c", hostname="h", created=0)
    try:
        with env.write() as txn:
            writes = Writes(env, txn)
            num = create_or_get(writes, BUCKET)[0]
            later = create_or_get(writes, other)[0]
            BulkInserter(writes, later).add([5], [1], [b"{}"])
            inserter = BulkInserter(writes, num)
            assert tuple(inserter.add([30, 20, 10], [1, 1, 1], [b"{}"] * 3)) == (3, 0)
            assert tuple(inserter.add([40, 15, 15, 15], [1, 2, 2, 1], [b"{}"] * 4)) == (3, 1)
            assert tuple(inserter.add([50, 60], [1, 1], [b"{}"] * 2)) == (2, 0)
        with env.read() as txn, txn.cursor(db=env.events) as cursor:
            rows = [keys.split_event_key(bytes(key)) for key in cursor.iternext(values=False)]
        assert rows == sorted(rows, key=lambda r: (r[0], r[1], -r[2]))
        assert [(start, event_id) for bucket, start, event_id in rows if bucket == num] == [
            (10, 2), (15, 6), (15, 5), (20, 3), (30, 4), (40, 7), (50, 8), (60, 9)]
    finally:
        env.close()


@given(st.lists(st.integers(keys.MIN_START, keys.MAX_START), min_size=1, max_size=40),
       st.integers(0, 2**32 - 1), st.integers(1, 2**63))
def test_packed_keys_are_the_keys_of_one_row(starts: list[int], num: int,
                                             first_id: int) -> None:
    from array import array

    row_keys, id_rows = _pack_keys(num, array("q", starts), first_id)
    expected = [keys.event_key(num, start, first_id + i) for i, start in enumerate(starts)]
    assert list(row_keys) == expected
    assert id_rows == b"".join(keys.id_key(first_id + i) + key[:12]
                               for i, key in enumerate(expected))
