"""`fastaw export`, `fastaw import`, `fastaw migrate`: whole-history data in and out.

They open the store directly (LMDB is multi-process safe), so they work whether or not the
server is running; writes go through a group-commit writer like the server's own.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

from fastaw.cli.serve import add_config_flags, config_from_args
from fastaw.errors import BadRequest
from fastaw.exchange import FORMATS, Selection, export_parquet, export_stream, prepare_import
from fastaw.exchange.importer import IMPORT_FORMATS
from fastaw.storage import Env, Writer
from fastaw.timefmt import parse_datetime


def register(sub: Any) -> None:
    export = sub.add_parser(
        "export", help="export events (ActivityWatch JSON, NDJSON, CSV, Parquet)",
        description="Export buckets and events from the store, streamed in constant memory. "
                    "With --start/--end only events starting in [start, end) are exported.")
    add_config_flags(export)
    export.add_argument("--format", choices=FORMATS, default=None,
                        help="output format (default: from OUT's extension, else json)")
    export.add_argument("--bucket", action="append", dest="buckets", metavar="ID",
                        help="export only this bucket (repeatable; default: all)")
    export.add_argument("--start", help="only events starting at or after (ISO 8601)")
    export.add_argument("--end", help="only events starting before (ISO 8601)")
    export.add_argument("--partitioned", action="store_true",
                        help="Parquet: a folder partitioned by bucket and month (hive style)")
    export.add_argument("out", metavar="OUT", help="output file, folder (--partitioned) or -")
    export.set_defaults(run=run_export)

    imp = sub.add_parser(
        "import", help="import an export file (merging, without duplicates)",
        description="Import an ActivityWatch JSON export (either reference server or "
                    "fastaw), NDJSON, CSV or Parquet (file or partitioned folder). The file "
                    "is validated completely first; then everything is imported in one "
                    "transaction, or nothing.")
    add_config_flags(imp)
    imp.add_argument("--format", choices=IMPORT_FORMATS, default=None,
                     help="input format (default: detected from the content)")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    imp.add_argument("--no-chunks", dest="chunks", action="store_false",
                     help="do not build the column chunks queries read afterwards (the "
                          "first queries then build them)")
    imp.set_defaults(run=run_import)

    mig = sub.add_parser(
        "migrate", help="migrate an aw-server-rust or aw-server database",
        description="Copy every bucket, event and setting of an ActivityWatch SQLite "
                    "database (aw-server-rust sqlite.db or aw-server peewee-sqlite.v2.db) "
                    "into fastaw. The source is opened read-only. Safe to re-run.")
    add_config_flags(mig)
    mig.add_argument("paths", metavar="PATH", nargs="*",
                     help="database file(s) (default: found in the standard data dirs)")
    mig.add_argument("--quiet", action="store_true", help="no progress bar")
    mig.add_argument("--no-chunks", dest="chunks", action="store_false",
                     help="do not build the column chunks queries read afterwards (the "
                          "first queries then build them)")
    mig.set_defaults(run=run_migrate)


def _open(args: argparse.Namespace) -> Env:
    config = config_from_args(args)
    return Env(Path(config.data_dir), map_size=config.map_size)


def _time(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    try:
        return parse_datetime(text)
    except ValueError as exc:
        raise BadRequest(f"--{name}: {exc}") from None


def _format_of(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    if args.partitioned:
        return "parquet"
    suffix = Path(args.out).suffix.lower().lstrip(".")
    return {"jsonl": "ndjson", "pq": "parquet"}.get(suffix, suffix) if suffix in (
        *FORMATS, "jsonl", "pq") else "json"


def run_export(args: argparse.Namespace) -> int:
    fmt = _format_of(args)
    if args.partitioned and fmt != "parquet":
        raise BadRequest("--partitioned is only for --format parquet")
    env = _open(args)
    started = time.perf_counter()
    try:
        selection = Selection(args.buckets, _time(args.start, "start"),
                              _time(args.end, "end")).resolve(env)
        if fmt == "parquet":
            if args.out == "-":
                raise BadRequest("Parquet cannot be written to standard output")
            count = export_parquet(env, selection, Path(args.out), partitioned=args.partitioned)
            size = _size(Path(args.out))
        else:
            size = _write(export_stream(env, selection, fmt), args.out)
            count = sum(info.stats.count for info in selection.infos)
    finally:
        env.close()
    seconds = time.perf_counter() - started
    if args.out != "-":
        what = f"{count} events" if fmt == "parquet" else f"{len(selection.infos)} buckets"
        print(f"exported {what} as {fmt} to {args.out} ({size / 1e6:.1f} MB) in "
              f"{seconds:.2f} s", file=sys.stderr)
    return 0


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _write(chunks: Any, out: str) -> int:
    size = 0
    stream: IO[bytes] = sys.stdout.buffer if out == "-" else open(out, "wb")  # noqa: SIM115
    try:
        for chunk in chunks:
            stream.write(chunk)
            size += len(chunk)
        stream.flush()
    except BrokenPipeError:  # `fastaw export - | head`: the reader is gone, that's fine
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        if stream is not sys.stdout.buffer:
            stream.close()
    return size


def run_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.exists():
        raise BadRequest(f"{path} does not exist")
    env = _open(args)
    writer = Writer(env)
    writer.start()
    started = time.perf_counter()
    try:
        staged = prepare_import(path, args.format, spool_dir=env.path)
        parsed = time.perf_counter()
        try:
            summary = writer.run_sync(staged.apply)
        finally:
            staged.close()
        done = time.perf_counter()
        events = summary.events_imported + summary.events_skipped
        print(f"imported {summary.events_imported} events ({summary.events_skipped} "
              f"duplicates skipped) into {len(summary.buckets_created)} new and "
              f"{len(summary.buckets_merged)} existing buckets in {done - started:.2f} s "
              f"(read {parsed - started:.2f} s, then {done - parsed:.2f} s; "
              f"{events / max(done - started, 1e-9):,.0f} events/s)", file=sys.stderr)
        if args.chunks and summary.events_imported:
            _build_chunks(env, sorted({*summary.buckets_created, *summary.buckets_merged}),
                          args.quiet)
    finally:
        writer.stop()
        env.close()
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fastaw.exchange.migrate import default_sources, migrate

    config = config_from_args(args)
    paths = [Path(p) for p in args.paths] or default_sources(config.testing)
    if not paths:
        raise BadRequest("No ActivityWatch database found in the standard data directories; "
                         "pass the path of sqlite.db or peewee-sqlite.v2.db")
    env = Env(Path(config.data_dir), map_size=config.map_size)
    writer = Writer(env)
    writer.start()
    migrated: list[str] = []
    try:
        for path in paths:
            bar = tqdm(desc=path.name, unit="ev", unit_scale=True, disable=args.quiet,
                       file=sys.stderr, smoothing=0.1)

            def total(count: int, bar: Any = bar) -> None:
                bar.total = count
                bar.refresh()

            try:
                summary = migrate(path, writer, progress=bar.update, on_total=total)
            finally:
                bar.close()
            _print_summary(summary)
            migrated += [result.bucket_id for result in summary.buckets]
        if args.chunks and migrated:
            _build_chunks(env, sorted(set(migrated)), args.quiet)
    finally:
        writer.stop()
        env.close()
    return 0


def _build_chunks(env: Env, bucket_ids: list[str], quiet: bool) -> None:
    """Build the column chunks of the buckets just written to, so no query has to."""
    from fastaw.cli.chunks import build_with_progress

    result, seconds = build_with_progress(env, bucket_ids, quiet=quiet)
    print(f"built {result.built} column chunks of {result.events:,} events for queries in "
          f"{seconds:.1f} s", file=sys.stderr)


def _print_summary(summary: Any) -> None:
    out = sys.stderr
    rate = summary.events_read / max(summary.seconds, 1e-9)
    print(f"{summary.source} ({summary.kind}): {len(summary.buckets)} buckets, "
          f"{summary.events_read} events read, {summary.events_imported} imported, "
          f"{summary.events_skipped} already present; {summary.settings} settings copied; "
          f"{summary.seconds:.1f} s ({rate:,.0f} events/s)", file=out)
    for result in summary.buckets:
        state = "new" if result.created else "existing"
        line = (f"  {result.bucket_id} ({state}): {result.read} read, {result.imported} "
                f"imported, {result.skipped} already present")
        if result.unreadable:
            line += f", {result.unreadable} unreadable rows skipped"
        print(line, file=out)
