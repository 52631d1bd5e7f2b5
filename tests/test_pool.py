"""The query pool: slots, the hard time limit per slot, CPU priority of query workers."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fastaw.errors import QueryTimeout
from fastaw.pool import (
    ALLOCATOR_CONF,
    ALLOCATOR_ENV,
    DEFAULT_CACHE_MB,
    MAX_AUTO_THREADS,
    NICENESS,
    QueryPool,
    cache_budget,
    threads_per_query,
)
from fastaw.storage import Env


def sleepy(lines: list[str], timeperiods: list[str], name: str | None,
           timeout: float) -> tuple[int, Any]:
    """A stand-in query that ignores its deadline: sleeps ``lines[0]`` seconds."""
    time.sleep(float(lines[0]))
    idle = " idle" if sys.platform == "linux" and os.sched_getscheduler(0) == os.SCHED_IDLE \
        else ""
    return 200, f"slept {lines[0]} at nice {os.nice(0)}{idle} in {os.getpid()}".encode()


def polars_threads(lines: list[str], timeperiods: list[str], name: str | None,
                   timeout: float) -> tuple[int, Any]:
    """A stand-in query that reports the size of the worker's Polars thread pool."""
    import polars as pl

    return 200, str(pl.thread_pool_size()).encode()


def cache_limits(lines: list[str], timeperiods: list[str], name: str | None,
                 timeout: float) -> tuple[int, Any]:
    """A stand-in query that reports what the worker keeps between queries."""
    from fastaw import pool as worker
    from fastaw.transforms import dictionary

    return 200, f"{dictionary._limit} {worker._source.frames.budget}".encode()


def query_threads(lines: list[str], timeperiods: list[str], name: str | None,
                  timeout: float) -> tuple[int, Any]:
    """A stand-in query that reports how many statements the worker runs at once."""
    from fastaw.query import interp

    return 200, str(interp._threads).encode()


def allocator_settings(lines: list[str], timeperiods: list[str], name: str | None,
                       timeout: float) -> tuple[int, Any]:
    """A stand-in query that reports the allocator settings the worker started with."""
    return 200, os.environ.get(ALLOCATOR_ENV, "").encode()


@pytest.fixture
def pool(tmp_path: Path) -> Any:
    Env(tmp_path / "store").close()
    made = QueryPool(tmp_path / "store", 1 << 30, workers=2, timeout=4.0, grace=0.5)
    made.target = sleepy

    async def start_both() -> None:  # spawn both processes before timing anything
        await asyncio.gather(made.run(["0.5"], [], None), made.run(["0.5"], [], None))

    asyncio.run(start_both())
    yield made
    made.close()


def test_a_stuck_query_is_killed_without_disturbing_the_other_slot(pool: QueryPool) -> None:
    parent_nice = os.nice(0)

    async def scenario() -> tuple[Any, Any, bytes]:
        stuck = asyncio.create_task(pool.run(["60"], [], None))
        await asyncio.sleep(0.05)
        fine = asyncio.create_task(pool.run(["3"], [], None))
        results = await asyncio.gather(stuck, fine, return_exceptions=True)
        after = await pool.run(["0"], [], None)  # the killed slot was replaced
        return results[0], results[1], after

    started = time.monotonic()
    stuck, fine, after = asyncio.run(scenario())
    assert isinstance(stuck, QueryTimeout)
    assert fine.startswith(f"slept 3 at nice {min(19, parent_nice + NICENESS)} ".encode())
    assert after.startswith(b"slept 0 ")
    assert time.monotonic() - started < 30


def test_requests_wait_for_a_free_slot(pool: QueryPool) -> None:
    async def scenario() -> list[bytes]:
        return list(await asyncio.gather(*(pool.run(["0.2"], [], None) for _ in range(5))))

    assert all(r.startswith(b"slept 0.2") for r in asyncio.run(scenario()))


def test_queries_one_after_another_run_in_the_same_worker(pool: QueryPool) -> None:
    """The worker that ran the last query keeps its caches warm: it gets the next one."""

    async def one_by_one() -> list[bytes]:
        return [await pool.run(["0"], [], None) for _ in range(4)]

    async def together() -> list[bytes]:
        return list(await asyncio.gather(pool.run(["0.5"], [], None),
                                         pool.run(["0.5"], [], None)))

    def pids(replies: list[bytes]) -> set[bytes]:
        return {reply.rsplit(b" ", 1)[1] for reply in replies}

    assert len(pids(asyncio.run(one_by_one()))) == 1
    assert len(pids(asyncio.run(together()))) == 2


