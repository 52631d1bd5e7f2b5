"""Histories for the exchange tests: a hypothesis strategy, loading one into a real store,
and a comparable snapshot of a store (bucket metadata and every event exactly)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from fastaw.exchange import stage_file
from fastaw.models import Bucket, canonical_data
from fastaw.storage import Env, Reader, Writer
from fastaw.storage.bulk import BulkInserter, create_or_get

SECOND = 1_000_000_000
#: Durations below 2**50 ns survive the JSON formats' float seconds exactly.
MAX_EXACT = 2**50


@dataclass
class History:
    buckets: list[Bucket]
    events: dict[str, list[tuple[int, int, bytes]]]


scalars = st.one_of(
    st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12), st.booleans(), st.none(),
    st.sampled_from(["},{", '"},{"a":', "\\", "ünï ✓ 日本", "=1+1", "a,b\r\nc"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
datas = st.dictionaries(st.sampled_from(["app", "title", "url", "status", "k", "ü"]), values,
                        max_size=4)
bucket_ids = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1,
                     max_size=16) | st.sampled_from(["aw-watcher-window_host", "a/b c%d=e"])
starts = st.one_of(
    st.integers(-(2**62), 2**62),  # 1823 … 2116, pre-1970 included
    st.builds(lambda k, o: 1_700_000_000 * SECOND + k * SECOND // 2 + o,
              st.integers(0, 50), st.sampled_from([0, 1, 999_999_999, 123_000_000])))
durations = st.one_of(st.integers(0, MAX_EXACT - 1), st.integers(-10 * SECOND, 0),
                      st.sampled_from([0, 1, SECOND, 258_691_000_123, 1_500_000_000]))


@st.composite
def histories(draw: st.DrawFn, max_buckets: int = 3, max_events: int = 25) -> History:
    ids = draw(st.lists(bucket_ids, min_size=1, max_size=max_buckets, unique=True))
    buckets = []
    events: dict[str, list[tuple[int, int, bytes]]] = {}
    for name in ids:
        buckets.append(Bucket(
            id=name, num=0, type=draw(st.sampled_from(["currentwindow", "afkstatus", "t ✓"])),
            client=draw(st.text(max_size=8)), hostname=draw(st.text(max_size=8)),
            created=draw(st.integers(0, 2**62)),
            data=canonical_data(draw(st.dictionaries(st.text(max_size=4), scalars,
                                                     max_size=2)))))
        rows = draw(st.lists(
            st.tuples(starts, durations, datas.map(canonical_data)), max_size=max_events,
            unique=True))
        events[name] = [(s, d, x) for s, d, x in rows if -(2**63) <= s + d < 2**63]
    return History(buckets, events)


def load(path: Path, history: History) -> Env:
    """A store at ``path`` holding the history (through the real writer)."""
    env = Env(path)
    writer = Writer(env)
    writer.start()
    try:
        for bucket in history.buckets:
            rows = history.events[bucket.id]
            copy = Bucket(id=bucket.id, num=0, type=bucket.type, client=bucket.client,
                          hostname=bucket.hostname, created=bucket.created, data=bucket.data)

            def op(writes: Any, copy: Bucket = copy,
                   rows: list[tuple[int, int, bytes]] = rows) -> None:
                num = create_or_get(writes, copy)[0]
                if rows:
                    BulkInserter(writes, num).add(*map(list, zip(*rows, strict=True)))

            writer.run_sync(op)
    finally:
        writer.stop()
    return env


def snapshot(env: Env, metadata: bool = True) -> dict[str, Any]:
    """Every bucket's metadata and sorted (start, duration, data) rows."""
    reader = Reader(env)
    out: dict[str, Any] = {}
    for bucket in reader.bucket_list():
        rows = sorted((e.start, e.duration, e.data) for e in reader.events(bucket.id))
        meta = (bucket.type, bucket.client, bucket.hostname, bucket.created, bucket.data)
        out[bucket.id] = (meta if metadata else None, rows)
    return out


def expected(history: History, metadata: bool = True) -> dict[str, Any]:
    return {
        b.id: ((b.type, b.client, b.hostname, b.created, b.data) if metadata else None,
               sorted(history.events[b.id]))
        for b in history.buckets
    }


def apply_file(env: Env, path: Path) -> Any:
    """Import a file into the store the way `fastaw import` does (validate, then apply)."""
    writer = Writer(env)
    writer.start()
    try:
        staged = stage_file(path)
        try:
            return writer.run_sync(staged.apply)
        finally:
            staged.close()
    finally:
        writer.stop()
