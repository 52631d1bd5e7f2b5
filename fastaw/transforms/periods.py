"""Interval algebra over event lists: intersect, union, union without overlap (spec §3.2).

Invariants: time is integer ns; sorts are stable on start only; output order is upstream's
emission order. The vectorized forms assume non-negative durations; a list with a negative
duration (stored as given, as aw-server-rust does) takes the literal loop in `loops`.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from fastaw.transforms.frame import COLUMNS, IN_MEMORY, Events, data_literal, empty, nulls
from fastaw.transforms.loops import Pieces, intersect_loop, union_loop, union_no_overlap_loop
from fastaw.transforms.ordering import sort_by_timestamp


def _has_negative(*frames: Events) -> bool:
    return any(f.height and (f["duration"] < 0).any() for f in frames)


def from_pieces(source: Events, pieces: Pieces, *, keep_id: bool = True) -> Events:
    """Events built from `Pieces`: id/data gathered from ``source`` rows, new times."""
    rows = pl.Series(pieces.rows, dtype=pl.UInt32)
    picked = source.select("id", "data")[rows]
    return pl.DataFrame(
        {
            "id": picked["id"] if keep_id else nulls(len(rows), pl.Int64),
            "timestamp": pl.Series(pieces.starts, dtype=pl.Int64),
            "duration": pl.Series(pieces.durations, dtype=pl.Int64),
            "data": picked["data"],
        }
    )


def filter_period_intersect(events: Events, filters: Events) -> Events:
    """The parts of ``events`` that lie inside ``filters`` (copies keeping id and data).

    ::

        events:  [a          ][b   ]
        filters: [     ]  [      ]
        output:  [a    ]  [a ][b ]

    Exactly the Rust two-pointer walk: after each piece the event is trimmed to start at
    the piece's end (overlapping filters never count an instant twice); zero-duration
    events vanish; a filter pointer that never moves back (later overlapping events can
    miss filters an earlier, longer event walked past).

    Vectorized by a closed form of the walk. With filter ends ``E``, ``M = cummax(E)`` and
    ``G(x)`` = first filter with ``M >= x``: the pointer when event *k* starts is
    ``lo = G(max end of earlier events)``; event *k* visits filters up to
    ``hi = G(max end so far)``; at a visited filter *j* its current start is its own start
    when ``j = lo``, else ``max(start, M[j-1])``. The pairs (event, lo) are columns of the
    events themselves; the rare further pairs (an event spanning several filters) are
    generated with ``int_ranges`` + ``explode`` and merged in by (event, filter) — O(n + m)
    pairs, each kept iff it emits a piece.
    """
    if events.height == 0 or filters.height == 0:
        return empty()
    ev = sort_by_timestamp(events)
    fi = sort_by_timestamp(filters)
    if _has_negative(ev, fi):
        pieces = intersect_loop(
            ev["timestamp"].to_list(),
            ev["duration"].to_list(),
            fi["timestamp"].to_list(),
            fi["duration"].to_list(),
        )
        return from_pieces(ev, pieces)
    ev = ev.filter(pl.col("duration") > 0)
    if ev.height == 0:
        return empty()
    m = fi.height
    f_start = fi["timestamp"]
    f_end = f_start + fi["duration"]
    reach = f_end.cum_max()
    e_end = ev["timestamp"] + ev["duration"]
    upto = reach.search_sorted(e_end.cum_max(), side="left")  # G(max end so far)
    frame = ev.with_columns(
        _end=e_end,
        _lo=upto.shift(1).fill_null(0),
        _hi=upto.clip(upper_bound=m - 1),
    )
    ts, end, fs, fe, cur = (pl.col(c) for c in ("timestamp", "_end", "_fs", "_fe", "_cur"))
    lo, hi = pl.col("_lo"), pl.col("_hi")
    emits = (fs < end) & (cur < fe)
    piece = [
        pl.max_horizontal(cur, fs).alias("timestamp"),
        (pl.min_horizontal(end, fe) - pl.max_horizontal(cur, fs)).alias("duration"),
    ]
    # events visiting more filters: their further pieces (often none: an event that ends in
    # the gap after a filter visits the next one without overlapping it)
    more = (
        frame.with_row_index("_e")
        .filter(lo < hi)
        .with_columns(_j=pl.int_ranges(lo + 1, hi + 1, dtype=pl.UInt32))
        .explode("_j")
    )
    j = more["_j"]
    more = more.with_columns(
        _fs=f_start.gather(j), _fe=f_end.gather(j), _cur=pl.max_horizontal(ts, reach.gather(j - 1))
    ).filter(emits)
    # lazily: only the output's columns of the kept rows are ever made, not a wide copy
    first = frame["_lo"].clip(upper_bound=m - 1)
    firsts = frame.lazy().with_columns(
        _cur=ts, _fs=f_start.gather(first), _fe=f_end.gather(first))
    if more.height == 0:
        return firsts.filter((lo <= hi) & emits).select(*piece, "id", "data").select(
            COLUMNS).collect(engine=IN_MEMORY)
    firsts = firsts.with_row_index("_e").filter((lo <= hi) & emits)
    return _merged_in(firsts.select(*piece, "id", "data", "_e").collect(engine=IN_MEMORY),
                      more.select(*piece, "id", "data", "_e", (pl.col("_j") - lo).alias("_k")))


#: Up to this many extra pieces are spliced between slices of the first pieces; more are
#: merged in by a sort key.
_SPLICE_LIMIT: Final = 256


def _merged_in(firsts: pl.DataFrame, more: pl.DataFrame) -> Events:
    """``firsts`` (one piece per event ``_e``, ascending) with ``more`` (further pieces,
    ordered by ``_e`` and their rank ``_k``) each placed after its event's earlier pieces."""
    if more.height <= _SPLICE_LIMIT:
        at = firsts["_e"].search_sorted(more["_e"], side="right").to_list()
        parts, done = [], 0
        for row, cut in enumerate(at):
            parts += [firsts.slice(done, cut - done).select(COLUMNS),
                      more.slice(row, 1).select(COLUMNS)]
            done = cut
        parts.append(firsts.slice(done).select(COLUMNS))
        return pl.concat(parts, rechunk=True)
    # the keys are distinct; one sort of both beats merge_sorted (Chrome's year: 5 vs 18 ms)
    order = pl.col("_e").cast(pl.Int64) * (1 << 32)
    return (
        pl.concat([firsts.select(*COLUMNS, order.alias("_order")),
                   more.select(*COLUMNS, (order + pl.col("_k")).alias("_order"))])
        .sort("_order")
        .select(COLUMNS)
    )


