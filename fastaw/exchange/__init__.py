"""Whole-history data in and out: export, import, migration from ActivityWatch, backups.

Modules by meaning: `selection` (what an export covers), `jsonfmt` (ActivityWatch's JSON
envelope), `ndjson`, `csvfmt`, `parquet` (with `columns`, the vectorized row decoding),
`exporter` (one entry point per format), `wire` + `items` (validation of imported
records), `importer` (detect → validate → apply all or nothing), `migrate` (read
aw-server-rust and aw-server SQLite databases), `backup` (hot copies, restore, check).
Polars is imported only by the columnar formats (Parquet, CSV), and only when used.
"""

from fastaw.exchange.exporter import CONTENT_TYPES, check_format, export_parquet, export_stream
from fastaw.exchange.importer import (
    ImportSummary,
    Staged,
    detect_format,
    read_file,
    stage,
    stage_file,
)
from fastaw.exchange.pipeline import prepare as prepare_import
from fastaw.exchange.selection import FORMATS, Selection, export_filename

__all__ = [
    "CONTENT_TYPES",
    "FORMATS",
    "ImportSummary",
    "Selection",
    "Staged",
    "check_format",
    "detect_format",
    "export_filename",
    "export_parquet",
    "export_stream",
    "prepare_import",
    "read_file",
    "stage",
    "stage_file",
]
