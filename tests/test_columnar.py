"""The columnar read path: rows → frame, chunks cached and invalidated by writes."""

from __future__ import annotations

import gc
import struct
import sys
import threading
from pathlib import Path

from fastaw.columnar import ColumnSource, chunk_frame, new_chunk, rows_to_frame
from fastaw.models import Bucket, Event, canonical_data, render_event
from fastaw.storage import Env, Writer, keys
from fastaw.storage.chunks import Chunk, ChunkStore
from fastaw.transforms.dictionary import query_dictionary, texts_of
from fastaw.transforms.frame import stored

DATA = [
    {"app": "Google-chrome", "title": "Zürich — café 日本語 - Google Chrome"},
    {"app": "x", "title": "ascii"},
    {"nested": {"k": [1, 2.0, "é"]}, "s": "}"},
]


def _value(event_id: int, start: int, duration: int, data: bytes) -> bytes:
    return keys.event_value(duration, render_event(event_id, start, duration, data))


def test_rows_to_frame_keeps_non_ascii_data_exact() -> None:
    datas = [canonical_data(d) for d in DATA]
    key_list = [keys.event_key(1, 1_000 * i, i + 1) for i in range(len(datas))]
    value_list = [_value(i + 1, 1_000 * i, 5, d) for i, d in enumerate(datas)]
    frame = rows_to_frame(key_list, value_list)
    assert frame["data"].to_list() == [d.decode() for d in datas]
    assert frame["id"].to_list() == [1, 2, 3]
    assert frame["timestamp"].to_list() == [0, 1_000, 2_000]
    assert frame["duration"].to_list() == [5, 5, 5]


DAY = 86_400 * 10**9
DATAS = [canonical_data(d) for d in DATA]


def _thirty_days(writer: Writer) -> Bucket:
    """Bucket ``b`` with one event a day for 30 days, cycling through `DATA`."""
    bucket = writer.run_sync(lambda w: w.create_bucket(
        Bucket(id="b", num=0, type="t", client="c", hostname="h", created=0)))
    events = [Event(None, i * DAY, 60 * 10**9, DATAS[i % 3]) for i in range(30)]
    writer.run_sync(lambda w: w.insert_many(bucket.num, events))
    return bucket


def test_chunks_are_built_reused_and_invalidated(env: Env, writer: Writer) -> None:
    bucket = _thirty_days(writer)
    source = ColumnSource(ChunkStore(env), memory=0)  # chunks only
    first = source.events("b", 0, 40 * DAY)
    assert first.height == 30 and source.chunks_built > 0
    source.flush()  # chunks are stored by a background thread
    built = source.chunks_built
    assert source.writer.stored == built
    again = source.events("b", 0, 40 * DAY)
    assert again.equals(first) and source.chunks_built == built and source.chunks_read == built
    late = Event(None, 29 * DAY + 1, 1, DATAS[0])
    writer.run_sync(lambda w: w.insert_many(bucket.num, [late]))
    third = source.events("b", 0, 40 * DAY)
    assert third.height == 31 and source.chunks_built == built + 1
    source.flush()
    assert sorted(texts_of(third["data"]).to_list()) == sorted([d.decode() for d in DATAS * 10]
                                                      + [DATAS[0].decode()])


def test_lz4_chunks_of_earlier_versions_are_read(env: Env, writer: Writer) -> None:
    bucket = writer.run_sync(lambda w: w.create_bucket(
        Bucket(id="b", num=0, type="t", client="c", hostname="h", created=0)))
    events = [Event(None, i * 10**9, 10**9, canonical_data(DATA[i % 3])) for i in range(50)]
    writer.run_sync(lambda w: w.insert_many(bucket.num, events))
    store = ChunkStore(env)
    window = store.windows(bucket.num, 0, keys.window_of(10**12))[0]
    rows = store.window_rows(bucket.num, window)
    frame = rows_to_frame(rows.keys, rows.values)
    chunk = new_chunk(bucket.num, window, rows.generation, frame, "lz4")
    assert store.store_chunks([chunk]) == 1
    source = ColumnSource(store, memory=0)
    assert stored(source.events("b", 0, 10**12)).equals(frame)
    assert source.chunks_read == 1 and source.chunks_built == 0


