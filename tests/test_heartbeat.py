"""The heartbeat merge rule (fastaw.heartbeat) and the anchor algorithm of the store.

Both are checked against plain reference implementations written here from the spec
(§4.1 merge rule, §4.2/§4.5 anchor), not from the code under test.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from operator import methodcaller
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fastaw.heartbeat import merge_heartbeat
from fastaw.models import Bucket, Event, canonical_data
from fastaw.storage import Env, Reader, Writer, keys
from fastaw.timefmt import NS_PER_SECOND, parse_datetime

S = NS_PER_SECOND


# -- the reference: spec §4.1 in plain Python ----------------------------------------------

def json_equal(a: Any, b: Any) -> bool:
    """JSON-typed deep equality: 1 ≠ 1.0 ≠ true, key order irrelevant (aw-server-rust)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@dataclass
class Ref:
    id: int | None
    start: int
    duration: int
    data: Any


def reference_merge(last: Ref, beat: Ref, pulsetime: int) -> Ref | None:
    """Spec §4.1: merge iff same data, not earlier than L, starts within L.end + pulsetime."""
    if not json_equal(last.data, beat.data):
        return None
    if beat.start < last.start:
        return None
    if beat.start > last.start + last.duration + pulsetime:
        return None
    end = max(last.start + last.duration, beat.start + beat.duration)
    if end - last.start < 0:  # aw-server-rust refuses a negative merged duration
        return None
    return Ref(last.id, last.start, end - last.start, last.data)


def as_event(ref: Ref) -> Event:
    return Event(ref.id, ref.start, ref.duration, canonical_data(ref.data))


# -- strategies ----------------------------------------------------------------------------

finite_floats = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda x: not (x == 0 and str(x).startswith("-")))
json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | finite_floats | st.text(
    max_size=4)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=3),
    max_leaves=6,
)
POOL: list[dict[str, Any]] = [
    {}, {"a": 1}, {"a": 1.0}, {"a": True}, {"a": "1"}, {"a": 1, "b": 2}, {"b": 2, "a": 1},
    {"a": [1, {"x": None}]}, {"a": [1, {"x": None}], "z": {}}, {"app": "x", "title": "é"},
]
data_values = st.sampled_from(POOL) | st.dictionaries(st.text(max_size=3), json_values,
                                                      max_size=3)
# times in a small range so that ties and boundary cases are frequent
instants = st.integers(0, 40) | st.integers(0, 40).map(lambda s: s * S)
durations = st.integers(-10, 20) | st.integers(-2, 20).map(lambda s: s * S)
pulsetimes = st.integers(0, 15) | st.integers(0, 15).map(lambda s: s * S)


@st.composite
def refs(draw: st.DrawFn, with_id: bool) -> Ref:
    return Ref(draw(st.integers(1, 10**6)) if with_id else None, draw(instants), draw(durations),
               draw(data_values))


# -- the pure rule --------------------------------------------------------------------------

@given(refs(True), refs(False), pulsetimes)
@example(Ref(1, 0, 1 * S, {}), Ref(None, 2 * S, 1 * S, {}), 1 * S)  # touching the window
@example(Ref(1, 0, 1 * S, {}), Ref(None, 2 * S + 1, 1 * S, {}), 1 * S)  # one ns too late
@example(Ref(1, 5, 0, {}), Ref(None, 4, 10, {}), 100)  # starts before the last event
@example(Ref(1, 0, -5, {}), Ref(None, 0, -6, {}), 0)  # negative merged duration
@example(Ref(1, 0, 0, {"a": 1}), Ref(None, 0, 0, {"a": 1.0}), 10)  # 1 vs 1.0
def test_merge_matches_reference(last: Ref, beat: Ref, pulsetime: int) -> None:
    expected = reference_merge(last, beat, pulsetime)
    got = merge_heartbeat(as_event(last), as_event(beat), pulsetime)
    if expected is None:
        assert got is None
    else:
        assert got == as_event(expected)


