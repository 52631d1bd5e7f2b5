"""The columnar read path: a bucket's events as a DataFrame, from cached Arrow chunks.

Turning LMDB rows into Python objects costs microseconds per event, too slow for a year of
history. So events are read per *window* (2**48 ns ≈ 3.3 days of start times, see
`fastaw.storage.keys.CHUNK_SHIFT`): a window whose chunk is cached and current is one Arrow
IPC decode; otherwise its rows are decoded column-wise by Polars straight from the key and
value bytes (no per-event Python work beyond collecting the byte strings), and the new
chunk is stored for the next query — by a background thread, in small batches, so the
query does not wait for the durable commit and a heartbeat never waits behind a long one.

A chunk holds no data text: its rows point into the chunk's list of distinct texts, and
that list holds codes of the store's text table (`fastaw.storage.texts`). Reading a chunk
moves integers only; the query's data dictionary learns the text of a store code once
(`StoreTexts`), so reading a year again, or ten years, interns each distinct text once
instead of hashing every row's text.
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
from functools import partial
from typing import Final, TypeVar

import polars as pl

from fastaw.columnar.encoding import (
    ChunkRows,
    StaleTexts,
    chunk_rows,
    chunks_frame,
    new_chunk,
    rows_to_frame,
)
from fastaw.columnar.texts import StoreTexts
from fastaw.storage import keys
from fastaw.storage.chunks import Chunk, ChunkStore, NewChunk, WindowRows
from fastaw.transforms.dictionary import Dictionary, dictionary
from fastaw.transforms.frame import Events, conform, empty

log = logging.getLogger("fastaw.columnar")
T = TypeVar("T")
FLUSH_BYTES: Final = 8 << 20
#: Decoded windows kept in a query worker's memory (≈ 30 bytes per event: a year of a
#: busy desktop's window, AFK and browser events is ≈ 40 MB).
FRAME_MEMORY: Final = 192 << 20
#: Windows read once that are remembered (see `_WindowFrames`): ten years of a busy
#: desktop's five buckets are ≈ 5,600.
MAX_SEEN: Final = 1 << 16
#: Rows of text read from the store (no chunk) interned at once: text piles up.
INTERN_ROWS: Final = 250_000
#: Rows of chunks given dictionary codes at once (one lookup of their texts; more at once
#: would hold more of a long read's columns twice).
CODE_ROWS: Final = 1_000_000
MAX_PENDING: Final = 8


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
        self._queue: queue.Queue[list[NewChunk]] = queue.Queue(MAX_PENDING)
        self._thread: threading.Thread | None = None

    def put(self, batch: list[NewChunk]) -> None:
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


class _Kept:
    """A window's frame in `_WindowFrames`."""

    __slots__ = ("dictionary", "frame", "generation", "query", "size")

    def __init__(self, generation: int, dictionary: Dictionary, frame: Events, query: int
                 ) -> None:
        self.generation = generation
        self.dictionary = dictionary
        self.frame = frame
        self.query = query  #: the last query that read it (`_WindowFrames.next_query`)
        self.size = int(frame.estimated_size())


