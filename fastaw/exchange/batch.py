"""Validated import batches as Polars frames, rendered column-wise for the bulk insert.

Every reader ends a batch of one bucket's events in `finish`: a frame of ``start`` and
``duration`` (int64 ns), ``stamp`` (the stored text of the start) and ``data`` (canonical
JSON), in ascending start order. The writer renders each stored value with its new id
(`FrameBatch.values`: the head — the duration header of
`fastaw.storage.keys.event_value`, then ``{"id":`` — packed from the duration column,
then the bytes `fastaw.models.render_event` gives, in one Polars expression), so no
Python object is made per event beyond the byte strings LMDB is given. Batches travel
between processes and through the import spool as Arrow IPC.

Where the work goes is a balance: the reader process (JSON decoding, validation) and the
writer (rendering, keys, LMDB) take about the same CPU time per event. Rendering the text
after the id in the reader took 0.2-0.3 s per 1M events from it and gave less than that
to the writer: the reader became the slower side (the heads, packed by pyarrow, are
rendered by the writer too: the reader never imports pyarrow).
"""

from __future__ import annotations

import atexit
import functools
import os
import struct
import sys
import tempfile
import threading
from array import array
from collections.abc import Callable, Sequence
from itertools import repeat
from typing import IO, Any, Final

import polars as pl

from fastaw.exchange.columns import duration_texts, stamp_texts
from fastaw.exchange.wire import Place, canonical_changes, canonical_datas

#: The stored value's duration header (`fastaw.storage.keys.event_value`) and ``{"id":``.
_HEAD: Final = struct.Struct('>q6s')
_ID: Final = b'{"id":'
COLUMNS: Final = ("start", "duration", "stamp", "data")


def canonical_series(texts: pl.Series, raws: Callable[[], Sequence[Any]], place: Place,
                     base: int) -> pl.Series:
    """Canonical JSON (String) of each data text; 400 naming the first non-object.

    Each distinct text is checked once (histories repeat their data a lot); ``raws``
    gives the texts as bytes-likes for the exact row-by-row path, taken when any text
    is not a JSON object (so the error names the same row as ever).
    """
    distinct = texts.unique()
    # (as bytes straight from Polars: no str object per text, decoded and encoded again)
    encoded: list[bytes] | None = distinct.cast(pl.Binary).to_list() \
        if distinct.null_count() == 0 else None
    try:
        if encoded is None:
            raise ValueError("a null data text")
        canonical = canonical_changes(encoded, place, base)
    except Exception:
        canonical_datas(raws(), place, base)  # raises with the first bad row named
        raise  # (cannot happen: a text fails alone iff it fails among the others)
    if canonical is None:  # (all canonical: exports of fastaw and of aw-server-rust)
        return texts
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
    return frame.select("start", "duration", stamp=pl.lit(stamps), data=pl.col("data"))


def _int64_words(column: pl.Series) -> array[int]:
    """An Int64 column without nulls as a native int64 `array`, copied from its buffer."""
    arrow = column.rechunk().to_arrow()
    words = array("q")
    words.frombytes(memoryview(arrow.buffers()[1])[
        arrow.offset * 8:(arrow.offset + len(column)) * 8])
    return words


def _heads(durations: pl.Series) -> pl.Series:
    """``_HEAD.pack(duration, _ID)`` of every row (Binary), from the column's buffer: the
    durations byte-swapped by `array` and interleaved with ``{"id":`` by strided copies
    (a quarter of the time of one ``pack`` per row)."""
    import pyarrow as pa  # (here: a writer that only reads batches never needs it)

    count = len(durations)
    if count == 0 or durations.null_count():
        return pl.Series(list(map(_HEAD.pack, durations.to_list(), repeat(_ID))),
                         dtype=pl.Binary)
    words = _int64_words(durations)
    if sys.byteorder == "little":
        words.byteswap()
    raw = words.tobytes()
    width = _HEAD.size
    out = bytearray(width * count)
    for j in range(8):
        out[j::width] = raw[j::8]
    for j, byte in enumerate(_ID, 8):
        out[j::width] = bytes((byte,)) * count
    heads = pl.from_arrow(pa.Array.from_buffers(pa.binary(width), count,
                                                [None, pa.py_buffer(out)]))
    assert isinstance(heads, pl.Series)
    return heads.cast(pl.Binary)


_scratch: dict[int, IO[bytes]] = {}  # per process (a forked child must not share it)
_scratch_lock: Final = threading.Lock()


