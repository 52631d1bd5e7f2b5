"""Building column chunks ahead of queries (`fastaw chunks`, migrations, imports)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final, NamedTuple

from fastaw.columnar.encoding import new_chunk, rows_to_frame
from fastaw.columnar.source import FLUSH_BYTES, read_ahead
from fastaw.storage import keys
from fastaw.storage.chunks import ChunkStore, NewChunk

#: Texts whose codes `build_chunks` remembers (≈ 200 bytes each): window after window
#: meets the same window titles again.
RECENT_TEXTS: Final = 250_000


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
        for (num, window), rows in read_ahead(prefetch, store.window_rows, todo):
            frame = rows_to_frame(rows.keys, rows.values)
            batch.append(new_chunk(num, window, rows.generation, frame))
            events += frame.height
            if sum(len(item.blob) for item in batch) >= FLUSH_BYTES:
                flush()
            if on_window is not None:
                on_window(frame.height)
    flush()
    return ChunkBuild(windows, windows - len(todo), built, events, changed, dropped)
