"""What an export covers: which buckets, which time range, and the pages of rows it reads.

Time-range rule for every export format: an event is exported when its *start* lies in
``[start, end)``; events are never clipped. So consecutive ranges (months, years) export
disjoint sets whose union is the whole history, each event exactly once and unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import msgspec

from fastaw.errors import BadRequest, NotFound
from fastaw.models import render_bucket
from fastaw.storage import Env
from fastaw.storage.bulk import BucketInfo, bucket_infos, iter_pages

FORMATS = ("json", "ndjson", "csv", "parquet")
#: Rows per read transaction for byte streams (≈ 3 MB of rows): bounds an export's memory.
STREAM_PAGE = 16_384
#: Rows per page for the columnar formats, where bigger pages vectorize better.
COLUMN_PAGE = 65_536


@dataclass(frozen=True)
class Selection:
    """Buckets (None = all) and an optional ``[start, end)`` range of event starts (ns)."""

    buckets: list[str] | None = None
    start: int | None = None
    end: int | None = None
    page: int = STREAM_PAGE
    infos: list[BucketInfo] = field(default_factory=list, compare=False)

    def resolve(self, env: Env) -> Selection:
        """This selection with the bucket records read from the store (404 for unknown ids)."""
        if self.start is not None and self.end is not None and self.start > self.end:
            raise BadRequest("The export range is empty: start is after end")
        infos = bucket_infos(env, self.buckets)
        if self.buckets is not None:
            missing = sorted(set(self.buckets) - {info.bucket.id for info in infos})
            if missing:
                raise NotFound(f"There is no bucket named {', '.join(map(repr, missing))}")
        return Selection(self.buckets, self.start, self.end, self.page, infos)

    def pages(self, env: Env, info: BucketInfo, *, newest_first: bool
              ) -> Iterator[tuple[list[bytes], list[bytes]]]:
        return iter_pages(env, info.bucket.num, self.start, self.end, page=self.page,
                          newest_first=newest_first)


def bucket_json(info: BucketInfo) -> bytes:
    """The bucket's JSON without events (``"events":null``), as the API shows it."""
    return render_bucket(info.bucket, info.stats, info.first_start)


def buckets_map_json(infos: list[BucketInfo]) -> bytes:
    """``{id: bucket, ...}`` of the given buckets (the sidecar of Parquet exports)."""
    parts = [msgspec.json.encode(info.bucket.id) + b":" + bucket_json(info) for info in infos]
    return b"{" + b",".join(parts) + b"}"


def export_filename(bucket_ids: list[str], fmt: str = "json") -> str:
    """aw-server-rust's download names, with the format's extension."""
    ext = {"json": "json", "ndjson": "ndjson", "csv": "csv", "parquet": "parquet"}[fmt]
    if len(bucket_ids) == 1:
        return f"aw-bucket-export_{bucket_ids[0]}.{ext}"
    return f"aw-buckets-export.{ext}"
