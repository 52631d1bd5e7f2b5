"""When the synthetic person sits at the computer: days, blocks, active runs and breaks.

A day is a working day (Monday–Friday, not on vacation) or a free day. The computer is
switched on in *blocks* (a working day's main block, an optional evening block; on free
days a few short blocks or none); a block is a sequence of active runs (the user is at the
keyboard: aw-watcher-afk reports ``not-afk``) separated by breaks (``afk``), and ends with
an afk tail before the machine is suspended — or, on some nights, left on until morning.
Times are seconds after local midnight of the day (a block may run past midnight, never
past 06:00 of the next day, so days never overlap and each day can be generated alone).
"""

from __future__ import annotations

import datetime as dt
import random
from functools import lru_cache
from typing import Final, NamedTuple

HOUR: Final = 3600.0
MINUTE: Final = 60.0
NEXT_MORNING: Final = 30 * HOUR  # 06:00 of the next day


class Run(NamedTuple):
    """``[start, end)`` in seconds after local midnight; ``active`` = not-afk."""

    start: float
    end: float
    active: bool


class Block(NamedTuple):
    """The computer is on from the first run's start to the last run's end."""

    runs: tuple[Run, ...]


@lru_cache(maxsize=64)
def vacation_days(seed: int, year: int) -> frozenset[int]:
    """Ordinals of the ≈ 25 working days taken off in ``year`` (deterministic)."""
    rng = random.Random(f"{seed}/vacation/{year}")
    first = dt.date(year, 1, 1).toordinal()
    days: set[int] = set()
    for start_week, length in ((rng.randint(26, 32), 14), (rng.randint(8, 20), 7),
                               (rng.randint(40, 49), 7)):
        monday = first + start_week * 7
        days.update(range(monday, monday + length))
    days.update(first + rng.randint(0, 364) for _ in range(4))
    return frozenset(days)


def is_workday(seed: int, ordinal: int) -> bool:
    day = dt.date.fromordinal(ordinal)
    return day.weekday() < 5 and ordinal not in vacation_days(seed, day.year)


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _block(rng: random.Random, start: float, end: float, workday: bool,
           night_on: bool) -> Block:
    """Alternate active runs and breaks over ``[start, end)``, then the afk tail."""
    runs: list[Run] = []
    t = start
    lunch_taken = not workday
    while t < end - MINUTE:
        length = min(120.0 + rng.expovariate(1 / (40 * MINUTE)), end - t)
        runs.append(Run(t, t + length, True))
        t += length
        if t >= end - MINUTE:
            break
        if not lunch_taken and 11.75 * HOUR <= t <= 13.5 * HOUR:
            pause = _clamp(rng.gauss(45 * MINUTE, 10 * MINUTE), 20 * MINUTE, 80 * MINUTE)
            lunch_taken = True
        elif rng.random() < 0.65:
            pause = 3 * MINUTE + rng.expovariate(1 / (5 * MINUTE))
        else:
            pause = 3 * MINUTE + rng.expovariate(1 / (20 * MINUTE))
        pause = min(pause, end - t)
        runs.append(Run(t, t + pause, False))
        t += pause
    if runs and not runs[-1].active:  # a block ends with the user leaving, not a break
        runs.pop()
    if not runs:
        runs.append(Run(start, start + 5 * MINUTE, True))
    last = runs[-1].end
    tail_end = NEXT_MORNING if night_on else last + rng.uniform(3 * MINUTE, 10 * MINUTE)
    runs.append(Run(last, tail_end, False))
    return Block(tuple(runs))


def day_blocks(seed: int, ordinal: int, rng: random.Random) -> list[Block]:
    """The blocks of one day (possibly none), in time order, never overlapping."""
    night_on = rng.random() < 0.06
    if is_workday(seed, ordinal):
        start = _clamp(rng.gauss(8.75 * HOUR, 0.6 * HOUR), 6.5 * HOUR, 11 * HOUR)
        end = _clamp(rng.gauss(17.9 * HOUR, 0.9 * HOUR), start + 3 * HOUR, 21 * HOUR)
        spans = [(start, end)]
        if rng.random() < 0.35:
            evening = rng.uniform(max(end + HOUR, 19.5 * HOUR), 22.5 * HOUR)
            spans.append((evening, min(evening + rng.uniform(0.4, 2.5) * HOUR, 25.5 * HOUR)))
    else:
        spans = []
        if rng.random() < 0.6:
            t = rng.uniform(9.5 * HOUR, 14 * HOUR)
            for _ in range(rng.randint(1, 3)):
                length = _clamp(rng.lognormvariate(0, 0.8) * HOUR, 10 * MINUTE, 5 * HOUR)
                spans.append((t, min(t + length, 25.5 * HOUR)))
                t += length + rng.uniform(1, 5) * HOUR
                if t > 23 * HOUR:
                    break
    blocks = []
    for i, (start, end) in enumerate(spans):
        last = i == len(spans) - 1
        blocks.append(_block(rng, start, end, is_workday(seed, ordinal), night_on and last))
    # A block's afk tail must end before the next block starts.
    for i in range(len(blocks) - 1):
        nxt = blocks[i + 1].runs[0].start
        runs = list(blocks[i].runs)
        if runs[-1].end > nxt:
            runs[-1] = Run(runs[-1].start, max(runs[-1].start, nxt - 1.0), False)
            blocks[i] = Block(tuple(runs))
    return blocks


@lru_cache(maxsize=1)
def active_seconds_per_year() -> float:
    """Expected not-afk seconds per year of this schedule model (simulated, fixed seed)."""
    first = dt.date(2001, 1, 1).toordinal()
    days = 4 * 365 + 1
    total = 0.0
    for ordinal in range(first, first + days):
        rng = random.Random(f"calibrate/{ordinal}")
        for block in day_blocks(0, ordinal, rng):
            total += sum(run.end - run.start for run in block.runs if run.active)
    return total / days * 365.2425