def period_union(events1: Events, events2: Events) -> Events:
    """Both lists' time covered, as disjoint events (touching intervals join).

    ::

        events1   |   -------       --------- |
        events2   | ------  ---  --    ----   |
        result    | -----------  -- --------- |

    Each result event has the id and start of its first event (events1 before events2 on
    equal starts) and empty data ``{}``; ascending order.
    """
    # (data, and any overlay, is dropped: every event of the result has ``{}``)
    both = sort_by_timestamp(pl.concat([events1.select(COLUMNS), events2.select(COLUMNS)],
                                       how="vertical"))
    if both.height == 0:
        return empty()
    if _has_negative(both):
        pieces = union_loop(both["timestamp"].to_list(), both["duration"].to_list())
        return from_pieces(both, pieces).with_columns(data=data_literal("{}"))
    end = pl.col("timestamp") + pl.col("duration")
    before = end.cum_max().shift(1)
    return (
        both.with_columns(_run=(before.is_null() | (pl.col("timestamp") > before)).cum_sum())
        .group_by("_run", maintain_order=True)
        .agg(pl.col("id").first(), pl.col("timestamp").first(), end.max().alias("_end"))
        .select(
            "id",
            "timestamp",
            (pl.col("_end") - pl.col("timestamp")).alias("duration"),
            data_literal("{}").alias("data"),
        )
    )


def union_no_overlap(events1: Events, events2: Events) -> Events:
    """Merge two lists, ``events1`` taking precedence where they overlap. No sorting.

    ::

        events1  | xxx    xx     xxx     |
        events2  |  ----     ------   -- |
        result   | xxx--  xx ----xxx  -- |

    Literal upstream walk (see `loops.union_no_overlap_loop`): only the overlap with the
    *current* events1 event is removed; split pieces get ``id`` null. ``([], x)`` → ``x``.
    """
    if events1.height == 0:
        return events2
    if events2.height == 0:
        return events1
    merged = union_no_overlap_loop(
        events1["timestamp"].to_list(),
        events1["duration"].to_list(),
        events2["timestamp"].to_list(),
        events2["duration"].to_list(),
    )
    both = pl.concat([events1, events2], how="vertical")
    offset = events1.height
    rows = pl.Series(
        [r + offset * s for r, s in zip(merged.rows, merged.sources, strict=True)],
        dtype=pl.UInt32,
    )
    picked = both[rows]
    return picked.with_columns(
        id=pl.when(pl.Series(merged.pieces, dtype=pl.Boolean))
        .then(pl.lit(None, dtype=pl.Int64))
        .otherwise(pl.col("id")),
        timestamp=pl.Series(merged.starts, dtype=pl.Int64),
        duration=pl.Series(merged.durations, dtype=pl.Int64),
    )
