"""The columnar read path: a bucket's events as a DataFrame, from cached Arrow chunks.

Turning LMDB rows into Python objects costs microseconds per event, too slow for a year of
history. So events are read per *window* (2**48 ns ≈ 3.3 days of start times, see
`fastaw.storage.keys.CHUNK_SHIFT`): a window whose chunk is cached and current is one Arrow
IPC decode; otherwise its rows are decoded column-wise by Polars straight from the key and
value bytes (no per-event Python work beyond collecting the byte strings), and the new
chunk is stored for the next query — by a background thread, in small batches, so the
query does not wait for the durable commit and a heartbeat never waits behind a long one.
Chunks are read one window at a time (never all blobs of a long range at once). The rows
stay the truth; chunks are derived and are invalidated by every write to their window
(see `fastaw.storage.chunks`).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final, NamedTuple, TypeVar

import polars as pl

from fastaw.storage import keys
from fastaw.storage.chunks import ChunkStore, WindowRows
from fastaw.transforms.dictionary import Dictionary, dictionary
from fastaw.transforms.frame import (
    STORED_SCHEMA,
    Events,
    conform,
    empty,
    from_ipc,
    to_ipc,
)

log = logging.getLogger("fastaw.columnar")
T = TypeVar("T")
_SIGN_BIT: Final = -(2**63)
#: Chunks are stored uncompressed: decoding LZ4 doubled the read time of warm queries
#: (a year of window events: 0.23 s → 0.12 s) for 2.6x less space (≈ 110 vs 40 bytes
#: per event, beside ≈ 290 bytes per event of rows). Old LZ4 chunks stay readable.
CHUNK_COMPRESSION: Final = "uncompressed"
FLUSH_BYTES: Final = 8 << 20
#: Decoded windows kept in a query worker's memory (≈ 30 bytes per event: a year of a
#: busy desktop's window, AFK and browser events is ≈ 40 MB).
FRAME_MEMORY: Final = 192 << 20
INTERN_ROWS: Final = 250_000
MAX_PENDING: Final = 8
_DATA_MARKER: Final = ',"data":'


def rows_to_frame(key_list: list[bytes], value_list: list[bytes]) -> pl.DataFrame:
    """Decode raw (key, value) rows into a stored-form frame (text data), vectorized."""
    if not key_list:
        return pl.DataFrame(schema=STORED_SCHEMA)
    raw = pl.DataFrame(
        {"k": pl.Series(key_list, dtype=pl.Binary), "v": pl.Series(value_list, dtype=pl.Binary)}
    )
    body = pl.col("v").bin.slice(keys.VALUE_HEADER_SIZE).cast(pl.String)
    marker = body.str.find(_DATA_MARKER, literal=True)
    frame = raw.select(
        id=(pl.lit(keys.MAX_U64, pl.UInt64)
            - pl.col("k").bin.slice(12, 8).bin.reinterpret(dtype=pl.UInt64, endianness="big")
            ).cast(pl.Int64),
        timestamp=pl.col("k").bin.slice(4, 8).bin.reinterpret(dtype=pl.Int64, endianness="big")
        .xor(pl.lit(_SIGN_BIT, pl.Int64)),
        duration=pl.col("v").bin.slice(0, 8).bin.reinterpret(dtype=pl.Int64, endianness="big"),
        # The data runs from after the marker to the closing brace of the event object.
        # (`str.slice` counts characters, so a byte-counted length would overrun on
        # non-ASCII data; stripping the one final "}" needs no length at all.)
        data=body.str.slice(marker + len(_DATA_MARKER)).str.strip_suffix("}"),
    )
    return frame.cast(STORED_SCHEMA)  # type: ignore[arg-type]


class _ChunkWriter:
    """Stores new chunks from a background thread, in batches of at most `FLUSH_BYTES`.

    The query never waits for a chunk write (each is a durable LMDB commit, with fsync),
    a write transaction stays short (so it delays a concurrent heartbeat by little), and
    at most `MAX_PENDING` batches wait in memory (a query that outruns the disk blocks).
    Chunks are derived data: one lost when the process exits is rebuilt by the next query.
    """

    def __init__(self, store: ChunkStore) -> None:
        self.store = store
        self.stored = 0
        self._queue: queue.Queue[list[tuple[int, int, int, bytes]]] = queue.Queue(MAX_PENDING)
        self._thread: threading.Thread | None = None

    def put(self, batch: list[tuple[int, int, int, bytes]]) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="fastaw-chunks",
                                            daemon=True)
            self._thread.start()
        self._queue.put(batch)

    def _loop(self) -> None:
        while True:
            batch = self._queue.get()
            try:
                self.stored += self.store.store_chunks(batch)
            except Exception:  # a cache write never fails anything
                log.warning("could not store %d column chunks", len(batch), exc_info=True)
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until every chunk handed over so far is stored (tests, tools)."""
        self._queue.join()


