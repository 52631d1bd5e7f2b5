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

from fastaw.columnar import rows_to_frame

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
    return rows_to_frame(key_list, value_list).rename({"timestamp": "start"})


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


# -- whole columns of timestamps and durations (import fast paths) ---------------------------

_NS: Final = 1_000_000_000
_EXACT: Final = float(2**50)
_FORMATS: Final = ("%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%:z")


def format_starts(starts: list[int]) -> list[bytes]:
    """`fastaw.timefmt.format_ns` of every start (RFC 3339, ``Z``, 0/3/6/9 digits), as bytes."""
    frac = pl.col("s") - pl.col("s").floordiv(_NS) * _NS
    digits = (pl.when(frac == 0).then(pl.lit(""))
              .when(frac % 1_000_000 == 0)
              .then(pl.lit(".") + (frac // 1_000_000 + 1000).cast(pl.String).str.slice(1))
              .when(frac % 1000 == 0)
              .then(pl.lit(".") + (frac // 1000 + 1_000_000).cast(pl.String).str.slice(1))
              .otherwise(pl.lit(".") + (frac + _NS).cast(pl.String).str.slice(1)))
    text = pl.DataFrame({"s": pl.Series(starts, dtype=pl.Int64)}).select(pl.concat_str(
        pl.from_epoch(pl.col("s").floordiv(_NS), "s").dt.strftime("%Y-%m-%dT%H:%M:%S"),
        digits, pl.lit("Z"))).to_series()
    return text.cast(pl.Binary).to_list()


def parse_timestamps(texts: list[str]) -> list[int | None]:
    """ns of each RFC 3339 text in the shapes exports use; None where another parser is needed.

    Only years 1678–2261 are taken from Polars (which wraps silently outside the int64 ns
    range); the caller parses the rest (and anything unusual) with `parse_datetime`.
    """
    series = pl.Series(texts, dtype=pl.String)
    safe = (series.str.slice(0, 4).is_between("1678", "2261")
            & (series.str.len_bytes() <= 40) & (series.str.slice(17, 2) != "60"))
    out: pl.Series | None = None
    for fmt in _FORMATS:
        parsed = series.str.to_datetime(fmt, time_unit="ns", time_zone="UTC", strict=False)
        out = parsed if out is None else out.fill_null(parsed)
        if out.null_count() == 0:
            break
    assert out is not None
    values: list[int | None] = pl.select(
        pl.when(safe).then(out.dt.epoch("ns"))).to_series().to_list()
    return values


def nearest_ns(seconds: list[float]) -> list[int | None]:
    """Nearest ns of each duration below 2**50 ns; None where the exact path is needed."""
    product = pl.Series(seconds, dtype=pl.Float64) * 1e9
    exact = product.abs() < _EXACT
    values: list[int | None] = pl.select(
        pl.when(exact).then(product.round().cast(pl.Int64, strict=False))).to_series().to_list()
    return values
