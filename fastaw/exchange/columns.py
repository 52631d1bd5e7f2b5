"""Pages of stored rows → Polars columns, vectorized (the columnar export path).

A stored row is ``key = bucket u32 | start (sign-flipped u64) | ~id u64`` and
``value = duration i64 | rendered event JSON``, all big-endian (`fastaw.storage.keys`).
Ids and starts come from the key bytes, the duration from the value header and the data
JSON is sliced out of the rendered event after its ``,"data":`` marker — by Polars, on
whole pages, with no Python work per event beyond collecting the byte strings (the same
decoding as `fastaw.columnar.rows_to_frame`, with byte slicing for the data).
"""

from __future__ import annotations

from typing import Final

import polars as pl

_DATA_MARKER: Final = ',"data":'
_SIGN_BIT: Final = -(2**63)

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
    """id, start (ns), duration (ns) and data (canonical JSON text) of a page of rows.

    The data is cut out of the value's bytes after the ``,"data":`` marker (found in the
    text; everything before it is ASCII, so its character offset is its byte offset) up
    to the closing brace: byte slicing, no walk over the characters.
    """
    from fastaw.storage import keys  # (here: the import reader never needs storage)

    header, max_u64 = keys.VALUE_HEADER_SIZE, keys.MAX_U64
    raw = pl.DataFrame({"k": pl.Series(key_list, dtype=pl.Binary),
                        "v": pl.Series(value_list, dtype=pl.Binary)})
    value = pl.col("v")
    at = (value.bin.slice(header).cast(pl.String).str.find(_DATA_MARKER, literal=True)
          .cast(pl.Int64) + (header + len(_DATA_MARKER)))
    return raw.with_columns(at=at).select(
        id=(pl.lit(max_u64, pl.UInt64) - pl.col("k").bin.slice(12, 8).bin.reinterpret(
            dtype=pl.UInt64, endianness="big")).cast(pl.Int64),
        start=pl.col("k").bin.slice(4, 8).bin.reinterpret(dtype=pl.Int64, endianness="big")
        .xor(pl.lit(_SIGN_BIT, pl.Int64)),
        duration=value.bin.slice(0, header).bin.reinterpret(dtype=pl.Int64, endianness="big"),
        data=value.bin.slice(pl.col("at"), value.bin.size().cast(pl.Int64) - pl.col("at") - 1)
        .cast(pl.String),
    )


def parquet_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """The export columns of a `page_frame` (see `PARQUET_SCHEMA`)."""
    # ns / 1e9 by a column of 1e9: Polars turns a division by a scalar into a product
    # with its reciprocal, which is off by an ulp for many durations (the JSON API's
    # seconds are the exact quotient)
    ns_per_second = pl.repeat(1e9, frame.height, dtype=pl.Float64, eager=True)
    return frame.select(
        id=pl.col("id"),
        timestamp=pl.col("start").floordiv(1000).cast(pl.Datetime("us", "UTC")),
        duration=pl.col("duration").cast(pl.Float64) / ns_per_second,
        data=pl.col("data"),
        timestamp_ns=pl.col("start"),
        duration_ns=pl.col("duration"),
    )


# -- whole columns of timestamps and durations (import fast paths) ---------------------------

_EXACT: Final = float(2**50)
#: `fastaw.timefmt.format_ns` in strftime terms: chrono's ``%.f`` writes 0, 3, 6 or 9
#: fraction digits exactly as format_ns does (tested against it over the int64 range).
STAMP_FORMAT: Final = "%Y-%m-%dT%H:%M:%S%.fZ"
_FORMATS: Final = ("%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%:z")


def stamp_texts(starts: pl.Expr) -> pl.Expr:
    """`fastaw.timefmt.format_ns` of int64 ns starts."""
    return starts.cast(pl.Datetime("ns")).dt.strftime(STAMP_FORMAT)


def duration_texts(durations: pl.Series) -> pl.Series:
    """`fastaw.models.encode_duration` of int64 ns durations (String).

    ns / 1e9 by a column of 1e9 (see `parquet_columns`), formatted by Polars: the shortest
    round-trip digits, written as msgspec writes them for every int64 ns (|s| < 1e10; only
    exponents ≥ 16 differ, ``1e+16``). A Polars that formats otherwise (checked once, on
    `_PROBE`) gets the msgspec path.
    """
    if not _polars_formats_floats():
        from fastaw.models import encode_durations

        return pl.Series(encode_durations(durations.to_list()), dtype=pl.Binary).cast(pl.String)
    ns_per_second = pl.repeat(1e9, len(durations), dtype=pl.Float64, eager=True)
    return (durations.cast(pl.Float64) / ns_per_second).cast(pl.String)


#: Durations whose texts exercise every shape: zero, fixed and exponent notation (both
#: signs), the switch between them, the most digits, the int64 extremes.
_PROBE: Final = sorted({sign * (base * 10**power + offset)
                        for sign in (1, -1) for base in (1, 3, 123457) for power in range(19)
                        for offset in (-1, 0, 1) if base * 10**power < 2**63 - 1}
                       | {2**53 + 1, 2**63 - 1, -(2**63), 1_672_531_200_123_456_789})
_float_check: list[bool] = []


def _polars_formats_floats() -> bool:
    if not _float_check:
        from fastaw.models import encode_durations

        probe = pl.Series(_PROBE, dtype=pl.Int64)
        ns_per_second = pl.repeat(1e9, len(probe), dtype=pl.Float64, eager=True)
        texts = (probe.cast(pl.Float64) / ns_per_second).cast(pl.String).to_list()
        _float_check.append(texts == [text.decode() for text in encode_durations(_PROBE)])
    return _float_check[0]


