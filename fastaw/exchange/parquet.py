"""Parquet out (one file, or a hive-partitioned folder by bucket and month) and in.

Columns (`fastaw.exchange.columns.PARQUET_SCHEMA`): ``bucket`` (string), ``id`` (int64),
``timestamp`` (timestamp[us, UTC]: what Spark, DuckDB and Polars read natively),
``duration`` (float64 seconds, as in the JSON API), ``data`` (the event's data as canonical
JSON text), and the exact ``timestamp_ns``/``duration_ns`` (int64 ns) that make a Parquet
round trip lossless. Rows are in time order within a bucket.

Bucket metadata travels in the file's key-value metadata ``fastaw.buckets`` (a JSON object
``{id: bucket}``, the API's bucket shape) and, for a partitioned export, also in
``_buckets.json`` at the root (a leading underscore makes Spark and Hadoop skip it).
A partitioned export is ``ROOT/bucket=<id, percent-encoded>/month=YYYY-MM/part-N.parquet``
(month of the event's start, UTC); the partition columns are not repeated inside the files.

Memory: the single file is written by Polars' streaming sink pulling one page of rows at a
time from the store; a partitioned export holds at most `PART_ROWS` rows of one partition.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import msgspec
import polars as pl

from fastaw.errors import BadRequest
from fastaw.exchange.columns import PARQUET_SCHEMA, page_frame, parquet_columns
from fastaw.exchange.items import BucketItem, EventsItem, Item
from fastaw.exchange.selection import Selection, buckets_map_json
from fastaw.exchange.wire import WireBucket, check_event, seconds_ns, to_bucket
from fastaw.models import canonical_data
from fastaw.storage import Env

META_KEY: Final = "fastaw.buckets"
SIDECAR: Final = "_buckets.json"
PART_ROWS: Final = 1_000_000
READ_BATCH: Final = 65_536
_SCHEMA: Final[dict[str, Any]] = {"bucket": pl.String, **PARQUET_SCHEMA}


def _frames(env: Env, selection: Selection) -> Iterator[pl.DataFrame]:
    for info in selection.infos:
        for key_list, value_list in selection.pages(env, info, newest_first=False):
            frame = parquet_columns(page_frame(key_list, value_list))
            yield frame.select(pl.lit(info.bucket.id, pl.String).alias("bucket"), pl.all())


def export_file(env: Env, selection: Selection, out: str | Path) -> int:
    """Write one Parquet file of the selection; returns the number of events written."""
    from polars.io.plugins import register_io_source

    written = [0]

    def source(with_columns: list[str] | None, predicate: Any, n_rows: int | None,
               batch_size: int | None) -> Iterator[pl.DataFrame]:
        for frame in _frames(env, selection):
            written[0] += frame.height
            yield frame

    lazy = register_io_source(source, schema=_SCHEMA)
    metadata = {META_KEY: buckets_map_json(selection.infos).decode()}
    lazy.sink_parquet(str(out), metadata=metadata, compression="zstd", row_group_size=131_072)
    return written[0]


def partition_dir(bucket_id: str) -> str:
    return "bucket=" + urllib.parse.quote(bucket_id, safe="")


class _Partitions:
    """Writes one bucket's frames into month partitions of at most `PART_ROWS` rows."""

    def __init__(self, root: Path, bucket_id: str, metadata: dict[str, str]) -> None:
        self.folder = root / partition_dir(bucket_id)
        self.metadata = metadata
        self.pending: list[pl.DataFrame] = []
        self.month: str | None = None
        self.rows = 0
        self.part = 0

    def add(self, piece: pl.DataFrame, month: str) -> None:
        if month != self.month:
            self.flush()
            self.month, self.part = month, 0
        self.pending.append(piece)
        self.rows += piece.height
        if self.rows >= PART_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.pending or self.month is None:
            return
        folder = self.folder / f"month={self.month}"
        folder.mkdir(parents=True, exist_ok=True)
        frame = pl.concat(self.pending).drop("month")
        frame.write_parquet(folder / f"part-{self.part}.parquet", metadata=self.metadata,
                            compression="zstd")
        self.pending, self.rows, self.part = [], 0, self.part + 1


