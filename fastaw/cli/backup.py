"""`fastaw backup`, `fastaw restore`, `fastaw check`: copies and consistency of the store.

``backup`` may run while the server is running and writing: it copies one consistent
snapshot (LMDB's compacting copy) and never blocks writers. A backup folder is a complete
store: ``fastaw serve --data-dir BACKUP`` starts on it, ``fastaw restore BACKUP`` puts it
back into the data directory (the server must be stopped for that).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from fastaw.cli.serve import add_config_flags, config_from_args
from fastaw.errors import StorageError
from fastaw.storage import Env
from fastaw.storage.env import DATA_FILE
from fastaw.storage.maintenance import backup, check, restore


def register(sub: Any) -> None:
    bak = sub.add_parser(
        "backup", help="write a consistent, compacted copy of the store (server may run)",
        description="Copy the store to DEST/fastaw.lmdb: one consistent snapshot, written "
                    "while the server keeps accepting writes. DEST is a usable data dir.")
    add_config_flags(bak)
    bak.add_argument("dest", metavar="DEST", help="destination folder")
    bak.set_defaults(run=run_backup)

    res = sub.add_parser(
        "restore", help="replace the store by a backup (server stopped)",
        description="Copy the backup at SRC into the data directory. Refuses while the store "
                    "is open by a running server, and refuses to overwrite a store holding "
                    "buckets or settings unless --force is given.")
    add_config_flags(res)
    res.add_argument("source", metavar="SRC", help="backup folder (or its fastaw.lmdb)")
    res.add_argument("--force", action="store_true", help="replace a non-empty store")
    res.set_defaults(run=run_restore)

    chk = sub.add_parser(
        "check", help="verify the store's consistency (exit 1 on problems)",
        description="Verify rows, the id index, bucket stats, window generations, column "
                    "chunks and counters; print what is wrong.")
    add_config_flags(chk)
    chk.add_argument("path", metavar="PATH", nargs="?",
                     help="store folder to check (default: the data dir)")
    chk.set_defaults(run=run_check)


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(config_from_args(args).data_dir)


def run_backup(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args)
    if not (data_dir / DATA_FILE).is_file():
        raise StorageError(f"There is no store in {data_dir}")
    started = time.perf_counter()
    env = Env(data_dir, readonly=True)
    try:
        size = backup(env, Path(args.dest))
    finally:
        env.close()
    device = data_dir / "device_id"
    if device.is_file():
        (Path(args.dest) / "device_id").write_bytes(device.read_bytes())
    print(f"backed up {data_dir} to {Path(args.dest) / DATA_FILE} ({size / 1e6:.1f} MB) in "
          f"{time.perf_counter() - started:.2f} s", file=sys.stderr)
    return 0


def run_restore(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args)
    size = restore(Path(args.source), data_dir, force=args.force)
    device = Path(args.source) / "device_id"
    if Path(args.source).is_dir() and device.is_file():
        (data_dir / "device_id").write_bytes(device.read_bytes())
    print(f"restored {args.source} into {data_dir} ({size / 1e6:.1f} MB)", file=sys.stderr)
    return 0


def run_check(args: argparse.Namespace) -> int:
    path = Path(args.path) if args.path else _data_dir(args)
    if not (path / DATA_FILE).is_file():
        raise StorageError(f"There is no store in {path}")
    started = time.perf_counter()
    env = Env(path, readonly=True)
    try:
        report = check(env)
    finally:
        env.close()
    print(f"{path}: {report.buckets} buckets, {report.events} events, {report.windows} "
          f"windows, {report.chunks} column chunks, {report.settings} settings "
          f"({time.perf_counter() - started:.1f} s)")
    if report.ok:
        print("ok: no problems found")
        return 0
    total = len(report.problems) + report.omitted
    print(f"{total} problem{'s' if total != 1 else ''}:")
    for problem in report.problems:
        print(f"  - {problem}")
    if report.omitted:
        print(f"  … and {report.omitted} more")
    if any("column chunk" in problem for problem in report.problems):
        print("Column chunks are derived from the rows: `fastaw chunks --rebuild` deletes "
              "them all and builds them again.")
    return 1