class _WindowFrames:
    """Recently read windows as events frames, in the process's memory (least recently
    used first out, at most `budget` bytes).

    An entry is used only while its window's generation is unchanged (so never after a
    write to the window) and while the data dictionary its codes belong to is the current
    one; so a query over the same period again reads only the window generations.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        self._entries: OrderedDict[tuple[int, int], tuple[int, Dictionary, Events]] = \
            OrderedDict()

    def get(self, num: int, window: int, generation: int) -> Events | None:
        entry = self._entries.get((num, window))
        if entry is None or entry[0] != generation or entry[1] is not dictionary():
            return None
        self._entries.move_to_end((num, window))
        return entry[2]

    def keep_only(self, current: Dictionary | None) -> None:
        """Drop the frames of every other dictionary (useless, and they keep its texts
        alive)."""
        for key, entry in list(self._entries.items()):
            if entry[1] is not current:
                del self._entries[key]
                self.size -= int(entry[2].estimated_size())

    def put(self, num: int, window: int, generation: int, frame: Events) -> None:
        old = self._entries.pop((num, window), None)
        if old is not None:
            self.size -= int(old[2].estimated_size())
        size = int(frame.estimated_size())
        if size > self.budget:
            return
        self._entries[(num, window)] = (generation, dictionary(), frame)
        self.size += size
        while self.size > self.budget:
            _, (_, _, evicted) = self._entries.popitem(last=False)
            self.size -= int(evicted.estimated_size())


class ColumnSource:
    """A query `EventSource` over a store, reading through the chunk cache (and, for
    windows read recently, their frames kept in memory: ``memory`` bytes at most)."""

    def __init__(self, store: ChunkStore, *, cache: bool = True,
                 memory: int = FRAME_MEMORY) -> None:
        self.store = store
        self.cache = cache
        self.chunks_built = 0
        self.chunks_read = 0
        self.writer = _ChunkWriter(store)
        self.frames = _WindowFrames(memory)
        self._prefetch: ThreadPoolExecutor | None = None
        #: One read at a time: statements of a query may run on several threads (see
        #: `fastaw.query.dataflow`), and a read is short next to the work on its events.
        self._reading = threading.Lock()

    def bucket_ids(self) -> list[str]:
        return self.store.bucket_ids()

    def bucket_hostname(self, bucket_id: str) -> str | None:
        return self.store.bucket_hostname(bucket_id)

    def flush(self) -> None:
        """Wait for the background chunk writes (see `_ChunkWriter`)."""
        self.writer.flush()

    def _load(self, num: int, window: int) -> bytes | WindowRows:
        """The window's current chunk, or (when it has none) its rows: the I/O half."""
        blob = self.store.chunk(num, window)
        return blob if blob is not None else self.store.window_rows(num, window)

    def _decode(self, num: int, window: int, loaded: bytes | WindowRows,
                fresh: list[tuple[int, int, int, bytes]]) -> pl.DataFrame:
        """The window's events (stored form) from what `_load` read (building and caching
        a chunk)."""
        if isinstance(loaded, bytes):
            self.chunks_read += 1
            return from_ipc(loaded)
        frame = rows_to_frame(loaded.keys, loaded.values)
        self.chunks_built += 1
        if self.cache:
            fresh.append((num, window, loaded.generation, to_ipc(frame, CHUNK_COMPRESSION)))
            if sum(len(item[3]) for item in fresh) >= FLUSH_BYTES:
                self.writer.put(fresh.copy())
                fresh.clear()
        return frame

    def _windows(self, num: int, windows: list[int],
                 fresh: list[tuple[int, int, int, bytes]]
                 ) -> Iterator[tuple[int, pl.DataFrame]]:
        """Each window's events, in order (the next one read while this one is decoded)."""
        if self._prefetch is None:
            self._prefetch = ThreadPoolExecutor(1, thread_name_prefix="fastaw-prefetch")
        for (_, window), loaded in _read_ahead(self._prefetch, self._load,
                                               [(num, window) for window in windows]):
            yield window, self._decode(num, window, loaded, fresh)

    def _intern(self, num: int, generations: dict[int, int], windows: list[int],
                fresh: list[tuple[int, int, int, bytes]]) -> dict[int, Events]:
        """Read ``windows`` and intern their data into the current dictionary, a batch of
        windows at a time (one cast per batch costs far less than one per window), and
        keep them in memory."""
        out: dict[int, Events] = {}
        batch: list[tuple[int, pl.DataFrame]] = []

        def flush() -> None:
            if not batch:
                return
            frames = [frame for _, frame in batch]
            interned = conform(pl.concat(frames) if len(frames) > 1 else frames[0])
            offset = 0
            for window, frame in batch:
                part = interned.slice(offset, frame.height)
                offset += frame.height
                self.frames.put(num, window, generations[window], part)
                out[window] = part
            batch.clear()

        rows = 0
        for window, frame in self._windows(num, windows, fresh):
            batch.append((window, frame))
            rows += frame.height
            if rows >= INTERN_ROWS:
                flush()
                rows = 0
        flush()
        return out

    def events(self, bucket_id: str, start_ns: int, end_ns: int) -> Events:
        """Unclipped events touching [start_ns, end_ns], in ascending start order.

        Each window comes from the in-memory frames when current there, else from its
        chunk or rows (its data then interned into the current dictionary in batches of
        windows, so text columns never pile up).
        """
        with self._reading:
            return self._events(bucket_id, start_ns, end_ns)

    def _events(self, bucket_id: str, start_ns: int, end_ns: int) -> Events:
        ref = self.store.bucket(bucket_id)
        if ref is None:
            raise KeyError(bucket_id)
        if start_ns > end_ns:
            return empty()
        low = max(start_ns - max(ref.max_duration, 0), keys.MIN_START)
        frames: list[Events] = []
        fresh: list[tuple[int, int, int, bytes]] = []
        generations = self.store.window_generations(
            ref.num, keys.window_of(low), keys.window_of(end_ns))
        current = {window: self.frames.get(ref.num, window, generation)
                   for window, generation in generations}
        missing = [window for window, frame in current.items() if frame is None]
        if missing:
            current.update(self._intern(ref.num, dict(generations), missing, fresh))
        for window, _ in generations:
            frame = current.pop(window)
            assert frame is not None
            first, last = keys.window_bounds(window)
            if first < low or last > end_ns:
                frame = frame.filter(
                    (pl.col("timestamp") <= end_ns)
                    & ((pl.col("timestamp") + pl.col("duration")) >= start_ns)
                )
            elif ref.min_duration < 0:
                frame = frame.filter((pl.col("timestamp") + pl.col("duration")) >= start_ns)
            if frame.height:
                frames.append(frame)
        if fresh:
            self.writer.put(fresh)
        if not frames:
            return empty()
        # one contiguous frame: the windows' pieces as ~100 chunks made every later pass
        # slower (clipping a year of window events: 50 ms, against 21 ms + 4.5 ms to copy)
        return pl.concat(frames, rechunk=True)


