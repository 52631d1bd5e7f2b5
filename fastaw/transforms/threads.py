"""Helper threads for transforms whose passes Polars runs on one core.

Running maxima, shifts and sorts of one column run on one thread in Polars, so a transform
over ten years of events (10M rows) uses one core of two for most of its time. Where its
input splits into parts it can work out apart (a flood cut at quiet gaps, the slices of an
intersection), `in_parts` hands the parts to a few threads: Polars releases the GIL, so
they run side by side. The answer is the same: the parts are pure functions of their
inputs, and their results come back in order.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final, TypeVar

import polars as pl

#: At most this many threads work on one transform's parts (the caller's included).
MAX_PARTS: Final = 4
T = TypeVar("T")
R = TypeVar("R")
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def parts() -> int:
    """How many threads work on a transform's parts: one per core (of Polars' pool)."""
    return min(pl.thread_pool_size(), MAX_PARTS)


def in_parts(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(item) for item in items]``, the items shared among `parts` threads in runs of
    consecutive ones (the calling thread takes the first run)."""
    threads = min(parts(), len(items))
    if threads < 2:
        return [fn(item) for item in items]
    bounds = [len(items) * i // threads for i in range(threads + 1)]
    runs = [items[a:b] for a, b in itertools.pairwise(bounds)]
    later = [_helpers().submit(lambda run: [fn(item) for item in run], run)
             for run in runs[1:]]
    first = [fn(item) for item in runs[0]]
    return [*first, *(result for done in later for result in done.result())]


def _helpers() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(MAX_PARTS - 1, thread_name_prefix="fastaw-parts")
        return _pool
