"""Import: detect the format, validate everything, then apply it all in one transaction.

All or nothing: pass one reads the whole file through its format's reader (which raises a
400 `BadRequest` naming the first bad record) and *stages* the validated events in a
spool file — Arrow IPC frames of rendered rows (`fastaw.exchange.batch`), in memory up to
`SPOOL_MEMORY` and on disk beyond —
so a file of any size is parsed exactly once and never held whole. Pass two is one writer
operation: it creates the missing buckets and inserts the staged events in a single LMDB
transaction, committed durably before the caller is answered; any error aborts it and
nothing is imported. While it runs, other writes wait (a few seconds per million events).
Large files take the one-pass variant in `fastaw.exchange.pipeline`.

Merging: into an existing bucket, events equal (start, duration, data) to one already
stored — or earlier in the same file — are skipped (aw-server-rust's de-duplication), so
importing the same file twice is harmless. Bucket metadata of existing buckets is left as
it is. Incoming event ids are ignored and fresh ids assigned.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from fastaw.errors import BadRequest
from fastaw.exchange.items import BucketItem, Item
from fastaw.exchange.jsonfmt import is_envelope, read_envelope
from fastaw.models import Bucket

if TYPE_CHECKING:  # (the reader process never imports the storage package)
    from fastaw.storage.bulk import BulkInserter
    from fastaw.storage.mutations import Writes

SPOOL_MEMORY: Final = 16 << 20
IMPORT_FORMATS: Final = ("json", "ndjson", "parquet", "csv")
Progress = Callable[[int], None]


@dataclass
class ImportSummary:
    buckets_created: list[str] = field(default_factory=list)
    buckets_merged: list[str] = field(default_factory=list)
    events_imported: int = 0
    events_skipped: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "buckets_created": self.buckets_created,
            "buckets_merged": self.buckets_merged,
            "events_imported": self.events_imported,
            "events_skipped": self.events_skipped,
        }


class Staged:
    """Validated buckets and events, spooled (Arrow IPC per batch), ready for `apply`."""

    def __init__(self, spool_dir: str | Path | None = None) -> None:
        self.buckets: dict[str, Bucket | None] = {}
        self.order: list[str] = []
        self.positions: dict[str, int] = {}
        self.events = 0
        self._index: list[tuple[int, int, int, int]] = []  # bucket, min start, offset, size
        self._size = 0
        self._spool: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (closed by close)
            max_size=SPOOL_MEMORY, dir=None if spool_dir is None else str(spool_dir))

    def add(self, item: Item) -> None:
        if item.bucket_id not in self.positions:
            self.positions[item.bucket_id] = len(self.order)
            self.order.append(item.bucket_id)
            self.buckets[item.bucket_id] = None
        if isinstance(item, BucketItem):
            if item.bucket is not None and self.buckets[item.bucket_id] is None:
                self.buckets[item.bucket_id] = item.bucket
            return
        frame = item.frame
        if not frame.height:
            return
        from fastaw.exchange.batch import to_ipc

        index = self.positions[item.bucket_id]
        blob = to_ipc(frame)
        self._index.append((index, frame["start"][0], self._size, len(blob)))
        self._spool.write(blob)
        self._size += len(blob)
        self.events += frame.height

    def frames(self) -> Iterator[tuple[int, Any]]:
        """The staged batches — (bucket index, frame) — per bucket in ascending time
        (exports list events newest first; ascending inserts pack pages)."""
        from fastaw.exchange.batch import from_ipc

        for index, _, offset, size in sorted(self._index):
            self._spool.seek(offset)
            yield index, from_ipc(self._spool.read(size))

    def close(self) -> None:
        self._spool.close()

    def apply(self, writes: Writes, progress: Progress | None = None) -> ImportSummary:
        """The writer operation: create or merge every bucket, insert every event."""
        from fastaw.storage.bulk import BulkInserter, create_or_get

        summary = ImportSummary()
        nums: list[int] = []
        for bucket_id in self.order:
            bucket = self.buckets[bucket_id]
            existing = writes.bucket(bucket_id)
            if existing is not None:
                nums.append(existing.num)
                summary.buckets_merged.append(bucket_id)
            elif bucket is None:
                raise BadRequest(
                    f"Bucket {bucket_id!r} does not exist and the file has no metadata for it "
                    "(type, client, hostname); create it first or import a format that "
                    "carries bucket metadata")
            else:
                nums.append(create_or_get(writes, bucket)[0])
                summary.buckets_created.append(bucket_id)
        inserters: dict[int, BulkInserter] = {}
        from fastaw.exchange.batch import FrameBatch

        for index, frame in self.frames():
            inserter = inserters.get(index)
            if inserter is None:
                inserter = inserters[index] = BulkInserter(writes, nums[index])
            counts = inserter.add_rendered(FrameBatch(frame))
            summary.events_imported += counts.inserted
            summary.events_skipped += counts.skipped
            if progress is not None:
                progress(counts.inserted + counts.skipped)
        return summary


def stage(items: Iterable[Item], spool_dir: str | Path | None = None) -> Staged:
    """Pass one: consume a reader completely (raising on the first bad record)."""
    staged = Staged(spool_dir)
    try:
        for item in items:
            staged.add(item)
    except RecursionError:  # msgspec's answer to very deep nesting, in any reader
        staged.close()
        raise BadRequest("Malformed import file: JSON nested too deeply") from None
    except BaseException:
        staged.close()
        raise
    return staged


# -- formats -------------------------------------------------------------------------------

def detect_format(path: str | Path, hint: str | None = None) -> str:
    """``json``, ``ndjson``, ``parquet`` or ``csv`` of a file or folder, by content first.

    ``hint`` (a file name or a Content-Type) decides only what the content cannot.
    """
    path = Path(path)
    if path.is_dir():
        return "parquet"
    with open(path, "rb") as stream:
        head = stream.read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"SQLite format 3\x00"):
        raise BadRequest("This is an SQLite database, not an export: use `fastaw migrate`")
    if is_envelope(head):
        return "json"
    text = head.lstrip()
    hint_text = (hint or path.name).lower()
    if text.startswith(b"{"):
        return "ndjson"
    if "csv" in hint_text or head.startswith(b"bucket,"):
        return "csv"
    if not text:
        raise BadRequest("The import file is empty")
    raise BadRequest("Unrecognized import format: expected an ActivityWatch JSON export, "
                     "NDJSON, Parquet or CSV")


def read_file(path: str | Path, fmt: str | None = None, *, ascending: bool = False
              ) -> Iterator[Item]:
    """The validated items of an import file (any supported format); ``ascending``: an
    ActivityWatch JSON export's batches of each bucket oldest first (it lists events
    newest first; the other formats come oldest first anyway)."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt == "json":
        yield from _read_json_file(path, ascending)
    elif fmt == "ndjson":
        from fastaw.exchange.ndjson import read_lines

        with open(path, "rb") as stream:
            yield from read_lines(stream)
    elif fmt == "parquet":
        from fastaw.exchange.parquet import read_parquet

        yield from read_parquet(path)
    elif fmt == "csv":
        from fastaw.exchange.csvfmt import read_csv

        yield from read_csv(path)
    else:
        raise BadRequest(f"Unknown import format {fmt!r} (one of {', '.join(IMPORT_FORMATS)})")


def _read_json_file(path: Path, ascending: bool) -> Iterator[Item]:
    with open(path, "rb") as stream:
        if os.fstat(stream.fileno()).st_size == 0:
            raise BadRequest("The import file is empty")
        mapped = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        yield from read_envelope(mapped, ascending=ascending)
    finally:
        with contextlib.suppress(BufferError):  # a slice still referenced: the GC unmaps it
            mapped.close()


def stage_file(path: str | Path, fmt: str | None = None,
               spool_dir: str | Path | None = None) -> Staged:
    return stage(read_file(path, fmt), spool_dir)