def export_partitioned(env: Env, selection: Selection, root: str | Path) -> int:
    """Write ``root/bucket=…/month=…/part-N.parquet``; returns the number of events."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / SIDECAR).write_bytes(buckets_map_json(selection.infos))
    written = 0
    for info in selection.infos:
        parts = _Partitions(root, info.bucket.id,
                            {META_KEY: buckets_map_json([info]).decode()})
        for key_list, value_list in selection.pages(env, info, newest_first=False):
            frame = parquet_columns(page_frame(key_list, value_list)).with_columns(
                month=pl.col("timestamp").dt.strftime("%Y-%m"))
            written += frame.height
            for piece in frame.partition_by("month", maintain_order=True):
                parts.add(piece, piece["month"][0])
        parts.flush()
    return written


# -- import ------------------------------------------------------------------------------

def _bucket_meta(text: str | None, where: str) -> dict[str, WireBucket]:
    if not text:
        return {}
    try:
        return msgspec.json.decode(text, type=dict[str, WireBucket])
    except msgspec.DecodeError as exc:
        raise BadRequest(f"Invalid bucket metadata in {where}: {exc}") from None


def _files(path: Path) -> tuple[list[Path], dict[str, WireBucket]]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if not p.name.startswith((".", "_")))
        sidecar = path / SIDECAR
        meta = _bucket_meta(sidecar.read_text("utf-8"), SIDECAR) if sidecar.is_file() else {}
        return files, meta
    return [path], {}


def read_parquet(path: str | Path) -> Iterator[Item]:
    """Validated buckets and event batches of a Parquet file or partitioned folder."""
    root = Path(path)
    files, meta = _files(root)
    announced: set[str] = set()
    for bucket_id, wire in meta.items():  # the sidecar lists empty buckets too
        announced.add(bucket_id)
        yield BucketItem(bucket_id, to_bucket(bucket_id, wire, f"{SIDECAR}: {bucket_id!r}"))
    for file in files:
        where = str(file.relative_to(root)) if root.is_dir() else file.name
        try:
            file_meta = pl.read_parquet_metadata(file)
        except Exception as exc:
            raise BadRequest(f"{where} is not a readable Parquet file: {exc}") from None
        buckets = {**_bucket_meta(file_meta.get(META_KEY), where), **meta}
        for bucket_id, wire in buckets.items():
            if bucket_id not in announced:
                announced.add(bucket_id)
                yield BucketItem(bucket_id, to_bucket(bucket_id, wire, f"{where}: {bucket_id!r}"))
        hive_bucket = _hive_bucket(file, root)
        scan = pl.scan_parquet(file, hive_partitioning=False)
        names = scan.collect_schema().names()
        if "bucket" not in names and hive_bucket is None:
            raise BadRequest(f"{where} has no `bucket` column")
        row = 0
        for batch in scan.collect_batches(chunk_size=READ_BATCH):
            if "bucket" not in batch.columns:
                batch = batch.with_columns(bucket=pl.lit(hive_bucket, pl.String))
            for bucket_id in batch["bucket"].unique(maintain_order=True).to_list():
                if bucket_id not in announced:
                    announced.add(bucket_id)
                    known = buckets.get(bucket_id)
                    bucket = None if known is None else to_bucket(
                        bucket_id, known, f"the metadata of bucket {json.dumps(bucket_id)}")
                    yield BucketItem(bucket_id, bucket)
            yield from _batch_events(batch, where, row)
            row += batch.height


def _hive_bucket(file: Path, root: Path) -> str | None:
    for part in file.relative_to(root).parts if root.is_dir() else ():
        if part.startswith("bucket="):
            return urllib.parse.unquote(part[len("bucket="):])
    return None


def _column(batch: pl.DataFrame, exact: str, plain: str, where: str) -> list[Any]:
    """Exact ns from ``exact`` when present, else from ``plain`` (datetime or seconds)."""
    if exact in batch.columns:
        return batch[exact].cast(pl.Int64).to_list()
    if plain not in batch.columns:
        raise BadRequest(f"{where} has no `{plain}` column")
    column = batch[plain]
    if isinstance(column.dtype, pl.Datetime):
        return column.dt.cast_time_unit("ns").dt.epoch("ns").to_list()
    if isinstance(column.dtype, pl.Duration):
        return column.dt.total_nanoseconds().to_list()
    raise BadRequest(f"{where}: column `{plain}` must be a timestamp or `{exact}` must exist")


def _batch_events(batch: pl.DataFrame, where: str, first_row: int) -> Iterator[EventsItem]:
    if batch.height == 0:
        return
    starts = _column(batch, "timestamp_ns", "timestamp", where)
    if "duration_ns" in batch.columns:
        durations = batch["duration_ns"].cast(pl.Int64).to_list()
    elif "duration" in batch.columns and batch["duration"].dtype.is_numeric():
        seconds = batch["duration"].cast(pl.Float64).to_list()
        durations = [None if x is None else seconds_ns(x) for x in seconds]
    else:
        durations = [0] * batch.height
    if "data" not in batch.columns:
        raise BadRequest(f"{where} has no `data` column")
    decoded = _decode_data(batch["data"].cast(pl.String).to_list(), where, first_row)
    groups: dict[str, EventsItem] = {}
    for i, (bucket_id, start, duration, data) in enumerate(
            zip(batch["bucket"].to_list(), starts, durations, decoded, strict=True)):
        place = f"{where} row {first_row + i}"
        if start is None or duration is None or bucket_id is None:
            raise BadRequest(f"Invalid event at {place}: bucket, timestamp and duration "
                             "must not be null")
        check_event(start, duration, place)
        group = groups.get(bucket_id)
        if group is None:
            group = groups[bucket_id] = EventsItem(bucket_id, [], [], [])
        group.starts.append(start)
        group.durations.append(duration)
        group.datas.append(canonical_data(data))
    yield from groups.values()


def _decode_data(datas: list[str | None], where: str, first_row: int) -> list[dict[str, Any]]:
    """Decode a column of data JSON texts in one msgspec call; 400 naming the first bad row."""
    if all(text is not None for text in datas):
        try:
            decoded = msgspec.json.decode("[" + ",".join(datas) + "]")  # type: ignore[arg-type]
            if isinstance(decoded, list) and len(decoded) == len(datas) and all(
                    isinstance(value, dict) for value in decoded):
                return decoded
        except msgspec.DecodeError:
            pass
    for i, text in enumerate(datas):
        place = f"{where} row {first_row + i}"
        if text is None:
            raise BadRequest(f"Invalid data at {place}: null")
        try:
            value = msgspec.json.decode(text)
        except msgspec.DecodeError as exc:
            raise BadRequest(f"Invalid data at {place}: {exc}") from None
        if not isinstance(value, dict):
            raise BadRequest(f"Invalid data at {place}: expected a JSON object")
    raise BadRequest(f"Invalid data in {where}")  # pragma: no cover - unreachable
