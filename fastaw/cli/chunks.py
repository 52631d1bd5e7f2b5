"""`fastaw chunks`: build the column chunks of a store from its rows, ahead of queries.

Queries read events through per-window column chunks (`fastaw.columnar`) and build the
missing ones as they go, so the first query over a long stretch of freshly imported or
migrated history pays for building them. This command builds them beforehand, and with
``--rebuild`` throws every stored chunk away and builds them all again from the rows (the
rows are the truth; chunks are derived). It may run while the server runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastaw.cli.serve import add_config_flags, config_from_args
from fastaw.errors import NotFound, StorageError
from fastaw.storage import Env
from fastaw.storage.env import DATA_FILE

if TYPE_CHECKING:
    from fastaw.columnar import ChunkBuild


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "chunks", help="build the column chunks queries read, from the rows (server may run)",
        description="Build the column chunk of every window of events that has none (or an "
                    "outdated one), so that queries do not have to. With --rebuild, delete "
                    "the stored chunks first and build them all again from the rows.")
    add_config_flags(parser)
    parser.add_argument("--bucket", action="append", dest="buckets", metavar="ID",
                        help="only this bucket (repeatable; default: every bucket)")
    parser.add_argument("--rebuild", action="store_true",
                        help="delete the stored chunks first and build every one again")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run_chunks)


def run_chunks(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    data_dir = Path(config.data_dir)
    if not (data_dir / DATA_FILE).is_file():
        raise StorageError(f"There is no store in {data_dir}")
    env = Env(data_dir, map_size=config.map_size)
    try:
        result, seconds = build_with_progress(env, args.buckets, rebuild=args.rebuild,
                                              quiet=args.quiet)
    finally:
        env.close()
    dropped = f"deleted {result.dropped} stored chunks; " if args.rebuild else ""
    changed = (f"; {result.changed} windows changed meanwhile (the next query builds them)"
               if result.changed else "")
    print(f"{dropped}{result.windows} windows, {result.current} already current"
          f"; built {result.built} chunks of {result.events:,} events in "
          f"{seconds:.1f} s ({result.events / max(seconds, 1e-9):,.0f} events/s){changed}",
          file=sys.stderr)
    return 0


def build_with_progress(env: Env, bucket_ids: Sequence[str] | None, *, quiet: bool,
                        rebuild: bool = False) -> tuple[ChunkBuild, float]:
    """`build_chunks` with a progress bar of the windows to build (shown once their number
    is known); what it did and how many seconds it took. An unknown bucket is a 404."""
    from tqdm import tqdm

    from fastaw.columnar import build_chunks
    from fastaw.storage.chunks import ChunkStore

    started = time.perf_counter()
    store = ChunkStore(env)
    for bucket_id in bucket_ids or ():
        if store.bucket(bucket_id) is None:
            raise NotFound(f"There is no bucket {bucket_id!r}")
    bars: list[Any] = []
    try:
        result = build_chunks(
            store, bucket_ids, rebuild=rebuild,
            on_total=lambda count: bars.append(tqdm(
                total=count, desc="column chunks", unit="win", disable=quiet,
                file=sys.stderr, smoothing=0.1)),
            on_window=lambda _events: bars[0].update(1))
    finally:
        for bar in bars:
            bar.close()
    return result, time.perf_counter() - started
