"""Backups, restores and consistency checks of a store.

Backup: LMDB's compacting copy (``mdb_env_copyfd2`` with ``MDB_CP_COMPACT``) of one read
snapshot — consistent however many writers keep committing meanwhile (they are never
blocked), and without free pages, so a backup is often smaller than the live file. It is
written to ``DEST/fastaw.lmdb.partial``, fsynced and then renamed, so ``DEST/fastaw.lmdb``
is always either the previous complete backup or the new one. A backup folder is a store:
``fastaw serve --data-dir DEST`` starts on it.

Restore: the reverse, into a data directory; refused while any process has that store open
(LMDB holds an fcntl lock on byte 0 of the lock file while an environment is open) and,
without ``force``, when the store there already holds buckets or settings.

Check: every invariant of `fastaw.storage.rows` — rows vs the ``ids`` index vs the
per-bucket stats vs the window generations and derived chunks — plus the stored event JSON
against its key and header, and the id/bucket counters. It reads one snapshot.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec

from fastaw.errors import StorageError
from fastaw.models import canonical_data, encode_duration
from fastaw.storage import keys
from fastaw.storage.chunks import chunk_of_value
from fastaw.storage.env import DATA_FILE, Env
from fastaw.storage.rows import Rows, decode_bucket
from fastaw.storage.texts import TextTable
from fastaw.timefmt import format_ns

LOCK_SUFFIX: Final = "-lock"
MAX_REPORTED: Final = 20


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(env: Env, dest: Path) -> int:
    """Write a compacted, consistent copy of ``env`` to ``dest/fastaw.lmdb``; its size."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if dest.resolve() == env.path.resolve():
        raise StorageError("The backup destination is the store itself")
    partial = dest / (DATA_FILE + ".partial")
    env.gate.acquire_shared()  # no map resize in this process while copying
    try:
        with open(partial, "wb") as stream:
            env.lmdb.copyfd(stream.fileno(), compact=True)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        env.gate.release_shared()
    os.replace(partial, dest / DATA_FILE)
    (dest / (DATA_FILE + LOCK_SUFFIX)).unlink(missing_ok=True)
    _fsync_dir(dest)
    return (dest / DATA_FILE).stat().st_size


def store_file(path: Path) -> Path:
    """The LMDB data file of a store folder (or the file itself)."""
    path = Path(path)
    return path / DATA_FILE if path.is_dir() else path


def in_use(data_dir: Path) -> bool:
    """Whether some process has the store in ``data_dir`` open right now."""
    lock = Path(data_dir) / (DATA_FILE + LOCK_SUFFIX)
    if not lock.exists():
        return False
    with open(lock, "rb+") as stream:
        try:
            fcntl.lockf(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0)
        except OSError:
            return True
        fcntl.lockf(stream.fileno(), fcntl.LOCK_UN, 1, 0)
    return False


def is_empty(env: Env) -> bool:
    """No buckets and no settings."""
    with env.read() as txn:
        for db in (env.buckets, env.kv):
            with txn.cursor(db=db) as cursor:
                if cursor.first():
                    return False
    return True


def restore(source: Path, data_dir: Path, *, force: bool = False) -> int:
    """Replace the store in ``data_dir`` by the backup at ``source``; the restored size."""
    source_file = store_file(source)
    if not source_file.is_file():
        raise StorageError(f"There is no fastaw store at {source}")
    probe = Env(source_file.parent, readonly=True) if source_file.name == DATA_FILE else None
    if probe is None:
        raise StorageError(f"{source_file} is not named {DATA_FILE}; pass its folder")
    problems = check(probe).problems
    probe.close()
    if problems:
        raise StorageError(f"The backup at {source} is inconsistent: {problems[0]}")
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / DATA_FILE
    if source_file.resolve() == target.resolve():
        raise StorageError("The backup and the data directory are the same store")
    if in_use(data_dir):
        raise StorageError(f"The store in {data_dir} is open by another process "
                           "(is the server running?); stop it first")
    if target.exists() and not force:
        current = Env(data_dir, readonly=True)
        try:
            empty = is_empty(current)
        finally:
            current.close()
        if not empty:
            raise StorageError(f"The store in {data_dir} is not empty; pass --force to "
                               "replace it (back it up first)")
    partial = data_dir / (DATA_FILE + ".partial")
    with open(source_file, "rb") as src, open(partial, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 22)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(partial, target)
    (data_dir / (DATA_FILE + LOCK_SUFFIX)).unlink(missing_ok=True)
    _fsync_dir(data_dir)
    return target.stat().st_size


