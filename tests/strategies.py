"""Hypothesis strategies for event lists, plus frame ⇄ `Ev` list conversion.

Times are drawn on a coarse half-second grid plus small ns offsets, so equal timestamps,
touching and nested intervals, gaps of exactly/around the 5 s pulsetime and odd-ns gaps
all occur often. Data values are drawn from a pool where JSON-typed equality matters
(``1`` vs ``1.0`` vs ``"1"`` vs ``true``), with keys that are often missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import polars as pl
from hypothesis import strategies as st

from fastaw.transforms import frame
from fastaw.transforms.dictionary import texts_of
from tests.reference_transforms import Ev

HALF_S = 500_000_000
_encoder = msgspec.json.Encoder(order="sorted")

offsets = st.sampled_from([0, 0, 0, 1, 2, 3, 7, HALF_S - 1, 999_999_999])
timestamps = st.builds(lambda k, o: k * HALF_S + o, st.integers(0, 40), offsets)
durations = st.builds(lambda k, o: k * HALF_S + o, st.integers(0, 24), offsets) | st.just(0)
negative_durations = st.builds(lambda k, o: -(k * HALF_S + o), st.integers(0, 6), offsets)

scalars = st.sampled_from([1, 1.0, "1", True, False, 2, 2.5, None, "a", "b", "", "A b"])
values = scalars | st.lists(scalars, max_size=2)
keys = st.sampled_from(["app", "title", "k", "status"])
no_data: st.SearchStrategy[dict[str, Any]] = st.just({})
datas = st.dictionaries(keys, values, max_size=3)
small_datas: st.SearchStrategy[dict[str, Any]] = st.sampled_from(
    [{}, {"k": 1}, {"k": 1.0}, {"k": "1"}, {"k": True}, {"k": 2}, {"j": 1}, {"k": 1, "j": 2}]
)


@st.composite
def event_lists(
    draw: st.DrawFn,
    max_size: int = 12,
    data: st.SearchStrategy[dict[str, Any]] = datas,
    negative: bool = False,
    ids: bool = True,
) -> list[Ev]:
    dur = durations | negative_durations if negative else durations
    n = draw(st.integers(0, max_size))
    out = []
    for i in range(n):
        ident = i + 1 if ids and draw(st.booleans() | st.just(True)) else None
        out.append(Ev(draw(timestamps), draw(dur), draw(data), ident))
    return out


def to_frame(events: Sequence[Ev]) -> pl.DataFrame:
    return frame.from_columns(
        [e.id for e in events],
        [e.ts for e in events],
        [e.dur for e in events],
        [_encoder.encode(e.data).decode() for e in events],
    )


def from_frame(df: pl.DataFrame) -> list[Ev]:
    assert df.columns == list(frame.COLUMNS), df.columns
    assert df.schema == frame.schema(), df.schema
    texts = texts_of(df["data"]).to_list()
    return [
        Ev(ts, dur, msgspec.json.decode(data), ident)
        for (ident, ts, dur, _), data in zip(df.iter_rows(), texts, strict=True)
    ]


def canon(events: Sequence[Ev]) -> list[tuple[int | None, int, int, str]]:
    """Comparable form: data as canonical text (JSON-typed)."""
    return [(e.id, e.ts, e.dur, _encoder.encode(e.data).decode()) for e in events]