def test_merge_pinned_aw_core_cases() -> None:
    """aw-core ``test_heartbeat_merge`` / ``_merge_fail`` / ``_same_timestamp``."""
    data = canonical_data({"label": "test"})
    last = Event(7, 0, 1 * S, data)
    # merge: 1 s later with pulsetime 2 → one event of 2 s, the last event's id and start
    assert merge_heartbeat(last, Event(None, 1 * S, 1 * S, data), 2 * S) == Event(
        7, 0, 2 * S, data)
    # gap larger than the pulsetime
    assert merge_heartbeat(last, Event(None, 4 * S, 1 * S, data), 2 * S) is None
    # different data
    assert merge_heartbeat(last, Event(None, 1 * S, 1 * S, canonical_data({"label": "x"})),
                           2 * S) is None
    # same timestamp, either order: the longer duration wins
    assert merge_heartbeat(Event(1, 0, 1 * S, data), Event(None, 0, 3 * S, data), 0) == Event(
        1, 0, 3 * S, data)
    assert merge_heartbeat(Event(1, 0, 3 * S, data), Event(None, 0, 1 * S, data), 0) == Event(
        1, 0, 3 * S, data)
    # a heartbeat inside the event leaves it unchanged, but merges
    assert merge_heartbeat(Event(1, 0, 10 * S, data), Event(None, 2 * S, 1 * S, data), 0) == (
        Event(1, 0, 10 * S, data))


def test_reference_json_equal() -> None:
    assert json_equal({"a": 1, "b": [1, {"c": None}]}, {"b": [1, {"c": None}], "a": 1})
    assert not json_equal({"a": 1}, {"a": 1.0})
    assert not json_equal({"a": 1}, {"a": True})
    assert not json_equal([1, 2], [2, 1])


@given(data_values, data_values)
def test_canonical_data_equality_is_json_equality(a: Any, b: Any) -> None:
    assert (canonical_data(a) == canonical_data(b)) == json_equal(a, b)


# -- the anchor algorithm: real store vs a model ------------------------------------------

@dataclass
class AnchorModel:
    """Spec §4.2/§4.5 as fastaw decided it: the anchor is the event the previous heartbeat
    produced; any other write to the bucket resets it; the fallback is the newest event by
    start (ties: smallest id)."""

    next_id: int
    events: dict[int, Ref] = field(default_factory=dict)
    anchor: int | None = None

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def heartbeat(self, beat: Ref, pulsetime: int) -> Ref:
        last = self.events.get(self.anchor) if self.anchor is not None else None
        if last is None and self.events:
            last = max(self.events.values(), key=lambda e: (e.start, -(e.id or 0)))
        merged = None if last is None else reference_merge(last, beat, pulsetime)
        if merged is not None and merged.id is not None:
            self.events[merged.id] = merged
            self.anchor = merged.id
            return merged
        event = Ref(self._new_id(), beat.start, beat.duration, beat.data)
        assert event.id is not None
        self.events[event.id] = event
        self.anchor = event.id
        return event

    def insert(self, event: Ref) -> Ref:
        if event.id is None:
            event = Ref(self._new_id(), event.start, event.duration, event.data)
        else:
            self.next_id = max(self.next_id, event.id + 1)
        assert event.id is not None
        self.events[event.id] = event
        self.anchor = None
        return event

    def delete(self, event_id: int) -> None:
        del self.events[event_id]
        self.anchor = None

    def listing(self) -> list[Ref]:
        """Newest first; equal starts by id ascending."""
        return sorted(self.events.values(), key=lambda e: (-e.start, e.id))


operations = st.lists(
    st.one_of(
        st.tuples(st.just("heartbeat"), refs(False), pulsetimes),
        st.tuples(st.just("heartbeat"), refs(False), pulsetimes),
        st.tuples(st.just("insert"), refs(False)),
        st.tuples(st.just("replace"), st.integers(0, 100), refs(False)),
        st.tuples(st.just("delete"), st.integers(0, 100)),
    ),
    max_size=25,
)
_bucket_names = itertools.count()