# -- check --------------------------------------------------------------------------------

@dataclass
class CheckReport:
    buckets: int = 0
    events: int = 0
    windows: int = 0
    chunks: int = 0
    settings: int = 0
    problems: list[str] = field(default_factory=list)
    omitted: int = 0

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(text)
        else:
            self.omitted += 1

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Seen:
    count: int = 0
    max_duration: int = 0
    min_duration: int = 0
    end: int | None = None
    windows: set[int] = field(default_factory=set)


_event_decoder: Final = msgspec.json.Decoder(dict[str, Any])


def check(env: Env) -> CheckReport:
    """Verify every invariant of the store in one snapshot; the report lists problems."""
    report = CheckReport()
    with env.read() as txn:
        rows = Rows(env, txn)
        names: dict[int, str] = {}
        with txn.cursor(db=env.buckets) as cursor:
            for raw_name, raw in cursor:
                try:
                    bucket = decode_bucket(bytes(raw))
                except msgspec.DecodeError as exc:
                    report.problem(f"bucket record {bytes(raw_name)!r} is unreadable: {exc}")
                    continue
                if bucket.id.encode() != bytes(raw_name):
                    report.problem(f"bucket record {bytes(raw_name)!r} holds id {bucket.id!r}")
                if bucket.num in names:
                    report.problem(f"buckets {names[bucket.num]!r} and {bucket.id!r} share "
                                   f"number {bucket.num}")
                names[bucket.num] = bucket.id
        report.buckets = len(names)
        seen: dict[int, _Seen] = {num: _Seen() for num in names}
        max_id = _check_events(env, txn, names, seen, report)
        _check_ids(env, txn, report)
        for num, name in names.items():
            _check_stats(rows, num, name, seen[num], report)
        _check_windows(env, txn, names, seen, report)
        _check_counters(env, txn, names, max_id, report)
        with txn.cursor(db=env.kv) as cursor:
            for key, value in cursor:
                report.settings += 1
                try:
                    msgspec.json.decode(bytes(value))
                except msgspec.DecodeError:
                    report.problem(f"setting {bytes(key).decode(errors='replace')!r} is not "
                                   "valid JSON")
    return report


def _check_events(env: Env, txn: Any, names: dict[int, str], seen: dict[int, _Seen],
                  report: CheckReport) -> int:
    max_id = 0
    with txn.cursor(db=env.events) as cursor:
        for key, value in cursor:
            report.events += 1
            if len(key) != keys.EVENT_KEY_SIZE or len(value) < keys.VALUE_HEADER_SIZE:
                report.problem(f"malformed events row {bytes(key).hex()}")
                continue
            num, start, event_id = keys.split_event_key(bytes(key))
            max_id = max(max_id, event_id)
            where = f"event {event_id} of bucket {names.get(num, num)!r}"
            if num not in names:
                report.problem(f"{where}: its bucket does not exist")
                continue
            duration = keys.value_duration(value)
            _check_rendered(bytes(value[keys.VALUE_HEADER_SIZE:]), event_id, start, duration,
                            where, report)
            pointer = txn.get(keys.id_key(event_id), db=env.ids)
            if pointer is None or bytes(pointer) != bytes(key[:12]):
                report.problem(f"{where}: the ids index does not point at it")
            agg = seen[num]
            agg.count += 1
            agg.max_duration = max(agg.max_duration, duration)
            agg.min_duration = min(agg.min_duration, duration)
            end = start + duration
            agg.end = end if agg.end is None else max(agg.end, end)
            agg.windows.add(keys.window_of(start))
    return max_id


def _check_rendered(rendered: bytes, event_id: int, start: int, duration: int, where: str,
                    report: CheckReport) -> None:
    try:
        event = _event_decoder.decode(rendered)
    except msgspec.DecodeError as exc:
        report.problem(f"{where}: its stored JSON is unreadable: {exc}")
        return
    if event.get("id") != event_id:
        report.problem(f"{where}: its stored JSON says id {event.get('id')!r}")
    if event.get("timestamp") != format_ns(start):
        report.problem(f"{where}: its stored JSON says timestamp {event.get('timestamp')!r}, "
                       f"its key {format_ns(start)}")
    stored = msgspec.json.encode(event.get("duration"))
    if stored != encode_duration(duration):
        report.problem(f"{where}: its stored JSON says duration {stored.decode()}, its header "
                       f"{encode_duration(duration).decode()}")
    data = event.get("data")
    if not isinstance(data, dict):
        report.problem(f"{where}: its data is not a JSON object")
    elif not rendered.endswith(b',"data":' + canonical_data(data) + b"}"):
        report.problem(f"{where}: its data is not stored in canonical form")


