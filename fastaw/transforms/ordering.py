"""Ordering, slicing and arithmetic over whole event lists (spec §3.4).

Every sort is stable: equal keys keep their input order, as Rust's ``sort_by_key``.
All of these keep an overlay (`fastaw.transforms.overlay`).
"""

from __future__ import annotations

import math

import polars as pl

from fastaw.transforms.frame import Events, conform, empty
from fastaw.transforms.overlay import conform_overlay, has_overlay


def sort_by_timestamp(events: Events) -> Events:
    """Stable ascending sort on start time only.

    ::

        in:  [b 3s] [a 0s] [c 3s]   →   out: [a 0s] [b 3s] [c 3s]
    """
    stamps = events["timestamp"]
    if stamps.is_sorted():  # most lists already are: a scan, not a sort
        return events
    if strictly_descending(stamps):  # newest first without ties (query_bucket's order)
        return events.reverse()
    return events.sort("timestamp", maintain_order=True)


def strictly_ascending(values: pl.Series) -> bool:
    """Whether each value is greater than the one before (a scan)."""
    return values.len() < 2 or bool((values.diff().slice(1) > 0).all())


def strictly_descending(values: pl.Series) -> bool:
    """Whether each value is less than the one before (a scan)."""
    return values.len() < 2 or bool((values.diff().slice(1) < 0).all())


def sort_by_duration(events: Events) -> Events:
    """Stable *descending* sort on duration.

    ::

        in:  [a 1s] [b 2s] [c 1s]   →   out: [b 2s] [a 1s] [c 1s]
    """
    return events.sort("duration", descending=True, maintain_order=True)


def limit_events(events: Events, n: float) -> Events:
    """The first ``n`` events; ``n`` cast like Rust's f64→usize (truncate; <0/NaN → 0).

    ::

        in:  [a] [b] [c]   n=2   →   out: [a] [b]
    """
    if isinstance(n, float):
        if math.isnan(n) or n <= 0:
            return events.clear()
        if math.isinf(n):
            return events
    count = int(n)
    return events.head(max(count, 0))


def sum_durations(events: Events) -> float:
    """Total duration in seconds: exact ns sum, truncated toward zero to whole ms.

    ::

        [1.2345678 s] + [0.000000001 s]   →   1.234
    """
    total = events["duration"].sum() if events.height else 0
    assert isinstance(total, int)
    millis = abs(total) // 1_000_000
    return (millis if total >= 0 else -millis) / 1000.0


def concat(*frames: Events) -> Events:
    """The lists one after the other, events unchanged (no arguments → no events).

    ::

        [a] [b]  +  [c]   →   [a] [b] [c]
    """
    if not frames:
        return empty()
    if len(frames) == 1:
        return frames[0]
    if any(has_overlay(f) for f in frames):
        return pl.concat([conform_overlay(f) for f in frames], how="vertical")
    return pl.concat([conform(f) for f in frames], how="vertical")
