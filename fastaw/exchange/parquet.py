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

import contextlib
import json
import queue
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import msgspec
import polars as pl

from fastaw.errors import BadRequest
from fastaw.exchange.batch import canonical_series, finish
from fastaw.exchange.columns import PARQUET_SCHEMA, nearest_ns, page_frame, parquet_columns
from fastaw.exchange.items import BucketItem, EventsItem, Item
from fastaw.exchange.selection import Selection, buckets_map_json
from fastaw.exchange.wire import WireBucket, check_range, to_bucket
from fastaw.storage import Env
from fastaw.timefmt import seconds_to_ns

META_KEY: Final = "fastaw.buckets"
SIDECAR: Final = "_buckets.json"
PART_ROWS: Final = 1_000_000
READ_BATCH: Final = 65_536
_SCHEMA: Final[dict[str, Any]] = {"bucket": pl.String, **PARQUET_SCHEMA}


def _prefetched(env: Env, selection: Selection
                ) -> Iterator[tuple[str, list[bytes], list[bytes]]]:
    """(bucket id, keys, values) pages, read one page ahead on a thread: reading rows holds
    the GIL, Polars' decoding and Parquet encoding of the previous page do not."""
    pages: queue.Queue[Any] = queue.Queue(maxsize=2)
    done = object()
    stop = threading.Event()

    def read() -> None:
        try:
            for info in selection.infos:
                for key_list, value_list in selection.pages(env, info, newest_first=False):
                    if stop.is_set():
                        return
                    pages.put((info.bucket.id, key_list, value_list))
            pages.put(done)
        except BaseException as exc:  # handed to the consumer
            pages.put(exc)

    thread = threading.Thread(target=read, name="fastaw-export-pages", daemon=True)
    thread.start()
    try:
        while True:
            item = pages.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a reader waiting on a full queue
            with contextlib.suppress(queue.Empty):
                pages.get_nowait()
            thread.join(0.01)


def _frames(env: Env, selection: Selection) -> Iterator[pl.DataFrame]:
    for bucket_id, key_list, value_list in _prefetched(env, selection):
        frame = parquet_columns(page_frame(key_list, value_list))
        yield frame.select(pl.lit(bucket_id, pl.String).alias("bucket"), pl.all())


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
    lazy.sink_parquet(str(out), metadata=metadata, compression="zstd", compression_level=1,
                      row_group_size=131_072)
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
                            compression="zstd", compression_level=1)
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
        where = str(file.relative_to(root)) if root.is_dir() else "the Parquet file"
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


def _column(batch: pl.DataFrame, exact: str, plain: str, where: str) -> pl.Series:
    """Exact ns from ``exact`` when present, else from ``plain`` (datetime or duration)."""
    if exact in batch.columns:
        return batch[exact].cast(pl.Int64)
    if plain not in batch.columns:
        raise BadRequest(f"{where} has no `{plain}` column")
    column = batch[plain]
    if isinstance(column.dtype, pl.Datetime):
        return column.dt.cast_time_unit("ns").dt.epoch("ns")
    if isinstance(column.dtype, pl.Duration):
        return column.dt.total_nanoseconds()
    raise BadRequest(f"{where}: column `{plain}` must be a timestamp or `{exact}` must exist")


def _durations(batch: pl.DataFrame, where: str) -> pl.Series:
    if "duration_ns" in batch.columns:
        return batch["duration_ns"].cast(pl.Int64)
    if "duration" not in batch.columns:
        return pl.Series([0] * batch.height, dtype=pl.Int64)
    column = batch["duration"]
    if isinstance(column.dtype, pl.Duration):
        return column.dt.total_nanoseconds()
    if not column.dtype.is_numeric():
        raise BadRequest(f"{where}: column `duration` must be numeric (seconds)")
    seconds = column.cast(pl.Float64)
    durations = nearest_ns(seconds)
    exact = (durations.is_null() & seconds.is_not_null()).arg_true()
    if len(exact):  # huge or not finite: the exact scalar conversion (or its error)
        durations = durations.scatter(exact, [seconds_to_ns(x) for x in
                                              seconds.gather(exact).to_list()])
    return durations


def _batch_events(batch: pl.DataFrame, where: str, first_row: int) -> Iterator[EventsItem]:
    """The batch's events per bucket, validated column-wise; errors name the row."""
    if batch.height == 0:
        return
    if "data" not in batch.columns:
        raise BadRequest(f"{where} has no `data` column")
    frame = pl.DataFrame({
        "row": pl.int_range(first_row, first_row + batch.height, eager=True),
        "bucket": batch["bucket"].cast(pl.String),
        "start": _column(batch, "timestamp_ns", "timestamp", where),
        "duration": _durations(batch, where),
        "data": batch["data"].cast(pl.String),
    })
    nulls = frame.filter(pl.any_horizontal(pl.all().is_null()))
    if nulls.height:
        raise BadRequest(f"Invalid event at {where} row {nulls['row'][0]}: bucket, timestamp, "
                         "duration and data must not be null")
    for (bucket_id,), part in frame.partition_by("bucket", as_dict=True,
                                                 maintain_order=True).items():
        rows: list[int] = []

        def place(i: int, field: str, part: pl.DataFrame = part, rows: list[int] = rows
                  ) -> str:
            if not rows:
                rows.extend(part["row"].to_list())
            return f"{where} row {rows[i]}" + (f" (`{field}`)" if field else "")

        texts = part["data"]
        data = canonical_series(texts, lambda texts=texts: [  # type: ignore[misc]
            text.encode() for text in texts.to_list()], place, 0)
        check_range(part["start"], part["duration"], place, 0)
        yield EventsItem(str(bucket_id), finish(pl.DataFrame(
            {"start": part["start"], "duration": part["duration"], "data": data})))
