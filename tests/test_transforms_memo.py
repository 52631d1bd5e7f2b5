"""Answers memoized in a query's data dictionary equal answers computed afresh.

Inside a query, per-text answers (``data[key]``, categorize per rule set, URL splits, merge
keys, regex matches) are remembered by code and carried over to rewritten texts, for as
long as the worker's dictionary lives (the values of keys only while the query runs). These properties run the dashboard's chains of
transforms over several lists that share texts, inside one dictionary (so later lists
find earlier answers, some carried, some partial, some from rewrites' fixed points), and
compare every result with the same chain run without a memo (which the other test modules
check against the scalar reference).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastaw import transforms as tf
from fastaw.transforms import distinct, jsondata
from fastaw.transforms.dictionary import PER_QUERY, fresh_dictionary, query_dictionary
from fastaw.transforms.overlay import plain
from tests.reference_transforms import Ev
from tests.strategies import canon, event_lists, from_frame, to_frame

RULES: list[Any] = [
    [["Work"], {"type": "regex", "regex": "Docs|vim"}],
    [["Work", "Code"], {"type": "regex", "regex": r"\.py$", "select_keys": ["title"]}],
    [["Web"], {"type": "regex", "regex": "(?i)firefox"}],
    [["Other"], {"type": "none"}],
]
TAGS: list[Any] = [["a", {"type": "regex", "regex": "a"}], ["b", {"type": "regex", "regex": "b"}]]

pool = st.sampled_from
memo_datas = st.fixed_dictionaries(
    {},
    optional={
        "app": pool(["x", "Firefox", "a b", 1]),
        "title": pool(["a", "vim - a.py", "Docs", "", 1.0, "b\\c"]),
        "url": pool(["https://www.a.org/x?y=1", "http://b.com", "not a url",
                     "https://c.io/%7Ex", "HTTP://D.org/./y", 5]),
        # a string $category can match rules: then categorizing twice is no fixed point
        "$category": pool([["Old"], "Docs", "x"]),
    },
)

Chain = list[Callable[[Any], Any]]
CHAINS: dict[str, Chain] = {
    "categorize, merge by app and title, then by app": [
        lambda f: tf.categorize(f, RULES),
        lambda f: tf.merge_events_by_keys(f, ["app", "title"]),
        lambda f: tf.merge_events_by_keys(f, ["app"]),
    ],
    "categorize, merge by category": [
        lambda f: tf.categorize(f, RULES),
        lambda f: tf.merge_events_by_keys(f, ["$category"]),
    ],
    "categorize twice, merge by category": [
        lambda f: tf.categorize(f, RULES),
        lambda f: tf.categorize(f, RULES),
        lambda f: tf.merge_events_by_keys(f, ["$category", "title"]),
    ],
    "categorize, tag, merge by tags": [
        lambda f: tf.categorize(f, RULES),
        lambda f: tf.tag(f, TAGS),
        lambda f: tf.merge_events_by_keys(f, ["$tags"]),
    ],
    "split urls twice, merge by url and title": [
        tf.split_url_events,
        tf.split_url_events,
        lambda f: tf.merge_events_by_keys(f, ["url", "title"]),
    ],
    "regex and value filters": [
        lambda f: tf.filter_keyvals_regex(f, "title", "a"),
        lambda f: tf.filter_keyvals(f, "app", ["x", 1.0]),
    ],
    "filter, categorize, merge by title": [
        lambda f: tf.exclude_keyvals(f, "app", ["a b"]),
        lambda f: tf.categorize(f, RULES),
        lambda f: tf.merge_events_by_keys(f, ["title"]),
    ],
}




def _overlay_chains(overlay: bool) -> dict[str, Chain]:
    """Chains after categorize and split_url_events; with ``overlay``, the keys they set
    stay in an overlay (as in queries: `fastaw.transforms.overlay`), through the
    transforms that keep one and the ones that splice it in first."""

    def cat(frame: Any) -> Any:
        return tf.categorize(frame, RULES, overlay=overlay)

    def split(frame: Any) -> Any:
        return tf.split_url_events(frame, overlay=overlay)

    return {
        "split urls, merge by domain": [split, lambda f: tf.merge_events_by_keys(f, ["$domain"])],
        "split urls twice, merge by url and title": [
            split, split, lambda f: tf.merge_events_by_keys(f, ["url", "title"])],
        "split urls, merge by domain and title": [
            split, lambda f: tf.merge_events_by_keys(f, ["title", "$domain"])],
        "split urls, filter by audible, union": [
            split,
            lambda f: tf.filter_keyvals(f, "$protocol", ["https"]),
            lambda f: tf.period_union(f, f),
        ],
        "categorize, split urls, merge by category and path": [
            cat, split, split, lambda f: tf.merge_events_by_keys(f, ["$category", "$path"])],
        "split urls, categorize, merge by domain": [
            split, cat, lambda f: tf.merge_events_by_keys(f, ["$domain"])],
        "merge by app and title, then by app": [
            cat,
            lambda f: tf.merge_events_by_keys(f, ["app", "title"]),
            lambda f: tf.merge_events_by_keys(f, ["app"]),
        ],
        "merge by category": [cat, lambda f: tf.merge_events_by_keys(f, ["$category"])],
        "merge by category and title": [
            cat, lambda f: tf.merge_events_by_keys(f, ["title", "$category"])],
        "filter and exclude by category": [
            cat,
            lambda f: tf.filter_keyvals(f, "$category", [["Work"], ["Web"], ["Work", "Code"]]),
            lambda f: tf.exclude_keyvals(f, "$category", [["Work"]]),
        ],
        "regex filters, sort, limit": [
            cat,
            lambda f: tf.filter_keyvals_regex(f, "title", "a"),
            lambda f: tf.filter_keyvals_regex(f, "$category", "W"),
            tf.sort_by_duration,
            lambda f: tf.limit_events(f, 3),
        ],
        "concat with the events, merge by category": [
            lambda f: tf.concat(cat(f), f),
            tf.sort_by_timestamp,
            lambda f: tf.merge_events_by_keys(f, ["$category"]),
        ],
        "categorize twice, tag": [cat, cat, lambda f: tf.tag(f, TAGS)],
        "chunk by category": [cat, lambda f: tf.chunk_events_by_key(f, "$category")],
    }


CHAINS.update({f"overlay: {name}": chain
               for name, chain in _overlay_chains(overlay=True).items()
               if name in ("merge by app and title, then by app", "split urls, merge by domain",
                           "filter and exclude by category",
                           "concat with the events, merge by category")})


def _run(chain: Chain, events: list[Ev]) -> list[tuple[int | None, int, int, str]]:
    frame = to_frame(events)
    for step in chain:
        frame = step(frame)
    return canon(from_frame(plain(frame)))


@settings(max_examples=40, deadline=None)
@given(event_lists(max_size=12, data=memo_datas), st.booleans())
def test_keys_in_an_overlay_equal_keys_written_into_the_data(events: list[Ev],
                                                             memo: bool) -> None:
    """Every chain after categorize and split_url_events gives the same events whether
    the keys they set stay in an overlay or are written into the data (which the classify
    tests check against the scalar reference), with and without a query's memo."""
    overlaid, written = _overlay_chains(True), _overlay_chains(False)
    for name in overlaid:
        if memo:
            with query_dictionary(fresh=True):
                assert _run(overlaid[name], events) == _run(written[name], events), name
        else:
            assert _run(overlaid[name], events) == _run(written[name], events), name


