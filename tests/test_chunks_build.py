"""Building column chunks ahead of queries: `build_chunks` and `fastaw chunks`."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastaw.cli import main
from fastaw.columnar import ColumnSource, build_chunks, chunk_events, rows_to_frame
from fastaw.models import Bucket, Event, canonical_data
from fastaw.storage import Env, Writer, keys
from fastaw.storage.chunks import ChunkStore
from fastaw.storage.maintenance import check

DAY = 86_400 * 10**9
DATAS = [canonical_data({"app": "a", "title": f"t{i % 7} — é"}) for i in range(10)]


def _bucket(writer: Writer, bucket_id: str, days: int) -> Bucket:
    """A bucket with one event a day (and one more the same day, two hours later)."""
    bucket = writer.run_sync(lambda w: w.create_bucket(
        Bucket(id=bucket_id, num=0, type="t", client="c", hostname="h", created=0)))
    events = [Event(None, i * DAY + extra, 60 * 10**9, DATAS[i % 10])
              for i in range(days) for extra in (0, 7_200 * 10**9)]
    writer.run_sync(lambda w: w.insert_many(bucket.num, events))
    return bucket


def _windows(store: ChunkStore, num: int) -> list[int]:
    return store.windows(num, keys.window_of(keys.MIN_START), keys.window_of(keys.MAX_START))


def test_every_missing_chunk_is_built_from_the_rows_and_queries_read_them(
        env: Env, writer: Writer) -> None:
    a, b = _bucket(writer, "a", 40), _bucket(writer, "b", 10)
    store = ChunkStore(env)
    windows = len(_windows(store, a.num)) + len(_windows(store, b.num))
    totals: list[int] = []
    seen: list[int] = []
    result = build_chunks(store, on_total=totals.append, on_window=seen.append)
    assert (result.windows, result.current, result.built) == (windows, 0, windows)
    assert result.events == 100 and sum(seen) == 100 and totals == [windows]
    assert result.changed == result.dropped == 0
    for num in (a.num, b.num):  # each chunk holds exactly its window's rows
        for window in _windows(store, num):
            chunk = store.chunk(num, window)
            assert chunk is not None
            rows = store.window_rows(num, window)
            assert chunk_events(store, chunk).equals(rows_to_frame(rows.keys, rows.values))
    source = ColumnSource(store, memory=0)
    assert source.events("a", 0, 50 * DAY).height == 80
    assert source.chunks_built == 0 and source.chunks_read == len(_windows(store, a.num))
    again = build_chunks(store)
    assert (again.current, again.built, again.events) == (windows, 0, 0)


def test_only_windows_changed_since_are_built_again(env: Env, writer: Writer) -> None:
    bucket = _bucket(writer, "a", 40)
    store = ChunkStore(env)
    build_chunks(store)
    writer.run_sync(lambda w: w.insert_many(bucket.num, [Event(None, 20 * DAY + 5, 1,
                                                                 DATAS[0])]))
    result = build_chunks(store)
    window = store.window_rows(bucket.num, keys.window_of(20 * DAY))
    assert result.built == 1 and result.events == len(window.keys) > 2
    assert result.current == len(_windows(store, bucket.num)) - 1


def test_rebuild_deletes_and_rebuilds_the_chosen_buckets_chunks(
        env: Env, writer: Writer) -> None:
    a, b = _bucket(writer, "a", 40), _bucket(writer, "b", 10)
    store = ChunkStore(env)
    build_chunks(store)
    only_a = build_chunks(store, ["a"], rebuild=True)
    count_a = len(_windows(store, a.num))
    assert (only_a.dropped, only_a.built, only_a.windows) == (count_a, count_a, count_a)
    assert build_chunks(store).built == 0  # b's chunks were kept
    # a chunk left behind by a bucket that no longer exists goes with a full rebuild
    orphan = keys.window_key(999, 0)
    with env.lmdb.begin(write=True) as txn:
        txn.put(orphan, keys.u64(1) + b"any chunk", db=env.chunks)
    assert not check(env).ok
    everything = build_chunks(store, rebuild=True)
    total = count_a + len(_windows(store, b.num))
    assert (everything.dropped, everything.built) == (total + 1, total)
    assert check(env).ok


def test_a_window_written_while_it_is_built_is_left_to_the_next_query(
        env: Env, writer: Writer) -> None:
    bucket = _bucket(writer, "a", 40)
    store = ChunkStore(env)
    first = _windows(store, bucket.num)[0]
    late = Event(None, keys.window_bounds(first)[0] + 1, 1, DATAS[3])

    def write_once(events: int) -> None:  # after the first window's rows were read
        if not written:
            written.append(writer.run_sync(lambda w: w.insert_many(bucket.num, [late])))

    written: list[object] = []
    result = build_chunks(store, on_window=write_once)
    assert result.changed == 1 and result.built == len(_windows(store, bucket.num)) - 1
    assert store.chunk(bucket.num, first) is None  # not stored: it would miss the event
    source = ColumnSource(store, memory=0)
    assert source.events("a", 0, 50 * DAY).height == 81 and source.chunks_built == 1


def test_an_unknown_bucket_is_refused(env: Env, writer: Writer) -> None:
    _bucket(writer, "a", 3)
    with pytest.raises(KeyError):
        build_chunks(ChunkStore(env), ["a", "nope"])


def test_the_chunks_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "store"
    env = Env(data_dir)
    writer = Writer(env)
    writer.start()
    try:
        _bucket(writer, "a", 40)
    finally:
        writer.stop()
        env.close()
    assert main(["chunks", "--data-dir", str(data_dir), "-q"]) == 0
    first = capsys.readouterr().err
    assert "0 already current; built" in first and "of 80 events" in first
    assert main(["chunks", "--data-dir", str(data_dir), "-q"]) == 0
    assert "built 0 chunks" in capsys.readouterr().err
    assert main(["chunks", "--data-dir", str(data_dir), "-q", "--rebuild"]) == 0
    rebuilt = capsys.readouterr().err
    assert rebuilt.startswith("deleted ") and "0 already current" in rebuilt
    assert main(["chunks", "--data-dir", str(data_dir), "--bucket", "nope"]) == 2
    assert "There is no bucket 'nope'" in capsys.readouterr().err
    assert main(["chunks", "--data-dir", str(tmp_path / "empty")]) == 2
    assert "There is no store" in capsys.readouterr().err
