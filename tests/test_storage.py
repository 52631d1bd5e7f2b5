"""The LMDB store (fastaw.storage) against plain models: stats invariants, range reads,
map growth, schema version, reopening."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from operator import methodcaller
from pathlib import Path
from typing import Any

import lmdb
import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fastaw.errors import AlreadyExists, BadRequest, NotFound, StorageError
from fastaw.models import Bucket, Event
from fastaw.storage import Env, Reader, Writer, keys
from fastaw.storage.rows import Rows
from fastaw.timefmt import MAX_NS, MIN_NS, NS_PER_SECOND, parse_datetime

S = NS_PER_SECOND
_names = itertools.count()


def new_bucket(writer: Writer, prefix: str = "b") -> str:
    name = f"{prefix}-{next(_names)}"
    writer.run_sync(methodcaller("create_bucket", Bucket(
        id=name, num=0, type="t", client="c", hostname="h", created=0)))
    return name


@dataclass(frozen=True)
class Ev:
    id: int
    start: int
    duration: int
    data: bytes

    @property
    def end(self) -> int:
        return self.start + self.duration


@dataclass
class StoreModel:
    """Buckets → {id: event}; ids are global."""

    buckets: dict[str, dict[int, Ev]] = field(default_factory=dict)

    def where(self, event_id: int) -> str | None:
        for name, events in self.buckets.items():
            if event_id in events:
                return name
        return None

    def put(self, name: str, event: Ev) -> None:
        owner = self.where(event.id)
        if owner is not None:
            del self.buckets[owner][event.id]
        self.buckets[name][event.id] = event

    def listing(self, name: str) -> list[Ev]:
        return sorted(self.buckets[name].values(), key=lambda e: (-e.start, e.id))


def query(events: list[Ev], start: int | None, end: int | None,
          limit: int | None) -> list[Ev]:
    """Spec §2.4 (aw-server-rust): overlap inclusive, clip, newest first, then limit."""
    if start is not None and end is not None and start > end:
        return []
    out = []
    for e in events:
        if (start is None or e.end >= start) and (end is None or e.start <= end):
            new_start = e.start if start is None else max(e.start, start)
            new_end = e.end if end is None else min(e.end, end)
            out.append(Ev(e.id, new_start, new_end - new_start, e.data))
    return out if limit is None else out[:limit]


def stored(env: Env, reader: Reader, name: str, **kwargs: Any) -> list[Ev]:
    return [Ev(e.id or 0, e.start, e.duration, e.data) for e in reader.events(name, **kwargs)]


def from_json(body: bytes) -> list[Ev]:
    return [Ev(r["id"], parse_datetime(r["timestamp"]), round(r["duration"] * 1e9),
               msgspec.json.encode(r["data"], order="sorted")) for r in msgspec.json.decode(body)]


def check_invariants(env: Env, model: StoreModel, names: dict[str, str]) -> None:
    """Every invariant stated at the top of fastaw/storage/rows.py, against the model."""
    with env.read() as txn:
        rows = Rows(env, txn)
        for logical, name in names.items():
            events = list(model.buckets[logical].values())
            bucket = rows.require_bucket(name)
            stats = rows.stats(bucket.num)
            assert stats.count == len(events)
            assert stats.end == (max(e.end for e in events) if events else None)
            assert all(stats.min_duration <= e.duration <= stats.max_duration for e in events)
            assert rows.first_start(bucket.num) == (min(e.start for e in events)
                                                    if events else None)
            prefix = keys.bucket_prefix(bucket.num)
            with txn.cursor(db=env.events) as cursor:
                found = cursor.set_range(prefix)
                in_bucket = 0
                while found and bytes(cursor.key()).startswith(prefix):
                    in_bucket += 1
                    found = cursor.next()
            assert in_bucket == len(events)
        # the whole store: events ⇔ ids, pointing at each other
        with txn.cursor(db=env.events) as cursor:
            for key, _ in cursor:
                _, _, event_id = keys.split_event_key(bytes(key))
                assert bytes(txn.get(keys.id_key(event_id), db=env.ids)) == bytes(key)[:12]
        with txn.cursor(db=env.ids) as cursor:
            for id_key, prefix in cursor:
                event_key = bytes(prefix) + keys.u64(keys.MAX_U64 - keys.read_u64(bytes(id_key)))
                assert txn.get(event_key, db=env.events) is not None
        assert txn.stat(env.ids)["entries"] == txn.stat(env.events)["entries"]


data_pool = st.sampled_from([b"{}", b'{"a":1}', b'{"a":1.0}', b'{"b":"x"}'])
instants = st.integers(-20, 60).map(lambda s: s * S) | st.integers(-20, 60)
durations = st.integers(-5, 30).map(lambda s: s * S) | st.integers(0, 30)
ops = st.lists(st.one_of(
    st.tuples(st.just("insert"), st.sampled_from("xy"), instants, durations, data_pool),
    st.tuples(st.just("replace"), st.sampled_from("xy"), st.integers(0, 99), instants,
              durations, data_pool),
    st.tuples(st.just("delete"), st.integers(0, 99)),
    st.tuples(st.just("heartbeat"), st.sampled_from("xy"), instants, durations, data_pool,
              st.integers(0, 10).map(lambda s: s * S)),
), max_size=30)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops)
@example([("insert", "x", 0, 60 * S, b"{}"), ("insert", "x", 100 * S, -50 * S, b"{}"),
          ("insert", "x", 10 * S, 55 * S, b"{}"), ("delete", 2)])  # end after a delete when
# the newest event has a negative duration: the end is that of an older event (60 s)
def test_stats_invariants_after_random_writes(env: Env, writer: Writer, reader: Reader,
                                              operations: list[tuple[Any, ...]]) -> None:
    names = {"x": new_bucket(writer, "x"), "y": new_bucket(writer, "y")}
    model = StoreModel({"x": {}, "y": {}})
    for op in operations:
        kind = op[0]
        if kind == "insert":
            _, where, start, duration, data = op
            (rendered,) = writer.run_sync(methodcaller(
                "insert_events", names[where], [Event(None, start, duration, data)]))
            event_id = msgspec.json.decode(rendered)["id"]
            model.put(where, Ev(event_id, start, duration, data))
        elif kind == "replace":
            _, where, index, start, duration, data = op
            every = sorted(i for events in model.buckets.values() for i in events)
            if not every:
                continue
            victim = every[index % len(every)]
            writer.run_sync(methodcaller("insert_events", names[where],
                                         [Event(victim, start, duration, data)]))
            model.put(where, Ev(victim, start, duration, data))
        elif kind == "delete":
            every = sorted(i for events in model.buckets.values() for i in events)
            if not every:
                continue
            victim = every[op[1] % len(every)]
            owner = model.where(victim)
            assert owner is not None
            assert writer.run_sync(methodcaller("delete_event", names[owner], victim))
            del model.buckets[owner][victim]
        else:
            _, where, start, duration, data, pulsetime = op
            rendered = writer.run_sync(methodcaller(
                "heartbeat", names[where], Event(None, start, duration, data), pulsetime))
            (event,) = from_json(b"[" + rendered + b"]")
            model.put(where, event)
    check_invariants(env, model, names)
    for logical, name in names.items():
        assert stored(env, reader, name) == model.listing(logical)
        assert reader.count(name) == len(model.buckets[logical])


@st.composite
def ranges(draw: st.DrawFn) -> tuple[int | None, int | None, int | None]:
    bound = st.none() | instants
    return draw(bound), draw(bound), draw(st.none() | st.integers(0, 12))


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(instants, durations, data_pool), max_size=25),
       st.lists(ranges(), min_size=1, max_size=6))
def test_range_reads_match_model(env: Env, writer: Writer, reader: Reader,
                                 rows: list[tuple[int, int, bytes]],
                                 queries: list[tuple[int | None, int | None, int | None]]) -> None:
    name = new_bucket(writer)
    rendered = writer.run_sync(methodcaller(
        "insert_events", name, [Event(None, s, d, data) for s, d, data in rows]))
    events = sorted(from_json(b"[" + b",".join(rendered) + b"]"),
                    key=lambda e: (-e.start, e.id))
    for start, end, limit in queries:
        expected = query(events, start, end, limit)
        assert stored(env, reader, name, start=start, end=end, limit=limit) == expected
        assert from_json(reader.events_json(name, start, end, limit)) == expected
        assert reader.count(name, start, end) == len(query(events, start, end, None))


def test_limit_zero_and_empty_bucket(writer: Writer, reader: Reader) -> None:
    name = new_bucket(writer)
    assert reader.events_json(name) == b"[]"
    assert reader.count(name) == 0
    writer.run_sync(methodcaller("insert_events", name, [Event(None, 0, S, b"{}")]))
    assert reader.events_json(name, limit=0) == b"[]"
    assert reader.count(name, 1, 0) == 0
    with pytest.raises(NotFound):
        reader.events_json("missing")


def test_extreme_instants(env: Env, writer: Writer, reader: Reader) -> None:
    """Events at both ends of the int64 range, with long durations, survive every path."""
    name = new_bucket(writer)
    first = writer.run_sync(methodcaller("insert_events", name, [
        Event(None, MIN_NS, 10 * S, b"{}"), Event(None, MIN_NS + S, 2**62, b"{}"),
        Event(None, MAX_NS - S, S, b"{}")]))
    ids = [msgspec.json.decode(r)["id"] for r in first]
    assert [e.start for e in reader.events(name)] == [MAX_NS - S, MIN_NS + S, MIN_NS]
    assert [e.start for e in reader.events(name, start=MIN_NS, end=MIN_NS)] == [MIN_NS]
    assert reader.count(name, MAX_NS, MAX_NS) == 1
    # deleting the longest event makes the store recompute the end with a long look-back
    assert writer.run_sync(methodcaller("delete_event", name, ids[2]))
    assert writer.run_sync(methodcaller("delete_event", name, ids[1]))
    with env.read() as txn:
        rows = Rows(env, txn)
        assert rows.stats(rows.require_bucket(name).num).end == MIN_NS + 10 * S


def test_window_generations_bump_on_writes(env: Env, writer: Writer) -> None:
    name = new_bucket(writer)

    def generation(start: int) -> int:
        with env.read() as txn:
            num = Rows(env, txn).require_bucket(name).num
            raw = txn.get(keys.window_key(num, keys.window_of(start)), db=env.windows)
        return 0 if raw is None else keys.read_u64(raw)

    (rendered,) = writer.run_sync(methodcaller("insert_events", name, [Event(None, 0, S, b"{}")]))
    assert generation(0) == 1
    assert generation(1 << (keys.CHUNK_SHIFT + 1)) == 0
    writer.run_sync(methodcaller("heartbeat", name, Event(None, S, 0, b"{}"), S))
    assert generation(0) == 2
    writer.run_sync(methodcaller("delete_event", name, msgspec.json.decode(rendered)["id"]))
    assert generation(0) == 3


def test_bucket_errors(writer: Writer) -> None:
    name = new_bucket(writer)
    with pytest.raises(AlreadyExists):
        writer.run_sync(methodcaller("create_bucket", Bucket(
            id=name, num=0, type="t", client="c", hostname="h", created=0)))
    with pytest.raises(BadRequest):
        writer.run_sync(methodcaller("create_bucket", Bucket(
            id="", num=0, type="t", client="c", hostname="h", created=0)))
    with pytest.raises(NotFound):
        writer.run_sync(methodcaller("delete_bucket", "missing"))
    with pytest.raises(NotFound):
        writer.run_sync(methodcaller("insert_events", "missing", []))


def test_failed_operation_leaves_no_trace(env: Env, writer: Writer, reader: Reader) -> None:
    """An operation that raises is rolled back alone; the rest of the batch commits."""
    name = new_bucket(writer)

    def half_then_fail(w: Any) -> None:
        w.insert_events(name, [Event(None, 0, S, b"{}")])
        raise BadRequest("no")

    with pytest.raises(BadRequest):
        writer.run_sync(half_then_fail)
    assert reader.count(name) == 0
    writer.run_sync(methodcaller("insert_events", name, [Event(None, 0, S, b"{}")]))
    assert reader.count(name) == 1


# -- the environment -----------------------------------------------------------------------

def test_map_grows_and_nothing_is_lost(tmp_path: Path) -> None:
    env = Env(tmp_path / "small", map_size=64 * 1024)
    initial = env.lmdb.info()["map_size"]
    writer = Writer(env)
    writer.start()
    try:
        name = new_bucket(writer)
        payload = b'{"title":"' + b"x" * 300 + b'"}'
        expected = 0
        for batch in range(30):
            writer.run_sync(methodcaller("insert_events", name, [
                Event(None, (batch * 100 + i) * S, S, payload) for i in range(100)]))
            expected += 100
        grown = env.lmdb.info()["map_size"]
        assert grown >= initial * 8  # doubled at least three times
        reader = Reader(env)
        assert reader.count(name) == expected
        listed = reader.events(name)
        assert len(listed) == expected
        assert [e.start for e in listed] == [i * S for i in range(expected - 1, -1, -1)]
        assert all(e.data == payload for e in listed)
    finally:
        writer.stop()
        env.close()
    reopened = Env(tmp_path / "small", map_size=64 * 1024)
    try:
        assert Reader(reopened).count(name) == expected
    finally:
        reopened.close()


def test_data_survives_reopening(tmp_path: Path) -> None:
    """aw-datastore ``test_datastore_reload``: metadata is the same after reopening."""
    env = Env(tmp_path / "store")
    writer = Writer(env)
    writer.start()
    name = new_bucket(writer)
    writer.run_sync(methodcaller("insert_events", name, [
        Event(None, 5 * S, 10 * S, b'{"a":1}'), Event(None, 0, S, b"{}")]))
    writer.run_sync(methodcaller("set_setting", "k", b"[1,2]"))
    before = Reader(env).bucket_json(name), Reader(env).events_json(name)
    writer.stop()
    env.close()
    env = Env(tmp_path / "store")
    try:
        reader = Reader(env)
        assert (reader.bucket_json(name), reader.events_json(name)) == before
        assert reader.setting_json("k") == b"[1,2]"
        # ids continue after the highest one ever given out
        writer = Writer(env)
        writer.start()
        (rendered,) = writer.run_sync(methodcaller("insert_events", name,
                                                   [Event(None, 0, 0, b"{}")]))
        writer.stop()
        assert msgspec.json.decode(rendered)["id"] == 3
    finally:
        env.close()


def test_schema_version_mismatch_is_refused(tmp_path: Path) -> None:
    Env(tmp_path / "store").close()
    raw = lmdb.open(str(tmp_path / "store" / "fastaw.lmdb"), subdir=False, max_dbs=16)
    with raw.begin(write=True) as txn:
        txn.put(b"schema", keys.u32(keys.SCHEMA_VERSION + 1), db=raw.open_db(b"meta", txn=txn))
    raw.close()
    with pytest.raises(StorageError, match="schema version"):
        Env(tmp_path / "store")
    with pytest.raises(StorageError, match="schema version"):
        Env(tmp_path / "store", readonly=True)


def test_readonly_open_of_a_foreign_file_is_refused(tmp_path: Path) -> None:
    raw = lmdb.open(str(tmp_path / "fastaw.lmdb"), subdir=False, max_dbs=16)
    with raw.begin(write=True) as txn:
        for name in (b"events", b"ids", b"buckets", b"stats", b"kv", b"meta", b"windows",
                     b"chunks"):
            raw.open_db(name, txn=txn)
    raw.close()
    with pytest.raises(StorageError, match="not a fastaw store"):
        Env(tmp_path, readonly=True)


def test_readonly_open_without_sub_databases_is_refused(tmp_path: Path) -> None:
    lmdb.open(str(tmp_path / "fastaw.lmdb"), subdir=False).close()
    with pytest.raises(StorageError, match="not a usable fastaw store"):
        Env(tmp_path, readonly=True)


def test_unopenable_path_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "fastaw.lmdb").write_bytes(b"this is not an LMDB file" * 1000)
    with pytest.raises(StorageError):
        Env(tmp_path / "store")


def test_settings_roundtrip(writer: Writer, reader: Reader) -> None:
    writer.run_sync(methodcaller("set_setting", "theme", b'"dark"'))
    writer.run_sync(methodcaller("set_setting", "zero", b"0"))
    assert reader.settings_json() == b'{"theme":"dark","zero":0}'
    writer.run_sync(methodcaller("delete_setting", "theme"))
    assert reader.setting_json("theme") == b"null"
    assert reader.settings_json() == b'{"zero":0}'
    with pytest.raises(BadRequest):
        writer.run_sync(methodcaller("set_setting", "k" * 128, b"1"))