def format_starts(starts: list[int]) -> list[bytes]:
    """`fastaw.timefmt.format_ns` of every start, as bytes."""
    text = pl.DataFrame({"s": pl.Series(starts, dtype=pl.Int64)}).select(
        stamp_texts(pl.col("s"))).to_series()
    return text.cast(pl.Binary).to_list()


def parse_timestamps(texts: pl.Series | list[str]) -> pl.Series:
    """ns of each RFC 3339 text in the shapes exports use; null where another parser is
    needed (see `parse_stamps`)."""
    return parse_stamps(pl.Series(texts, dtype=pl.String))[0]


_STORED: Final = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9]"
                  r"(?:\.[0-9]{3}|\.[0-9]{6}|\.[0-9]{9})?Z$")


def parse_stamps(series: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(ns, stamp) of each text: ns null where another parser is needed; stamp the text
    itself where it is exactly `format_ns` of its value, else null.

    First pass: texts that are exactly `format_ns` of what they parse to (fastaw's and
    aw-server-rust's exports) — proven by formatting the value back, so nothing is taken
    that `parse_datetime` would read differently. Formatting is skipped where the text
    has the shape `_STORED` (digits, not a leap second, 0, 3, 6 or 9 fraction digits, as
    few as the value needs), the date and time are valid (chrono parses them) and the year
    is 1678–2261 (no overflow): such a text is what formatting gives. The rest: the other
    usual shapes, years 1678–2261 only (Polars wraps silently outside the int64 ns range);
    the caller parses whatever is left (and anything unusual) with `parse_datetime`.
    """
    guess = _guess(series)
    same = (series.str.contains(_STORED) & ~series.str.ends_with("000Z")
            & series.str.slice(0, 4).is_between(pl.lit("1678"), pl.lit("2261"))
            & guess.is_not_null())
    if not same.all():
        where = (~same).arg_true()
        same = same.scatter(where, guess.gather(where).cast(pl.Datetime("ns"))
                            .dt.strftime(STAMP_FORMAT) == series.gather(where))
    exact = pl.select(pl.when(same).then(guess)).to_series()
    stamps = pl.select(pl.when(same).then(series)).to_series()
    missing = exact.is_null().arg_true()
    if not len(missing):
        return exact, stamps
    rest = series.gather(missing)
    safe = (rest.str.slice(0, 4).is_between(pl.lit("1678"), pl.lit("2261"))
            & (rest.str.len_bytes() <= 40) & (rest.str.slice(17, 2) != "60"))
    out: pl.Series | None = None
    for fmt in _FORMATS:
        found = rest.str.to_datetime(fmt, time_unit="ns", time_zone="UTC", strict=False,
                                     cache=False)
        out = found if out is None else out.fill_null(found)
        if out.null_count() == 0:
            break
    assert out is not None
    values = pl.select(pl.when(safe).then(out.dt.epoch("ns"))).to_series()
    return exact.scatter(missing, values), stamps


#: Polars parses these fixed-width shapes in a fast path of its own (5× chrono's "%.f"),
#: by the length of the text; it is lenient (a sign, a leap second, years wrapping
#: outside the ns range), which is why `parse_stamps` proves the shape apart.
_FIXED: Final = {20: "%Y-%m-%dT%H:%M:%SZ", 24: "%Y-%m-%dT%H:%M:%S.%3fZ",
                 27: "%Y-%m-%dT%H:%M:%S.%6fZ", 30: "%Y-%m-%dT%H:%M:%S.%9fZ"}


def _guess(series: pl.Series) -> pl.Series:
    """The ns a text of the stored shape stands for (anything where it has another shape).

    The texts of the most common length are parsed with its fixed-width format (a batch
    mostly has one: fraction digits vary only where the value ends in zeros); the others,
    and those the format does not fit, as whole seconds plus the fraction's digits.
    """
    common = series.str.len_bytes().mode().min() if len(series) else None
    fixed = _FIXED.get(common) if isinstance(common, int) else None
    if fixed is None:
        return _sliced_guess(series)
    guess = series.str.to_datetime(fixed, time_unit="ns", strict=False, cache=False
                                   ).dt.epoch("ns")
    if guess.null_count():
        where = guess.is_null().arg_true()
        guess = guess.scatter(where, _sliced_guess(series.gather(where)))
    return guess


def _sliced_guess(series: pl.Series) -> pl.Series:
    # cheaper than chrono's "%.f": whole seconds, then the fraction's digits
    seconds = series.str.slice(0, 19).str.to_datetime(
        "%Y-%m-%dT%H:%M:%S", time_unit="ns", strict=False, cache=False).dt.epoch("ns")
    fraction = (series.str.slice(20, 9).str.strip_suffix("Z").str.pad_end(9, "0")
                .cast(pl.Int64, strict=False))
    return seconds + fraction


def nearest_ns(seconds: pl.Series | list[float]) -> pl.Series:
    """Nearest ns of each duration below 2**50 ns; null where the exact path is needed."""
    product = pl.Series(seconds, dtype=pl.Float64) * 1e9
    exact = product.abs() < _EXACT
    return pl.select(pl.when(exact).then(product.round().cast(pl.Int64, strict=False))
                     ).to_series()
