"""fastaw.storage.keys: byte layouts whose byte order is the order the store relies on."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from fastaw.storage import keys
from fastaw.timefmt import MAX_NS, MIN_NS

buckets = st.integers(min_value=0, max_value=2**32 - 2)
starts = st.integers(min_value=MIN_NS, max_value=MAX_NS)
event_ids = st.integers(min_value=0, max_value=2**63 - 1)
triples = st.tuples(buckets, starts, event_ids)
# few distinct values, so ties on bucket and start are common
small_triples = st.tuples(st.integers(0, 3), st.sampled_from([MIN_NS, -1, 0, 1, 5, MAX_NS]),
                          st.integers(0, 5))


@given(st.lists(st.one_of(triples, small_triples), max_size=50))
def test_byte_order_is_bucket_start_id_descending(items: list[tuple[int, int, int]]) -> None:
    by_bytes = sorted(items, key=lambda t: keys.event_key(*t))
    by_meaning = sorted(items, key=lambda t: (t[0], t[1], -t[2]))
    assert by_bytes == by_meaning


@given(triples)
@example((0, MIN_NS, 0))
@example((2**32 - 2, MAX_NS, 2**63 - 1))
def test_event_key_roundtrip(triple: tuple[int, int, int]) -> None:
    bucket, start, event_id = triple
    key = keys.event_key(bucket, start, event_id)
    assert len(key) == keys.EVENT_KEY_SIZE == 20
    assert keys.split_event_key(key) == triple
    assert keys.key_start(key) == start
    assert keys.key_id(key) == event_id
    assert keys.read_u32(key[:4]) == bucket


@given(triples, triples)
def test_prefixes_bound_a_bucket(a: tuple[int, int, int], b: tuple[int, int, int]) -> None:
    bucket, start, event_id = a
    key = keys.event_key(bucket, start, event_id)
    assert key.startswith(keys.bucket_prefix(bucket))
    assert key.startswith(keys.bucket_start_prefix(bucket, start))
    assert keys.bucket_prefix(bucket) <= key < keys.bucket_end_key(bucket)
    other = keys.event_key(*b)
    if b[0] > bucket:
        assert keys.bucket_end_key(bucket) <= other
    # a scan from the prefix of a later start never sees earlier starts of the bucket
    if b[0] == bucket and b[1] < start:
        assert other < keys.bucket_start_prefix(bucket, start)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_u32_roundtrip_and_order(a: int, b: int) -> None:
    assert keys.read_u32(keys.u32(a)) == a
    assert (keys.u32(a) < keys.u32(b)) == (a < b)


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_u64_and_id_keys_roundtrip_and_order(a: int, b: int) -> None:
    assert keys.read_u64(keys.u64(a)) == a
    assert (keys.u64(a) < keys.u64(b)) == (a < b)
    assert (keys.id_key(a) < keys.id_key(b)) == (a < b)


@given(st.integers(MIN_NS, MAX_NS), st.binary(max_size=64))
def test_event_value_roundtrip(duration: int, rendered: bytes) -> None:
    value = keys.event_value(duration, rendered)
    assert keys.value_duration(value) == duration
    assert keys.value_duration(memoryview(value)) == duration
    assert value[keys.VALUE_HEADER_SIZE:] == rendered


@given(starts, starts)
@example(MIN_NS, MAX_NS)
def test_windows_cover_every_start_in_order(a: int, b: int) -> None:
    window = keys.window_of(a)
    first, last = keys.window_bounds(window)
    assert first <= a <= last
    assert last - first + 1 == 1 << keys.CHUNK_SHIFT
    if a <= b:
        assert keys.window_of(a) <= keys.window_of(b)
    assert (keys.window_key(0, keys.window_of(a)) <= keys.window_key(0, keys.window_of(b))) == (
        keys.window_of(a) <= keys.window_of(b))


def test_start_extremes_match_int64() -> None:
    assert keys.MIN_START == MIN_NS
    assert keys.MAX_START == MAX_NS
    assert keys.bucket_start_prefix(1, MIN_NS) == keys.u32(1) + bytes(8)
    assert keys.bucket_start_prefix(1, MAX_NS) == keys.u32(1) + b"\xff" * 8
