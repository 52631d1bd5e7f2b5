"""Large files (marked slow): an import reads a big export without holding it in memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fastaw.exchange import Selection, export_stream
from fastaw.models import Bucket
from fastaw.storage import Env, Writer, Writes
from fastaw.storage.bulk import BulkInserter, create_or_get

EVENTS = 1_000_000


@pytest.mark.slow
def test_staging_a_large_export_keeps_memory_bounded(tmp_path: Path) -> None:
    env = Env(tmp_path / "store")
    writer = Writer(env)
    writer.start()
    title = b'{"app":"editor","title":"' + b"x" * 80 + b'"}'
    try:
        for batch in range(EVENTS // 100_000):
            starts = [(batch * 100_000 + i) * 10**9 for i in range(100_000)]

            def op(writes: Writes, starts: list[int] = starts) -> None:
                bucket = Bucket(id="big", num=0, type="t", client="c", hostname="h", created=0)
                num = create_or_get(writes, bucket)[0]
                BulkInserter(writes, num).add(starts, [10**9] * len(starts),
                                              [title] * len(starts))

            writer.run_sync(op)
    finally:
        writer.stop()
    path = tmp_path / "big.json"
    with open(path, "wb") as stream:
        for chunk in export_stream(env, Selection().resolve(env), "json"):
            stream.write(chunk)
    env.close()
    size = path.stat().st_size
    assert size > 130_000_000
    # staged in a fresh process, so nothing this test allocated earlier blurs the figure
    result = subprocess.run([sys.executable, "-c", _STAGE, str(path), str(tmp_path)],
                            capture_output=True, text=True, check=True, timeout=600)
    events, growth = map(int, result.stdout.split())
    assert events == EVENTS
    print(f"staging {size / 1e6:.0f} MB grew private memory by {growth / 2**20:.0f} MiB")
    # one slice of events, its columns, and the in-memory part of the spool (16 MB) —
    # not the file (mapped, page cache) and not one object per event
    assert growth < 100 * 2**20, f"private memory grew by {growth / 2**20:.0f} MiB"


_STAGE = """
import sys, threading
from fastaw.exchange import stage_file
import polars, msgspec  # imported before the baseline: their own size is not the point

def private():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0

baseline = private()
peak = [baseline]
done = threading.Event()

def sample():
    while not done.is_set():
        peak[0] = max(peak[0], private())
        done.wait(0.02)

thread = threading.Thread(target=sample)
thread.start()
staged = stage_file(sys.argv[1], spool_dir=sys.argv[2])
done.set()
thread.join()
print(staged.events, peak[0] - baseline)
"""