def test_query_workers_use_every_core_at_the_lowest_priority(pool: QueryPool) -> None:
    assert "POLARS_MAX_THREADS" not in os.environ  # else the workers follow the operator
    pool.target = polars_threads
    import polars as pl

    # Polars' own default (every core this process may use), nothing held back
    assert asyncio.run(pool.run([], [], None)) == str(pl.thread_pool_size()).encode()
    pool.target = sleepy
    # (Linux: in the idle scheduling class too)
    expected = b"slept 0 at nice 19 idle " if sys.platform == "linux" else b"slept 0 at nice 19 "
    assert asyncio.run(pool.run(["0"], [], None)).startswith(expected)


@pytest.mark.parametrize("cache_mb", [DEFAULT_CACHE_MB, 0, 6000])
def test_query_cache_mb_sizes_what_a_worker_keeps(tmp_path: Path, cache_mb: int) -> None:
    Env(tmp_path / "store").close()
    made = QueryPool(tmp_path / "store", 1 << 30, workers=1, timeout=30.0, cache_mb=cache_mb)
    made.target = cache_limits
    try:
        texts, frames = map(int, asyncio.run(made.run([], [], None)).split())
    finally:
        made.close()
    assert (texts, frames) == cache_budget(cache_mb)
    if cache_mb == DEFAULT_CACHE_MB:  # enough for ten years of a busy desktop's history
        assert texts >= 3_500_000 and frames >= 360 << 20  # (3.2M texts, 330 MB windows)
    elif cache_mb == 0:
        assert texts == frames == 0
    else:
        assert texts > 5 * 3_500_000 and frames > 5 * (360 << 20)


@pytest.mark.parametrize("threads", [0, 1, 3])
def test_query_threads_reach_the_worker(tmp_path: Path, threads: int) -> None:
    Env(tmp_path / "store").close()
    made = QueryPool(tmp_path / "store", 1 << 30, workers=1, timeout=30.0, threads=threads)
    made.target = query_threads
    try:
        running = int(asyncio.run(made.run([], [], None)))
    finally:
        made.close()
    if threads:
        assert running == threads
    else:  # one per core, at most MAX_AUTO_THREADS
        assert running == threads_per_query(0) == min(os.cpu_count() or 1, MAX_AUTO_THREADS)


def test_query_workers_return_freed_memory_and_use_one_arena(pool: QueryPool) -> None:
    operator_set = os.environ.get(ALLOCATOR_ENV) not in (None, ALLOCATOR_CONF)
    pool.target = allocator_settings
    settings = asyncio.run(pool.run([], [], None)).decode()
    # (Polars puts its own defaults first when it is imported; the later settings win)
    if operator_set:  # the operator's settings are left alone
        assert settings.endswith(os.environ[ALLOCATOR_ENV])
        return
    assert settings.endswith(ALLOCATOR_CONF)
    assert ALLOCATOR_CONF.endswith("dirty_decay_ms:250,muzzy_decay_ms:0,narenas:1")


def _pid(reply: bytes) -> int:
    return int(reply.rsplit(b" ", 1)[1])


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_an_idle_query_worker_stops_and_the_next_query_starts_one(tmp_path: Path) -> None:
    Env(tmp_path / "store").close()
    made = QueryPool(tmp_path / "store", 1 << 30, workers=1, timeout=30.0, idle_release=1.0)
    made.target = sleepy

    async def scenario() -> list[bytes]:
        replies = [await made.run(["0"], [], None)]
        await asyncio.sleep(0.5)  # less than idle_release: the same worker answers
        replies.append(await made.run(["0"], [], None))
        replies.append(await made.run(["1.5"], [], None))  # busy for longer than that
        replies.append(await made.run(["0"], [], None))
        await asyncio.sleep(2.0)
        assert not made._slots[0].started
        replies.append(await made.run(["0"], [], None))
        return replies

    try:
        replies = asyncio.run(scenario())
    finally:
        made.close()
    first, *same, last = [_pid(reply) for reply in replies]
    assert same == [first] * 3 and last != first
    assert _gone(first, within=10.0)


def test_idle_release_zero_keeps_query_workers(tmp_path: Path) -> None:
    Env(tmp_path / "store").close()
    made = QueryPool(tmp_path / "store", 1 << 30, workers=1, timeout=30.0, idle_release=0)
    made.target = sleepy

    async def scenario() -> tuple[bytes, bytes]:
        first = await made.run(["0"], [], None)
        await asyncio.sleep(0.5)
        return first, await made.run(["0"], [], None)

    try:
        first, second = asyncio.run(scenario())
    finally:
        made.close()
    assert _pid(first) == _pid(second)