def _read_ahead(prefetch: ThreadPoolExecutor, load: Callable[[int, int], T],
                windows: list[tuple[int, int]]) -> Iterator[tuple[tuple[int, int], T]]:
    """Each (bucket, window) with ``load(bucket, window)``, in order; the next one is
    loaded by ``prefetch``'s thread while the caller decodes this one (Polars releases the
    GIL, so reading rows and decoding them overlap)."""
    pending = prefetch.submit(load, *windows[0]) if windows else None
    for i, window in enumerate(windows):
        assert pending is not None
        loaded = pending.result()
        if i + 1 < len(windows):
            pending = prefetch.submit(load, *windows[i + 1])
        yield window, loaded


class ChunkBuild(NamedTuple):
    """What `build_chunks` did."""

    windows: int  #: windows looked at
    current: int  #: of which had a current chunk already
    built: int  #: chunks built from rows and stored
    events: int  #: events read from rows into chunks
    changed: int  #: built but not stored: a write changed the window meanwhile
    dropped: int  #: stored chunks deleted first (``rebuild``)


def build_chunks(store: ChunkStore, bucket_ids: Sequence[str] | None = None, *,
                 rebuild: bool = False,
                 on_total: Callable[[int], None] | None = None,
                 on_window: Callable[[int], None] | None = None) -> ChunkBuild:
    """Build the column chunk of every window (of ``bucket_ids``, default all buckets) that
    has no current one, from its rows, so that no query has to; with ``rebuild``, first
    delete the stored chunks (every chunk, orphans included, when no bucket is named) and
    build them all again. ``on_total(windows)`` is told how many windows will be built,
    ``on_window(events)`` is called after each.

    Safe while a server runs: a chunk is stored only if its window is unchanged since its
    rows were read (else it is counted in ``changed`` and built by the next query).
    """
    refs: list[int] = []
    for bucket_id in bucket_ids if bucket_ids is not None else store.bucket_ids():
        ref = store.bucket(bucket_id)
        if ref is None:
            raise KeyError(bucket_id)
        refs.append(ref.num)
    dropped = 0
    if rebuild:
        if bucket_ids is None:
            dropped = store.drop_chunks()
        else:
            dropped = sum(store.drop_chunks(num) for num in refs)
    every = (keys.window_of(keys.MIN_START), keys.window_of(keys.MAX_START))
    todo: list[tuple[int, int]] = []
    windows = 0
    for num in refs:
        current = store.current_windows(num)
        listed = store.windows(num, *every)
        windows += len(listed)
        todo += [(num, window) for window in listed if window not in current]
    if on_total is not None:
        on_total(len(todo))
    built = events = changed = 0
    batch: list[tuple[int, int, int, bytes]] = []

    def flush() -> None:
        nonlocal built, changed
        stored = store.store_chunks(batch)
        built += stored
        changed += len(batch) - stored
        batch.clear()

    with ThreadPoolExecutor(1, thread_name_prefix="fastaw-chunk-rows") as prefetch:
        for (num, window), rows in _read_ahead(prefetch, store.window_rows, todo):
            frame = rows_to_frame(rows.keys, rows.values)
            batch.append((num, window, rows.generation, to_ipc(frame, CHUNK_COMPRESSION)))
            events += frame.height
            if sum(len(item[3]) for item in batch) >= FLUSH_BYTES:
                flush()
            if on_window is not None:
                on_window(frame.height)
    flush()
    return ChunkBuild(windows, windows - len(todo), built, events, changed, dropped)
