"""The events DataFrame: the one representation of an event list inside queries.

Contract (shared by `fastaw.query`, `fastaw.pool` and the storage-side readers):

==========  =======  ==========================================================
column      dtype    meaning
==========  =======  ==========================================================
id          Int64    event id; null for events a transform created
timestamp   Int64    start, integer ns since the epoch (UTC)
duration    Int64    integer ns (may be negative: stored as given)
data        UInt32   canonical JSON object: compact, keys sorted, ints and floats
                     kept apart (``1`` vs ``1.0``), as `fastaw.models.canonical_data`
                     produces it; equal data <=> equal text (except 0.0 vs -0.0)
==========  =======  ==========================================================

``data`` is dictionary-encoded: codes of the current data dictionary
(`fastaw.transforms.dictionary`; `texts_of` gives the texts back), so that de-duplicating,
grouping, comparing and joining events by data are integer operations. All frames of one
query share one dictionary; codes mean nothing outside it.

Transforms may add private helper columns while they work but always return exactly
these four columns in this order — plus, inside queries, an *overlay* column from the
transforms that know one (`fastaw.transforms.overlay`). Frames are immutable values: a
transform never changes its input.

Also here: the encoding of a frame that leaves the query engine, the query response JSON
(`to_json_bytes`, aw-server-rust's exact bytes). Column chunks are `fastaw.columnar`'s.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Final, TypeAlias

import polars as pl

from fastaw.timefmt import NS_PER_DAY, NS_PER_SECOND, _date_prefix
from fastaw.transforms.dictionary import code_of, codes_of, data_dtype, texts_of

Events: TypeAlias = pl.DataFrame

#: The dtypes of the columns as they are stored (chunks): ``data`` as plain text.
STORED_SCHEMA: Final[dict[str, pl.DataType]] = {
    "id": pl.Int64(),
    "timestamp": pl.Int64(),
    "duration": pl.Int64(),
    "data": pl.String(),
}
COLUMNS: Final = tuple(STORED_SCHEMA)
#: The engine transforms collect lazy frames with. Polars' default (streaming) hands back a
#: frame in one piece per batch of rows, and the next transforms pay for the pieces (a
#: year's AFK intersection over flood's 30-piece output: +25 MiB, +25 ms).
IN_MEMORY: Final = "in-memory"


def nulls(n: int, dtype: pl.DataType | type[pl.DataType]) -> pl.Series:
    """A column of ``n`` nulls (building it from a Python list costs a scan of the list)."""
    return pl.repeat(None, n, dtype=dtype, eager=True)


def schema() -> dict[str, pl.DataType]:
    """The frame contract's dtypes (``data`` in the current dictionary)."""
    return {**STORED_SCHEMA, "data": data_dtype()}


def empty() -> Events:
    """An event list with no events."""
    return pl.DataFrame(schema=schema())


def data_literal(text: str) -> pl.Expr:
    """A ``data`` column expression holding one canonical text for every row."""
    return pl.lit(code_of(text), dtype=data_dtype())


def from_columns(
    ids: Sequence[int | None],
    timestamps: Sequence[int],
    durations: Sequence[int],
    datas: Sequence[str],
) -> Events:
    """Build an events frame from parallel column sequences (no copies of the data text)."""
    frame = pl.DataFrame(
        {"id": ids, "timestamp": timestamps, "duration": durations, "data": datas},
        schema=STORED_SCHEMA,
    )
    return frame.with_columns(data=codes_of(frame["data"]))


def conform(frame: pl.DataFrame) -> Events:
    """Exactly the four contract columns, in order, with the contract dtypes (text data is
    interned into the current dictionary)."""
    return _with_schema(frame, schema())


def stored(frame: pl.DataFrame) -> pl.DataFrame:
    """The four columns with plain-text ``data`` (how chunks are kept)."""
    return _with_schema(frame, STORED_SCHEMA)


