"""Column-wise inserts (fastaw.storage.inserts, models.columns_from_wire) against the
per-event path (`event_from_wire` + `Writes.insert_events`), the reference: same answer,
same stored state, same 400 for the same bad event."""

from __future__ import annotations

import operator
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fastaw.errors import BadRequest, NotFound
from fastaw.models import (
    MAX_EVENT_ID,
    Bucket,
    EventIn,
    columns_from_wire,
    event_from_wire,
    render_tails,
)
from fastaw.storage import Env, Reader, Writer, keys
from fastaw.storage.inserts import assign_ids, prepare_rows
from fastaw.storage.maintenance import check
from fastaw.storage.mutations import Writes
from fastaw.timefmt import MAX_NS, MIN_NS, format_ns

BASE = 1_700_000_000 * 10**9
DAY = 86_400 * 10**9


def _item(index: int) -> str:
    return f"$[{index}]"


def column_insert(writes: Writes, bucket_id: str, raws: list[EventIn], num: int = 0
                  ) -> list[bytes]:
    """The HTTP handler's path, with the writer's part run in ``writes``."""
    columns = columns_from_wire(raws, _item)
    tails = render_tails(columns.stamps, columns.durations, columns.datas)
    rows = prepare_rows(num, columns.starts, columns.durations, tails, columns.ids)
    return writes.insert_rows(bucket_id, rows)


def event_insert(writes: Writes, bucket_id: str, raws: list[EventIn]) -> list[bytes]:
    """The per-event reference path."""
    events = [event_from_wire(raw, _item(i)) for i, raw in enumerate(raws)]
    return writes.insert_events(bucket_id, events)


@contextmanager
def store() -> Iterator[tuple[Env, Writer]]:
    with tempfile.TemporaryDirectory() as tmp:
        env = Env(Path(tmp) / "store", durable=False)
        writer = Writer(env)
        writer.start()
        try:
            yield env, writer
        finally:
            writer.stop()
            env.close()


def snapshot(env: Env) -> dict[str, Any]:
    """Everything observable: every row, the id index, stats, counters, window generations."""
    out: dict[str, Any] = {}
    with env.read() as txn:
        for name in ("events", "ids", "meta", "windows"):
            with txn.cursor(db=getattr(env, name)) as cursor:
                out[name] = [(bytes(k), bytes(v)) for k, v in cursor]
        with txn.cursor(db=env.stats) as cursor:
            # count, end and anchor; max/min_duration are bounds, which either path may
            # leave wider (events replaced within the request, a bucket emptied on the way)
            out["stats"] = [(bytes(k), operator.itemgetter(0, 2, 3)(msgspec.msgpack.decode(bytes(v))))
                            for k, v in cursor]
    return out


def wire(start: int, duration: float, data: dict[str, Any], event_id: int | None = None,
         text: str | None = None) -> EventIn:
    return EventIn(timestamp=text or format_ns(start), duration=duration, data=data,
                   id=event_id)


datas = st.dictionaries(st.sampled_from(["app", "title", "n", "x"]),
                        st.integers(-3, 3) | st.floats(-2, 2, allow_nan=False)
                        | st.sampled_from(["a", "é", "日本", 'q"uote']), max_size=3)
durations = st.sampled_from([0.0, 1.0, 0.5, 1e-9, 258.691000123, -2.0, 3600.0, 40 * 86400.0])


@st.composite
def events(draw: st.DrawFn, ids: list[int]) -> EventIn:
    start = BASE + draw(st.integers(-3 * DAY, 3 * DAY)) // 10**6 * 10**6 * draw(
        st.sampled_from([1, 1, 1, 7]))
    event_id = draw(st.none() | st.sampled_from([*ids, 1, 2, 50, 10**6]) if ids else st.none()
                    | st.sampled_from([1, 2, 50]))
    text = format_ns(start)
    shape = draw(st.sampled_from(["z", "z", "python", "offset"]))
    if shape == "python":
        text = text.replace("Z", "+00:00")
    elif shape == "offset":
        text = format_ns(start + 3600 * 10**9).replace("Z", "+01:00")
    return wire(start, draw(durations), draw(datas), event_id, text)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[list[EventIn]], list[EventIn], int]:
    """Earlier requests (into buckets 0 and 1), the batch, and its target bucket."""
    earlier = draw(st.lists(st.lists(events([]), max_size=6), max_size=3))
    batch = draw(st.lists(events([1, 2, 3, 4, 5, 6]), max_size=25))
    return earlier, batch, draw(st.sampled_from([0, 1]))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
