"""Export in any format: one entry point for the CLI and the HTTP handlers.

JSON, NDJSON and CSV are byte streams (written as they are read, constant memory);
Parquet is written to a file or a partitioned folder (Polars writes it, pulling pages).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from fastaw.errors import BadRequest
from fastaw.exchange.selection import COLUMN_PAGE, FORMATS, Selection
from fastaw.storage import Env

CONTENT_TYPES: Final = {
    "json": b"application/json",
    "ndjson": b"application/x-ndjson",
    "csv": b"text/csv; charset=utf-8",
    "parquet": b"application/vnd.apache.parquet",
}


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise BadRequest(f"Unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    return fmt


def export_stream(env: Env, selection: Selection, fmt: str) -> Iterator[bytes]:
    """The export of a resolved selection as byte chunks (not for Parquet)."""
    if fmt == "json":
        from fastaw.exchange.jsonfmt import export_chunks

        return export_chunks(env, selection)
    if fmt == "ndjson":
        from fastaw.exchange.ndjson import export_lines

        return export_lines(env, selection)
    if fmt == "csv":
        from fastaw.exchange.csvfmt import export_csv

        return export_csv(env, selection)
    raise ValueError(f"{fmt} is not a streamed format")


def export_parquet(env: Env, selection: Selection, out: str | Path, *,
                   partitioned: bool = False) -> int:
    """Write Parquet (one file, or a hive-partitioned folder); returns the event count."""
    from fastaw.exchange import parquet

    selection = dataclasses.replace(selection, page=COLUMN_PAGE)
    if partitioned:
        return parquet.export_partitioned(env, selection, out)
    return parquet.export_file(env, selection, out)
