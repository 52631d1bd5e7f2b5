"""The columnar read path: a bucket's events as a DataFrame, from cached Arrow chunks.

Turning LMDB rows into Python objects costs microseconds per event, too slow for a year of
history. So events are read per *window* (2**48 ns ≈ 3.3 days of start times, see
`fastaw.storage.keys.CHUNK_SHIFT`): a window whose chunk is cached and current is one Arrow
IPC decode; otherwise its rows are decoded column-wise by Polars straight from the key and
value bytes (no per-event Python work beyond collecting the byte strings), and the new
chunk is stored for the next query. The rows stay the truth; chunks are derived and are
invalidated by every write to their window (see `fastaw.storage.chunks`).
"""

from __future__ import annotations

import contextlib
from typing import Final

import polars as pl

from fastaw.storage import keys
from fastaw.storage.chunks import ChunkStore
from fastaw.transforms.frame import SCHEMA, Events, empty, from_ipc, to_ipc

_SIGN_BIT: Final = -(2**63)
_DATA_MARKER: Final = ',"data":'


def rows_to_frame(key_list: list[bytes], value_list: list[bytes]) -> Events:
    """Decode raw (key, value) rows into an events frame, vectorized."""
    if not key_list:
        return empty()
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
    return frame.cast(SCHEMA)  # type: ignore[arg-type]


class ColumnSource:
    """A query `EventSource` over a store, reading through the chunk cache."""

    def __init__(self, store: ChunkStore, *, cache: bool = True) -> None:
        self.store = store
        self.cache = cache
        self.chunks_built = 0
        self.chunks_read = 0

    def bucket_ids(self) -> list[str]:
        return self.store.bucket_ids()

    def bucket_hostname(self, bucket_id: str) -> str | None:
        return self.store.bucket_hostname(bucket_id)

    def events(self, bucket_id: str, start_ns: int, end_ns: int) -> Events:
        """Unclipped events touching [start_ns, end_ns], in ascending start order."""
        ref = self.store.bucket(bucket_id)
        if ref is None:
            raise KeyError(bucket_id)
        if start_ns > end_ns:
            return empty()
        low = max(start_ns - max(ref.max_duration, 0), keys.MIN_START)
        windows = self.store.windows(ref.num, keys.window_of(low), keys.window_of(end_ns))
        frames: list[Events] = []
        fresh: list[tuple[int, int, int, bytes]] = []
        for window, _generation, blob in windows:
            if blob is not None:
                frame = from_ipc(blob)
                self.chunks_read += 1
            else:
                rows = self.store.window_rows(ref.num, window)
                frame = rows_to_frame(rows.keys, rows.values)
                self.chunks_built += 1
                if self.cache:
                    fresh.append((ref.num, window, rows.generation, to_ipc(frame)))
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
            with contextlib.suppress(Exception):  # a cache write never fails the query
                self.store.store_chunks(fresh)
        if not frames:
            return empty()
        return pl.concat(frames, rechunk=False)
