"""The columnar read path: a bucket's events as a DataFrame, from cached Arrow chunks.

* `source` — `ColumnSource`, what queries read events through (windows, chunks, frames);
* `encoding` — rows decoded from the store, and the chunk format on the Polars side;
* `texts` — the store's text codes turned into the query's dictionary codes;
* `build` — `build_chunks`, building chunks ahead of queries.
"""

from fastaw.columnar.build import ChunkBuild, build_chunks
from fastaw.columnar.encoding import (
    chunk_events,
    chunk_frame,
    new_chunk,
    rows_to_frame,
)
from fastaw.columnar.source import ColumnSource

__all__ = [
    "ChunkBuild",
    "ColumnSource",
    "build_chunks",
    "chunk_events",
    "chunk_frame",
    "new_chunk",
    "rows_to_frame",
]
