"""Export and import in ActivityWatch's JSON format.

Export streams: the envelope ``{"buckets": {id: {...bucket..., "events": [...]}}}`` is written
piece by piece from pages of stored rows (each page its own short read transaction), so
memory stays flat however large the history; event JSON is spliced from the stored bytes.

Import is all or nothing: the whole file is validated first (the first bad record is named
in a 400), then applied in one write transaction. Into an existing bucket it merges,
skipping events equal (timestamp, duration, data) to one already there or earlier in the
file; incoming event ids are ignored (fresh ids are assigned), so an import can never
overwrite unrelated events.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from fastaw.errors import BadRequest
from fastaw.models import (
    Bucket,
    Event,
    ImportBucket,
    ImportEnvelope,
    canonical_data,
    decode_json,
    event_from_wire,
    render_bucket,
)
from fastaw.storage import Reader, Writes
from fastaw.storage.rows import rendered_of
from fastaw.timefmt import parse_datetime

_EVENTS_SLOT: Final = b"\x00"


# -- export ------------------------------------------------------------------------------

def export_chunks(reader: Reader, bucket_ids: list[str] | None = None) -> Iterator[bytes]:
    """The export envelope of the given buckets (all when None), as a stream of chunks."""
    buckets = reader.bucket_list()
    if bucket_ids is not None:
        wanted = set(bucket_ids)
        buckets = [b for b in buckets if b.id in wanted]
    yield b'{"buckets":{'
    for index, bucket in enumerate(buckets):
        try:
            _, stats, first = reader.stats(bucket.id)
        except Exception:  # deleted while exporting
            continue
        head, _, tail = render_bucket(bucket, stats, first, _EVENTS_SLOT).rpartition(_EVENTS_SLOT)
        yield (b"," if index else b"") + msgspec.json.encode(bucket.id) + b":" + head + b"["
        first_page = True
        for page in reader.iter_rows(bucket.num, None, None):
            body = b",".join(rendered_of(value) for _, value in page)
            yield (b"" if first_page else b",") + body
            first_page = False
        yield b"]" + tail
    yield b"}}"


def export_filename(bucket_ids: list[str]) -> str:
    if len(bucket_ids) == 1:
        return f"aw-bucket-export_{bucket_ids[0]}.json"
    return "aw-buckets-export.json"


# -- import ------------------------------------------------------------------------------

@dataclass
class ImportItem:
    """One validated bucket of an import."""

    bucket: Bucket
    events: list[Event] = field(default_factory=list)


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


def parse_import(body: bytes, what: str = "import file") -> list[ImportItem]:
    """Validate an export envelope completely; 400 naming the first bad record."""
    envelope: ImportEnvelope = decode_json(body, ImportEnvelope, what)
    return [_item(key, raw, what) for key, raw in envelope.buckets.items()]


def _item(key: str, raw: ImportBucket, what: str) -> ImportItem:
    bucket_id = raw.id or key
    where = f"$.buckets[{msgspec.json.encode(key).decode()}]"
    if not bucket_id:
        raise BadRequest(f"Invalid {what}: bucket at `{where}` has no id")
    created = time.time_ns()
    if raw.created is not None:
        try:
            created = parse_datetime(raw.created)
        except ValueError as exc:
            raise BadRequest(f"Invalid {what}: `{where}.created`: {exc}") from None
    bucket = Bucket(
        id=bucket_id, num=0, type=raw.type, client=raw.client, hostname=raw.hostname,
        created=created, data=canonical_data(raw.data or {}),
    )
    events = []
    for index, wire in enumerate(raw.events or ()):
        event = event_from_wire(wire, f"{where}.events[{index}]")
        event.id = None
        events.append(event)
    return ImportItem(bucket, events)


def apply_import(writes: Writes, items: list[ImportItem]) -> ImportSummary:
    """The writer operation of an import: create or merge every bucket, in one transaction."""
    summary = ImportSummary()
    for item in items:
        existing = writes.bucket(item.bucket.id)
        if existing is None:
            num = writes.create_bucket(item.bucket).num
            seen: set[tuple[int, int, bytes]] = set()
            summary.buckets_created.append(item.bucket.id)
        else:
            num = existing.num
            seen = set()
            if item.events:
                low = min(e.start for e in item.events)
                high = max(e.start for e in item.events)
                seen = writes.existing_signatures(num, low, high)
            summary.buckets_merged.append(item.bucket.id)
        fresh = []
        for event in item.events:
            signature = (event.start, event.duration, event.data)
            if signature in seen:
                summary.events_skipped += 1
                continue
            seen.add(signature)
            fresh.append(event)
        summary.events_imported += writes.insert_many(num, fresh)
    return summary