def _process_ids(slot: Any) -> list[int]:
    executor = slot._executor
    return [] if executor is None else [executor.pid]


def test_anticipate_starts_the_process_the_next_query_goes_to(tmp_path: Path) -> None:
    Env(tmp_path / "store").close()
    made = QueryPool(tmp_path / "store", 1 << 30, workers=2, timeout=30.0, idle_release=1.0)
    made.target = sleepy

    async def scenario() -> None:
        made.anticipate()
        first, second = made._slots
        assert first.started and not second.started
        await asyncio.sleep(0.2)
        started = _process_ids(first)
        made.anticipate()  # running already: nothing new
        assert _process_ids(first) == started and not second.started
        reply = await made.run(["0"], [], None)
        assert [_pid(reply)] == started
        # two at once: the slot put back last takes the next query, and is anticipated
        replies = await asyncio.gather(made.run(["1.5"], [], None), made.run(["0"], [], None))
        last = made._last
        assert last is not None and _pid(replies[0]) in _process_ids(last)
        await asyncio.sleep(2.0)  # idle_release: both stopped
        assert not first.started and not second.started
        made.anticipate()
        assert last.started and not (first if last is second else second).started
        await asyncio.sleep(2.0)  # started by anticipate, stopped when idle all the same
        assert not last.started

    try:
        asyncio.run(scenario())
    finally:
        made.close()


def test_opening_the_web_ui_starts_a_query_worker(make_client: Any, tmp_path: Path) -> None:
    """Its page, not an API call: a sync agent listing buckets on a timer would keep
    restarting a process it never uses."""
    webui = tmp_path / "webui"
    webui.mkdir()
    (webui / "index.html").write_text("<html></html>")
    (webui / "app.js").write_text("")
    client = make_client(webui=str(webui))
    for path in ("/api/0/info", "/api/0/buckets/", "/app.js"):
        assert client.get(path).status_code == 200
    server = client.app.server
    assert server is not None and (server.pool is None or not server.pool._slots[0].started)
    assert client.get("/").status_code == 200
    assert server.pool._slots[0].started


def test_the_page_is_served_when_no_query_worker_can_start(
        make_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting a worker ahead of a query is only a head start: the page answers anyway."""
    from fastaw import pool as pool_module

    def cannot_fork(self: Any) -> Any:
        raise OSError(11, "Resource temporarily unavailable")

    webui = tmp_path / "webui"
    webui.mkdir()
    (webui / "index.html").write_text("<html></html>")
    monkeypatch.setattr(pool_module._Slot, "executor", cannot_fork)
    client = make_client(webui=str(webui))
    response = client.get("/")
    assert response.status_code == 200 and response.text == "<html></html>"
    assert not client.app.server.pool._slots[0].started


def loaded_modules(lines: list[str], timeperiods: list[str], name: str | None,
                   timeout: float) -> tuple[int, Any]:
    """A stand-in query that reports which of ``lines`` the worker has imported."""
    import sys

    return 200, " ".join(m for m in lines if m in sys.modules).encode()


def test_query_workers_read_chunks_without_pyarrow(tmp_path: Path) -> None:
    """Chunks are read by Polars, their heights from the files' footers: pyarrow (≈ 8 MiB
    in each query worker) is not imported by a query that reads them."""
    from fastaw.columnar import build_chunks
    from fastaw.models import Bucket, Event, canonical_data
    from fastaw.storage import Writer
    from fastaw.storage.chunks import ChunkStore

    day = 86_400 * 10**9
    env = Env(tmp_path / "store")
    writer = Writer(env)
    writer.start()
    bucket = writer.run_sync(lambda w: w.create_bucket(
        Bucket(id="b", num=0, type="t", client="c", hostname="h", created=0)))
    events = [Event(None, i * day, 60 * 10**9, canonical_data({"app": f"a{i % 3}"}))
              for i in range(30)]
    writer.run_sync(lambda w: w.insert_many(bucket.num, events))
    writer.stop()
    assert build_chunks(ChunkStore(env)).built > 0
    env.close()
    pool = QueryPool(tmp_path / "store", 1 << 30, workers=1, timeout=30.0)
    try:
        query = ['RETURN = merge_events_by_keys(query_bucket("b"), ["app"]);']
        body = asyncio.run(pool.run(query, ["1970-01-01T00:00:00Z/1970-03-01T00:00:00Z"],
                                    None))
        assert body.count(b'"app"') == 3 and b'"a0"' in body
        pool.target = loaded_modules
        assert asyncio.run(pool.run(["fastaw.columnar", "pyarrow"], [], None)) == \
            b"fastaw.columnar"
    finally:
        pool.close()
