"""Keep or drop events by a data value (spec §3.2), with JSON-typed equality.

Invariant: ``data[key]`` is compared by canonical text, so ``1`` (int) ≠ ``1.0`` (float)
≠ ``"1"`` and ``true`` ≠ ``1``: serde_json's equality. Each distinct data text is looked at
once; regexes run once per distinct string value. A key an event's overlay sets
(`fastaw.transforms.overlay`) is looked up there; the overlay is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from fastaw.transforms.distinct import DistinctData
from fastaw.transforms.frame import Events
from fastaw.transforms.jsondata import (
    UNMATCHABLE,
    encode,
    string_values,
    value_text,
)
from fastaw.transforms.overlay import per_row
from fastaw.transforms.regex import compile_regex


def _matches(events: Events, key: str, vals: Sequence[Any]) -> pl.Series:
    wanted = {value_text(v) for v in vals} - {UNMATCHABLE}
    if not wanted:
        return pl.repeat(False, events.height, dtype=pl.Boolean, eager=True)
    texts = sorted(wanted)

    def hits(part: DistinctData) -> pl.Series:
        return part.values([key])[key].is_in(texts).fill_null(False)

    return per_row(events, [key], lambda data: DistinctData(data).memoized_rows(
        "in:" + encode([key, texts]), hits, pl.Boolean()))


def filter_keyvals(events: Events, key: str, vals: Sequence[Any]) -> Events:
    """Events whose ``data[key]`` exists and equals one of ``vals``, in input order.

    ::

        key=app vals=["a"]:   [app:a] [app:b] [title:x] [app:a]   →   [app:a] [app:a]
    """
    if events.height == 0 or not vals:
        return events.clear()
    return events.filter(_matches(events, key, vals))


def exclude_keyvals(events: Events, key: str, vals: Sequence[Any]) -> Events:
    """The complement of `filter_keyvals`: events without ``key`` are kept.

    ::

        key=app vals=["a"]:   [app:a] [app:b] [title:x]   →   [app:b] [title:x]
    """
    if events.height == 0 or not vals:
        return events
    return events.filter(~_matches(events, key, vals))


def filter_keyvals_regex(events: Events, key: str, pattern: str) -> Events:
    """Events whose ``data[key]`` is a *string* with a match of ``pattern`` anywhere.

    ::

        key=app "^fire":   [app:firefox] [app:chrome] [app:1] [title:fire]   →   [app:firefox]

    The pattern is compiled (and may raise `RegexCompileError`) even for no events.
    """
    regex = compile_regex(pattern)
    if events.height == 0:
        return events

    def hits(part: DistinctData) -> pl.Series:
        return regex.search(string_values(part.values([key])[key])).fill_null(False)

    return events.filter(per_row(events, [key], lambda data: DistinctData(data).memoized_rows(
        "regex:" + encode([key, pattern]), hits, pl.Boolean())))
