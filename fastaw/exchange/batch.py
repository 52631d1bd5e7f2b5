"""Validated import batches as Polars frames, rendered column-wise for the bulk insert.

Every reader ends a batch of one bucket's events in `finish`: a frame of ``start`` and
``duration`` (int64 ns) and ``tail`` — the event's JSON after its id
(``,"timestamp":…,"duration":…,"data":…}``, the bytes `fastaw.models.render_tails`
gives), in ascending start order. The stamps and duration texts are rendered by Polars;
the writer only adds ids (`FrameBatch.events`), so no Python object is made per event
beyond the byte strings LMDB is given. Batches travel between processes and through the
import spool as Arrow IPC.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any, Final

import polars as pl

from fastaw.exchange.columns import stamp_texts
from fastaw.exchange.wire import Place, canonical_datas
from fastaw.models import encode_durations

_DATA_MARKER: Final = ',"data":'
COLUMNS: Final = ("start", "duration", "tail")


def canonical_series(texts: pl.Series, raws: Callable[[], Sequence[Any]], place: Place,
                     base: int) -> pl.Series:
    """Canonical JSON (String) of each data text; 400 naming the first non-object.

    Each distinct text is checked once (histories repeat their data a lot); ``raws``
    gives the texts as bytes-likes for the exact row-by-row path, taken when any text
    is not a JSON object (so the error names the same row as ever).
    """
    distinct = texts.unique()
    encoded = [text.encode() for text in distinct.to_list()] if distinct.null_count() == 0 \
        else None
    try:
        if encoded is None:
            raise ValueError("a null data text")
        canonical = canonical_datas(encoded, place, base)
    except Exception:
        canonical_datas(raws(), place, base)  # raises with the first bad row named
        raise  # (cannot happen: a text fails alone iff it fails among the others)
    changed = [(old, new) for old, new in zip(encoded, canonical, strict=True) if old != new]
    if not changed:
        return texts
    return texts.replace([old.decode() for old, _ in changed],
                         [new.decode() for _, new in changed])


def finish(frame: pl.DataFrame) -> pl.DataFrame:
    """A validated frame (start, duration, data; optionally ``stamp``, the stored text of
    each start where the file had it already, else null) as `COLUMNS`, in ascending start
    order (stable: rows with one start keep the file's order)."""
    if not frame["start"].is_sorted():
        frame = frame.sort("start", maintain_order=True)
    stamps = frame["stamp"] if "stamp" in frame.columns else None
    if stamps is None or stamps.null_count() == len(stamps):
        stamps = frame.select(stamp_texts(pl.col("start"))).to_series()
    elif stamps.null_count():
        where = stamps.is_null().arg_true()
        stamps = stamps.scatter(where, frame.select(
            stamp_texts(pl.col("start").gather(where))).to_series())
    texts = pl.Series(encode_durations(frame["duration"].to_list()), dtype=pl.Binary)
    return frame.select("start", "duration", tail=pl.concat_str(
        pl.lit(',"timestamp":"'), pl.lit(stamps), pl.lit('","duration":'),
        pl.lit(texts.cast(pl.String)), pl.lit(_DATA_MARKER), pl.col("data"), pl.lit("}")))


def to_ipc(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="uncompressed")
    return buffer.getvalue()


def from_ipc(blob: bytes) -> pl.DataFrame:
    return pl.read_ipc(io.BytesIO(blob))


class FrameBatch:
    """A `finish`ed frame as `fastaw.storage.bulk.Rendered` (what `add_rendered` takes)."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        self.starts: list[int] = frame["start"].to_list()
        self.durations: list[int] = frame["duration"].to_list()
        shortest, longest, end, repeats = frame.select(
            a=pl.col("duration").min(), b=pl.col("duration").max(),
            c=(pl.col("start") + pl.col("duration")).max(),
            d=(pl.col("start").diff() == 0).any()).row(0)
        self.repeats: bool = bool(repeats)
        self.extent: tuple[int, int, int] = (shortest, longest, end)

    def __len__(self) -> int:
        return self.frame.height

    def datas(self) -> list[bytes]:
        data = (self.frame["tail"].str.splitn(_DATA_MARKER, 2).struct.field("field_1")
                .str.strip_suffix("}"))
        result: list[bytes] = data.cast(pl.Binary).to_list()
        return result

    def events(self, ids: range, keep: list[int]) -> list[bytes]:
        tails = self.frame["tail"]
        if len(keep) != len(tails):
            tails = tails.gather(keep)
        rendered = tails.to_frame("tail").select(pl.concat_str(
            pl.lit('{"id":'),
            pl.int_range(ids.start, ids.stop, dtype=pl.Int64).cast(pl.String),
            pl.col("tail"))).to_series()
        result: list[bytes] = rendered.cast(pl.Binary).to_list()
        return result