@example(([], [wire(BASE, 1.0, {}), wire(BASE, 2.0, {}, 1)], 0))  # a fresh id, then replaced
@example(([[wire(BASE, 1.0, {"a": 1})]], [wire(BASE - DAY, 1.0, {}, 1)], 1))  # moved across
@example(([], [wire(BASE + 5, 1.0, {}), wire(BASE, 1.0, {}), wire(BASE, 1.0, {})], 0))
def test_column_inserts_equal_per_event_inserts(
        scenario: tuple[list[list[EventIn]], list[EventIn], int]) -> None:
    earlier, batch, target = scenario
    results = []
    for path in (event_insert, column_insert):
        with store() as (env, writer):
            for name in ("b0", "b1"):
                writer.run_sync(lambda w, n=name: w.create_bucket(Bucket(
                    id=n, num=0, type="t", client="c", hostname="h", created=0)))
            for i, request in enumerate(earlier):
                writer.run_sync(lambda w, r=request, b=f"b{i % 2}": event_insert(w, b, r))
            answer = writer.run_sync(lambda w, p=path: p(w, f"b{target}", batch))  # type: ignore[operator]
            report = check(env)
            assert not report.problems, report.problems
            results.append((answer, snapshot(env), Reader(env).events_json(f"b{target}")))
    assert results[0] == results[1]


@settings(max_examples=150, deadline=None)
@given(st.lists(events([]), min_size=1, max_size=12), st.data())
def test_a_bad_event_is_named_as_the_per_event_path_names_it(
        batch: list[EventIn], data: st.DataObject) -> None:
    bad = data.draw(st.sampled_from([
        {"timestamp": "2024-02-30T00:00:00Z"}, {"timestamp": "yesterday"},
        {"timestamp": "2262-04-11T23:47:16.854775808Z"},
        {"duration": 1e300}, {"duration": 1e11},
        {"id": -1}, {"id": MAX_EVENT_ID + 1},
        {"timestamp": format_ns(MAX_NS - 10**9), "duration": 2.0},
        {"timestamp": format_ns(MIN_NS + 10**9), "duration": -2.0},
    ]))
    at = data.draw(st.integers(0, len(batch)))
    fields = {"timestamp": format_ns(BASE), "duration": 0.0, "data": {}, "id": None, **bad}
    raws = [*batch[:at], EventIn(**fields), *batch[at:]]
    with pytest.raises(BadRequest) as reference:
        [event_from_wire(raw, _item(i)) for i, raw in enumerate(raws)]
    with pytest.raises(BadRequest) as columns:
        columns_from_wire(raws, _item)
    assert str(columns.value) == str(reference.value)
    assert f"$[{at}]" in str(columns.value)


@pytest.mark.parametrize("duration", [40 * 86400.0, -40 * 86400.0, 1e-10])
def test_values_beyond_the_column_fast_paths_convert_like_the_scalar_ones(
        duration: float) -> None:
    raws = [wire(BASE, duration, {"a": 1}), wire(MAX_NS - 10 * DAY, 1.0, {}),
            wire(BASE, 1.0, {}, text="2024-01-01T00:00:00.1234567891Z")]
    columns = columns_from_wire(raws, _item)
    events = [event_from_wire(raw, _item(i)) for i, raw in enumerate(raws)]
    assert columns.events() == events
    assert columns.stamps == [format_ns(e.start).encode() for e in events]


def test_a_missing_bucket_is_a_404_and_changes_nothing(env: Env, writer: Writer) -> None:
    with pytest.raises(NotFound):
        writer.run_sync(lambda w: column_insert(w, "nope", [wire(BASE, 1.0, {})]))
    with env.read() as txn:
        assert txn.get(b"next_id", db=env.meta) is None


def test_rows_prepared_for_an_old_bucket_number_land_in_the_current_one(
        env: Env, writer: Writer) -> None:
    """The handler builds key prefixes with the number it read; a bucket deleted and
    created again meanwhile has another number, and the writer re-prefixes."""
    for _ in range(2):
        writer.run_sync(lambda w: w.create_bucket(Bucket(
            id="x", num=0, type="t", client="c", hostname="h", created=0)))
        num = Reader(env).bucket("x").num  # type: ignore[union-attr]
        writer.run_sync(lambda w: w.delete_bucket("x"))
    writer.run_sync(lambda w: w.create_bucket(Bucket(
        id="x", num=0, type="t", client="c", hostname="h", created=0)))
    writer.run_sync(lambda w: column_insert(w, "x", [wire(BASE, 1.0, {})], num=num))
    assert not check(env).problems
    with env.read() as txn, txn.cursor(db=env.events) as cursor:
        assert [keys.split_event_key(bytes(k))[0] for k in cursor.iternext(values=False)] == [
            Reader(env).bucket("x").num]  # type: ignore[union-attr]


def test_assign_ids_is_one_by_one() -> None:
    assert assign_ids([None, None], 5) == ([5, 6], 7)
    assert assign_ids([None, 3, None], 5) == ([5, 3, 6], 7)
    assert assign_ids([9, None, 2], 5) == ([9, 10, 2], 11)
