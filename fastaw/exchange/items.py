"""What every import reader yields: bucket announcements and batches of validated events.

Event batches are columns (starts, durations, data) rather than objects: whole histories
pass through here, and a tuple of three lists costs nothing per event.
"""

from __future__ import annotations

from typing import NamedTuple, TypeAlias

from fastaw.models import Bucket


class BucketItem(NamedTuple):
    """A bucket named by the file, with its metadata (None when the file has none)."""

    bucket_id: str
    bucket: Bucket | None


class EventsItem(NamedTuple):
    """Validated events of one bucket: start (ns), duration (ns), canonical data JSON."""

    bucket_id: str
    starts: list[int]
    durations: list[int]
    datas: list[bytes]


Item: TypeAlias = BucketItem | EventsItem
