"""query_bucket's view of a bucket: the events touching a period, clipped, newest first.

Invariant (aw-server-rust datastore, spec §4): selection is inclusive at both ends on the
*stored* interval (``end >= start AND ts <= end``), so events that merely touch the period
come back as zero-duration events; order is by the *unclipped* start, newest first, ties
by id ascending (SQLite rowid order).
"""

from __future__ import annotations

import polars as pl

from fastaw.transforms.frame import COLUMNS, Events, empty
from fastaw.transforms.ordering import strictly_ascending


def query_bucket_clip(frame: Events, start_ns: int, end_ns: int) -> Events:
    """Events of ``frame`` overlapping ``[start_ns, end_ns]``, clipped to it, newest first.

    ::

        period:            [=========]
        stored:   [a---]  [b-]  [c------]  [d]
        result:   c' [c---]  b' [b-]  a' [a]     (a touches → zero duration; d outside)

    ``start_ns > end_ns`` gives no events (no error), as upstream.
    """
    if start_ns > end_ns or frame.height == 0:
        return empty()
    ts = pl.col("timestamp")
    end = ts + pl.col("duration")
    touching = frame.filter((end >= start_ns) & (ts <= end_ns))
    stamps = touching["timestamp"]
    if strictly_ascending(stamps):  # no ties: newest first = reversed
        newest_first = touching.reverse()
    else:
        newest_first = touching.sort(["timestamp", "id"], descending=[True, False],
                                     maintain_order=True)
    return (
        newest_first.with_columns(
            pl.max_horizontal(ts, pl.lit(start_ns)).alias("timestamp"),
            (
                pl.min_horizontal(end, pl.lit(end_ns)) - pl.max_horizontal(ts, pl.lit(start_ns))
            ).alias("duration"),
        )
        .select(COLUMNS)
    )