class _WindowFrames:
    """Windows read again, as events frames, in the process's memory (at most ``budget``
    bytes).

    An entry is used only while its window's generation is unchanged (so never after a
    write to the window) and while the data dictionary its codes belong to is the current
    one; so a query over the same period again reads only the window generations.

    A window is kept from its *second* read on (the same generation, in the same
    dictionary): the first read only notes it. A query asked once — ten years, or a year
    never looked at again — then fills no memory with windows nothing reads again (a
    year's first Activity query held ≈ 30 MiB of them at its peak; ten years' filled the
    whole budget, then dropped it with the dictionary); one asked again reads its chunks
    once more and keeps its windows from then on.

    When the budget is full, a window makes room only by pushing out windows the current
    query has not read (least recently read first); where there are none, it is not kept.
    A query reading more windows than fit (ten years of a busy desktop: ≈ 340 MB) then
    finds the same ones kept each time it is asked again. In least recently used order
    alone, its windows pushed out those it read next, so which ones were kept changed
    every time and most reads missed (ten years' window events: ≈ 0.58 s to read when
    asked again, against ≈ 0.32 s now).
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        self._entries: OrderedDict[tuple[int, int], _Kept] = OrderedDict()
        #: Windows read once: (bucket, window) → (generation, dictionary), oldest first.
        self._seen: OrderedDict[tuple[int, int], tuple[int, Dictionary]] = OrderedDict()
        self._query = 0
        self._current = 0  #: bytes of the windows the current query read

    def next_query(self) -> None:
        """A new query starts: the windows it reads are kept over those it does not."""
        self._query += 1
        self._current = 0

    def get(self, num: int, window: int, generation: int) -> Events | None:
        entry = self._entries.get((num, window))
        if entry is None or entry.generation != generation or \
                entry.dictionary is not dictionary():
            return None
        if entry.query != self._query:
            entry.query = self._query
            self._current += entry.size
        self._entries.move_to_end((num, window))
        return entry.frame

    def keep_only(self, current: Dictionary | None) -> None:
        """Drop the frames of every other dictionary (useless, and they keep its texts
        alive)."""
        for key, entry in list(self._entries.items()):
            if entry.dictionary is not current:
                self._drop(key)
        for key, (_, seen_in) in list(self._seen.items()):
            if seen_in is not current:
                del self._seen[key]

    def put(self, num: int, window: int, generation: int, frame: Events) -> None:
        """Keep ``frame`` if this window was read before in the current dictionary, at
        this generation, and there is room for it; else note that it was read."""
        key, current = (num, window), dictionary()
        old = self._drop(key)
        if self._seen.pop(key, None) != (generation, current) and old is None:
            self._seen[key] = (generation, current)
            if len(self._seen) > MAX_SEEN:
                self._seen.popitem(last=False)
            return
        entry = _Kept(generation, current, frame, self._query)
        if self._make_room(entry.size):
            self._entries[key] = entry
            self.size += entry.size
            self._current += entry.size

    def _make_room(self, size: int) -> bool:
        """Push out windows the current query has not read until ``size`` more bytes fit
        (False, pushing out none, when they cannot). Those the current query read are the
        last in the order (a read or a new entry moves to the end)."""
        if self._current + size > self.budget:
            return False
        while self.size + size > self.budget:
            self._drop(next(iter(self._entries)))
        return True

    def _drop(self, key: tuple[int, int]) -> _Kept | None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.size -= entry.size
            if entry.query == self._query:
                self._current -= entry.size
        return entry


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
        self.texts = StoreTexts(store)
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

    def _load(self, num: int, window: int, chunks: bool) -> Chunk | WindowRows:
        """The window's current chunk (unless ``chunks`` is False), or (when it has none)
        its rows: the I/O half."""
        chunk = self.store.chunk(num, window) if chunks else None
        return chunk if chunk is not None else self.store.window_rows(num, window)

    def _decode(self, num: int, window: int, loaded: Chunk | WindowRows,
                fresh: list[NewChunk]) -> ChunkRows | pl.DataFrame:
        """The window's events from what `_load` read: a chunk's rows, or rows decoded
        from the store with their ``data`` text (building a chunk for the cache)."""
        if isinstance(loaded, Chunk):
            self.chunks_read += 1
            return chunk_rows(loaded)
        frame = rows_to_frame(loaded.keys, loaded.values)
        self.chunks_built += 1
        if self.cache:
            fresh.append(new_chunk(num, window, loaded.generation, frame))
            if sum(len(item.blob) for item in fresh) >= FLUSH_BYTES:
                self.writer.put(fresh.copy())
                fresh.clear()
        return frame

    def _windows(self, num: int, windows: list[int], fresh: list[NewChunk], chunks: bool
                 ) -> Iterator[tuple[int, ChunkRows | pl.DataFrame]]:
        """Each window's events, in order (the next one read while this one is decoded)."""
        if self._prefetch is None:
            self._prefetch = ThreadPoolExecutor(1, thread_name_prefix="fastaw-prefetch")
        load = partial(self._load, chunks=chunks)
        for (_, window), loaded in read_ahead(self._prefetch, load,
                                              [(num, window) for window in windows]):
            yield window, self._decode(num, window, loaded, fresh)

    def _intern(self, num: int, generations: dict[int, int], windows: list[int],
                fresh: list[NewChunk], chunks: bool) -> dict[int, Events]:
        """Read ``windows`` and give their data codes of the current dictionary, a batch
        of windows at a time (one call per batch costs far less than one per window), and
        keep them in memory. Rows read from a chunk get theirs through the store's text
        codes (`StoreTexts`); rows decoded from the store have their text interned."""
        out: dict[int, Events] = {}
        batch: list[tuple[int, ChunkRows | pl.DataFrame]] = []

        def flush() -> None:
            texts = [(w, part) for w, part in batch if isinstance(part, pl.DataFrame)]
            if texts:
                keep(texts, conform(pl.concat([part for _, part in texts])))
            for epoch in {part.epoch for _, part in batch if isinstance(part, ChunkRows)}:
                parts = [(w, part) for w, part in batch
                         if isinstance(part, ChunkRows) and part.epoch == epoch]
                every = chunks_frame([part for _, part in parts])
                keep(parts, every.select("id", "timestamp", "duration",
                                         data=self.texts.data(every["code"], epoch)))
            batch.clear()

        def keep(parts: Sequence[tuple[int, ChunkRows | pl.DataFrame]],
                 interned: Events) -> None:
            offset = 0
            for window, part in parts:
                piece = interned.slice(offset, part.height)
                offset += part.height
                self.frames.put(num, window, generations[window], piece)
                out[window] = piece

        rows = texts = 0
        for window, part in self._windows(num, windows, fresh, chunks):
            batch.append((window, part))
            rows += part.height
            if isinstance(part, pl.DataFrame):
                texts += part.height
            if texts >= INTERN_ROWS or rows >= CODE_ROWS:
                flush()
                rows = texts = 0
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
        fresh: list[NewChunk] = []
        generations = self.store.window_generations(
            ref.num, keys.window_of(low), keys.window_of(end_ns))
        current = {window: self.frames.get(ref.num, window, generation)
                   for window, generation in generations}
        missing = [window for window, frame in current.items() if frame is None]
        if missing:
            try:
                read = self._intern(ref.num, dict(generations), missing, fresh, True)
            except StaleTexts:  # the chunks were all dropped and rebuilt meanwhile
                read = self._intern(ref.num, dict(generations), missing, fresh, False)
            current.update(read)
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


def read_ahead(prefetch: ThreadPoolExecutor, load: Callable[[int, int], T],
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
