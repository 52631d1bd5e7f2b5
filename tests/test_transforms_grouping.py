"""query_bucket_clip, merge/chunk, sort/limit/sum/concat, filters: upstream cases (spec §4,
§6.4, §6.5, §6.7) against reference and vectorized code, then properties."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tests.reference_transforms as ref
from fastaw import transforms as tf
from fastaw.transforms.dictionary import Numbering, query_dictionary
from tests.reference_transforms import Ev
from tests.strategies import canon, event_lists, from_frame, keys, to_frame, values
from tests.test_transforms_periods import IDS, T0, S, ev, spans, vec1

M = 60 * S
IMPLS = [ref, None]  # None → vectorized


def run(impl: Any, name: str, events: list[Ev], *args: Any) -> Any:
    if impl is ref:
        return getattr(ref, name)(events, *args)
    out = getattr(tf, name)(to_frame(events), *args)
    return from_frame(out) if hasattr(out, "columns") else out


# --- query_bucket_clip ----------------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
class TestQueryBucketClip:
    def test_spec_example_order_and_clipping(self, impl: Any) -> None:
        h = 60 * M
        stored = [
            Ev(T0 + h, 5 * S, {}, 3),
            Ev(T0 + 50 * M, h, {}, 2),
            Ev(T0 - 5 * S, 5 * S, {}, 4),
            Ev(T0 - 30 * M, h, {}, 1),
            Ev(T0 - 30 * h, 31 * h, {}, 5),
            Ev(T0 + 2 * h, S, {}, 6),
        ]
        out = run(impl, "query_bucket_clip", stored, T0, T0 + h)
        assert [(e.id, e.ts - T0, e.dur) for e in out] == [
            (3, h, 0),
            (2, 50 * M, 600 * S),
            (4, 0, 0),
            (1, 0, 1800 * S),
            (5, 0, 3600 * S),
        ]

    def test_datastore_filters(self, impl: Any) -> None:
        e1, e2 = Ev(T0, 0, {"key": "value"}, 1), Ev(T0 + 1, 0, {"key": "value"}, 2)
        far = 10**18
        assert [e.id for e in run(impl, "query_bucket_clip", [e1, e2], 0, far)] == [2, 1]
        assert [e.id for e in run(impl, "query_bucket_clip", [e1, e2], e2.ts, far)] == [2]
        assert [e.id for e in run(impl, "query_bucket_clip", [e1, e2], 0, e1.ts)] == [1]

    def test_covering_event_clipped(self, impl: Any) -> None:
        out = run(impl, "query_bucket_clip", [Ev(T0, 100 * S, {}, 1)], T0 + S, T0 + 2 * S)
        assert [(e.ts - T0, e.dur) for e in out] == [(S, S)]

    def test_ties_by_id_and_empty_period(self, impl: Any) -> None:
        evs = [Ev(T0, S, {}, 9), Ev(T0, 2 * S, {}, 3)]
        assert [e.id for e in run(impl, "query_bucket_clip", evs, T0, T0 + S)] == [3, 9]
        assert run(impl, "query_bucket_clip", evs, T0 + S, T0) == []


@settings(max_examples=200, deadline=None)
@given(event_lists(negative=True), st.integers(0, 20 * S), st.integers(-S, 20 * S))
def test_query_bucket_clip_matches_reference(events: list[Ev], start: int, length: int) -> None:
    events = [Ev(e.ts, e.dur, e.data, i) for i, e in enumerate(events)]
    got = from_frame(tf.query_bucket_clip(to_frame(events), start, start + length))
    assert canon(got) == canon(ref.query_bucket_clip(events, start, start + length))


@settings(max_examples=200, deadline=None)
@given(event_lists(negative=True), st.integers(0, 20 * S), st.integers(-S, 20 * S),
       st.booleans())
def test_query_bucket_clip_oldest_first_is_its_stable_sort_by_start(
        events: list[Ev], start: int, length: int, stored_order: bool) -> None:
    """``newest_first=False`` (for built-ins that sort by start first): what a stable sort
    by start gives the newest-first list, ties by clipping at the period's start included.
    The input comes as the store gives it (ascending; ties by id descending) or as
    generated."""
    events = [Ev(e.ts, e.dur, e.data, i) for i, e in enumerate(events)]
    if stored_order:
        events.sort(key=lambda e: (e.ts, -e.id))
    frame, end = to_frame(events), start + length
    oldest = from_frame(tf.query_bucket_clip(frame, start, end, newest_first=False))
    assert oldest == from_frame(tf.sort_by_timestamp(tf.query_bucket_clip(frame, start, end)))


# --- merge / chunk ---------------------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
class TestMergeChunk:
    def test_rust_merge(self, impl: Any) -> None:
        evs = [
            ev(0, 1, {"test": 1}),
            ev(1, 3, {"test2": 3}),
            ev(2, 7, {"test": 6}),
            ev(3, 9, {"test": 1}),
        ]
        out = ref.sort_by_timestamp(run(impl, "merge_events_by_keys", evs, ["test"]))
        assert [(spans([e])[0], e.data, e.id) for e in out] == [
            ((0, 10), {"test": 1}, None),
            ((2, 7), {"test": 6}, None),
        ]

    def test_python_merge(self, impl: Any) -> None:
        evs = [ev(i, 1, {"label": "a"}) for i in range(10)]
        evs += [ev(10 + i, 1, {"label": "b"}) for i in range(5)]
        assert run(impl, "merge_events_by_keys", evs, []) == []
        assert run(impl, "merge_events_by_keys", evs, ["unknown"]) == []
        out = run(impl, "merge_events_by_keys", evs, ["label"])
        assert [e.dur for e in out] == [10 * S, 5 * S]
        evs = [ev(0, 1, {"k1": "a", "k2": "a"})] * 10 + [ev(0, 1, {"k1": "a", "k2": "c"})] * 9
        evs += [ev(0, 1, {"k1": "b", "k2": "a"})] * 8
        out = run(impl, "merge_events_by_keys", evs, ["k1", "k2"])
        assert [(e.dur // S, e.data) for e in out] == [
            (10, {"k1": "a", "k2": "a"}),
            (9, {"k1": "a", "k2": "c"}),
            (8, {"k1": "b", "k2": "a"}),
        ]

    def test_merge_keeps_full_first_data(self, impl: Any) -> None:
        evs = [ev(0, 1, {"app": "x", "title": "t1"}), ev(1, 2, {"app": "x", "title": "t2"})]
        out = run(impl, "merge_events_by_keys", evs, ["app"])
        assert [(e.data, e.dur) for e in out] == [({"app": "x", "title": "t1"}, 3 * S)]

    def test_merge_int_float_and_collisions(self, impl: Any) -> None:
        evs = [ev(0, 1, {"n": 1}), ev(1, 1, {"n": 1.0}), ev(2, 1, {"n": "1"})]
        assert len(run(impl, "merge_events_by_keys", evs, ["n"])) == 3
        # Rust joins the value texts with "." and merges these two ("1.5.2"); fastaw does not
        evs = [ev(0, 1, {"a": 1.5, "b": 2}), ev(1, 1, {"a": 1, "b": 5.2})]
        assert len(run(impl, "merge_events_by_keys", evs, ["a", "b"])) == 2
        evs = [ev(0, 1, {"a": "x,y", "b": "z"}), ev(1, 1, {"a": "x", "b": "y,z"}),
               ev(2, 1, {"a": [1, 2], "b": 3}), ev(3, 1, {"a": 1, "b": [2, 3]})]
        assert len(run(impl, "merge_events_by_keys", evs, ["a", "b"])) == 4

    def test_query2_categories(self, impl: Any) -> None:
        evs = [ev(0, 1, {"label": "test", "$category": ["test"]})]
        evs += [ev(i, 1, {"label": "x", "$category": ["test", "subtest"]}) for i in (1, 2)]
        out = run(impl, "merge_events_by_keys", evs, ["$category"])
        assert [(e.data["$category"], e.dur) for e in out] == [
            (["test"], S),
            (["test", "subtest"], 2 * S),
        ]

    def test_rust_chunk(self, impl: Any) -> None:
        evs = [
            ev(1, 1, {"test": 1}, 1),
            ev(1, 1, {"test2": 1}, 2),
            ev(1, 1, {"test": 1}, 3),
            ev(1, 1, {"test": 2}, 4),
        ]
        out = run(impl, "chunk_events_by_key", evs, "test")
        assert [(e.id, e.dur) for e in out] == [(1, 2 * S), (4, S)]


@settings(max_examples=300, deadline=None)
@given(event_lists(), st.lists(keys, max_size=2, unique=True))
@example([Ev(0, 1, {"k": 1}), Ev(1, 1, {"k": 1.0}), Ev(2, 2, {"k": 1})], ["k"])
def test_merge_matches_reference(events: list[Ev], merge_keys: list[str]) -> None:
    got = from_frame(tf.merge_events_by_keys(to_frame(events), merge_keys))
    assert canon(got) == canon(ref.merge_events_by_keys(events, merge_keys))


@settings(max_examples=300, deadline=None)
@given(event_lists(), keys)
def test_chunk_matches_reference(events: list[Ev], key: str) -> None:
    got = from_frame(tf.chunk_events_by_key(to_frame(events), key))
    assert canon(got) == canon(ref.chunk_events_by_key(events, key))


# --- filters -----------------------------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
class TestFilters:
    def test_rust_filter_keyvals(self, impl: Any) -> None:
        evs = [ev(0, 1, {"test": 1}), ev(1, 1, {"test": 1, "test2": 1}), ev(2, 1, {"test2": 2})]
        assert len(run(impl, "filter_keyvals", evs, "test", [1])) == 2
        # a query literal 1 is a float: never equal to the stored integer 1
        assert run(impl, "filter_keyvals", evs, "test", [1.0]) == []

    def test_rust_exclude_keyvals(self, impl: Any) -> None:
        evs = [ev(0, 1, {"test": 1}), ev(1, 1, {"test": 1, "test2": 2}), ev(2, 1, {"test": 2})]
        assert len(run(impl, "exclude_keyvals", evs, "test", [2])) == 2

    def test_python_filter_keyval(self, impl: Any) -> None:
        evs = [ev(i, 1, {"label": x}) for i, x in enumerate(["aa", "bb", "cc"])]
        assert len(run(impl, "filter_keyvals", evs, "label", ["aa", "cc"])) == 2
        assert len(run(impl, "exclude_keyvals", evs, "label", ["aa", "cc"])) == 1
        assert len(run(impl, "filter_keyvals_regex", evs, "label", "aa|cc")) == 2
        evs.append(ev(4, 1, {"other": "aa"}))
        assert len(run(impl, "filter_keyvals_regex", evs, "label", "aa|cc")) == 2

    def test_rust_filter_keyvals_regex(self, impl: Any) -> None:
        evs = [ev(0, 1, {"key1": "value1"}), ev(1, 1, {"key1": "value2"})]
        evs.append(ev(2, 1, {"key2": "value3"}))

        def count(key: str, pattern: str) -> int:
            return len(run(impl, "filter_keyvals_regex", evs, key, pattern))

        assert (count("key1", "value"), count("key1", "value1")) == (2, 1)
        assert (count("key2", "value"), count("key2", "value1"), count("key3", "value")) == (
            1,
            0,
            0,
        )
        assert run(impl, "filter_keyvals_regex", [ev(0, 1, {"key1": 100})], "key1", "value") == []

    def test_typed_values(self, impl: Any) -> None:
        evs = [ev(0, 1, {"a": True}), ev(1, 1, {"a": ["Work"]}), ev(2, 1, {"a": None})]
        assert [e.data for e in run(impl, "filter_keyvals", evs, "a", [True])] == [{"a": True}]
        assert len(run(impl, "filter_keyvals", evs, "a", [["Work"]])) == 1
        assert len(run(impl, "filter_keyvals", evs, "a", [None])) == 1
        assert run(impl, "filter_keyvals", evs, "a", []) == []


@settings(max_examples=300, deadline=None)
@given(event_lists(), keys, st.lists(values, max_size=3))
def test_filter_keyvals_matches_reference(events: list[Ev], key: str, vals: list[Any]) -> None:
    frame = to_frame(events)
    assert canon(from_frame(tf.filter_keyvals(frame, key, vals))) == canon(
        ref.filter_keyvals(events, key, vals)
    )
    assert canon(from_frame(tf.exclude_keyvals(frame, key, vals))) == canon(
        ref.exclude_keyvals(events, key, vals)
    )


@settings(max_examples=200, deadline=None)
@given(event_lists(), keys, st.sampled_from(["a", "^a$", "A|1", "", "^$", "b+", "(?i)a"]))
def test_filter_keyvals_regex_matches_reference(events: list[Ev], key: str, pattern: str) -> None:
    got = from_frame(tf.filter_keyvals_regex(to_frame(events), key, pattern))
    assert canon(got) == canon(ref.filter_keyvals_regex(events, key, pattern))


def test_filter_keyvals_regex_compiles_for_no_events() -> None:
    with pytest.raises(tf.RegexCompileError, match="Failed to compile regex string '\\('"):
        tf.filter_keyvals_regex(tf.empty(), "app", "(")


def test_nan_in_vals_matches_nothing() -> None:
    frame = to_frame([ev(0, 1, {"a": None})])
    assert tf.filter_keyvals(frame, "a", [float("nan")]).height == 0


# --- ordering / arithmetic -------------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_sorts(impl: Any) -> None:
    assert spans(run(impl, "sort_by_timestamp", [ev(3, 1), ev(0, 1)])) == [(0, 1), (3, 1)]
    assert spans(run(impl, "sort_by_duration", [ev(3, 1), ev(0, 2)])) == [(0, 2), (3, 1)]
    ties = [ev(3, 1, {}, 1), ev(3, 1, {}, 2), ev(0, 1, {}, 3)]
    assert [e.id for e in run(impl, "sort_by_timestamp", ties)] == [3, 1, 2]
    assert [e.id for e in run(impl, "sort_by_duration", ties)] == [1, 2, 3]


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_sum_durations(impl: Any) -> None:
    assert run(impl, "sum_durations", [ev(i, 1) for i in range(10)]) == 10.0
    assert run(impl, "sum_durations", [Ev(0, 1_234_567_800), Ev(0, 1)]) == 1.234
    assert run(impl, "sum_durations", [Ev(0, -1_999_999)]) == -0.001
    assert run(impl, "sum_durations", []) == 0.0


def test_limit_and_concat() -> None:
    frame = to_frame([ev(i, 1, {}, i) for i in range(5)])
    assert tf.limit_events(frame, 2)["id"].to_list() == [0, 1]
    assert tf.limit_events(frame, 2.9).height == 2
    assert tf.limit_events(frame, -1).height == 0
    assert tf.limit_events(frame, float("nan")).height == 0
    assert tf.limit_events(frame, float("inf")).height == 5
    assert tf.limit_events(frame, 100).height == 5
    assert tf.concat().height == 0
    assert tf.concat(frame, frame, tf.empty())["id"].to_list() == [*range(5), *range(5)]


@settings(max_examples=150, deadline=None)
@given(event_lists(), st.sampled_from(["ascending", "descending", "as generated"]))
def test_sorts_of_ordered_lists_match_reference(events: list[Ev], order: str) -> None:
    """Lists already in (or exactly against) start order take the scan-and-reverse paths of
    sort_by_timestamp and query_bucket; ties must still come out in the stable order."""
    events = [Ev(e.ts, e.dur, e.data, i) for i, e in enumerate(events)]
    if order != "as generated":
        events.sort(key=lambda e: e.ts, reverse=order == "descending")
    got = from_frame(tf.sort_by_timestamp(to_frame(events)))
    assert canon(got) == canon(ref.sort_by_timestamp(events))
    clipped = from_frame(tf.query_bucket_clip(to_frame(events), 0, 20 * S))
    assert canon(clipped) == canon(ref.query_bucket_clip(events, 0, 20 * S))


def test_sort_via_vec1_helper() -> None:
    assert vec1(tf.sort_by_timestamp)([ev(1, 1), ev(0, 1)]) == [ev(0, 1), ev(1, 1)]


def test_merge_keys_are_numbered_not_added_to_the_dictionary() -> None:
    # a group is named by the canonical object of its keys' values; merging numbers those
    # names (`Numbering`) instead of interning them as data texts
    events = [Ev(0, S, {"app": "vim", "title": "a.py"}), Ev(S, S, {"app": "x", "title": "Docs"}),
              Ev(2 * S, S, {"app": "vim", "title": "a.py"}),
              Ev(3 * S, S, {"app": "vim", "title": "b.py"})]
    with query_dictionary(fresh=True) as current:
        frame = to_frame(events)
        merged = tf.merge_events_by_keys(frame, ["title", "app"])
        assert [e.dur for e in from_frame(merged)] == [2 * S, S, S]
        assert current.size == 3
        merged = tf.merge_events_by_keys(frame, ["app"])  # {"app":"vim"}, {"app":"x"}
        assert [(e.data["app"], e.dur) for e in from_frame(merged)] == [("vim", 3 * S), ("x", S)]
        assert current.size == 3
        assert len(current.numbering('merge:["app"]')) == 2
        assert len(current.numbering('merge:["title","app"]')) == 3


def test_numbering_gives_equal_texts_equal_numbers() -> None:
    numbering = Numbering()
    first = numbering.numbers(pl.Series(["a", None, "b", "a"], dtype=pl.String))
    assert first[0] == first[3] and first[0] != first[2] and first[1] is None
    again = numbering.numbers(pl.Series(["c", "b", "a", "c"], dtype=pl.String)).to_list()
    assert again[1:3] == [first[2], first[0]] and again[0] == again[3]
    assert sorted({*first.drop_nulls().to_list(), *again}) == [0, 1, 2]
    assert len(numbering) == 3


@given(st.lists(st.lists(st.text(max_size=4), max_size=12), min_size=1, max_size=4))
def test_numbers_are_one_per_distinct_text_across_calls(batches: list[list[str]]) -> None:
    numbering = Numbering()
    seen: dict[str, int] = {}
    for batch in batches:
        numbers = numbering.numbers(pl.Series(batch, dtype=pl.String)).to_list()
        for text, number in zip(batch, numbers, strict=True):
            assert seen.setdefault(text, number) == number
    assert len(set(seen.values())) == len(seen) == len(numbering)
    assert sorted(seen.values()) == list(range(len(seen)))
