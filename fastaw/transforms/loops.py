"""Literal ports of aw-server-rust's sequential loops, over plain column lists.

These run where no vectorized formulation is exact: `union_no_overlap` always (its
splitting depends on input order), and `flood` / `filter_period_intersect` /
`period_union` when some duration is negative (the vectorized forms assume
``end >= start``). Each returns *row indices* into its (already sorted) input plus new
times, so ids and data are gathered back by Polars without Python objects per event.
All arithmetic is exact integer ns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class Pieces(NamedTuple):
    """Output events as (row of the source event, start, duration) columns."""

    rows: list[int]
    starts: list[int]
    durations: list[int]


def flood_loop(ts: Sequence[int], dur: Sequence[int], data: Sequence[str], pulse: int) -> Pieces:
    """aw-transform ``flood`` over events sorted (stably) by start."""
    out = Pieces([], [], [])
    n = len(ts)
    i = 0
    carry: int | None = None
    while i < n:
        row, start, end = i, ts[i], ts[i] + dur[i]
        if carry is not None:
            start -= carry // 2
            carry = None
        i += 1
        while i < n:
            gap = ts[i] - end
            if gap < 0 or gap < pulse:
                if data[i] == data[row]:
                    end = max(end, ts[i] + dur[i])
                    start = min(start, ts[i])
                    i += 1
                    continue
                if gap >= 0:
                    end += gap // 2
                    carry = gap
            break
        out.rows.append(row)
        out.starts.append(start)
        out.durations.append(end - start)
    return out


def intersect_loop(
    ts: Sequence[int], dur: Sequence[int], fts: Sequence[int], fdur: Sequence[int]
) -> Pieces:
    """aw-transform ``filter_period_intersect`` over both lists sorted (stably) by start."""
    out = Pieces([], [], [])
    if not ts or not fts:
        return out
    i = j = 0
    cur_ts, cur_dur = ts[0], dur[0]
    while True:
        end = cur_ts + cur_dur
        f_end = fts[j] + fdur[j]
        if cur_dur == 0 or end <= fts[j]:
            i += 1
            if i == len(ts):
                return out
            cur_ts, cur_dur = ts[i], dur[i]
            continue
        if cur_ts >= f_end:
            j += 1
            if j == len(fts):
                return out
            continue
        start = max(cur_ts, fts[j])
        stop = min(end, f_end)
        out.rows.append(i)
        out.starts.append(start)
        out.durations.append(stop - start)
        cur_dur = cur_ts + cur_dur - stop
        cur_ts = stop


def union_loop(ts: Sequence[int], dur: Sequence[int]) -> Pieces:
    """aw-transform ``period_union`` sweep over events sorted (stably) by start."""
    out = Pieces([], [], [])
    last_end = 0
    for i, (start, length) in enumerate(zip(ts, dur, strict=True)):
        end = start + length
        if out.rows:
            last_start = out.starts[-1]
            if not (last_end < start or end < last_start):
                last_end = max(last_end, end)
                out.durations[-1] = last_end - min(start, last_start)
                continue
        out.rows.append(i)
        out.starts.append(start)
        out.durations.append(length)
        last_end = end
    return out


class Merged(NamedTuple):
    """`union_no_overlap` output: source list (0/1), row, start, duration, split piece?"""

    sources: list[int]
    rows: list[int]
    starts: list[int]
    durations: list[int]
    pieces: list[bool]


def union_no_overlap_loop(
    ts1: Sequence[int], dur1: Sequence[int], ts2: Sequence[int], dur2: Sequence[int]
) -> Merged:
    """aw-transform ``union_no_overlap``, literally (no sorting; order-sensitive).

    The upstream ``events2.insert(j, tail)`` always inserts the *next* events2 item, so a
    single pending register (start, duration, is-piece) replaces the list insertion.
    """
    out = Merged([], [], [], [], [])
    n1, n2 = len(ts1), len(ts2)
    i = j = 0
    # the current events2 item: row j, possibly replaced by a split piece
    b_ts = ts2[0] if n2 else 0
    b_dur = dur2[0] if n2 else 0
    b_piece = False

    def emit(source: int, row: int, start: int, length: int, piece: bool) -> None:
        out.sources.append(source)
        out.rows.append(row)
        out.starts.append(start)
        out.durations.append(length)
        out.pieces.append(piece)

    def advance() -> tuple[int, int, bool]:
        return (ts2[j], dur2[j], False) if j < n2 else (0, 0, False)

    while i < n1 and j < n2:
        a_ts, a_end = ts1[i], ts1[i] + dur1[i]
        b_end = b_ts + b_dur
        if max(a_ts, b_ts) < min(a_end, b_end):
            if a_ts <= b_ts:
                emit(0, i, a_ts, dur1[i], False)
                i += 1
                if b_ts < a_end < b_end:
                    b_ts, b_dur, b_piece = a_end, b_end - a_end, True
                else:
                    j += 1
                    b_ts, b_dur, b_piece = advance()
            else:
                if b_ts < a_ts < b_end:
                    emit(1, j, b_ts, a_ts - b_ts, True)
                    b_ts, b_dur, b_piece = a_ts, b_end - a_ts, True
                else:
                    emit(1, j, b_ts, b_dur, b_piece)
                    j += 1
                    b_ts, b_dur, b_piece = advance()
        elif a_ts <= b_ts:
            emit(0, i, a_ts, dur1[i], False)
            i += 1
        else:
            emit(1, j, b_ts, b_dur, b_piece)
            j += 1
            b_ts, b_dur, b_piece = advance()
    for k in range(i, n1):
        emit(0, k, ts1[k], dur1[k], False)
    if j < n2:
        emit(1, j, b_ts, b_dur, b_piece)
        for k in range(j + 1, n2):
            emit(1, k, ts2[k], dur2[k], False)
    return out
