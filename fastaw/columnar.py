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
(`_StoreTexts`), so reading a year again, or ten years, interns each distinct text once
instead of hashing every row's text.
Chunks are read one window at a time (never all blobs of a long range at once). The rows
stay the truth; chunks are derived and are invalidated by every write to their window
(see `fastaw.storage.chunks`).
"""

from __future__ import annotations

import io
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Final, NamedTuple, TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from fastaw.storage import keys
from fastaw.storage.chunks import Chunk, ChunkStore, NewChunk, WindowRows
from fastaw.storage.texts import BLOCK, unpack_block
from fastaw.transforms.dictionary import Dictionary, dictionary
from fastaw.transforms.frame import (
    STORED_SCHEMA,
    Events,
    IpcCompression,
    conform,
    empty,
    owned_column,
)

log = logging.getLogger("fastaw.columnar")
T = TypeVar("T")
_SIGN_BIT: Final = -(2**63)
#: Chunks are stored uncompressed: decoding LZ4 doubled the read time of warm queries
#: (a year of window events: 0.23 s → 0.12 s). LZ4 chunks are readable too.
CHUNK_COMPRESSION: Final[IpcCompression] = "uncompressed"
FLUSH_BYTES: Final = 8 << 20
#: Decoded windows kept in a query worker's memory (≈ 30 bytes per event: a year of a
#: busy desktop's window, AFK and browser events is ≈ 40 MB).
FRAME_MEMORY: Final = 192 << 20
#: Rows of text read from the store (no chunk) interned at once: text piles up.
INTERN_ROWS: Final = 250_000
#: Rows of chunks given dictionary codes at once (one lookup of their texts; more at once
#: would hold more of a long read's columns twice).
CODE_ROWS: Final = 1_000_000
#: Texts whose codes `build_chunks` remembers (≈ 200 bytes each): window after window
#: meets the same window titles again.
RECENT_TEXTS: Final = 250_000
MAX_PENDING: Final = 8
_DATA_MARKER: Final = ',"data":'
#: Arrow's own allocator (mimalloc) frees pages lazily (``MADV_FREE``): a process keeps
#: them in its resident memory until the system runs short. The texts copied out of the
#: text table are freed as soon as they are interned, so they use the system allocator.
_POOL: Final = pa.system_memory_pool()


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


def _local_texts(data: pl.Series) -> tuple[pl.Series, pl.Series]:
    """The distinct texts of ``data`` and each row's position among them (by grouping:
    interning them in a new Categorical costs twice as much)."""
    groups = (pl.DataFrame({"data": data}).with_row_index("row")
              .group_by("data").agg("row"))
    pairs = groups.select(text=pl.int_range(pl.len(), dtype=pl.UInt32),
                          row=pl.col("row")).explode("row")
    position = pl.repeat(0, data.len(), dtype=pl.UInt32, eager=True).scatter(
        pairs["row"], pairs["text"])
    return groups["data"], position


def new_chunk(num: int, window: int, generation: int, frame: pl.DataFrame,
              compression: IpcCompression = CHUNK_COMPRESSION) -> NewChunk:
    """The chunk of a window's stored-form frame: its distinct data texts and a blob of
    the number columns, each row's ``text`` its position among them."""
    texts, position = _local_texts(frame["data"])
    buffer = io.BytesIO()
    frame.select("id", "timestamp", "duration", text=position).write_ipc(
        buffer, compression=compression)
    return NewChunk(num, window, generation, buffer.getvalue(),
                    texts.cast(pl.Binary).to_list())


class ChunkRows(NamedTuple):
    """A stored chunk's rows as Arrow: the number columns and ``text`` (the row's position
    in ``codes``, the store text codes of the chunk's distinct texts)."""

    table: pa.Table
    codes: pa.Array
    epoch: int

    @property
    def height(self) -> int:
        return int(self.table.num_rows)


def chunk_rows(chunk: Chunk) -> ChunkRows:
    """The rows of a stored chunk (its buffers shared, not copied)."""
    table = pa.ipc.open_file(pa.BufferReader(pa.py_buffer(chunk.blob))).read_all()
    codes = pa.Array.from_buffers(pa.uint32(), len(chunk.codes) // 4,
                                  [None, pa.py_buffer(chunk.codes)])
    return ChunkRows(table, codes, chunk.epoch)


def chunks_frame(parts: Sequence[ChunkRows]) -> pl.DataFrame:
    """The rows of chunks, in order, as one frame: ``id``, ``timestamp``, ``duration`` and
    ``code`` (the store text code of the row's data). One pass for all of them: each
    chunk's positions are shifted past the codes of the chunks before it (a cumulative
    sum of per-chunk steps, scattered at the chunks' first rows) and gathered at once."""
    frame = pl.DataFrame(pl.from_arrow(pa.concat_tables([part.table for part in parts])))
    codes = pl.from_arrow(pa.chunked_array([part.codes for part in parts], pa.uint32()))
    assert isinstance(codes, pl.Series)
    starts, steps, row, before, previous = [], [], 0, 0, 0
    for part in parts:
        if part.height:
            starts.append(row)
            steps.append(before - previous)
            previous = before
        row += part.height
        before += len(part.codes)
    shift = pl.repeat(0, frame.height, dtype=pl.UInt32, eager=True).scatter(
        starts, pl.Series(steps, dtype=pl.Int64).cast(pl.UInt32, wrap_numerical=True)
    ).cum_sum()
    # the number columns copied out: frames kept for later must not hold the blobs alive
    return frame.select(*(owned_column(frame, name) for name in ("id", "timestamp", "duration")),
                        code=codes.rechunk().gather(frame["text"] + shift))


