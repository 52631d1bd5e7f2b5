"""Merging events that share data values (spec §3.3).

Invariants: groups are formed on canonical value texts (JSON-typed equality); a merged
event is *new* (``id`` null) except in chunking, which keeps the first event of a run.
Both work on distinct data first: identical data always lands in the same group, so the
rows are first collapsed per data text (Polars group-by), and only the few distinct texts
are decoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

from fastaw.transforms.dictionary import Numbering, dictionary
from fastaw.transforms.distinct import DistinctData
from fastaw.transforms.frame import COLUMNS, Events, empty
from fastaw.transforms.jsondata import encode
from fastaw.transforms.overlay import OVERLAY, has_overlay, per_row, plain

_NO_KEY: Final = 2**32 - 1  # the merge key code of a text lacking one of the keys


def merge_events_by_keys(events: Events, keys: Sequence[str]) -> Events:
    """One event per distinct combination of ``data[k] for k in keys``.

    ::

        keys=[app]:   [a 1s] [b 2s] [a 3s] [title-only 5s]   →   [a 4s] [b 2s]

    Each merged event has the start and the *full* data of its group's first event,
    ``id`` null, the exact ns sum of durations. Events lacking any key are skipped; no keys
    → no events. Groups come in first-occurrence order (Rust leaves it unspecified).
    An overlay (`fastaw.transforms.overlay`) is kept: each merged event has its first
    event's, and the keys' values come from the overlay where it sets them.
    """
    if not keys or events.height == 0:
        return empty()
    keep = [OVERLAY] if has_overlay(events) else []
    # one numbering for every call of `per_row`'s: rows whose values come from the data
    # and rows whose values come from an overlay meet in the same groups
    numbering = dictionary().numbering(_table(keys))
    key_code = per_row(events, keys, lambda data: _merge_keys(data, keys, numbering))
    # Events lacking a key form one more group, dropped from the merged events: filtering
    # them out of the rows first copied every column (a year of categorized window
    # events merged by category: +25 → +9 MiB while it ran, 36 → 26 ms; by app and title
    # +17 → +5 MiB, 84 → 67 ms).
    return (
        events.with_columns(_key=key_code)
        .group_by("_key", maintain_order=True)
        .agg(pl.col("timestamp").first(), pl.col("duration").sum(),
             *(pl.col(name).first() for name in ("data", *keep)))
        .filter(pl.col("_key") != _NO_KEY)
        .select(pl.lit(None, dtype=pl.Int64).alias("id"), *COLUMNS[1:], *keep)
    )


def _table(keys: Sequence[str]) -> str:
    """The name of the memo table (and numbering) of merge keys of ``keys``."""
    return "merge:" + encode(list(keys))


def _merge_keys(data: pl.Series, keys: Sequence[str], numbering: Numbering) -> pl.Series:
    """Per row of a data column: the number of its group when merging by ``keys``
    (`_NO_KEY` when it lacks one of them) in ``numbering``."""
    dd = DistinctData(data)

    def key_codes(part: DistinctData) -> pl.Series:
        # A group is a tuple of values, named by the canonical JSON object of the keys and
        # their values (keys sorted): ``{"app":"vim","title":"a.py"}``, numbered (see
        # `Numbering`: kept with the memo, as the numbers are). Rows then group on that
        # integer, whether their values came from the data or an overlay.
        values = part.values(keys)
        members: list[pl.Expr | pl.Series] = []
        for i, key in enumerate(sorted(set(keys))):
            members += [pl.lit(("," if i else "{") + encode(key) + ":"), values[key]]
        merge_key = pl.select(pl.concat_str([*members, pl.lit("}")])).to_series()
        return numbering.numbers(merge_key).fill_null(_NO_KEY)

    return dd.memoized_rows(_table(keys), key_codes, pl.UInt32())


def chunk_events_by_key(events: Events, key: str) -> Events:
    """Merge *consecutive* events (input order) whose ``data[key]`` values are equal.

    ::

        key=k:   [k:1 1s] [x:9 1s] [k:1 1s] [k:2 1s]   →   [k:1 2s] [k:2 1s]

    The first event of a run keeps its id, start and full data; durations add up; events
    without ``key`` are skipped (they do not break a run); no time-gap condition.
    """
    if events.height == 0:
        return events
    events = plain(events)
    dd = DistinctData(events["data"])
    values: list[str | None] = [encode(obj[key]) if key in obj else None for obj in dd.objects]
    value = pl.col("_value")
    return (
        events.with_columns(_value=dd.map(values, pl.String()))
        .filter(value.is_not_null())
        .with_columns(_run=(value != value.shift()).fill_null(True).cum_sum())
        .group_by("_run", maintain_order=True)
        .agg(
            pl.col("id").first(),
            pl.col("timestamp").first(),
            pl.col("duration").sum(),
            pl.col("data").first(),
        )
        .select(COLUMNS)
    )
