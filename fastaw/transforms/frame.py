"""The events DataFrame: the one representation of an event list inside queries.

Contract (shared by `fastaw.query`, `fastaw.pool` and the storage-side readers):

==========  =======  ==========================================================
column      dtype    meaning
==========  =======  ==========================================================
id          Int64    event id; null for events a transform created
timestamp   Int64    start, integer ns since the epoch (UTC)
duration    Int64    integer ns (may be negative: stored as given)
data        String   canonical JSON object: compact, keys sorted, ints and floats
                     kept apart (``1`` vs ``1.0``), as `fastaw.models.canonical_data`
                     produces it; equal data <=> equal text (except 0.0 vs -0.0)
==========  =======  ==========================================================

Transforms may add private helper columns while they work but always return exactly
these four columns in this order. Frames are immutable values: a transform never
changes its input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, TypeAlias

import polars as pl

Events: TypeAlias = pl.DataFrame

SCHEMA: Final = {
    "id": pl.Int64,
    "timestamp": pl.Int64,
    "duration": pl.Int64,
    "data": pl.String,
}
COLUMNS: Final = tuple(SCHEMA)


def empty() -> Events:
    """An event list with no events."""
    return pl.DataFrame(schema=SCHEMA)


def from_columns(
    ids: Sequence[int | None],
    timestamps: Sequence[int],
    durations: Sequence[int],
    datas: Sequence[str],
) -> Events:
    """Build an events frame from parallel column sequences (no copies of the data text)."""
    return pl.DataFrame(
        {"id": ids, "timestamp": timestamps, "duration": durations, "data": datas},
        schema=SCHEMA,
    )