def _scratch_file() -> IO[bytes]:
    file = _scratch.get(os.getpid())
    if file is None:
        if hasattr(os, "memfd_create"):  # Linux: memory, no file system
            file = os.fdopen(os.memfd_create("fastaw-ipc", os.MFD_CLOEXEC), "w+b")
        else:
            file = tempfile.TemporaryFile()  # noqa: SIM115 (closed at exit)
        atexit.register(file.close)
        _scratch[os.getpid()] = file
    return file


def to_ipc(frame: pl.DataFrame) -> bytes:
    """Arrow IPC file bytes of a frame, written through a scratch file: Polars writes a
    real file natively, a Python file object (BytesIO) in small calls — 3× slower."""
    with _scratch_lock:
        file = _write_scratch(frame)
        size = file.tell()
        file.seek(0)
        blob = file.read(size)
        file.truncate(0)
    return blob


def _write_scratch(frame: pl.DataFrame) -> IO[bytes]:
    file = _scratch_file()
    file.seek(0)
    frame.write_ipc(file, compression="uncompressed")
    return file


def send_ipc(fd: int, prefix: bytes, frame: pl.DataFrame) -> None:
    """Write one message — its length (u64), ``prefix``, then `to_ipc` of ``frame`` — to a
    pipe, the IPC bytes straight from the scratch file (``sendfile``: never read back into
    a Python object and copied again). Linux; elsewhere the bytes go through `to_ipc`."""
    if not hasattr(os, "memfd_create"):
        blob = to_ipc(frame)
        _write_all(fd, (len(prefix) + len(blob)).to_bytes(8, "big") + prefix + blob)
        return
    with _scratch_lock:
        file = _write_scratch(frame)
        size = file.tell()
        file.flush()
        _write_all(fd, (len(prefix) + size).to_bytes(8, "big") + prefix)
        offset = 0
        while offset < size:
            offset += os.sendfile(fd, file.fileno(), offset, size - offset)
        file.truncate(0)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def from_ipc(blob: bytes | bytearray | memoryview) -> pl.DataFrame:
    """The frame of `to_ipc` bytes, without a copy: pyarrow maps the buffers in place
    (Polars' reader copies them), and the frame keeps ``blob`` alive."""
    import pyarrow as pa

    frame = pl.from_arrow(pa.ipc.open_file(pa.py_buffer(blob)).read_all())
    assert isinstance(frame, pl.DataFrame)
    return frame


class FrameBatch:
    """A `finish`ed frame as `fastaw.storage.bulk.Rendered` (what `add_rendered` takes)."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        shortest, longest, end, repeats = frame.select(
            a=pl.col("duration").min(), b=pl.col("duration").max(),
            c=(pl.col("start") + pl.col("duration")).max(),
            d=(pl.col("start").diff() == 0).any()).row(0)
        self.repeats: bool = bool(repeats)
        self.extent: tuple[int, int, int] = (shortest, longest, end)

    def __len__(self) -> int:
        return self.frame.height

    @functools.cached_property
    def starts(self) -> list[int]:
        result: list[int] = self.frame["start"].to_list()
        return result

    @functools.cached_property
    def durations(self) -> list[int]:
        result: list[int] = self.frame["duration"].to_list()
        return result

    def start_array(self) -> array[int]:
        """The starts as a native int64 array, from the column's buffer."""
        starts = self.frame["start"]
        if starts.null_count():  # (cannot happen: readers reject missing timestamps)
            raise ValueError("a null start")
        return _int64_words(starts)

    def datas(self) -> list[bytes]:
        result: list[bytes] = self.frame["data"].cast(pl.Binary).to_list()
        return result

    def values(self, ids: range, keep: list[int]) -> list[bytes]:
        frame = self.frame
        if len(keep) != frame.height:
            frame = frame[keep]
        # (the heads here, not in the reader: pyarrow, which packs them, is not imported
        # there; and they are not sent through the pipe)
        values = frame.select(pl.lit(_heads(frame["duration"])) + pl.concat_str(
            pl.int_range(ids.start, ids.stop, dtype=pl.Int64).cast(pl.String),
            pl.lit(',"timestamp":"'), pl.col("stamp"),
            pl.lit('","duration":'), pl.lit(duration_texts(frame["duration"])),
            pl.lit(',"data":'), pl.col("data"), pl.lit("}")).cast(pl.Binary)).to_series()
        result: list[bytes] = values.to_list()
        return result


def warm_up() -> None:
    """Render a one-row batch: the imports and first calls the writer's first batch would
    otherwise wait for (pyarrow and its compute functions, ≈ 0.15 s)."""
    frame = finish(pl.DataFrame({"start": [0], "duration": [0], "data": ["{}"]},
                                schema={"start": pl.Int64, "duration": pl.Int64,
                                        "data": pl.String}))
    FrameBatch(from_ipc(to_ipc(frame))).values(range(1, 2), [0])
