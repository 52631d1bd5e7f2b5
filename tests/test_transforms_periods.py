"""flood, filter_period_intersect, period_union, union_no_overlap: upstream cases (spec §6.4,
§6.5 where Rust is normative, §3 examples) on both the scalar reference and the vectorized
transforms, then property tests vectorized == reference."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tests.reference_transforms as ref
from fastaw import transforms as tf
from fastaw.timefmt import parse_datetime
from fastaw.transforms import periods, threads
from tests.reference_transforms import Ev
from tests.strategies import canon, event_lists, from_frame, no_data, small_datas, to_frame

S = 1_000_000_000
T0 = parse_datetime("2000-01-01T00:00:00Z")
H = 3600 * S


def ev(t: float, d: float, data: dict[str, Any] | None = None, id: int | None = None) -> Ev:
    return Ev(T0 + round(t * S), round(d * S), data or {}, id)


def spans(events: Sequence[Ev]) -> list[tuple[float, float]]:
    return [((e.ts - T0) / S, e.dur / S) for e in events]


Unary = Callable[[list[Ev]], list[Ev]]
Binary = Callable[[list[Ev], list[Ev]], list[Ev]]


def vec1(fn: Callable[[Any], Any]) -> Unary:
    return lambda a: from_frame(fn(to_frame(a)))


def vec2(fn: Callable[[Any, Any], Any]) -> Binary:
    return lambda a, b: from_frame(fn(to_frame(a), to_frame(b)))


FLOOD = [ref.flood, vec1(tf.flood)]
FPI = [ref.filter_period_intersect, vec2(tf.filter_period_intersect)]
UNION = [ref.period_union, vec2(tf.period_union)]
UNO = [ref.union_no_overlap, vec2(tf.union_no_overlap)]
IDS = ["reference", "vectorized"]


# --- flood ---------------------------------------------------------------------------------


@pytest.mark.parametrize("flood", FLOOD, ids=IDS)
class TestFloodUpstream:
    def test_merge(self, flood: Unary) -> None:
        out = flood([ev(0, 1, {"test": 1}), ev(3, 1, {"test": 1})])
        assert spans(out) == [(0, 4)]

    def test_meet_in_middle(self, flood: Unary) -> None:
        out = flood([ev(0, 1, {"test": 1}), ev(3, 1, {"test": 2})])
        assert spans(out) == [(0, 2), (2, 2)]
        assert [e.data for e in out] == [{"test": 1}, {"test": 2}]

    def test_partial_overlap(self, flood: Unary) -> None:
        out = flood([ev(0, 10, {"type": "a"}), ev(5, 10, {"type": "a"})])
        assert spans(out) == [(0, 15)]

    def test_containing(self, flood: Unary) -> None:
        assert spans(flood([ev(0, 10, {"type": "a"}), ev(1, 5, {"type": "a"})])) == [(0, 10)]

    def test_containing_diff(self, flood: Unary) -> None:
        out = flood([ev(0, 10, {"type": "a"}), ev(1, 5, {"type": "b"})])
        assert spans(out) == [(0, 10), (1, 5)]

    def test_same_timestamp(self, flood: Unary) -> None:
        afk, nafk = {"status": "afk"}, {"status": "not-afk"}
        out = flood([ev(0, 1, afk), ev(1, 5, nafk), ev(1, 1, nafk), ev(6, 1, afk)])
        assert spans(out) == [(0, 1), (1, 5), (6, 1)]
        assert [e.data for e in out] == [afk, nafk, afk]

    def test_same_timestamp_duplicates(self, flood: Unary) -> None:
        afk, nafk = {"status": "afk"}, {"status": "not-afk"}
        events = [ev(0, 1, afk), ev(1, 5, nafk), ev(1, 1, nafk), ev(1, 10, nafk), ev(11, 1, afk)]
        assert spans(flood(events)) == [(0, 1), (1, 10), (11, 1)]

    # aw-core test_flood.py with Rust results (gap of exactly 5 s is not filled)
    def test_forward_exact_pulsetime(self, flood: Unary) -> None:
        out = flood([ev(0, 10, {"a": 0}), ev(15, 5, {"b": 1})])
        assert spans(out) == [(0, 10), (15, 5)]

    def test_forward_merge_exact_pulsetime(self, flood: Unary) -> None:
        out = flood([ev(0, 10, {"a": 0}), ev(15, 5, {"a": 0})])
        assert spans(out) == [(0, 10), (15, 5)]

    def test_backward_exact_pulsetime(self, flood: Unary) -> None:
        out = flood([ev(0, 5, {"a": 0}), ev(10, 10, {"b": 1})])
        assert spans(out) == [(0, 5), (10, 10)]

    def test_negative_gap_same_data(self, flood: Unary) -> None:
        assert spans(flood([ev(0, 100, {"a": 0}), ev(0, 5, {"a": 0})])) == [(0, 100)]

    def test_negative_gap_differing_data(self, flood: Unary) -> None:
        out = flood([ev(0, 5, {"a": 0}), ev(0, 100, {"b": 1})])
        assert spans(out) == [(0, 5), (0, 100)]

    def test_negative_small_gap_differing_data(self, flood: Unary) -> None:
        out = flood([ev(0, 100, {"b": 1}), ev(99.99, 100, {"a": 0})])
        assert sum(e.dur for e in out) == 200 * S

    # spec §3.5 derived cases
    def test_containment_chain(self, flood: Unary) -> None:
        out = flood([ev(0, 10, {"x": "A"}), ev(1, 5, {"x": "B"}), ev(8, 1, {"x": "C"})])
        assert spans(out) == [(0, 10), (1, 6), (7, 2)]

    def test_odd_ns_gap_leaves_a_hole(self, flood: Unary) -> None:
        a, b = Ev(0, 10, {"x": 1}), Ev(13, 1, {"x": 2})
        assert [(e.ts, e.dur) for e in flood([a, b])] == [(0, 11), (12, 2)]

    def test_keeps_first_id_and_data(self, flood: Unary) -> None:
        out = flood([ev(1, 1, {"k": 1}, 7), ev(0, 1, {"k": 1}, 9)])
        assert [(e.id, spans([e])[0]) for e in out] == [(9, (0, 2))]

    def test_int_and_float_data_differ(self, flood: Unary) -> None:
        out = flood([ev(0, 1, {"k": 1}), ev(2, 1, {"k": 1.0})])
        assert spans(out) == [(0, 1.5), (1.5, 1.5)]

    def test_empty_and_single(self, flood: Unary) -> None:
        assert flood([]) == []
        assert spans(flood([ev(0, 0)])) == [(0, 0)]


# --- filter_period_intersect ---------------------------------------------------------------


@pytest.mark.parametrize("fpi", FPI, ids=IDS)
class TestFilterPeriodIntersectUpstream:
    def test_rust_unit(self, fpi: Binary) -> None:
        events = [ev(t, 1, {"test": 1}) for t in range(1, 6)]
        out = fpi(events, [ev(2.5, 2, {"test": 1})])
        assert spans(out) == [(2.5, 0.5), (3, 1), (4, 0.5)]

    @pytest.mark.parametrize(
        ("flt", "expected"),
        [((0, 1.5), (1, 0.5)), ((1.5, 1), (1.5, 0.5)), ((1.5, 0.1), (1.5, 0.1)), ((0, 10), (1, 1))],
    )
    def test_rust_unit_single(
        self, fpi: Binary, flt: tuple[float, float], expected: tuple[float, float]
    ) -> None:
        assert spans(fpi([ev(1, 1, {"a": 1}, 3)], [ev(*flt)])) == [expected]
        assert fpi([ev(1, 1, {"a": 1}, 3)], [ev(*flt)])[0].id == 3

    def test_python_half_hour(self, fpi: Binary) -> None:
        assert spans(fpi([ev(0, 3600)], [ev(1800, 3600)])) == [(1800, 1800)]

    def test_python_two_events_in_filter(self, fpi: Binary) -> None:
        events = [ev(0, 1800), ev(2700, 1800)]
        out = fpi(events, [ev(900, 2700)])
        assert spans(out) == [(900, 900), (2700, 900)]
        out = fpi([ev(900, 2700)], events)
        assert spans(out) == [(900, 900), (2700, 900)]

    def test_query2_basic(self, fpi: Binary) -> None:
        events = [ev(0, 1, {"label": "test1"}), ev(2, 1, {"label": "test2"})]
        out = fpi(events, [ev(0, 1, {"label": "intersect-label"})])
        assert [e.data["label"] for e in out] == ["test1"]

    def test_overlapping_filters_never_double_count(self, fpi: Binary) -> None:
        assert spans(fpi([ev(0, 20)], [ev(0, 10), ev(5, 10)])) == [(0, 10), (10, 5)]

    def test_overlapping_events_miss_filters(self, fpi: Binary) -> None:
        out = fpi([ev(0, 100, {}, 1), ev(10, 10, {}, 2)], [ev(15, 3), ev(50, 10)])
        assert [(e.id, *spans([e])[0]) for e in out] == [(1, 15, 3), (1, 50, 10)]

    def test_zero_duration(self, fpi: Binary) -> None:
        assert fpi([ev(5, 0)], [ev(0, 10)]) == []
        assert spans(fpi([ev(0, 10)], [ev(5, 0)])) == [(5, 0)]
        assert fpi([ev(0, 10)], [ev(0, 0)]) == []
        assert fpi([ev(0, 10)], [ev(10, 0)]) == []

    def test_touching_does_not_intersect(self, fpi: Binary) -> None:
        assert fpi([ev(0, 10)], [ev(10, 5)]) == []
        assert fpi([ev(10, 5)], [ev(0, 10)]) == []

    def test_empty(self, fpi: Binary) -> None:
        assert fpi([], [ev(0, 1)]) == [] and fpi([ev(0, 1)], []) == []


# --- period_union ----------------------------------------------------------------------------


@pytest.mark.parametrize("union", UNION, ids=IDS)
class TestPeriodUnionUpstream:
    def test_empty(self, union: Binary) -> None:
        assert union([], []) == []

    def test_union(self, union: Binary) -> None:
        assert spans(union([ev(1, 1)], [ev(2, 1)])) == [(1, 2)]

    def test_nop(self, union: Binary) -> None:
        assert len(union([ev(1, 1)], [ev(3, 1)])) == 2

    def test_one_side_empty(self, union: Binary) -> None:
        assert len(union([ev(1, 1)], [])) == 1
        assert len(union([], [ev(1, 1)])) == 1

    def test_python_cases(self, union: Binary) -> None:
        assert len(union([ev(0, 10)], [ev(9, 10)])) == 1
        assert len(union([ev(0, 10)], [ev(10, 10)])) == 1
        assert len(union([ev(0, 10)], [ev(11, 10)])) == 2

    def test_first_id_and_empty_data(self, union: Binary) -> None:
        out = union([ev(5, 5, {"a": 1}, 2)], [ev(5, 10, {"b": 1}, 3), ev(0, 1, {}, 4)])
        assert [(e.id, e.data, *spans([e])[0]) for e in out] == [(4, {}, 0, 1), (2, {}, 5, 10)]


# --- union_no_overlap ------------------------------------------------------------------------


@pytest.mark.parametrize("uno", UNO, ids=IDS)
class TestUnionNoOverlapUpstream:
    def test_adjacent(self, uno: Binary) -> None:
        a, b = ev(0, 3600, {"x": 1}, 1), ev(3600, 3600, {"y": 1}, 2)
        assert spans(uno([a], [b])) == [(0, 3600), (3600, 3600)]
        assert spans(uno([b], [a])) == [(0, 3600), (3600, 3600)]

    def test_with_overlap(self, uno: Binary) -> None:
        assert spans(uno([ev(0, 3600)], [ev(0, 7200)])) == [(0, 3600), (3600, 3600)]
        out = uno([ev(3600, 3600, {}, 1)], [ev(0, 7200, {}, 2)])
        assert spans(out) == [(0, 3600), (3600, 3600)]
        assert [e.id for e in out] == [None, 1]

    def test_only_current_overlap_removed(self, uno: Binary) -> None:
        x, y = {"s": "x"}, {"s": "y"}
        out = uno([ev(0, 10, x), ev(20, 5, x)], [ev(1, 1, y), ev(3, 1, y), ev(8, 5, y)])
        assert spans(out) == [(0, 10), (3, 1), (8, 5), (20, 5)]

    def test_python_totals(self, uno: Binary) -> None:
        e1 = [ev(2 * h * 3600, 3600, {"a": 1}) for h in range(3)]
        e2 = [ev(2 * h * 3600 + 1800, 3600, {"b": 1}) for h in range(3)]
        assert sum(e.dur for e in uno(e1, e2)) == int(4.5 * H)
        assert sum(e.dur for e in uno(e2, e1)) == int(4.5 * H)
        assert sum(e.dur for e in uno(e1, [ev(0, 5 * 3600)])) == 5 * H

    def test_empty_first_returns_second(self, uno: Binary) -> None:
        events = [ev(5, 1, {}, 1), ev(0, 1, {}, 2)]
        assert uno([], events) == events and uno(events, []) == events

    def test_point_event_is_kept(self, uno: Binary) -> None:
        assert spans(uno([ev(0, 10)], [ev(10, 0)])) == [(0, 10), (10, 0)]


# --- properties: vectorized == reference -----------------------------------------------------


@settings(max_examples=250, deadline=None)
@given(event_lists(data=small_datas))
@example([Ev(0, 10, {"k": 1}), Ev(1, 5, {"k": 2}), Ev(8, 1, {"k": 1})])
@example([Ev(0, 1, {"k": 1}), Ev(4_999_999_999, 1, {"k": 1}), Ev(7, 0, {"k": 1.0})])
def test_flood_matches_reference(events: list[Ev]) -> None:
    assert canon(from_frame(tf.flood(to_frame(events)))) == canon(ref.flood(events))


@settings(max_examples=250, deadline=None)
@given(event_lists(data=small_datas, max_size=24), st.integers(2, 4), st.integers(1, 6))
@example([Ev(0, S, {"k": 1}), Ev(3 * S, S, {"k": 1}), Ev(10 * S, S, {"k": 1}),
          Ev(11 * S, S, {"k": 2})], 2, 2)
def test_flood_in_parts_matches_reference(events: list[Ev], parts: int, search: int) -> None:
    # long lists are flooded in parts cut at quiet gaps, a part per thread: taken here
    # for any length, a cut looked for among a few rows
    flood_module = importlib.import_module("fastaw.transforms.flood")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flood_module, "SPLIT_ROWS", 2)
        patch.setattr(flood_module, "SEARCH_ROWS", search)
        patch.setattr(threads, "parts", lambda: parts)
        got = from_frame(tf.flood(to_frame(events)))
    assert canon(got) == canon(ref.flood(events))


@settings(max_examples=150, deadline=None)
@given(event_lists(data=small_datas, negative=True))
def test_flood_negative_durations_match_reference(events: list[Ev]) -> None:
    assert canon(from_frame(tf.flood(to_frame(events)))) == canon(ref.flood(events))


@settings(max_examples=250, deadline=None)
@given(event_lists(), event_lists(data=no_data))
@example([Ev(0, 100, {}, 1), Ev(10, 10, {}, 2)], [Ev(15, 3), Ev(50, 10)])
@example([Ev(0, 20)], [Ev(0, 10), Ev(5, 10), Ev(7, 0)])
def test_filter_period_intersect_matches_reference(events: list[Ev], filters: list[Ev]) -> None:
    got = from_frame(tf.filter_period_intersect(to_frame(events), to_frame(filters)))
    assert canon(got) == canon(ref.filter_period_intersect(events, filters))


@settings(max_examples=150, deadline=None)
@given(event_lists(), event_lists(data=no_data))
@example([Ev(0, 100, {}, 1), Ev(10, 10, {}, 2)], [Ev(15, 3), Ev(50, 10)])
def test_filter_period_intersect_in_slices_matches_reference(
    events: list[Ev], filters: list[Ev]
) -> None:
    # the events' first pieces are worked out a slice of events at a time: with slices of
    # two events, small lists cross slice boundaries (an event's later pieces merged in
    # after a boundary, the pointer carried over from the slice before)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(periods, "_SLICE", 2)
        got = from_frame(tf.filter_period_intersect(to_frame(events), to_frame(filters)))
    assert canon(got) == canon(ref.filter_period_intersect(events, filters))


@settings(max_examples=150, deadline=None)
@given(event_lists(), event_lists(data=no_data), st.sampled_from([2, 3, periods._SLICE]))
@example([Ev(0, 100, {}, 1), Ev(10, 10, {}, 2)], [Ev(15, 3), Ev(50, 10)], 2)
def test_filter_period_intersect_with_few_further_pieces_matches_reference(
    events: list[Ev], filters: list[Ev], slice_events: int
) -> None:
    # where events visiting several filters are few, their further pieces go between
    # slices of the first pieces instead of being sorted in: taken here for any number
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(periods, "_SLICE", slice_events)
        patch.setattr(periods, "_FEW", 0)
        got = from_frame(tf.filter_period_intersect(to_frame(events), to_frame(filters)))
    assert canon(got) == canon(ref.filter_period_intersect(events, filters))


@settings(max_examples=150, deadline=None)
@given(event_lists(negative=True), event_lists(data=no_data, negative=True))
def test_filter_period_intersect_negative_matches_reference(
    events: list[Ev], filters: list[Ev]
) -> None:
    got = from_frame(tf.filter_period_intersect(to_frame(events), to_frame(filters)))
    assert canon(got) == canon(ref.filter_period_intersect(events, filters))


@settings(max_examples=300, deadline=None)
@given(event_lists(), event_lists(), st.booleans())
def test_period_union_matches_reference(a: list[Ev], b: list[Ev], negative: bool) -> None:
    if negative and a:
        a = [Ev(a[0].ts, -a[0].dur - 1, a[0].data, a[0].id), *a[1:]]
    got = from_frame(tf.period_union(to_frame(a), to_frame(b)))
    assert canon(got) == canon(ref.period_union(a, b))


@settings(max_examples=300, deadline=None)
@given(event_lists(negative=True), event_lists(), st.booleans())
def test_union_no_overlap_matches_reference(a: list[Ev], b: list[Ev], descending: bool) -> None:
    if descending:
        a, b = ref.sort_by_timestamp(a)[::-1], ref.sort_by_timestamp(b)[::-1]
    got = from_frame(tf.union_no_overlap(to_frame(a), to_frame(b)))
    assert canon(got) == canon(ref.union_no_overlap(a, b))


def test_inputs_are_not_mutated() -> None:
    a = to_frame([ev(3, 1, {"k": 1}, 1), ev(0, 5, {"k": 1}, 2)])
    b = to_frame([ev(1, 1, {}, 3)])
    before_a, before_b = a.clone(), b.clone()
    for fn in (tf.filter_period_intersect, tf.period_union, tf.union_no_overlap):
        fn(a, b)
    tf.flood(a)
    assert a.equals(before_a) and b.equals(before_b)


@pytest.mark.slow
@settings(max_examples=5000, deadline=None)
@given(event_lists(max_size=25, data=small_datas), event_lists(max_size=25, data=no_data))
def test_heavy_flood_and_intersect_match_reference(events: list[Ev], filters: list[Ev]) -> None:
    assert canon(from_frame(tf.flood(to_frame(events)))) == canon(ref.flood(events))
    got = from_frame(tf.filter_period_intersect(to_frame(events), to_frame(filters)))
    assert canon(got) == canon(ref.filter_period_intersect(events, filters))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-5, 30), max_size=40), st.lists(st.integers(-5, 30), max_size=40))
def test_first_reaching_is_search_sorted(reach: list[int], values: list[int]) -> None:
    # both ascending, with repeats; values before, among and after the reach
    reach_s = pl.Series(sorted(reach), dtype=pl.Int64)
    values_s = pl.Series(sorted(values), dtype=pl.Int64)
    got = periods.first_reaching(reach_s, values_s).to_list()
    assert got == reach_s.search_sorted(values_s, side="left").to_list()
