"""The writer's two ways of applying operations: alone in the write transaction, or each in
a nested transaction of a group commit. Either way a failing operation leaves no trace and
the others of its commit are kept."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from fastaw.errors import BadRequest
from fastaw.models import Bucket, Event
from fastaw.storage import Env, Reader, Writer

S = 1_000_000_000


def _bucket(name: str) -> Bucket:
    return Bucket(id=name, num=0, type="t", client="c", hostname="h", created=0)


@pytest.fixture
def setup(tmp_path: Path) -> Any:
    env = Env(tmp_path / "s")
    writer = Writer(env)
    writer.start()
    writer.run_sync(lambda w: w.create_bucket(_bucket("b")))
    yield env, writer, Reader(env)
    writer.stop()
    env.close()


@pytest.mark.parametrize("error", [BadRequest("no"), RuntimeError("boom")])
def test_an_operation_alone_that_fails_is_undone(setup: Any, error: Exception) -> None:
    _env, writer, reader = setup

    def half_then_fail(w: Any) -> None:
        w.insert_events("b", [Event(None, 0, S, b"{}")])
        w.create_bucket(_bucket("other"))
        raise error

    commits = writer.commits
    with pytest.raises(type(error)):
        writer.run_sync(half_then_fail)
    assert reader.count("b") == 0
    assert [b.id for b in reader.bucket_list()] == ["b"]
    assert writer.commits == commits + 1
    writer.run_sync(lambda w: w.insert_events("b", [Event(None, 0, S, b"{}")]))
    assert reader.count("b") == 1


def test_a_failing_operation_in_a_group_commit_leaves_the_others(setup: Any) -> None:
    """Operations queued while the writer is busy are applied together, each in a nested
    transaction: the failing one is rolled back alone."""
    _env, writer, reader = setup
    busy, release = threading.Event(), threading.Event()

    def block(w: Any) -> None:
        busy.set()
        release.wait(10)

    def insert(start: int) -> Any:
        return lambda w: w.insert_events("b", [Event(None, start * S, S, b"{}")])

    def fail(w: Any) -> None:
        insert(99)(w)
        raise BadRequest("no")

    results: dict[str, Any] = {}

    def run(name: str, op: Any) -> None:
        try:
            results[name] = writer.run_sync(op)
        except Exception as exc:
            results[name] = exc

    first = threading.Thread(target=run, args=("block", block))
    first.start()
    assert busy.wait(10)
    commits = writer.commits
    threads = [threading.Thread(target=run, args=(name, op))
               for name, op in (("a", insert(1)), ("fail", fail), ("c", insert(2)))]
    for thread in threads:
        thread.start()
    while writer._queue.qsize() < 3:  # all three queued behind the blocked operation
        threading.Event().wait(0.01)
    release.set()
    for thread in [first, *threads]:
        thread.join(10)
    assert isinstance(results["fail"], BadRequest)
    assert writer.commits == commits + 2  # the blocked operation, then the other three
    assert sorted(e.start for e in reader.events("b")) == [1 * S, 2 * S]
