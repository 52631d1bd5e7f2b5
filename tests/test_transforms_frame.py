"""The frame encodings: query-response JSON (byte-exact vs msgspec/timefmt) and Arrow IPC."""

from __future__ import annotations

import gc
from typing import Any

import msgspec
import polars as pl
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fastaw.timefmt import MAX_NS, MIN_NS, format_ns
from fastaw.transforms import frame
from fastaw.transforms.dictionary import dictionary, query_dictionary, texts_of

_encoder = msgspec.json.Encoder(order="sorted")

ns = st.integers(MIN_NS, MAX_NS)
near_now = st.integers(1_500_000_000_000_000_000, 1_800_000_000_000_000_000)
rounding = st.sampled_from([1, 1_000, 1_000_000, 1_000_000_000])
datas = st.sampled_from(["{}", '{"a":1}', '{"t":"é \\"x\\""}', '{"b":[1.0,null],"c":{"d":true}}'])


def expected_json(df: pl.DataFrame) -> bytes:
    texts = texts_of(df["data"]).to_list()
    return _encoder.encode(
        [
            {
                "data": msgspec.json.decode(data),
                "duration": dur / 1e9,
                "id": ident,
                "timestamp": format_ns(ts),
            }
            for (ident, ts, dur, _), data in zip(df.iter_rows(), texts, strict=True)
        ]
    )


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(0, 8))
    wide = draw(st.booleans())
    rows = []
    for _ in range(n):
        ts = draw(ns if wide else near_now)
        ts = max(ts - ts % draw(rounding), MIN_NS)
        dur = draw(st.integers(-(2**62), 2**62) | st.integers(-(10**12), 10**12) | st.just(0))
        rows.append((draw(st.none() | st.integers(1, 2**62)), ts, dur, draw(datas)))
    return frame.from_columns(*zip(*rows, strict=True)) if rows else frame.empty()


@settings(max_examples=300, deadline=None)
@given(frames())
@example(frame.from_columns([1], [1_500_000_000], [500_000_000], ['{"a":1}']))
@example(frame.from_columns([None], [-1], [10**16], ["{}"]))
@example(frame.from_columns([None, 2], [MIN_NS, MAX_NS], [100, 1_004_999_999], ["{}", "{}"]))
def test_to_json_bytes_is_byte_exact(df: pl.DataFrame) -> None:
    assert frame.to_json_bytes(df) == expected_json(df)
    assert b"".join(frame.iter_json_bytes(df, rows=3)) == expected_json(df)


@settings(max_examples=100, deadline=None)
@given(st.lists(frames(), max_size=5))
def test_several_lists_written_together_are_written_as_each_alone(
        dfs: list[pl.DataFrame]) -> None:
    # a list made again from the texts of the first: the same codes
    other = frame.conform(frame.stored(dfs[0])) if dfs else frame.empty()
    if dfs:
        assert other.equals(dfs[0])
    dfs = [*dfs, other]
    assert frame.to_json_bytes_many(dfs) == [expected_json(df) for df in dfs]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1) | st.integers(-(10**13), 10**13), max_size=20))
@example([1, 3, 100, 9 * 10**18, 5 * 10**8, 1_004_999_999, 10**7 * 10**9, -1, 0, 10**4])
def test_durations_print_like_msgspec(durations: list[int]) -> None:
    got = (
        pl.DataFrame({"d": pl.Series(durations, dtype=pl.Int64)})
        .with_columns(frame.giga_column(len(durations)))
        .select(frame.seconds_expr("d", "_giga"))
        .to_series()
        .to_list()
    )
    assert got == [msgspec.json.encode(d / 1e9).decode() for d in durations]


def test_timestamp_strings() -> None:
    values = [0, 1_500_000_000, 1_000_001_000, 1_000_000_001, -1, MIN_NS, MAX_NS]
    got = frame.timestamp_strings(pl.Series(values, dtype=pl.Int64)).to_list()
    assert got == [format_ns(v) for v in values]
    assert got[:4] == [
        "1970-01-01T00:00:00Z",
        "1970-01-01T00:00:01.500Z",
        "1970-01-01T00:00:01.000001Z",
        "1970-01-01T00:00:01.000000001Z",
    ]


def test_empty_json() -> None:
    assert frame.to_json_bytes(frame.empty()) == b"[]"
    assert b"".join(frame.iter_json_bytes(frame.empty())) == b"[]"


def test_conform_reorders_and_casts() -> None:
    df = pl.DataFrame({"data": ["{}"], "duration": [1], "timestamp": [2], "id": [None]})
    out = frame.conform(df)
    assert out.columns == list(frame.COLUMNS) and out.schema == frame.schema()


def test_queries_have_their_own_dictionary() -> None:
    """Frames built in a query use the worker dictionary (kept across queries until it is
    too big, or a fresh one is asked for); outside a query the default one again."""
    outside = dictionary()
    with query_dictionary() as first:
        assert first is not outside and dictionary() is first
        inner = frame.from_columns([1], [0], [0], ['{"a":1}'])
        assert inner.schema["data"] == frame.data_dtype() == pl.UInt32
        assert first.texts(inner["data"]).to_list() == ['{"a":1}']
        assert frame.to_json_bytes(inner).startswith(b'[{"data":{"a":1},')
    assert dictionary() is outside
    with query_dictionary() as again:
        assert again is first
    with query_dictionary(fresh=True) as other:
        assert other is not first and other.size == 0


def test_a_dictionary_keeps_its_codes_while_no_frame_uses_it() -> None:
    """Codes are remembered in the memo, so they must never be reused for other texts,
    even after every frame of the dictionary is gone."""
    with query_dictionary(fresh=True) as first:
        codes = first.intern(pl.Series(["a", "b"])).to_list()

    gc.collect()
    with query_dictionary() as again:
        assert again is first
        assert again.intern(pl.Series(["b", "c"])).to_list() == [codes[1], max(codes) + 1]


def test_a_worker_dictionary_that_grew_too_big_is_replaced(monkeypatch: Any) -> None:
    from fastaw.transforms import dictionary as dictionaries
    from fastaw.transforms.distinct import DistinctData

    monkeypatch.setattr(dictionaries, "_limit", 3)
    with query_dictionary(fresh=True) as first:
        DistinctData(frame.from_columns([1, 2], [0, 1], [0, 0], ['{"a":1}', '{"a":2}'])["data"])
    with query_dictionary() as same:  # 2 texts: kept
        assert same is first
        DistinctData(frame.from_columns([3, 4], [2, 3], [0, 0], ['{"a":3}', '{"a":4}'])["data"])
    assert dictionaries.worker_dictionary() is None  # 4 texts: let go when the query ended
    with query_dictionary() as other:
        assert other is not first and other.size == 0
