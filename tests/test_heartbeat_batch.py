"""Heartbeats batched in memory (fastaw.storage.heartbeats through the writer) against the
nested-transaction path (`Writes.heartbeat`, one by one): same answers, same store, for
random mixes of heartbeats and other writes cut into random batches."""

from __future__ import annotations

import concurrent.futures
import operator
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fastaw.errors import FastawError
from fastaw.models import Bucket, Event
from fastaw.storage import Env, Writer
from fastaw.storage.maintenance import check
from fastaw.storage.mutations import Writes
from fastaw.storage.writer import _classic, _Job

S = 10**9
BASE = 1_700_000_000 * S
DATAS = [b'{"app":"a"}', b'{"app":"b"}', b'{"n":1}', b'{"n":1.0}']


def _bucket(name: str) -> Bucket:
    return Bucket(id=name, num=0, type="t", client="c", hostname="h", created=0)


beats = st.tuples(
    st.just("hb"), st.sampled_from(["b0", "b1", "nope"]),
    st.builds(Event, st.none() | st.sampled_from([1, 3, 999]),
              st.integers(-5, 120).map(lambda s: BASE + s * S),
              st.sampled_from([0, 0, S, 5 * S, -2 * S]), st.sampled_from(DATAS)),
    st.sampled_from([0, 10 * S, 60 * S]))
others = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(["b0", "b1"]),
              st.integers(-5, 120).map(lambda s: BASE + s * S)),
    st.tuples(st.just("delete_event"), st.sampled_from(["b0", "b1"]), st.integers(1, 8)),
    st.tuples(st.just("recreate"), st.sampled_from(["b0", "b1"])),
)
scripts = st.lists(st.one_of(beats, beats, beats, others), max_size=30)


def _op(step: tuple[Any, ...]) -> Any:
    kind = step[0]
    if kind == "insert":
        return lambda w: w.insert_events(step[1], [Event(None, step[2], S, DATAS[0])])
    if kind == "delete_event":
        return lambda w: w.delete_event(step[1], step[2])

    def recreate(w: Writes) -> None:
        w.delete_bucket(step[1])
        w.create_bucket(_bucket(step[1]))
    return recreate


def _jobs(script: list[tuple[Any, ...]], batched: bool) -> list[_Job]:
    jobs = []
    for step in script:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if step[0] == "hb":
            beat = (step[1], step[2], step[3])
            jobs.append(_Job(_classic(*beat), None, future, beat if batched else None))
        else:
            jobs.append(_Job(_op(step), None, future))
    return jobs


@contextmanager
def store() -> Iterator[tuple[Env, Writer]]:
    with tempfile.TemporaryDirectory() as tmp:
        env = Env(Path(tmp) / "store", durable=False)
        writer = Writer(env)  # not started: batches are applied directly
        try:
            yield env, writer
        finally:
            env.close()


def snapshot(env: Env) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with env.read() as txn:
        for name in ("events", "ids", "meta", "buckets"):
            with txn.cursor(db=getattr(env, name)) as cursor:
                out[name] = [(bytes(k), bytes(v)) for k, v in cursor]
        with txn.cursor(db=env.stats) as cursor:
            out["stats"] = [(bytes(k), msgspec.msgpack.decode(bytes(v))) for k, v in cursor]
        with txn.cursor(db=env.windows) as cursor:  # which windows changed, not how often
            out["windows"] = [bytes(k) for k in cursor.iternext(values=False)]
    return out


def outcome(job: _Job) -> Any:
    ok, value = job.outcome
    if ok:
        return value
    assert isinstance(value, FastawError), value
    return (type(value).__name__, str(value))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scripts, st.lists(st.integers(1, 8), min_size=1, max_size=10))
@example([("hb", "b0", Event(None, BASE, 0, DATAS[0]), 60 * S)] * 3, [3])
@example([("hb", "b0", Event(None, BASE, 0, DATAS[0]), 60 * S),
          ("hb", "b0", Event(1, BASE + S, 0, DATAS[1]), 60 * S),
          ("hb", "b0", Event(None, BASE + 2 * S, 0, DATAS[1]), 60 * S)], [3])
def test_batched_heartbeats_equal_one_by_one(script: list[tuple[Any, ...]],
                                              cuts: list[int]) -> None:
    results = []
    for batched in (False, True):
        with store() as (env, writer):
            writer._apply(_jobs([("recreate", "b0"), ("recreate", "b1")], False))  # type: ignore[list-item]
            jobs = _jobs(script, batched)
            answers = []
            start, sizes = 0, iter(cuts * (len(jobs) + 1))
            while start < len(jobs):
                batch = jobs[start:start + next(sizes)]
                writer._apply(batch)
                answers += [outcome(job) for job in batch]
                start += len(batch)
            report = check(env)
            assert not report.problems, report.problems
            results.append((answers, snapshot(env)))
    assert results[0] == results[1]


def test_a_heartbeat_to_a_missing_bucket_fails_alone(tmp_path: Path) -> None:
    env = Env(tmp_path / "store", durable=False)
    writer = Writer(env)
    writer.start()
    try:
        writer.run_sync(lambda w: w.create_bucket(_bucket("b")))
        beat = Event(None, BASE, 0, DATAS[0])
        jobs = [_Job(_classic(name, beat, S), None, concurrent.futures.Future(), (name, beat, S))
                for name in ("b", "nope", "b")]
        writer._apply(jobs)
        assert [ok for ok, _ in map(operator.attrgetter("outcome"), jobs)] == [True, False, True]
        assert writer.heartbeat_sync("b", Event(None, BASE + S, 0, DATAS[0]), S).startswith(
            b'{"id":1,')
    finally:
        writer.stop()
        env.close()