def test_chunks_of_another_format_are_rebuilt(env: Env, writer: Writer) -> None:
    bucket = writer.run_sync(lambda w: w.create_bucket(
        Bucket(id="b", num=0, type="t", client="c", hostname="h", created=0)))
    events = [Event(None, i * 10**9, 10**9, canonical_data(DATA[0])) for i in range(5)]
    writer.run_sync(lambda w: w.insert_many(bucket.num, events))
    store = ChunkStore(env)
    window = store.windows(bucket.num, 0, keys.window_of(10**12))[0]
    generation = store.window_rows(bucket.num, window).generation
    with env.lmdb.begin(write=True) as txn:  # an older build: right generation, old FORMAT
        txn.put(keys.window_key(bucket.num, window), keys.u64(generation) + b"fc02 a blob",
                db=env.chunks)
    assert store.chunk(bucket.num, window) is None
    source = ColumnSource(store, memory=0)
    assert source.events("b", 0, 10**12).height == 5 and source.chunks_built == 1


def test_windows_in_memory_are_reused_until_a_write_or_a_new_dictionary(
        env: Env, writer: Writer) -> None:
    bucket = _thirty_days(writer)
    source = ColumnSource(ChunkStore(env), cache=False)
    with query_dictionary(fresh=True):
        first = source.events("b", 0, 40 * DAY)
        built = source.chunks_built
        # a window is kept from its second read on
        assert first.height == 30 and built > 0 and source.frames.size == 0
        second = source.events("b", 0, 40 * DAY)
        assert second.equals(first) and source.chunks_built == 2 * built
        assert source.frames.size > 0
        again = source.events("b", 0, 40 * DAY)
        assert again.equals(first) and source.chunks_built == 2 * built  # nothing read
        part = source.events("b", 5 * DAY, 9 * DAY)  # a sub-range: filtered from memory
        assert part["timestamp"].to_list() == [i * DAY for i in range(5, 10)]
        assert source.chunks_built == 2 * built
        late = Event(None, 29 * DAY + 1, 1, DATAS[0])
        writer.run_sync(lambda w: w.insert_many(bucket.num, [late]))
        third = source.events("b", 0, 40 * DAY)
        assert third.height == 31 and source.chunks_built == 2 * built + 1  # only that window
        assert source.events("b", 0, 40 * DAY).equals(third)  # kept again at once
        assert source.chunks_built == 2 * built + 1
    with query_dictionary(fresh=True):  # other codes: nothing in memory is valid
        fourth = source.events("b", 0, 40 * DAY)
        assert fourth.height == 31 and source.chunks_built == 3 * built + 1
        assert sorted(fourth["data"].to_list()) == sorted(third["data"].to_list())


def test_a_window_read_once_is_not_kept(env: Env, writer: Writer) -> None:
    """Windows are kept from their second read in a dictionary on: a range read once
    fills no memory, and what a read noted goes with its dictionary."""
    _thirty_days(writer)
    everything = ColumnSource(ChunkStore(env), cache=False)
    with query_dictionary(fresh=True):
        everything.events("b", 0, 40 * DAY)
        everything.events("b", 0, 40 * DAY)
    source = ColumnSource(ChunkStore(env), cache=False)
    with query_dictionary(fresh=True) as first:
        source.events("b", 0, 10 * DAY)  # the first windows, once
        source.events("b", 0, 40 * DAY)  # those again (kept), the others once
        kept = source.frames.size
        assert 0 < kept < everything.frames.size
    source.frames.keep_only(first)
    with query_dictionary(fresh=True):  # notes of another dictionary count for nothing
        source.events("b", 0, 40 * DAY)
        assert source.frames.size == kept  # (the first dictionary's frames, unused)
    source.frames.keep_only(None)
    assert source.frames.size == 0 and not source.frames._seen


def test_frames_of_a_dictionary_let_go_are_dropped(env: Env, writer: Writer) -> None:
    _thirty_days(writer)
    source = ColumnSource(ChunkStore(env), cache=False)
    with query_dictionary(fresh=True) as first:
        source.events("b", 0, 40 * DAY)
        source.events("b", 0, 40 * DAY)
    held = source.frames.size
    source.frames.keep_only(first)
    assert source.frames.size == held > 0
    source.frames.keep_only(None)
    assert source.frames.size == 0 and not source.frames._entries


