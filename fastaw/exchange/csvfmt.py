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

import msgspec
import polars as pl

from fastaw.errors import BadRequest
from fastaw.exchange.columns import page_frame
from fastaw.exchange.items import BucketItem, EventsItem, Item
from fastaw.exchange.selection import Selection
from fastaw.exchange.wire import check_event, fast_timestamp, seconds_ns
from fastaw.models import canonical_data
from fastaw.storage import Env
from fastaw.storage.bulk import encode_durations
from fastaw.timefmt import format_ns

COLUMNS: Final = ("bucket", "id", "timestamp", "duration", "data")
READ_BATCH: Final = 65_536


def export_csv(env: Env, selection: Selection) -> Iterator[bytes]:
    """CSV of a resolved selection, as a stream of byte chunks (header first)."""
    yield (",".join(COLUMNS) + "\r\n").encode()
    for info in selection.infos:
        for key_list, value_list in selection.pages(env, info, newest_first=False):
            frame = page_frame(key_list, value_list)
            starts = frame["start"].to_list()
            out = frame.select(
                bucket=pl.lit(info.bucket.id, pl.String),
                id=pl.col("id"),
                timestamp=pl.Series([format_ns(start) for start in starts], dtype=pl.String),
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
        for group, new in _batch(batch, row, announced):
            if new:
                yield BucketItem(group.bucket_id, None)
            yield group
        row += batch.height


def _batches(scan: pl.LazyFrame) -> Iterator[pl.DataFrame]:
    try:
        yield from scan.collect_batches(chunk_size=READ_BATCH)
    except pl.exceptions.PolarsError as exc:
        raise BadRequest(f"Malformed CSV: {exc}") from None


def _batch(batch: pl.DataFrame, first_row: int, announced: set[str]
           ) -> Iterator[tuple[EventsItem, bool]]:
    groups: dict[str, EventsItem] = {}
    durations = batch["duration"].to_list() if "duration" in batch.columns else \
        ["0"] * batch.height
    for i, (bucket_id, stamp, seconds, data) in enumerate(zip(
            batch["bucket"].to_list(), batch["timestamp"].to_list(), durations,
            batch["data"].to_list(), strict=True)):
        where = f"CSV line {first_row + i}"
        if not bucket_id or stamp is None or data is None:
            raise BadRequest(f"Invalid event at {where}: bucket, timestamp and data are needed")
        try:
            start = fast_timestamp(stamp)
            duration = seconds_ns(float(seconds or 0))
            parsed = msgspec.json.decode(data)
        except (ValueError, msgspec.DecodeError) as exc:
            raise BadRequest(f"Invalid event at {where}: {exc}") from None
        if not isinstance(parsed, dict):
            raise BadRequest(f"Invalid data at {where}: expected a JSON object")
        check_event(start, duration, where)
        group = groups.get(bucket_id)
        if group is None:
            group = groups[bucket_id] = EventsItem(bucket_id, [], [], [])
        group.starts.append(start)
        group.durations.append(duration)
        group.datas.append(canonical_data(parsed))
    for bucket_id, group in groups.items():
        new = bucket_id not in announced
        announced.add(bucket_id)
        yield group, new
