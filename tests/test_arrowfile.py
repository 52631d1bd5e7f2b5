"""Row counts read from Arrow IPC file footers, checked against what Polars reads."""

from __future__ import annotations

import io

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastaw.columnar.arrowfile import NotAnArrowFile, file_rows
from fastaw.columnar.encoding import u32_series


def _ipc(frame: pl.DataFrame, compression: str = "uncompressed") -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression=compression)  # type: ignore[arg-type]
    return buffer.getvalue()


def _chunk_like(rows: int) -> pl.DataFrame:
    return pl.DataFrame({
        "id": pl.int_range(rows, eager=True),
        "timestamp": pl.int_range(rows, eager=True) * 1_000,
        "duration": pl.repeat(5, rows, dtype=pl.Int64, eager=True),
        "text": pl.int_range(rows, dtype=pl.UInt32, eager=True),
    })


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3_000), min_size=1, max_size=4),
       st.sampled_from(["uncompressed", "lz4", "zstd"]))
def test_file_rows_is_what_polars_reads(batches: list[int], compression: str) -> None:
    # one record batch per piece (a frame of several chunks is written as several)
    frame = pl.concat([_chunk_like(n) for n in batches], rechunk=False)
    blob = _ipc(frame, compression)
    assert file_rows(blob) == pl.scan_ipc([blob]).collect().height == sum(batches)
    assert file_rows(memoryview(blob)) == sum(batches)


def test_file_rows_of_a_file_without_columns_or_rows() -> None:
    assert file_rows(_ipc(pl.DataFrame())) == 0
    assert file_rows(_ipc(_chunk_like(0))) == 0


@pytest.mark.parametrize("blob", [b"", b"ARROW1", b"not an arrow file at all",
                                  b"ARROW1\x00\x00" + b"\xff" * 20 + b"ARROW1"])
def test_file_rows_rejects_what_is_no_arrow_file(blob: bytes) -> None:
    with pytest.raises(NotAnArrowFile):
        file_rows(blob)


def test_file_rows_rejects_a_cut_file() -> None:
    blob = _ipc(_chunk_like(100))
    with pytest.raises(NotAnArrowFile):
        file_rows(blob[:40] + blob[-10:])


@given(st.lists(st.integers(0, 2**32 - 1), max_size=200))
def test_u32_series_reads_little_endian_codes(values: list[int]) -> None:
    raw = b"".join(value.to_bytes(4, "little") for value in values)
    series = u32_series(raw)
    assert series.dtype == pl.UInt32
    assert series.to_list() == values