def test_the_memory_budget_is_kept(env: Env, writer: Writer) -> None:
    bucket = writer.run_sync(lambda w: w.create_bucket(
        Bucket(id="b", num=0, type="t", client="c", hostname="h", created=0)))
    events = [Event(None, i * DAY // 4, 60 * 10**9, canonical_data({"i": i}))
              for i in range(400)]
    writer.run_sync(lambda w: w.insert_many(bucket.num, events))
    source = ColumnSource(ChunkStore(env), cache=False, memory=2_000)
    with query_dictionary(fresh=True):
        assert source.events("b", 0, 200 * DAY).height == 400
        assert source.events("b", 0, 200 * DAY).height == 400
        assert 0 < source.frames.size <= 2_000


def test_a_query_reading_more_than_fits_finds_the_same_windows_kept(
        env: Env, writer: Writer) -> None:
    """Windows a query reads are kept over those it does not: a range larger than the
    budget, asked again and again, finds the same windows in memory each time (least
    recently used order alone would push out each window just before it is read again)."""
    _thirty_days(writer)
    everything = ColumnSource(ChunkStore(env), cache=False)
    with query_dictionary(fresh=True):
        everything.events("b", 0, 40 * DAY)
        everything.events("b", 0, 40 * DAY)
    windows = everything.chunks_built // 2
    source = ColumnSource(ChunkStore(env), cache=False, memory=everything.frames.size // 2)
    reads, kept = [], []
    with query_dictionary(fresh=True):
        for _ in range(6):
            source.frames.next_query()
            before = source.chunks_built
            assert source.events("b", 0, 40 * DAY).height == 30
            reads.append(source.chunks_built - before)
            kept.append(set(source.frames._entries))
            assert source.frames.size <= source.frames.budget
    assert reads[:2] == [windows, windows]  # noted, then kept while there is room
    assert kept[1] and all(k == kept[1] for k in kept[2:])  # the same ones each time
    assert all(0 < n == windows - len(kept[1]) for n in reads[2:])  # only the others read
    with query_dictionary(fresh=True):  # another dictionary's windows make room
        for _ in range(2):
            source.frames.next_query()
            source.events("b", 0, 40 * DAY)
        source.frames.next_query()
        before = source.chunks_built
        source.events("b", 0, 40 * DAY)
        assert source.chunks_built - before == reads[2]


def test_closing_the_store_waits_for_a_chunk_write_in_flight(tmp_path: Path) -> None:
    """A background chunk write still running when the store is closed finishes first
    (closing used to cut it off, after which the close waited forever)."""
    for attempt in range(5):  # the race needs the write to be in flight: try a few times
        env = Env(tmp_path / f"store{attempt}")
        writer = Writer(env)
        writer.start()
        _thirty_days(writer)
        writer.stop()
        source = ColumnSource(ChunkStore(env), memory=0)
        assert source.events("b", 0, 40 * DAY).height == 30  # queues the chunks' write
        closing = threading.Thread(target=env.close, daemon=True)
        closing.start()
        closing.join(timeout=20)
        assert not closing.is_alive(), "closing the store hung"


def test_frames_read_from_chunks_keep_no_reference_to_the_blob() -> None:
    """The read maps the blob's buffers in place; what a query keeps (the number columns,
    the codes) must not hold the blob alive."""
    frame = rows_to_frame(
        [keys.event_key(1, i * 1_000, i + 1) for i in range(3)],
        [_value(i + 1, i * 1_000, 5, canonical_data(DATA[i % 2])) for i in range(3)])
    made = new_chunk(1, 0, 0, frame)
    blob, codes = bytes(made.blob), struct.pack(f"<{len(made.texts)}I", *range(7, 7 + len(made.texts)))
    alone = sys.getrefcount(blob)
    kept = chunk_frame(Chunk(0, memoryview(codes), memoryview(blob)))
    gc.collect()
    assert sys.getrefcount(blob) == alone
    assert kept["id"].to_list() == [1, 2, 3] and kept["duration"].to_list() == [5, 5, 5]
    texts = [made.texts[code - 7].decode() for code in kept["code"].to_list()]
    assert texts == frame["data"].to_list()