def _check_ids(env: Env, txn: Any, report: CheckReport) -> None:
    with txn.cursor(db=env.ids) as cursor:
        for raw_id, prefix in cursor:
            event_id = keys.read_u64(bytes(raw_id))
            key = bytes(prefix) + keys.u64(keys.MAX_U64 - event_id)
            if txn.get(key, db=env.events) is None:
                report.problem(f"the ids index lists event {event_id}, which does not exist")


def _check_stats(rows: Rows, num: int, name: str, agg: _Seen, report: CheckReport) -> None:
    stats = rows.stats(num)
    where = f"bucket {name!r}"
    if stats.count != agg.count:
        report.problem(f"{where}: stats count {stats.count}, rows {agg.count}")
    if agg.count and stats.max_duration < agg.max_duration:
        report.problem(f"{where}: stats max_duration {stats.max_duration} is below the "
                       f"longest event ({agg.max_duration} ns): range reads would miss it")
    if agg.count and stats.min_duration > agg.min_duration:
        report.problem(f"{where}: stats min_duration {stats.min_duration} is above the "
                       f"shortest event ({agg.min_duration} ns)")
    if stats.end != agg.end:
        shown = "none" if stats.end is None else format_ns(stats.end)
        real = "none" if agg.end is None else format_ns(agg.end)
        report.problem(f"{where}: stats end {shown}, latest event end {real}")
    if stats.anchor is not None and rows.event(num, stats.anchor) is None:
        report.problem(f"{where}: heartbeat anchor {stats.anchor} is not one of its events")


def _check_chunk_texts(value: bytes, texts: tuple[int, int], where: str,
                       report: CheckReport) -> None:
    """A current chunk refers only to texts the text table has (epoch, count)."""
    chunk = chunk_of_value(value)
    if chunk is None:
        return  # an older format: stale, rebuilt when read
    epoch, count = texts
    if chunk.epoch != epoch:
        report.problem(f"{where}: its text codes are of a text table that was dropped")
    elif any(code >= count for code in chunk.codes.cast("I")):
        report.problem(f"{where}: refers to texts the text table does not have")


def _check_windows(env: Env, txn: Any, names: dict[int, str], seen: dict[int, _Seen],
                   report: CheckReport) -> None:
    table = TextTable(env)
    texts = (table.epoch(txn), table.next_code(txn))
    generations: dict[bytes, int] = {}
    with txn.cursor(db=env.windows) as cursor:
        for wkey, raw in cursor:
            report.windows += 1
            generations[bytes(wkey)] = keys.read_u64(bytes(raw))
    for num, agg in seen.items():
        for window in agg.windows:
            if keys.window_key(num, window) not in generations:
                report.problem(f"bucket {names[num]!r}: window {window} has events but no "
                               "generation (its column chunk could be served stale)")
    with txn.cursor(db=env.chunks) as cursor:
        for wkey, blob in cursor:
            report.chunks += 1
            wkey = bytes(wkey)
            num = keys.read_u32(wkey[:4])
            window = keys.read_u64(wkey[4:])
            where = f"column chunk {window} of bucket {names.get(num, num)!r}"
            if num not in names:
                report.problem(f"{where}: its bucket does not exist")
            elif wkey not in generations:
                report.problem(f"{where}: its window has no generation")
            elif len(blob) < 8 or keys.read_u64(bytes(blob[:8])) != generations[wkey]:
                report.problem(f"{where}: built for another generation of its window (stale)")
            else:
                _check_chunk_texts(bytes(blob), texts, where, report)


def _check_counters(env: Env, txn: Any, names: dict[int, str], max_id: int,
                    report: CheckReport) -> None:
    raw = txn.get(b"next_id", db=env.meta)
    next_id = keys.read_u64(bytes(raw)) if raw is not None else 1
    if max_id and next_id <= max_id:
        report.problem(f"next event id {next_id} is not above the largest id {max_id}: new "
                       "events would replace existing ones")
    raw = txn.get(b"next_bucket", db=env.meta)
    next_bucket = keys.read_u64(bytes(raw)) if raw is not None else 1
    if names and next_bucket <= max(names):
        report.problem(f"next bucket number {next_bucket} is not above {max(names)}")
