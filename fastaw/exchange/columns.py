"""Pages of stored rows → Polars columns, vectorized (the columnar export path).

A stored row is ``key = bucket u32 | start (sign-flipped u64) | ~id u64`` and
``value = duration i64 | rendered event JSON``, all big-endian (`fastaw.storage.keys`).
Ids and starts come from the key bytes, the duration from the value header and the data
JSON is sliced out of the rendered event after its ``,"data":`` marker — by Polars, on
whole pages, with no Python work per event beyond collecting the byte strings.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from fastaw.storage import keys

_SIGN_BIT: Final = -(2**63)
_MARKER: Final = ',"data":'

#: Columns of every Parquet/CSV export (plus ``bucket`` unless hive-partitioned).
PARQUET_SCHEMA: Final = {
    "id": pl.Int64,
    "timestamp": pl.Datetime("us", "UTC"),
    "duration": pl.Float64,
    "data": pl.String,
    "timestamp_ns": pl.Int64,
    "duration_ns": pl.Int64,
}


def page_frame(key_list: list[bytes], value_list: list[bytes]) -> pl.DataFrame:
    """id, start (ns), duration (ns) and data (canonical JSON text) of a page of rows."""
    raw = pl.DataFrame({"k": pl.Series(key_list, dtype=pl.Binary),
                        "v": pl.Series(value_list, dtype=pl.Binary)})
    body = pl.col("v").bin.slice(keys.VALUE_HEADER_SIZE).cast(pl.String)
    marker = body.str.find(_MARKER, literal=True)
    return raw.select(
        id=(pl.lit(keys.MAX_U64, pl.UInt64)
            - pl.col("k").bin.slice(12, 8).bin.reinterpret(dtype=pl.UInt64, endianness="big")
            ).cast(pl.Int64),
        start=pl.col("k").bin.slice(4, 8).bin.reinterpret(dtype=pl.Int64, endianness="big")
        .xor(pl.lit(_SIGN_BIT, pl.Int64)),
        duration=pl.col("v").bin.slice(0, 8).bin.reinterpret(dtype=pl.Int64, endianness="big"),
        # the marker's offset counts ASCII only (id, timestamp, duration come first), but the
        # data may hold any characters: cut the closing brace with head(-1), never by bytes
        data=body.str.slice(marker + len(_MARKER)).str.head(-1),
    )


def parquet_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """The export columns of a `page_frame` (see `PARQUET_SCHEMA`)."""
    return frame.select(
        id=pl.col("id"),
        timestamp=pl.col("start").floordiv(1000).cast(pl.Datetime("us", "UTC")),
        duration=pl.col("duration").cast(pl.Float64) / 1e9,
        data=pl.col("data"),
        timestamp_ns=pl.col("start"),
        duration_ns=pl.col("duration"),
    )