def _with_schema(frame: pl.DataFrame, wanted: dict[str, pl.DataType]) -> pl.DataFrame:
    """The four columns with ``wanted``'s dtypes: ``data`` turns from text to codes of the
    current dictionary or back."""
    if frame.columns == list(COLUMNS) and frame.schema == wanted:
        return frame
    data = frame["data"]
    if data.dtype != wanted["data"]:
        data = codes_of(data) if wanted["data"] == data_dtype() else texts_of(data)
    return frame.select(*(pl.col(name).cast(wanted[name]) for name in COLUMNS[:3]),
                        pl.lit(data).alias("data"))


# --- query response JSON -------------------------------------------------------------------


@cache
def _times_of_day() -> pl.Series:
    """``HH:MM:SS`` of every second of a day (made by Polars on first use)."""
    second = pl.int_range(86_400, eager=True)

    def two(values: pl.Series) -> pl.Expr:
        return pl.lit(values).cast(pl.String).str.zfill(2)

    return pl.select(pl.concat_str(two(second // 3600), two(second // 60 % 60),
                                   two(second % 60), separator=":")).to_series()


_MAX_DAY_TABLE: Final = 4_000  # ≈ 11 years as one table; wider spans map distinct days


def _datetime_column(ts: pl.Series) -> pl.Series:
    """``YYYY-MM-DDThh:mm:ss`` per ns value, via lookup tables (days, seconds of the day)."""
    days = ts // NS_PER_DAY
    lo, hi = days.min(), days.max()
    assert isinstance(lo, int) and isinstance(hi, int)
    if hi - lo < _MAX_DAY_TABLE:
        prefixes = pl.Series([_date_prefix(d) for d in range(lo, hi + 1)], dtype=pl.String)
        date = prefixes.gather(days - lo)
    else:
        distinct = days.unique()
        date = days.replace_strict(
            distinct, pl.Series([_date_prefix(d) for d in distinct.to_list()], dtype=pl.String)
        )
    tod = _times_of_day().gather((ts // NS_PER_SECOND) % 86_400)
    return pl.select(pl.concat_str(pl.lit(date), pl.lit(tod))).to_series()


def timestamp_expr(ts: str, datetime: str) -> pl.Expr:
    """RFC 3339 text of ns column ``ts`` given its ``datetime`` column: chrono AutoSi + ``Z``.

    The fraction is omitted when zero, else 3, 6 or 9 digits (the fewest that are exact).
    """
    frac = pl.col(ts) % NS_PER_SECOND
    digits = (
        pl.when(frac == 0)
        .then(0)
        .when(frac % 1_000_000 == 0)
        .then(4)
        .when(frac % 1_000 == 0)
        .then(7)
        .otherwise(10)
    )
    fraction = pl.concat_str(pl.lit("."), (frac + NS_PER_SECOND).cast(pl.String).str.slice(1))
    return pl.concat_str(pl.col(datetime), fraction.str.head(digits), pl.lit("Z"))


def seconds_expr(duration: str, giga: str) -> pl.Expr:
    """Seconds text as serde_json/ryu (and msgspec) print ``ns as f64 / 1e9``.

    ``giga`` must name a *materialized* column of ``1e9``: Polars divides by a scalar as a
    multiplication by its reciprocal, which is off by one ulp for ~40 % of values
    (``3 ns`` → ``3.0000000000000004e-9``); column-by-column division is IEEE-exact.
    Polars prints floats with ryu's shortest round-trip digits; only the exponent sign
    differs from serde_json (``1e+16`` vs ``1e16``).
    """
    seconds = pl.col(duration).cast(pl.Float64) / pl.col(giga)
    return seconds.cast(pl.String).str.replace("e+", "e", literal=True)


def giga_column(n: int) -> pl.Series:
    """A materialized column of ``1e9`` (see `seconds_expr`)."""
    return pl.repeat(1e9, n, dtype=pl.Float64, eager=True).rename("_giga")


def timestamp_strings(ts: pl.Series) -> pl.Series:
    """RFC 3339 UTC text (``…Z``, 0/3/6/9 fraction digits) of every ns value."""
    if ts.len() == 0:
        return pl.Series(ts.name, [], dtype=pl.String)
    frame = pl.DataFrame({"ts": ts, "dt": _datetime_column(ts)})
    return frame.select(timestamp_expr("ts", "dt")).to_series().rename(ts.name)


def json_fragments(frame: Events) -> pl.Series:
    """One compact, key-sorted JSON object per event (aw-server-rust's query output)."""
    if frame.height == 0:
        return pl.Series("event", [], dtype=pl.String)
    ids = pl.col("id").cast(pl.String).fill_null("null")
    if frame["data"].dtype != pl.String:
        frame = frame.with_columns(data=texts_of(frame["data"]))
    return (
        frame.with_columns(
            _dt=_datetime_column(frame["timestamp"]), _giga=giga_column(frame.height)
        )
        .lazy()
        .select(
            pl.concat_str(
                pl.lit('{"data":'),
                pl.col("data"),
                pl.lit(',"duration":'),
                seconds_expr("duration", "_giga"),
                pl.lit(',"id":'),
                ids,
                pl.lit(',"timestamp":"'),
                timestamp_expr("timestamp", "_dt"),
                pl.lit('"}'),
            ).alias("event")
        )
        .collect()
        .to_series()
    )


def _joined(fragments: pl.Series) -> bytes:
    """``frag1,frag2,…,fragN`` without materializing Python strings (via the CSV writer)."""
    buffer = io.BytesIO()
    fragments.to_frame().write_csv(
        buffer, include_header=False, quote_style="never", line_terminator=","
    )
    return buffer.getvalue()[:-1]


def to_json_bytes(frame: Events) -> bytes:
    """The event list as a JSON array, exactly as aw-server-rust's query endpoint writes it.

    >>> to_json_bytes(from_columns([1], [1_500_000_000], [500_000_000], ['{"a":1}']))
    b'[{"data":{"a":1},"duration":0.5,"id":1,"timestamp":"1970-01-01T00:00:01.500Z"}]'
    """
    if frame.height == 0:
        return b"[]"
    return b"[" + _joined(json_fragments(frame)) + b"]"


def to_json_bytes_many(frames: Sequence[Events]) -> list[bytes]:
    """`to_json_bytes` of each frame, written in one pass over all of them (a query
    answering a dozen small lists pays the per-pass cost of Polars once, not per list).
    Meant for small frames: their JSON is split into Python strings."""
    sizes = [f.height for f in frames]
    if sum(sizes) == 0:
        return [b"[]" for _ in frames]
    every = pl.concat([f.select(COLUMNS) for f in frames if f.height])
    fragments = json_fragments(every).to_list()
    out: list[bytes] = []
    start = 0
    for size in sizes:
        out.append(("[" + ",".join(fragments[start:start + size]) + "]").encode())
        start += size
    return out


def iter_json_bytes(frame: Events, rows: int = 65_536) -> Iterator[bytes]:
    """`to_json_bytes` in pieces of at most ``rows`` events, for streamed responses."""
    if frame.height == 0:
        yield b"[]"
        return
    for offset in range(0, frame.height, rows):
        head = b"[" if offset == 0 else b","
        tail = b"]" if offset + rows >= frame.height else b""
        yield head + _joined(json_fragments(frame.slice(offset, rows))) + tail


# --- buffers ---------------------------------------------------------------------------------


def owned_column(frame: pl.DataFrame, name: str) -> pl.Expr:
    """Column ``name`` in buffers of its own. Arithmetic writes new values but may pass a
    validity bitmap through as is, so a column with nulls goes through a wider type."""
    if frame[name].null_count():
        return pl.col(name).cast(pl.Int128).cast(pl.Int64)
    return pl.col(name) + 0
