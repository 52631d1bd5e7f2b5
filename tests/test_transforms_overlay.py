"""Overlays (`fastaw.transforms.overlay`): keys set beside ``data``, spliced in on demand.

The chains after categorize are checked against categories written into the data in
`test_transforms_memo`; here, the splice itself against decoding, merging and encoding,
on keys that sort anywhere (``""``, ``!``, ``$…``, escaped ones) and overlays of several
keys.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from fastaw.transforms.dictionary import codes_of, texts_of
from fastaw.transforms.frame import from_columns
from fastaw.transforms.jsondata import decode, encode
from fastaw.transforms.overlay import (
    OVERLAY,
    overlay_has,
    plain,
    spliced,
    with_overlay,
)

keys = st.sampled_from(["", "!", "$category", "$tags", "app", "title", 'a"b', "ä", "\\x"])
values = st.one_of(st.integers(-3, 3), st.floats(allow_nan=False, allow_infinity=False),
                   st.text(max_size=3), st.lists(st.text(max_size=2), max_size=2),
                   st.booleans(), st.none())
objects = st.dictionaries(keys, values, max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(objects, objects), min_size=1, max_size=20))
def test_splice_equals_merging_the_objects(pairs: list[tuple[dict[str, Any], dict[str, Any]]]
                                           ) -> None:
    texts = pl.Series([encode(d) for d, _ in pairs], dtype=pl.String)
    overlays = pl.Series([encode(o) for _, o in pairs], dtype=pl.String)
    out = spliced(texts, overlays).to_list()
    assert out == [encode({**d, **o}) for d, o in pairs]
    assert all(decode(text) == {**d, **o} for text, (d, o) in zip(out, pairs, strict=True))


def test_plain_splices_each_row_and_keeps_rows_without_overlay() -> None:
    data = ['{"app":"a"}', '{"$category":"old","app":"b"}', "{}", '{"app":"a"}']
    events = from_columns([1, 2, 3, 4], [0, 1, 2, 3], [1, 1, 1, 1], data)
    overlay = codes_of(pl.Series([encode({"$category": ["W"]}), encode({"$category": ["X"]}),
                                  None, None], dtype=pl.String))
    overlaid = with_overlay(events, overlay)
    assert overlaid.columns == ["id", "timestamp", "duration", "data", OVERLAY]
    assert overlay_has(overlaid, "$category").to_list() == [True, True, False, False]
    assert overlay_has(overlaid, "app").to_list() == [False] * 4
    out = plain(overlaid)
    assert out.columns == ["id", "timestamp", "duration", "data"]
    assert texts_of(out["data"]).to_list() == [
        '{"$category":["W"],"app":"a"}', '{"$category":["X"],"app":"b"}', "{}", '{"app":"a"}']
    assert out["id"].to_list() == [1, 2, 3, 4]
    assert plain(events) is events
