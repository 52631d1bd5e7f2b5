"""`Reader.events_json` walks a range in parts (rows checked one by one near the range
edges, rows read in batches in between); its bytes must equal the row-by-row rendering of
`Reader.events` (clip, then render) for every range, limit and batch size, and so must
the pieces of a streamed GET events reply."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from operator import methodcaller
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fastaw.api import handlers
from fastaw.api.http import Message, ThreadStream
from fastaw.models import Bucket, Event
from fastaw.storage import Env, Reader, Writer
from fastaw.storage import reader as reader_module
from fastaw.storage.rows import render
from fastaw.timefmt import MAX_NS, MIN_NS, NS_PER_SECOND
from tests.api_helpers import assert_error, create_bucket, ev, insert
from tests.asgi_client import ASGIClient

S = NS_PER_SECOND
_names = itertools.count()


def new_bucket(writer: Writer, events: list[Event] | None = None) -> str:
    name = f"e-{next(_names)}"
    writer.run_sync(methodcaller("create_bucket", Bucket(
        id=name, num=0, type="t", client="c", hostname="h", created=0)))
    if events:
        writer.run_sync(methodcaller("insert_events", name, events))
    return name


def row_by_row(reader: Reader, name: str, start: int | None, end: int | None,
               limit: int | None) -> bytes:
    """The reference: every event of the range clipped and rendered on its own."""
    parts = [render(e) for e in reader.events(name, start, end, limit)]
    return b"[" + b",".join(parts) + b"]"


@pytest.fixture
def batch() -> Iterator[None]:
    saved = reader_module.BATCH
    yield
    reader_module.BATCH = saved


instants = st.integers(-20, 60).map(lambda s: s * S) | st.integers(-20, 60)
durations = st.integers(-5, 30).map(lambda s: s * S) | st.integers(0, 30)
bounds = st.none() | st.integers(-30, 70).map(lambda s: s * S) | instants
data = st.sampled_from([b"{}", b'{"a":1}', b'{"b":"x"}'])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(instants, durations, data), max_size=40),
       non_negative=st.booleans(),
       queries=st.lists(st.tuples(bounds, bounds, st.none() | st.integers(1, 45)),
                        min_size=1, max_size=5),
       size=st.integers(1, 6), chunk=st.integers(1, 9))
@example(rows=[(i * S, S, b"{}") for i in range(12)], non_negative=True,
         queries=[(None, None, None), (3 * S, 8 * S, None), (0, 11 * S, 4), (0, 11 * S, 6)],
         size=2, chunk=2)  # batches ending exactly at the limit and at the range start
@example(rows=[(i * S, 40 * S if i == 0 else S, b"{}") for i in range(12)],
         non_negative=True, queries=[(5 * S, 50 * S, None), (5 * S, 8 * S, 3)],
         size=3, chunk=4)  # one long event: most of the range is checked row by row
def test_events_json_equals_row_by_row(
        writer: Writer, reader: Reader, batch: None, rows: list[tuple[int, int, bytes]],
        non_negative: bool, queries: list[tuple[int | None, int | None, int | None]],
        size: int, chunk: int) -> None:
    reader_module.BATCH = size
    events = [Event(None, start, abs(d) if non_negative else d, body)
              for start, d, body in rows]
    # neighbours below and above: a walk must stop at the bucket's own rows
    new_bucket(writer, [Event(None, s * S, S, b"{}") for s in range(-30, 70, 7)])
    name = new_bucket(writer, events)
    new_bucket(writer, [Event(None, s * S, S, b"{}") for s in range(-30, 70, 7)])
    for start, end, limit in queries:
        expected = row_by_row(reader, name, start, end, limit)
        assert reader.events_json(name, start, end, limit) == expected
        pieces: list[bytes] = []
        reader.write_events(pieces.append, name, start, end, limit, chunk_rows=chunk)
        assert b"".join(pieces) == expected
        assert all(pieces)
        if chunk >= 8:
            assert len(pieces) <= max(1, expected.count(b'"id":') // chunk + 1)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64])
def test_walk_reaches_the_start_of_the_database(tmp_path: Path, size: int,
                                                batch: None) -> None:
    """The first bucket's rows are the first of the store: batches run past them."""
    reader_module.BATCH = size
    env = Env(tmp_path / "store")
    writer = Writer(env)
    writer.start()
    try:
        name = new_bucket(writer, [Event(None, i * S, S, b'{"i":%d}' % i) for i in range(10)]
                          + [Event(None, 3 * S, S, b"{}")])  # a tie at 3 s
        reader = Reader(env)
        for start, end, limit in [(None, None, None), (MIN_NS, MAX_NS, None), (0, 9 * S, 10),
                                  (0, None, 11), (S // 2, 3 * S, None), (None, 2 * S, 1)]:
            assert reader.events_json(name, start, end, limit) == \
                row_by_row(reader, name, start, end, limit)
    finally:
        writer.stop()
        env.close()


def test_only_edge_events_are_re_rendered(writer: Writer, reader: Reader,
                                          batch: None) -> None:
    """Events inside the range are sent as stored; events crossing an edge are clipped."""
    reader_module.BATCH = 2
    name = new_bucket(writer, [Event(None, -5 * S, 10 * S, b'{"x":"before"}'),
                               Event(None, 2 * S, S, b'{"x":"inside"}'),
                               Event(None, 8 * S, 5 * S, b'{"x":"after"}')])
    body = reader.events_json(name, 0, 10 * S)
    assert body.count(b'"duration":') == 3
    assert b'"timestamp":"1970-01-01T00:00:08Z","duration":2.0' in body
    assert b'"timestamp":"1970-01-01T00:00:00Z","duration":5.0' in body
    assert body == row_by_row(reader, name, 0, 10 * S, None)


def asgi_get(client: ASGIClient, path: str, query: str = "") -> list[Message]:
    """The ASGI messages the app sends for a GET (httpx would add a Content-Length)."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
             "query_string": query.encode(), "headers": [(b"host", b"127.0.0.1:5600")]}
    client._run(client.app(scope, receive, send))
    return sent


def test_large_lists_are_streamed_with_the_same_bytes(
        client: ASGIClient, monkeypatch: pytest.MonkeyPatch, batch: None) -> None:
    """Lists of more than `STREAM_ROWS` events go out in pieces (chunked), byte for byte
    what one body would be; small lists keep a Content-Length; errors come before any byte."""
    monkeypatch.setattr(handlers, "STREAM_ROWS", 4)
    reader_module.BATCH = 2
    create_bucket(client, "b")
    insert(client, "b", [ev(f"2020-01-01T00:00:{i:02d}Z", 1.5, {"i": i}) for i in range(30)])
    path = "/api/0/buckets/b/events"
    for query, count in [("", 30), ("start=2020-01-01T00:00:03.5Z&end=2020-01-01T00:00:20Z", 19),
                         ("limit=-1", 30), ("end=2020-01-01T00:00:02Z", 3), ("limit=3", 3),
                         ("limit=1000", 30), ("start=2021-01-01T00:00:00Z", 0)]:
        whole = client.get(path, params={"limit": "1000", **dict(
            part.split("=") for part in query.split("&") if part)})
        assert len(whole.json()) == count
        messages = asgi_get(client, path, query)
        start, bodies = messages[0], messages[1:]
        assert start["status"] == 200
        headers = dict(start["headers"])
        assert headers[b"content-type"] == b"application/json"
        assert b"".join(m["body"] for m in bodies) == whole.content
        assert not bodies[-1].get("more_body", False)
        streamed = count > 4 and "limit=3" not in query and "limit=1000" not in query
        assert (b"content-length" not in headers) == streamed, query
        assert (len(bodies) > 2) == streamed, query
    head = client.request("HEAD", path)
    assert head.status_code == 200
    assert head.content == b""
    assert_error(client.get("/api/0/buckets/nope/events"), 404, "nope")
    assert_error(client.get(path, params={"start": "x"}), 400, "start")


def test_thread_stream_pieces_errors_and_close() -> None:
    """`ThreadStream`: pieces in order, an error of the producer raised where the next
    piece is awaited, and closing an unread stream waits for its thread."""
    done: list[str] = []

    def produce(emit: Callable[[bytes], None]) -> None:
        emit(b"a")
        emit(b"b")
        done.append("produced")
        raise ValueError("broken")

    async def run() -> None:
        stream = ThreadStream(produce)
        assert await stream.piece() == b"a"
        stream.pending = [b"a"]
        got = []
        with pytest.raises(ValueError, match="broken"):
            async for piece in stream:
                got.append(piece)
        assert got == [b"a", b"b"]
        await stream.aclose()

        def unread_produce(emit: Callable[[bytes], None]) -> None:
            emit(b"x")
            done.append("unread")

        unread = ThreadStream(unread_produce)
        await unread.aclose()
        assert done == ["produced", "unread"]

        finished = ThreadStream(lambda emit: emit(b"only"))
        assert [piece async for piece in finished] == [b"only"]

    asyncio.run(run())
