"""Column chunks on the Polars side: rows decoded from the store, and the chunk format.

A chunk (`fastaw.storage.chunks`) is one window's events as an Arrow IPC blob of the
number columns and ``text``, each row's position in the chunk's list of distinct data
texts; the list holds codes of the store's text table (`fastaw.storage.texts`), assigned
when the chunk is stored. `new_chunk` makes one from a window's rows, `chunk_rows` and
`chunks_frame` read them back (codes, not texts: `fastaw.columnar.texts` turns those into
the query's dictionary codes), `chunk_events` reads one with its texts (checks, tools).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Final, Literal, NamedTuple, TypeAlias

import polars as pl

from fastaw.columnar.arrowfile import file_rows
from fastaw.storage import keys
from fastaw.storage.chunks import Chunk, ChunkStore, NewChunk
from fastaw.storage.texts import BLOCK, unpack_block
from fastaw.transforms.frame import STORED_SCHEMA, owned_column

IpcCompression: TypeAlias = Literal["uncompressed", "lz4", "zstd"]
_SIGN_BIT: Final = -(2**63)
_DATA_MARKER: Final = ',"data":'
#: Chunks are stored uncompressed: decoding LZ4 doubled the read time of warm queries
#: (a year of window events: 0.23 s → 0.12 s). LZ4 chunks are readable too.
CHUNK_COMPRESSION: Final[IpcCompression] = "uncompressed"
#: The number columns of a chunk.
_NUMBERS: Final = ("id", "timestamp", "duration")


class StaleTexts(Exception):
    """The store's text table was started afresh since a chunk was read."""


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
    """A stored chunk's rows, not read yet: its blob (an Arrow IPC file of the number
    columns and ``text``, the row's position in ``codes``), ``codes`` (the store text codes
    of its distinct texts, u32 LE), their text epoch and how many rows it holds."""

    blob: bytes
    codes: bytes
    epoch: int
    height: int


def chunk_rows(chunk: Chunk) -> ChunkRows:
    """The rows of a stored chunk (its parts copied out of the read snapshot)."""
    return ChunkRows(bytes(chunk.blob), bytes(chunk.codes), chunk.epoch,
                     file_rows(chunk.blob))


def chunks_frame(parts: Sequence[ChunkRows]) -> pl.DataFrame:
    """The rows of chunks, in order, as one frame: ``id``, ``timestamp``, ``duration`` and
    ``code`` (the store text code of the row's data). One read of all the files, and one
    pass for their codes: each chunk's positions are shifted past the codes of the chunks
    before it (a cumulative sum of per-chunk steps, scattered at the chunks' first rows)
    and gathered at once."""
    if not parts:
        return pl.DataFrame(schema={name: STORED_SCHEMA[name] for name in _NUMBERS}
                            | {"code": pl.UInt32()})
    frame = pl.scan_ipc([part.blob for part in parts]).collect()
    codes = u32_series(b"".join(part.codes for part in parts))
    starts, steps, row, before, previous = [], [], 0, 0, 0
    for part in parts:
        if part.height:
            starts.append(row)
            steps.append(before - previous)
            previous = before
        row += part.height
        before += len(part.codes) // 4
    shift = pl.repeat(0, frame.height, dtype=pl.UInt32, eager=True).scatter(
        starts, pl.Series(steps, dtype=pl.Int64).cast(pl.UInt32, wrap_numerical=True)
    ).cum_sum()
    # the number columns copied out: frames kept for later must not hold the blobs alive
    return frame.select(*(owned_column(frame, name) for name in _NUMBERS),
                        code=codes.rechunk().gather(frame["text"] + shift))


def u32_series(raw: bytes) -> pl.Series:
    """The u32 LE array ``raw`` as a UInt32 Series (one reinterpretation, not a loop)."""
    if not raw:
        return pl.Series([], dtype=pl.UInt32)
    return pl.Series([raw], dtype=pl.Binary).bin.reinterpret(
        dtype=pl.Array(pl.UInt32, len(raw) // 4), endianness="little").explode()


def chunk_frame(chunk: Chunk) -> pl.DataFrame:
    """`chunks_frame` of one stored chunk."""
    return chunks_frame([chunk_rows(chunk)])


def chunk_events(store: ChunkStore, chunk: Chunk) -> pl.DataFrame:
    """A stored chunk as a stored-form frame (``data`` text), its texts read from the
    store's text table (for checks and tools; queries use `StoreTexts`)."""
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


