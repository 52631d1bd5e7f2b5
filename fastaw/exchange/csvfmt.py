"""CSV (RFC 4180, UTF-8, header row) for spreadsheets: one row per event.

Columns: ``bucket, id, timestamp, duration, data`` — ``timestamp`` as aw-server-rust writes
it (RFC 3339, UTC, ``Z``), ``duration`` in seconds, ``data`` the event's data as compact JSON
(one column whatever keys the events have, so the export is lossless and needs one pass).
Rows are in time order within each bucket. CSV carries no bucket metadata: importing one
merges into buckets that already exist.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import polars as pl

from fastaw.errors import BadRequest
from fastaw.exchange.columns import page_frame, stamp_texts
from fastaw.exchange.items import BucketItem, Item
from fastaw.exchange.selection import Selection
from fastaw.exchange.wire import columns_of
from fastaw.models import encode_durations
from fastaw.storage import Env

COLUMNS: Final = ("bucket", "id", "timestamp", "duration", "data")
READ_BATCH: Final = 65_536


def export_csv(env: Env, selection: Selection) -> Iterator[bytes]:
    """CSV of a resolved selection, as a stream of byte chunks (header first)."""
    yield (",".join(COLUMNS) + "\r\n").encode()
    for info in selection.infos:
        for key_list, value_list in selection.pages(env, info, newest_first=False):
            frame = page_frame(key_list, value_list)
            out = frame.select(
                bucket=pl.lit(info.bucket.id, pl.String),
                id=pl.col("id"),
                timestamp=stamp_texts(pl.col("start")),
                duration=pl.Series(
                    [text.decode() for text in encode_durations(frame["duration"].to_list())],
                    dtype=pl.String),
                data=pl.col("data"),
            )
            buffer = io.BytesIO()
            out.write_csv(buffer, include_header=False, line_terminator="\r\n")
            yield buffer.getvalue()


def read_csv(path: str | Path) -> Iterator[Item]:
    """Validated event batches of a CSV export (the buckets must exist in the store)."""
    try:
        scan = pl.scan_csv(path, schema_overrides={name: pl.String for name in COLUMNS},
                           infer_schema=False)
        names = scan.collect_schema().names()
    except Exception as exc:
        raise BadRequest(f"Not a readable CSV file: {exc}") from None
    missing = [name for name in ("bucket", "timestamp", "data") if name not in names]
    if missing:
        raise BadRequest(f"The CSV file has no column {', '.join(missing)}")
    announced: set[str] = set()
    row = 2  # line 1 is the header
    for batch in _batches(scan):
        yield from _batch(batch, row, announced)
        row += batch.height


def _batches(scan: pl.LazyFrame) -> Iterator[pl.DataFrame]:
    try:
        yield from scan.collect_batches(chunk_size=READ_BATCH)
    except pl.exceptions.PolarsError as exc:
        raise BadRequest(f"Malformed CSV: {exc}") from None


def _batch(batch: pl.DataFrame, first_row: int, announced: set[str]) -> Iterator[Item]:
    """The batch's events per bucket, validated column-wise; errors name the CSV line."""
    duration = batch["duration"] if "duration" in batch.columns else \
        pl.Series(["0"] * batch.height, dtype=pl.String)
    frame = pl.DataFrame({
        "line": pl.int_range(first_row, first_row + batch.height, eager=True),
        "bucket": batch["bucket"], "timestamp": batch["timestamp"], "data": batch["data"],
        "text": duration.fill_null("0"),
        "seconds": duration.fill_null("0").str.strip_chars().cast(pl.Float64, strict=False),
    })
    bad = frame.filter(pl.any_horizontal(pl.all().is_null()) | (pl.col("bucket") == ""))
    if bad.height:
        line = bad.row(0, named=True)
        reason = (f"duration {line['text']!r} is not a number" if line["seconds"] is None
                  else "bucket, timestamp and data are needed")
        raise BadRequest(f"Invalid event at CSV line {line['line']}: {reason}")
    for (bucket_id,), part in frame.partition_by("bucket", as_dict=True,
                                                 maintain_order=True).items():
        lines = part["line"].to_list()

        def place(i: int, field: str, lines: list[int] = lines) -> str:
            return f"CSV line {lines[i]}" + (f" (`{field}`)" if field else "")

        if bucket_id not in announced:
            announced.add(str(bucket_id))
            yield BucketItem(str(bucket_id), None)
        yield columns_of(part["timestamp"].to_list(), part["seconds"].to_list(),
                         [text.encode() for text in part["data"].to_list()], place, 0,
                         str(bucket_id))
