"""The store's text table and the chunks that refer to it by code."""

from __future__ import annotations

import threading

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastaw.columnar import ColumnSource, build_chunks, chunk_events, rows_to_frame
from fastaw.models import Bucket, Event, canonical_data
from fastaw.storage import Env, Writer, keys
from fastaw.storage.chunks import ChunkStore
from fastaw.storage.maintenance import check
from fastaw.storage.texts import BLOCK, TextTable, digest, pack_block, unpack_block
from fastaw.transforms.dictionary import query_dictionary, texts_of

DAY = 86_400 * 10**9


@given(st.lists(st.binary(max_size=40), max_size=50))
@settings(max_examples=50)
def test_a_block_gives_back_its_texts(texts: list[bytes]) -> None:
    assert unpack_block(pack_block(texts)) == texts


def test_codes_are_handed_out_once_and_keep_their_text(env: Env) -> None:
    table = TextTable(env)
    first = [f"text {i}".encode() for i in range(BLOCK + 10)]  # across a block boundary
    with env.write() as txn:
        codes = table.assign(txn, [first], [None])[0]
    assert codes == list(range(len(first)))
    with env.write() as txn:  # known texts keep their codes; a repeat in one call is one
        again = table.assign(txn, [[b"new", first[5], b"new", first[-1]]], [None])[0]
    assert again == [len(first), 5, len(first), len(first) - 1]
    assert table.count() == len(first) + 1
    with env.read() as txn:
        assert table.known(txn, [first[0], b"absent"]) == [0, digest(b"absent")]
        epoch = table.epoch(txn)
    blocks: dict[int, list[bytes]] = {}
    assert table.read_blocks([0, 1], epoch,
                             lambda n, v: blocks.update({n: unpack_block(bytes(v))}))
    assert blocks[0] + blocks[1] == [*first, b"new"]


def test_dropping_the_table_starts_a_new_epoch(env: Env) -> None:
    table = TextTable(env)
    with env.write() as txn:
        table.assign(txn, [[b"a", b"b"]], [None])
        old = table.epoch(txn)
    with env.write() as txn:
        table.drop(txn)
        assert table.epoch(txn) != old
        assert table.assign(txn, [[b"b"]], [None]) == [[0]]  # codes start again
    assert not table.read_blocks([0], old, lambda n, v: None)


