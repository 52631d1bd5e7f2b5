"""Value texts found in canonical data texts equal the values' own canonical texts.

`key_value_texts` finds most values by position in the text rather than decoding it; these
properties draw objects whose strings and keys are made of the characters that could
mislead a search (quotes, backslashes, commas, colons, brackets, braces, escapes, non-ASCII)
and nest objects and arrays, and compare with encoding each value by itself.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fastaw.transforms import jsondata
from fastaw.transforms.dictionary import query_dictionary
from fastaw.transforms.distinct import DistinctData
from fastaw.transforms.jsondata import all_key_value_texts, decode, encode, key_value_texts

pieces = st.sampled_from(['"', "\\", ",", ":", "{", "}", "[", "]", '":{', ',"k":', '","a":"',
                          "\n", "é", "\u2028", "a", "k", " ", "\\u0041", "$"])
strings = st.lists(pieces, max_size=4).map("".join)
names = st.sampled_from(["k", "a", "app", "$c", "", '"', ",k", ":", "]", "é k"]) | strings
scalars = st.one_of(strings, st.sampled_from([1, -2, 1.0, 2.5, 0.0, -0.0, 1e300, True, False,
                                              None]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(names, inner, max_size=3), max_leaves=6)
objects = st.dictionaries(names, values, max_size=5)


def _expected(objs: list[dict[str, Any]], key: str) -> list[str | None]:
    return [encode(o[key]) if key in o else None for o in objs]


@settings(max_examples=300, deadline=None)
@given(st.lists(objects, max_size=30), st.lists(names, min_size=1, max_size=3))
# a string ending in a comma, then a key starting with a colon: ``,",":`` is in the text
@example([{"": "x,", ":k": 1}], [","])
def test_found_values_equal_encoded_values(objs: list[dict[str, Any]], wanted: list[str]) -> None:
    texts = pl.Series([encode(o) for o in objs], dtype=pl.String)
    got = key_value_texts(texts, wanted)
    for key in wanted:
        assert got[key].to_list() == _expected(objs, key), key
    # found a slice of texts at a time (here three): the same values in the same places
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jsondata, "_FIND_SLICE", 3)
        sliced = key_value_texts(texts, wanted)
    for key in wanted:
        assert sliced[key].to_list() == _expected(objs, key), key


@settings(max_examples=300, deadline=None)
@given(st.lists(objects, max_size=30))
def test_all_keys_found_equal_encoded_values(objs: list[dict[str, Any]]) -> None:
    texts = pl.Series([encode(o) for o in objs], dtype=pl.String)
    got = all_key_value_texts(texts)
    assert got is not None
    assert {k for k, v in got.items() if v.null_count() < v.len()} == set().union(*objs)
    for key, column in got.items():
        assert column.to_list() == _expected(objs, key), key


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(objects, max_size=12), min_size=1, max_size=3),
       st.lists(names, max_size=2))
def test_memoized_keys_and_values(lists: list[list[dict[str, Any]]], first: list[str]) -> None:
    """With a memo: some keys asked for first, then every key (partly known)."""
    with query_dictionary(fresh=True) as d:
        for objs in lists:
            texts = d.intern(pl.Series([encode(o) for o in objs], dtype=pl.String))
            dd = DistinctData(texts)
            distinct = [decode(t) for t in dd.distinct.to_list()]
            for key, column in dd.values(first).items():
                assert column.to_list() == _expected(distinct, key)
            keys = dd.keys()
            assert keys == sorted(set().union(*distinct))
            for key, column in dd.values(keys).items():
                assert column.to_list() == _expected(distinct, key)



@given(st.integers(0, 10_000), st.integers(1, 500))
def test_slices_are_even_few_and_cover_everything(n: int, smallest: int) -> None:
    size = jsondata.slice_size(n, smallest)
    count = -(-n // size)
    assert count <= jsondata.MAX_SLICES
    assert size * count >= n
    # no bigger than asked, unless that would take more slices than allowed
    assert size <= max(smallest, -(-n // jsondata.MAX_SLICES))
    if n <= smallest:
        assert count <= 1
