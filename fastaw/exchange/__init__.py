"""Whole-history data in and out: export, import, migration from ActivityWatch, backups.

Modules by meaning: `selection` (what an export covers), `jsonfmt` (ActivityWatch's JSON
envelope), `ndjson`, `csvfmt`, `parquet` (with `columns`, the vectorized row decoding),
`exporter` (one entry point per format), `wire` + `items` (validation of imported
records), `importer` (detect → validate → apply all or nothing), `migrate` (read
aw-server-rust and aw-server SQLite databases), `backup` (hot copies, restore, check).
Polars is imported only by the columnar formats (Parquet, CSV), and only when used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastaw.exchange.exporter import (
        CONTENT_TYPES,
        check_format,
        export_parquet,
        export_stream,
    )
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

#: Names exported here, by module, imported when first used: the import reader process
#: imports a few reading modules, not the storage package the exporters need.
_EXPORTS = {
    "exporter": ("CONTENT_TYPES", "check_format", "export_parquet", "export_stream"),
    "importer": ("ImportSummary", "Staged", "detect_format", "read_file", "stage",
                 "stage_file"),
    "pipeline": ("prepare_import",),
    "selection": ("FORMATS", "Selection", "export_filename"),
}
_MODULES = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"),
                    "prepare" if name == "prepare_import" else name)
    globals()[name] = value
    return value


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
