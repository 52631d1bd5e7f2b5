"""Backups while the server writes, restore, and `check` finding each kind of damage."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from fastaw.cli import main
from fastaw.errors import StorageError
from fastaw.models import Bucket, BucketStats
from fastaw.storage import Env, Reader, Writer, Writes, keys
from fastaw.storage.bulk import BulkInserter, InsertCounts, create_or_get
from fastaw.storage.maintenance import backup, check, restore
from fastaw.storage.rows import encode_record
from tests.conftest import LiveServer

BUCKET = Bucket(id="b", num=0, type="t", client="c", hostname="h", created=0)


def _fill(env: Env, count: int, offset: int = 0) -> None:
    writer = Writer(env)
    writer.start()
    try:
        def op(writes: Any) -> None:
            num = create_or_get(writes, Bucket(id="b", num=0, type="t", client="c",
                                               hostname="h", created=0))[0]
            starts = [(offset + i) * 10**9 for i in range(count)]
            BulkInserter(writes, num).add(starts, [10**9] * count, [b'{"i":1}'] * count)
        writer.run_sync(op)
    finally:
        writer.stop()


def _appender(starts: list[int]) -> Callable[[Writes], InsertCounts]:
    def op(writes: Writes) -> InsertCounts:
        bucket = writes.bucket("b")
        assert bucket is not None
        return BulkInserter(writes, bucket.num).add(starts, [1] * len(starts),
                                                    [b"{}"] * len(starts))
    return op


def _damage(env: Env, action: Callable[[Any, Any], None]) -> None:
    with env.write() as txn:
        action(env, txn)


def _first_key(env: Env, txn: Any) -> bytes:
    with txn.cursor(db=env.events) as cursor:
        assert cursor.first()
        return bytes(cursor.key())


@pytest.mark.parametrize(("action", "message"), [
    (lambda env, txn: txn.delete(keys.id_key(keys.split_event_key(_first_key(env, txn))[2]),
                                 db=env.ids), "the ids index does not point at it"),
    (lambda env, txn: txn.put(keys.id_key(999_999), keys.bucket_start_prefix(1, 5),
                              db=env.ids), "lists event 999999, which does not exist"),
    (lambda env, txn: txn.put(keys.u32(1), encode_record(BucketStats(count=3)), db=env.stats),
     "stats count 3, rows 10"),
    (lambda env, txn: txn.put(_first_key(env, txn), keys.event_value(10**9, b'{"id":1,'
     b'"timestamp":"1970-01-01T00:00:00Z","duration":2.0,"data":{"i":1}}'), db=env.events),
     "says duration 2.0"),
    (lambda env, txn: txn.put(keys.window_key(1, keys.window_of(0)), keys.u64(7) + b"ipc",
                              db=env.chunks), "stale"),
    (lambda env, txn: txn.put(b"next_id", keys.u64(3), db=env.meta), "next event id 3"),
    (lambda env, txn: txn.delete(keys.window_key(1, keys.window_of(0)), db=env.windows),
     "has events but no generation"),
])
def test_check_names_what_is_wrong(tmp_path: Path, action: Any, message: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    env = Env(tmp_path / "store")
    _fill(env, 10)
    assert check(env).ok
    _damage(env, action)
    report = check(env)
    assert any(message in problem for problem in report.problems), report.problems
    env.close()
    assert main(["check", "--data-dir", str(tmp_path / "store")]) == 1
    out = capsys.readouterr().out
    assert message in out
    if message == "stale":  # derived data: the check says how to rebuild it, and it works
        assert "`fastaw chunks --rebuild`" in out
        assert main(["chunks", "--data-dir", str(tmp_path / "store"), "--rebuild", "-q"]) == 0
        assert main(["check", "--data-dir", str(tmp_path / "store")]) == 0


def test_backup_is_consistent_while_writes_continue(tmp_path: Path) -> None:
    env = Env(tmp_path / "store")
    _fill(env, 1000)
    stop = threading.Event()
    written = [0]

    def keep_writing() -> None:
        writer = Writer(env)
        writer.start()
        try:
            batch = 0
            while not stop.is_set():
                batch += 1
                starts = [(10_000 + batch * 100 + i) * 10**9 for i in range(100)]
                writer.run_sync(_appender(starts))
                written[0] += 100
        finally:
            writer.stop()

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        counts = []
        for round_ in range(3):
            dest = tmp_path / f"backup{round_}"
            backup(env, dest)
            copy = Env(dest, readonly=True)
            report = check(copy)
            assert report.ok, report.problems
            counts.append(report.events)
            copy.close()
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
    assert written[0] > 0
    assert counts == sorted(counts) and counts[0] >= 1000
    env.close()


def test_restore_refuses_a_store_in_use_or_not_empty(tmp_path: Path) -> None:
    source = Env(tmp_path / "source")
    _fill(source, 5)
    backup(source, tmp_path / "backup")
    source.close()
    target = tmp_path / "data"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from fastaw.storage import Env; e = Env(Path(sys.argv[1])); print('open', flush=True); "
         "time.sleep(60)", str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(StorageError, match="open by another process"):
            restore(tmp_path / "backup", target)
    finally:
        holder.kill()
        holder.wait()
    other = Env(target)
    _fill(other, 3, offset=100)
    other.close()
    with pytest.raises(StorageError, match="not empty"):
        restore(tmp_path / "backup", target)
    restore(tmp_path / "backup", target, force=True)
    env = Env(target, readonly=True)
    assert Reader(env).count("b") == 5 and check(env).ok
    env.close()


def test_hot_backup_of_a_live_server_and_starting_on_it(
        tmp_path: Path, live_server: Callable[..., LiveServer]) -> None:
    server = live_server(data_dir=tmp_path / "live")
    base = server.url + "/api/0"
    assert httpx.post(f"{base}/buckets/b", json={"type": "t", "client": "c",
                                                 "hostname": "h"}).status_code == 200
    stop = threading.Event()

    def post_events() -> None:
        i = 0
        with httpx.Client() as client:
            while not stop.is_set():
                events = [{"timestamp": f"2024-01-01T00:00:{(i + k) % 60:02d}.{i:06d}Z",
                           "duration": 1, "data": {"n": i + k}} for k in range(50)]
                client.post(f"{base}/buckets/b/events", json=events)
                i += 50

    thread = threading.Thread(target=post_events)
    thread.start()
    try:
        time.sleep(0.3)
        assert main(["backup", "--data-dir", str(tmp_path / "live"),
                     str(tmp_path / "copy")]) == 0
        time.sleep(0.2)
    finally:
        stop.set()
        thread.join()
    assert main(["check", "--data-dir", str(tmp_path / "copy")]) == 0
    env = Env(tmp_path / "copy", readonly=True)
    expected = Reader(env).count("b")
    env.close()
    assert expected > 0
    on_copy = live_server(data_dir=tmp_path / "copy")
    count = httpx.get(on_copy.url + "/api/0/buckets/b/events/count").json()
    assert count == expected
    assert httpx.get(base + "/buckets/b/events/count").json() >= expected