@settings(max_examples=40, deadline=None)
@given(st.lists(event_lists(max_size=10, data=memo_datas), min_size=1, max_size=4),
       st.permutations(list(CHAINS)))
def test_memoized_answers_equal_fresh_ones(lists: list[list[Ev]], order: list[str]) -> None:
    _check_memoized(lists, order)


@settings(max_examples=25, deadline=None)
@given(st.lists(event_lists(max_size=10, data=memo_datas), min_size=1, max_size=4),
       st.permutations(list(CHAINS)))
def test_answers_worked_out_a_slice_at_a_time_equal_fresh_ones(
        lists: list[list[Ev]], order: list[str]) -> None:
    # a memoized answer is worked out for a slice of the new texts at a time, and values
    # are found in a slice of texts at a time: with slices of two texts, every list of a
    # few texts is cut (a rule set's matches, merge keys, URL splits per slice)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(distinct, "COMPUTE_SLICE", 2)
        patch.setattr(jsondata, "_FIND_SLICE", 2)
        _check_memoized(lists, order)


def _check_memoized(lists: list[list[Ev]], order: list[str]) -> None:
    fresh = {(name, i): _run(CHAINS[name], events)
             for name in CHAINS for i, events in enumerate(lists)}
    with query_dictionary(fresh=True) as first:
        for i, events in enumerate(lists):
            for name in order:
                assert _run(CHAINS[name], events) == fresh[(name, i)], name
        # and once more, everything known now
        for i, events in enumerate(lists):
            for name in order:
                assert _run(CHAINS[name], events) == fresh[(name, i)], name
        assert first.memo is not None
    # the next query of the worker: the key values were let go, the answers were kept
    assert not any(table.startswith(PER_QUERY) for table in first.memo)
    with query_dictionary() as second:
        assert second is first
        for i, events in enumerate(reversed(lists)):
            for name in reversed(order):
                assert _run(CHAINS[name], events) == fresh[(name, len(lists) - 1 - i)], name


def test_key_values_are_kept_only_while_the_query_runs() -> None:
    events = [Ev(0, 5, {"app": "vim", "title": "a.py"}),
              Ev(5, 5, {"app": "x", "title": "Docs"})]
    with query_dictionary(fresh=True) as worker:
        merged = _run(CHAINS["categorize, merge by app and title, then by app"], events)
        assert worker.memo is not None
        assert {"~key:app", "~key:title"} <= set(worker.memo)
    kept = set(worker.memo)
    assert not any(table.startswith(PER_QUERY) for table in kept)
    assert {'merge:["app","title"]', 'merge:["app"]'} <= kept
    with query_dictionary() as again:
        assert again is worker
        assert _run(CHAINS["categorize, merge by app and title, then by app"], events) == merged
        # everything this chain needs was kept: no key value was looked up again
        assert not any(table.startswith(PER_QUERY) for table in worker.memo)


def test_yes_no_answers_come_back_as_they_were_stored() -> None:
    """(They are kept as bytes: `Dictionary.remember`.)"""
    memo = fresh_dictionary()
    codes = pl.Series([4, 0, 2], dtype=pl.UInt32)
    memo.remember("yes?", codes, pl.Series([True, False, None], dtype=pl.Boolean))
    memo.remember("yes?", pl.Series([6], dtype=pl.UInt32), pl.Series([True]))
    got = memo.recall("yes?", pl.Series([0, 1, 2, 4, 6, 9], dtype=pl.UInt32))
    assert got is not None and got.dtype == pl.Boolean
    assert got.to_list() == [False, None, None, True, True, None]
    memo.remember("n", codes, pl.Series([7, 8, 9], dtype=pl.UInt32))
    assert memo.recall("n", codes).to_list() == [7, 8, 9]  # type: ignore[union-attr]
