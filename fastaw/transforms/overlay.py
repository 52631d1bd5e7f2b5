"""Overlays: keys a transform sets on events, kept beside ``data`` instead of in it.

``categorize`` gives every event a ``$category``. Writing it into each data text makes a
second text per distinct text (a year of window events: 194k texts, ≈ 45 MB of the data
dictionary, and 2 s of splicing and interning over ten years), while what the dashboard
then does with the category — merge by it — needs only its value. So inside queries,
categorize leaves ``data`` as it is and puts ``{"$category": […]}`` in an *overlay*
column (`OVERLAY`): a canonical JSON object per row (null = nothing), dictionary-encoded
in the same dictionary as ``data``. An event's data is then ``data`` with the overlay's
members set on top (they replace members of the same key).

``split_url_events`` does the same with its four ``$…`` keys (one overlay per distinct
URL, instead of a second copy of each browser text).

A frame with an overlay is a query-internal value. Only the transforms that know about it
get one (the query builtins call them with it: those two, merges, key filters, sorts,
limits, sums, concat, period_union); every other transform, and everything that looks at
events one by one or writes them out, gets the `plain` frame, with the overlay spliced
into its data (for the dashboard's answer, the hundred events of each top list).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

import polars as pl

from fastaw.transforms.dictionary import data_dtype, dictionary
from fastaw.transforms.distinct import DistinctData
from fastaw.transforms.frame import COLUMNS, Events, conform, data_literal, nulls
from fastaw.transforms.jsondata import decode, encode

#: The name of the overlay column (see the module doc).
OVERLAY: Final = "overlay"
#: Memo tables of `plain`: per data text, the overlay last spliced into it, and the result.
_SPLICED_WITH: Final = "spliced:with"
_SPLICED: Final = "spliced:into"


def has_overlay(events: Events) -> bool:
    """Whether the frame carries an overlay column."""
    return OVERLAY in events.columns


def with_overlay(events: Events, overlay: pl.Series) -> Events:
    """The plain frame of ``events`` with ``overlay`` (a column of the data dictionary:
    canonical object texts, null = nothing) as its overlay."""
    return plain(events).with_columns(overlay.alias(OVERLAY))


def conform_overlay(frame: pl.DataFrame) -> Events:
    """`conform`'s four columns, and an overlay column (all null when ``frame`` has none)."""
    overlay = frame[OVERLAY] if has_overlay(frame) else nulls(frame.height, data_dtype())
    return conform(frame).with_columns(overlay.alias(OVERLAY))


def overlay_has(events: Events, key: str) -> pl.Series:
    """Per row: whether its overlay sets ``key`` (False for a frame without overlay)."""
    if not has_overlay(events):
        return pl.repeat(False, events.height, dtype=pl.Boolean, eager=True)
    return _sets(filled(events), key)


def _sets(overlays: pl.Series, key: str) -> pl.Series:
    """Per row of a `filled` overlay column: whether it sets ``key`` (memoized)."""
    return DistinctData(overlays).memoized_rows(*_setting(key))


def _sets_distinct(overlays: DistinctData, key: str) -> pl.Series:
    """Per distinct text of a `filled` overlay column: whether it sets ``key`` (memoized)."""
    return overlays.memoized(*_setting(key))


def _setting(key: str) -> tuple[str, Callable[[DistinctData], pl.Series], pl.DataType]:
    """The memo table, computation and dtype of whether an overlay sets ``key``."""

    def compute(part: DistinctData) -> pl.Series:
        return part.values([key])[key].is_not_null()

    return "sets:" + encode(key), compute, pl.Boolean()


def filled(events: Events) -> pl.Series:
    """The overlay column with ``{}`` (no keys) where it is null: a data-like column the
    per-text machinery (`fastaw.transforms.distinct`) can look into."""
    return events.select(
        pl.col(OVERLAY).fill_null(data_literal("{}"))).to_series().alias("data")


