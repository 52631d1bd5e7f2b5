"""`storage.bulk.iter_pages`: every page size, range and direction reads exactly the rows
of a plain cursor walk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastaw.models import Bucket
from fastaw.storage import Env, Writer, bulk, keys

STARTS = [1_000 * (i // 3) for i in range(40)]  # three events per start


def _store(path: Path) -> Env:
    env = Env(path)
    writer = Writer(env)
    writer.start()
    try:
        for name in ("a", "b", "c"):
            bucket = Bucket(id=name, num=0, type="t", client="c", hostname="h", created=0)

            def op(writes: Any, bucket: Bucket = bucket) -> None:
                num = bulk.create_or_get(writes, bucket)[0]
                bulk.BulkInserter(writes, num).add(
                    STARTS, [7] * len(STARTS), [b'{"n":%d}' % i for i in range(len(STARTS))])

            writer.run_sync(op)
    finally:
        writer.stop()
    return env


def _walk(env: Env, num: int, start: int | None, end: int | None,
          newest_first: bool) -> list[tuple[bytes, bytes]]:
    with env.read() as txn, txn.cursor(db=env.events) as cursor:
        rows = [(bytes(k), bytes(v)) for k, v in cursor
                if k[:4] == keys.bucket_prefix(num)
                and (start is None or keys.key_start(k) >= start)
                and (end is None or keys.key_start(k) < end)]
    return rows[::-1] if newest_first else rows


def test_pages_are_the_rows_of_a_cursor_walk(tmp_path: Path) -> None:
    env = _store(tmp_path / "store")
    with env.read() as txn, txn.cursor(db=env.events) as cursor:
        nums = sorted({int.from_bytes(k[:4], "big") for k in cursor.iternext(values=False)})
    assert len(nums) == 3
    for num in nums:
        for start, end in [(None, None), (3_000, 9_000), (3_001, 8_999), (None, 0),
                           (13_000, None), (50_000, None)]:
            for newest_first in (True, False):
                want = _walk(env, num, start, end, newest_first)
                for page in (1, 2, 3, 4, 7, 40, 41, 1000):
                    pages = list(bulk.iter_pages(env, num, start, end, page=page,
                                                 newest_first=newest_first))
                    assert all(len(k) == len(v) <= page for k, v in pages)
                    got = [row for k, v in pages for row in zip(k, v, strict=True)]
                    assert got == want, (num, start, end, newest_first, page)
    env.close()
