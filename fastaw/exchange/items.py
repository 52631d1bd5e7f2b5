"""What every import reader yields: bucket announcements and batches of validated events.

Event batches are Polars frames (`fastaw.exchange.batch.finish`: start, duration and the
rendered event JSON after the id) rather than objects: whole histories pass through here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, TypeAlias

from fastaw.models import Bucket

if TYPE_CHECKING:
    import polars as pl


class BucketItem(NamedTuple):
    """A bucket named by the file, with its metadata (None when the file has none)."""

    bucket_id: str
    bucket: Bucket | None


class EventsItem(NamedTuple):
    """Validated events of one bucket, ascending by start (`fastaw.exchange.batch.COLUMNS`)."""

    bucket_id: str
    frame: pl.DataFrame


Item: TypeAlias = BucketItem | EventsItem