def _bucket(writer: Writer, name: str, datas: list[dict[str, object]], days: int) -> Bucket:
    bucket = writer.run_sync(lambda w: w.create_bucket(
        Bucket(id=name, num=0, type="t", client="c", hostname="h", created=0)))
    events = [Event(None, i * DAY // 4, 10**9, canonical_data(datas[i % len(datas)]))
              for i in range(days * 4)]
    writer.run_sync(lambda w: w.insert_many(bucket.num, events))
    return bucket


DATAS: list[dict[str, object]] = [
    {"app": "Google-chrome", "title": "Zürich — café 日本語 - Google Chrome"},
    {"app": "x", "title": "ascii"},
    {"nested": {"k": [1, 2.0, "é"]}, "s": "}"},
    {"n": 1}, {"n": 1.0},
]


def test_chunks_share_the_texts_of_the_store(env: Env, writer: Writer) -> None:
    a = _bucket(writer, "a", DATAS, 20)
    b = _bucket(writer, "b", DATAS[1:], 20)
    store = ChunkStore(env)
    build_chunks(store)
    assert store.texts.count() == len(DATAS)  # each distinct text once, for both buckets
    for num in (a.num, b.num):
        for window in store.windows(num, 0, keys.window_of(30 * DAY)):
            chunk = store.chunk(num, window)
            assert chunk is not None
            rows = store.window_rows(num, window)
            assert chunk_events(store, chunk).equals(rows_to_frame(rows.keys, rows.values))
    assert check(env).ok


def _texts(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(data=texts_of(frame["data"]))


def test_queries_read_chunks_through_the_text_table(env: Env, writer: Writer) -> None:
    _bucket(writer, "a", DATAS, 20)
    store = ChunkStore(env)
    built = ColumnSource(store, memory=0)
    with query_dictionary(fresh=True):
        expected = _texts(built.events("a", 0, 30 * DAY))  # from the rows; chunks stored after
    built.flush()
    source = ColumnSource(store, memory=0)
    for _ in range(2):  # a new dictionary, then one that knows the texts already
        with query_dictionary(fresh=True) as dictionary:
            got = _texts(source.events("a", 0, 30 * DAY))
            again = _texts(source.events("a", 0, 30 * DAY))
            assert dictionary.stores  # the texts were looked up by code
        assert got.equals(expected) and again.equals(expected)
    assert source.chunks_read > 0 and source.chunks_built == 0
    assert sorted(got["data"].unique().to_list()) == sorted(
        canonical_data(d).decode() for d in DATAS)


def test_a_query_during_a_full_rebuild_falls_back_to_the_rows(
        env: Env, writer: Writer, monkeypatch: pytest.MonkeyPatch) -> None:
    _bucket(writer, "a", DATAS, 20)
    store = ChunkStore(env)
    build_chunks(store)
    source = ColumnSource(store, memory=0)
    real = store.chunk

    def chunk_then_rebuild(num: int, window: int):  # type: ignore[no-untyped-def]
        found = real(num, window)
        store.drop_chunks()  # new epoch: the codes just read mean nothing now
        return found

    monkeypatch.setattr(store, "chunk", chunk_then_rebuild)
    with query_dictionary(fresh=True):
        events = _texts(source.events("a", 0, 30 * DAY))
    assert events.height == 80 and source.chunks_read > 0 and source.chunks_built > 0
    assert sorted(set(events["data"].to_list())) == sorted(
        canonical_data(d).decode() for d in DATAS)


def test_a_query_after_a_full_rebuild_reads_its_texts_again(
        env: Env, writer: Writer) -> None:
    """The worker dictionary reads stored texts from the store when it needs them. After
    `fastaw chunks --rebuild` (a new text epoch) it cannot: the query runs again with a
    new dictionary, and answers as before."""
    import json

    from fastaw.pool import execute
    from fastaw.transforms.dictionary import drop_worker_dictionary, worker_dictionary

    drop_worker_dictionary()  # (not one that has these texts from another test)
    _bucket(writer, "a", DATAS, 20)
    store = ChunkStore(env)
    build_chunks(store)
    source = ColumnSource(store)
    query = ['RETURN = merge_events_by_keys(query_bucket("a"), ["app", "title"]);']
    period = ["1970-01-01T00:00:00Z/1970-02-01T00:00:00Z"]
    status, first = execute(source, query, period, None, 30.0)
    assert status == 200
    before = worker_dictionary()
    status, again = execute(source, query, period, None, 30.0)  # kept windows, kept codes
    assert status == 200 and again == first and worker_dictionary() is before
    build_chunks(store, rebuild=True)  # a new epoch: the store codes read before are void
    status, after = execute(source, query, period, None, 30.0)
    assert status == 200, after
    assert after == first and worker_dictionary() is not before
    texts = sorted(json.dumps(e["data"], sort_keys=True) for e in json.loads(after)[0])
    assert texts == sorted(json.dumps({k: d[k] for k in ("app", "title")}, sort_keys=True)
                           for d in DATAS if "app" in d and "title" in d)


def test_concurrent_chunk_writers_agree_on_codes(env: Env, writer: Writer) -> None:
    datas = [{"title": f"t{i}"} for i in range(300)]
    _bucket(writer, "a", datas, 100)
    _bucket(writer, "b", list(reversed(datas)), 100)
    stores = [ChunkStore(env) for _ in range(4)]
    threads = [threading.Thread(target=build_chunks, args=(s, [name]))
               for s, name in zip(stores, ["a", "b", "a", "b"], strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stores[0].texts.count() == len(datas)
    source = ColumnSource(stores[0], memory=0)
    with query_dictionary(fresh=True):
        for name in ("a", "b"):
            assert source.events(name, 0, 200 * DAY).height == 400
    assert check(env).ok


def test_check_finds_chunks_referring_to_missing_texts(env: Env, writer: Writer) -> None:
    _bucket(writer, "a", DATAS, 20)
    build_chunks(ChunkStore(env))
    assert check(env).ok
    with env.write() as txn:  # as if the table had lost its last texts
        txn.put(b"next_text", keys.u64(1), db=env.meta)
    report = check(env)
    assert not report.ok
    assert all("refers to texts the text table does not have" in p for p in report.problems)
