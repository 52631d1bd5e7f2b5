"""Column-wise inserts (``POST …/events``): rows prepared off the writer, ids given on it.

`prepare_rows` runs in the request handler (any thread, no transaction): it builds every
byte of the new rows that does not depend on the event ids — the 12-byte ``bucket | start``
key prefixes, the 8-byte duration headers of the values, the rendered JSON after the id —
plus the windows the rows fall in and the stats they contribute. `Writes.insert_rows`
(`fastaw.storage.mutations`) then runs on the writer thread inside the transaction: it
reads the id counter, joins ids to the prepared bytes (C-level maps and one ``%`` per row)
and writes both sub-databases with ``putmulti``.

Semantics are those of the per-event `Writes.insert_events` (the reference, property-tested
against this path): new ids in request order; an event with an ``id`` replaces the event
holding that id, wherever it is (the last of several with one id wins); the answer lists
every event of the request, with its id; the bucket's heartbeat anchor is cleared.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Final

from fastaw.storage import keys

_PREFIX: Final = struct.Struct(">IQ")
_DURATION: Final = struct.Struct(">q")


@dataclass(slots=True)
class PreparedRows:
    """New rows of one bucket, in request order, every byte but the ids (`prepare_rows`)."""

    num: int  # the bucket number the prefixes were built for
    starts: list[int]
    durations: list[int]
    prefixes: list[bytes]  # events key without the id: bucket u32 | flipped start
    heads: list[bytes]  # value header: duration i64
    tails: list[bytes]  # rendered JSON after the id (`fastaw.models.render_tails`)
    ids: list[int | None] | None  # requested ids; None when no event names one
    order: list[int] | None  # request indexes in ascending start order; None if already
    windows: set[int]
    max_duration: int
    min_duration: int
    end: int | None  # the largest start + duration (None: no rows)

    def __len__(self) -> int:
        return len(self.starts)

    def for_bucket(self, num: int) -> PreparedRows:
        """The same rows for bucket ``num`` (the bucket was re-created meanwhile)."""
        if num == self.num:
            return self
        prefixes = list(map(_PREFIX.pack, repeat(num), map(operator.add, self.starts,
                                                           repeat(keys.SIGN))))
        return PreparedRows(num, self.starts, self.durations, prefixes, self.heads, self.tails,
                            self.ids, self.order, self.windows, self.max_duration,
                            self.min_duration, self.end)


def prepare_rows(num: int, starts: list[int], durations: list[int], tails: list[bytes],
                 ids: list[int | None] | None = None) -> PreparedRows:
    """Everything about new rows that can be computed before the writer sees them.

    ``num`` is the bucket's number as the caller last saw it (0 if unknown): the writer
    re-prefixes the rows in the rare case the bucket has another number by then.
    """
    if not starts:
        return PreparedRows(num, [], [], [], [], [], ids, None, set(), 0, 0, None)
    flipped = list(map(operator.add, starts, repeat(keys.SIGN)))
    prefixes = list(map(_PREFIX.pack, repeat(num), flipped))
    heads = list(map(_DURATION.pack, durations))
    order = None
    if not all(map(operator.le, starts, starts[1:] if len(starts) > 1 else ())):
        # ascending keys fill B-tree pages (LMDB splits an appended-to page at its end)
        order = sorted(range(len(starts)), key=starts.__getitem__)
    windows = set(map(operator.rshift, flipped, repeat(keys.CHUNK_SHIFT)))
    end = max(map(operator.add, starts, durations))
    return PreparedRows(num, starts, durations, prefixes, heads, tails, ids, order, windows,
                        max(durations), min(durations), end)


def assign_ids(requested: Sequence[int | None], next_id: int) -> tuple[list[int], int]:
    """The id of each event, as inserting them one by one would give, and the next free id.

    An event without an id takes the next free one; an event with an id keeps it and
    moves the next free id past it.
    """
    ids: list[int] = []
    for event_id in requested:
        if event_id is None:
            ids.append(next_id)
            next_id += 1
        else:
            ids.append(event_id)
            if event_id >= next_id:
                next_id = event_id + 1
    return ids, next_id