def per_row(events: Events, keys: Sequence[str],
            answer: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """``answer`` per row about ``data[key] for key in keys`` of the events' data with their
    overlays on top. ``answer(column)`` answers per row of a data-like ``column`` (and
    must answer alike wherever two rows' values of the keys are alike): rows whose overlay
    sets every key take the overlay's answer, rows whose overlay sets none the data's, and
    rows whose overlay sets some of them the answer of their spliced data.

    Which keys an overlay sets is looked at per distinct overlay (a year of categorized
    window events has 983k rows and 15 overlays): mostly every overlay sets all of the keys
    or none of them, and the rows then need no look at their overlays."""
    if not has_overlay(events):
        return answer(events["data"])
    overlays = filled(events)
    distinct = DistinctData(overlays)
    has = [_sets_distinct(distinct, key) for key in keys]
    every = pl.select(pl.all_horizontal(has)).to_series()
    some = pl.select(pl.any_horizontal(has)).to_series()
    if every.all():
        return answer(overlays)
    if not some.any():
        return answer(events["data"])
    every, some = distinct.expand(every), distinct.expand(some)
    out = answer(events["data"])
    if every.any():
        out = answer(overlays).zip_with(every, out)
    mixed = (some & ~every).arg_true()
    if mixed.len():
        out = out.scatter(mixed, answer(plain(events[mixed])["data"]))
    return out


def plain(events: Events) -> Events:
    """The frame without overlay: each overlay spliced into its row's data (the new texts
    interned in the current dictionary).

    In a query, the splice is memoized per data text (`_SPLICED_WITH`, `_SPLICED`): the
    overlay last spliced into it and the result, so a repeated query answering with whole
    categorized lists (the Report and Search views) splices nothing again."""
    if not has_overlay(events):
        return events
    overlay = events[OVERLAY]
    if overlay.null_count() == overlay.len():
        return events.select(COLUMNS)
    memo = dictionary()
    rows = pl.DataFrame({"d": events["data"], "o": overlay})
    new = nulls(events.height, pl.UInt32)
    with_ = memo.recall(_SPLICED_WITH, rows["d"])
    result = memo.recall(_SPLICED, rows["d"])
    if with_ is not None and result is not None:
        new = result.zip_with((with_ == rows["o"]).fill_null(False), new)
    need = rows["o"].is_not_null() & new.is_null()
    if need.any():
        pairs = rows.filter(need).unique()
        codes = memo.intern(spliced(memo.texts(pairs["d"]), memo.texts(pairs["o"])))
        memo.remember(_SPLICED_WITH, pairs["d"], pairs["o"])
        memo.remember(_SPLICED, pairs["d"], codes)
        found = rows.join(pairs.with_columns(_new=codes), on=["d", "o"], how="left",
                          maintain_order="left")["_new"]
        new = found.zip_with(need, new)
    return events.select(*COLUMNS[:3], pl.lit(new.fill_null(rows["d"])).alias("data"))


def spliced(texts: pl.Series, overlays: pl.Series) -> pl.Series:
    """Each canonical object of ``texts`` with the members of the parallel ``overlays``
    object set on top, canonical again.

    An overlay whose keys all sort before every key of the text (``$…`` keys before
    ordinary ones) is inserted in front, as text; any other pair is decoded, merged and
    encoded.
    """
    distinct = overlays.unique().drop_nulls()
    # per overlay: the greatest first character of its keys
    last = pl.Series([max((key[:1] for key in decode(text)), default="")
                      for text in distinct.to_list()], dtype=pl.String)
    frame = pl.DataFrame({"text": texts, "over": overlays}).join(
        pl.DataFrame({"over": distinct, "last": last}), on="over", how="left",
        maintain_order="left")
    text, over = pl.col("text"), pl.col("over")
    first = text.str.slice(2, 1)  # of the text's first key (an escape, or '"' if empty)
    fast = frame.select(
        pl.when(over == "{}").then(text)
        .when(text == "{}").then(over)
        .when((first > pl.col("last")) & ~first.is_in(["\\", '"']))
        .then(pl.concat_str(over.str.head(-1), pl.lit(","), text.str.slice(1)))
        .otherwise(None)
    ).to_series()
    slow = fast.is_null()
    if not slow.any():
        return fast
    merged = [encode({**decode(t), **decode(o)}) for t, o in
              zip(texts.filter(slow).to_list(), overlays.filter(slow).to_list(), strict=True)]
    return fast.scatter(slow.arg_true(), pl.Series(merged, dtype=pl.String))