def chunk_frame(chunk: Chunk) -> pl.DataFrame:
    """`chunks_frame` of one stored chunk."""
    return chunks_frame([chunk_rows(chunk)])


def chunk_events(store: ChunkStore, chunk: Chunk) -> pl.DataFrame:
    """A stored chunk as a stored-form frame (``data`` text), its texts read from the
    store's text table (for checks and tools; queries use `_StoreTexts`)."""
    frame = chunk_frame(chunk)
    codes = frame["code"].unique().sort()
    texts: dict[int, list[bytes]] = {}
    blocks = (codes // BLOCK).unique().to_list()
    if not store.texts.read_blocks(blocks, chunk.epoch,
                                   lambda n, v: texts.update({n: unpack_block(bytes(v))})):
        raise StaleTexts
    values = [texts[c // BLOCK][c % BLOCK].decode() for c in codes.to_list()]
    data = frame["code"].replace_strict(codes, pl.Series(values, dtype=pl.String))
    return frame.select("id", "timestamp", "duration", data=data)


class StaleTexts(Exception):
    """The store's text table was started afresh since a chunk was read."""


class _StoreTexts:
    """What the current data dictionary calls the texts of a store's text codes.

    Per dictionary and store (and text epoch), a table from store code to dictionary code
    (null: not looked up yet), kept in the dictionary (`Dictionary.stores`), so it lives and
    dies with the codes it holds. Texts of codes not in it are read from the store, a
    block at a time, and interned.
    """

    def __init__(self, store: ChunkStore) -> None:
        self.store = store
        self.name = str(store.env.path)

    def data(self, codes: pl.Series, epoch: int) -> pl.Series:
        """The data column (in the current dictionary) of store text ``codes``."""
        current = dictionary()
        key = (self.name, epoch)
        with current.lock:
            table = current.stores.get(key)
        if table is None:
            table = pl.Series("stores", [], dtype=pl.UInt32)
        top = codes.max()
        size = 0 if top is None else int(top) + 1  # type: ignore[arg-type]
        if table.len() < size:
            table = table.extend_constant(None, size - table.len())
        known = table.gather(codes)
        if known.null_count():
            missing = codes.filter(known.is_null()).unique().sort()
            table = table.scatter(missing, self._intern(missing, epoch, current))
            with current.lock:
                current.stores[key] = table
            known = table.gather(codes)
        return known.cat.to(current.dtype)

    def _intern(self, codes: pl.Series, epoch: int, current: Dictionary) -> pl.Series:
        """Dictionary codes of the texts of store ``codes`` (distinct, ascending).

        Each block's wanted texts are taken (copied) by Arrow while the read snapshot
        holds the map's pages, then all of them are interned in one cast."""
        blocks = (codes // BLOCK).unique().sort()
        numbers = blocks.to_list()
        firsts = [*codes.search_sorted(blocks * BLOCK).to_list(), codes.len()]
        within = (codes % BLOCK).rechunk().to_arrow()
        where = {number: (firsts[i], firsts[i + 1] - firsts[i])
                 for i, number in enumerate(numbers)}
        taken: dict[int, pa.Array] = {}

        def use(number: int, value: memoryview) -> None:
            count = int.from_bytes(value[:4], "little")
            texts = pa.StringArray.from_buffers(
                count, pa.py_buffer(value[4:8 + 4 * count]), pa.py_buffer(value[8 + 4 * count:]))
            taken[number] = pc.take(texts, within.slice(*where[number]), memory_pool=_POOL)

        if not self.store.texts.read_blocks(numbers, epoch, use) or len(taken) != len(numbers):
            raise StaleTexts
        strings = pl.from_arrow(pa.chunked_array([taken[n] for n in numbers], pa.string()))
        assert isinstance(strings, pl.Series)
        return strings.cast(current.dtype).to_physical()


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
        self.texts = _StoreTexts(store)
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
        for (_, window), loaded in _read_ahead(self._prefetch, load,
                                               [(num, window) for window in windows]):
            yield window, self._decode(num, window, loaded, fresh)

    def _intern(self, num: int, generations: dict[int, int], windows: list[int],
                fresh: list[NewChunk], chunks: bool) -> dict[int, Events]:
        """Read ``windows`` and give their data codes of the current dictionary, a batch
        of windows at a time (one call per batch costs far less than one per window), and
        keep them in memory. Rows read from a chunk get theirs through the store's text
        codes (`_StoreTexts`); rows decoded from the store have their text interned."""
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
    batch: list[NewChunk] = []

    def flush() -> None:
        nonlocal built, changed
        stored = store.store_chunks(batch)
        built += stored
        changed += len(batch) - stored
        batch.clear()

    store.texts.recent_limit = max(store.texts.recent_limit, RECENT_TEXTS)
    with ThreadPoolExecutor(1, thread_name_prefix="fastaw-chunk-rows") as prefetch:
        for (num, window), rows in _read_ahead(prefetch, store.window_rows, todo):
            frame = rows_to_frame(rows.keys, rows.values)
            batch.append(new_chunk(num, window, rows.generation, frame))
            events += frame.height
            if sum(len(item.blob) for item in batch) >= FLUSH_BYTES:
                flush()
            if on_window is not None:
                on_window(frame.height)
    flush()
    return ChunkBuild(windows, windows - len(todo), built, events, changed, dropped)
