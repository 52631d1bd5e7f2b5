"""query_bucket's view of a bucket: the events touching a period, clipped, newest first.

Invariant (aw-server-rust datastore, spec §4): selection is inclusive at both ends on the
*stored* interval (``end >= start AND ts <= end``), so events that merely touch the period
come back as zero-duration events; order is by the *unclipped* start, newest first, ties
by id ascending (SQLite rowid order).
"""

from __future__ import annotations

import polars as pl

from fastaw.transforms.frame import IN_MEMORY, Events, empty
from fastaw.transforms.ordering import strictly_ascending


def query_bucket_clip(frame: Events, start_ns: int, end_ns: int, *,
                      newest_first: bool = True) -> Events:
    """Events of ``frame`` overlapping ``[start_ns, end_ns]``, clipped to it, newest first
    (or, unless ``newest_first``, in the order a stable sort by start time would give the
    newest-first list: oldest first, ties by id ascending, except that events clipped to
    the period's start keep their newest-first order among themselves).

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
    touches = (end >= start_ns) & (ts <= end_ns)
    # the event sources read only events that touch the period: no copy to filter them
    touching = frame if frame.select(touches.all()).item() else frame.filter(touches)
    clipped = [
        pl.col("id"),
        pl.max_horizontal(ts, pl.lit(start_ns)).alias("timestamp"),
        (pl.min_horizontal(end, pl.lit(end_ns)) - pl.max_horizontal(ts, pl.lit(start_ns))
         ).alias("duration"),
        pl.col("data"),
    ]
    if strictly_ascending(touching["timestamp"]):  # no ties: newest first = reversed
        if not newest_first:
            # the events that start before the period all start at its start once
            # clipped: among those, newest first (where a stable sort of the newest-first
            # list by start leaves them)
            before = touching["timestamp"].search_sorted(start_ns, side="right")
            if before > 1:
                touching = pl.concat([touching.head(before).reverse(),
                                      touching.slice(before)], rechunk=False)
            return touching.select(clipped)
        # reversed while the clipped columns are made, not copied once more after
        return touching.lazy().select(column.reverse() for column in clipped).collect(
            engine=IN_MEMORY)
    newest = touching.sort(["timestamp", "id"], descending=[True, False],
                           maintain_order=True).select(clipped)
    return newest if newest_first else newest.sort("timestamp", maintain_order=True)