def _decode(rendered: bytes) -> Ref:
    raw = msgspec.json.decode(rendered)
    return Ref(raw["id"], parse_datetime(raw["timestamp"]), round(raw["duration"] * 1e9),
               raw["data"])


def _same(ref: Ref, event: Ref) -> bool:
    return (ref.id, ref.start, ref.duration) == (event.id, event.start, event.duration) and (
        json_equal(ref.data, event.data))


def _next_id(env: Env) -> int:
    with env.read() as txn:
        raw = txn.get(b"next_id", db=env.meta)
    return 1 if raw is None else keys.read_u64(raw)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations)
def test_heartbeat_stream_matches_anchor_model(env: Env, writer: Writer, reader: Reader,
                                               ops: list[tuple[Any, ...]]) -> None:
    name = f"stream-{next(_bucket_names)}"
    writer.run_sync(lambda w: w.create_bucket(
        Bucket(id=name, num=0, type="t", client="c", hostname="h", created=0)))
    model = AnchorModel(next_id=_next_id(env))
    for op in ops:
        kind = op[0]
        if kind == "heartbeat":
            beat, pulsetime = op[1], op[2]
            rendered = writer.run_sync(methodcaller("heartbeat", name, as_event(beat), pulsetime))
            expected = model.heartbeat(beat, pulsetime)
            assert _same(expected, _decode(rendered)), (op, _decode(rendered), expected)
        elif kind in ("insert", "replace"):
            event = op[-1]
            if kind == "replace":
                if not model.events:
                    continue
                victim = sorted(model.events)[op[1] % len(model.events)]
                event = Ref(victim, event.start, event.duration, event.data)
            (rendered,) = writer.run_sync(methodcaller("insert_events", name, [as_event(event)]))
            assert _same(model.insert(event), _decode(rendered))
        else:
            if not model.events:
                continue
            victim = sorted(model.events)[op[1] % len(model.events)]
            assert writer.run_sync(methodcaller("delete_event", name, victim)) is True
            model.delete(victim)
    stored = [Ref(e.id, e.start, e.duration, msgspec.json.decode(e.data))
              for e in reader.events(name)]
    expected_listing = model.listing()
    assert len(stored) == len(expected_listing)
    assert all(_same(a, b) for a, b in zip(expected_listing, stored, strict=True)), (
        stored, expected_listing)
    assert reader.count(name) == len(expected_listing)


def test_anchor_survives_other_buckets_writes(env: Env, writer: Writer, reader: Reader) -> None:
    """Writes to another bucket do not reset this bucket's anchor."""
    for name in ("a", "b"):
        writer.run_sync(methodcaller("create_bucket", Bucket(
            id=name, num=0, type="t", client="c", hostname="h", created=0)))
    data = canonical_data({"x": 1})
    writer.run_sync(lambda w: w.heartbeat("a", Event(None, 100 * S, 0, data), 10 * S))
    writer.run_sync(lambda w: w.heartbeat("a", Event(None, 10 * S, 0, data), 10 * S))
    writer.run_sync(lambda w: w.insert_events("b", [Event(None, 0, S, data)]))
    merged = writer.run_sync(lambda w: w.heartbeat("a", Event(None, 15 * S, 0, data), 10 * S))
    assert _decode(merged).start == 10 * S and _decode(merged).duration == 5 * S
    assert [(e.start, e.duration) for e in reader.events("a")] == [(100 * S, 0), (10 * S, 5 * S)]


@pytest.mark.parametrize("pulsetime", [0, 10 * S])
def test_heartbeat_into_missing_bucket(writer: Writer, pulsetime: int) -> None:
    from fastaw.errors import NotFound

    with pytest.raises(NotFound):
        writer.run_sync(lambda w: w.heartbeat("nope", Event(None, 0, 0, b"{}"), pulsetime))
