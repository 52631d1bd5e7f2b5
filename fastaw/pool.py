"""Query worker processes: queries never run on the HTTP event loop.

Each HTTP worker process owns a small pool of query processes, each a fresh interpreter
(`fastaw.workerprocess`: no fork hazards with LMDB or Polars threads, and no
multiprocessing resource tracker beside them). A query process opens the store itself and reads
through the column-chunk cache (`fastaw.columnar`); it returns the finished JSON bytes, so
no event lists cross the pipe.

Each query process is its own *slot* (a one-process executor). A request waits for a free
slot, runs there, and gives the slot back. Limits: the interpreter checks a soft deadline
between statements and calls; if a slot still has not answered a few seconds after it,
that slot's process alone is killed and replaced, and the request answers 503 — queries
running in the other slots are not disturbed. A process that dies (out of memory, a crash)
is replaced the same way.

Query processes run at the lowest CPU priority (``nice`` 19) and Polars uses every core in
them: when a big query keeps the cores busy, the HTTP workers — heartbeats, inserts — still
get the CPU as soon as they want it. On two cores, heartbeats during a ten-year query had a
p99 of 8.8 ms this way (7.9 ms at ``nice`` 10 with Polars on one core, 18 ms at ``nice``
10 on both), and a year's dashboard query ran 10–20 % faster than on one core.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Final

from fastaw.allocator import fix_malloc_thresholds
from fastaw.errors import FastawError, ForwardedError, QueryTimeout, ServiceUnavailable
from fastaw.workerprocess import WorkerProcess

log = logging.getLogger("fastaw.pool")
GRACE_SECONDS: Final = 5.0
NICENESS: Final = 19
ALLOCATOR_ENV: Final = "_RJEM_MALLOC_CONF"
#: The query processes' jemalloc settings (see `_Slot.executor`): freed pages go back after
#: 250 ms, and one arena. jemalloc's default is four arenas per core, which suits many
#: threads allocating at once, and memory freed in one arena is not reused by the others. A
#: query process has a few threads (statements, Polars' pool), and small allocations are
#: served per thread anyway. On two cores, a year's dashboard query, repeated back to back
#: in process, peaked at 339–365 MiB with one arena against 359–385 with two, at the same
#: speed (and 30–55 MiB higher still with eight).
ALLOCATOR_CONF: Final = "background_thread:true,dirty_decay_ms:250,muzzy_decay_ms:0,narenas:1"
#: Default ``query_cache_mb`` (see `cache_budget`).
DEFAULT_CACHE_MB: Final = 1000
#: Default ``query_idle_release``: seconds a query process may sit idle before it stops.
DEFAULT_IDLE_RELEASE: Final = 600.0
PARENT_POLL_SECONDS: Final = 1.0
#: ``query_threads = 0`` runs this many statements at once at most (one per core below).
MAX_AUTO_THREADS: Final = 4

_source: Any = None


def cache_budget(cache_mb: int) -> tuple[int, int]:
    """How a query process splits ``query_cache_mb`` between what it keeps across queries:
    (texts of its data dictionary, with their per-text answers; bytes of recently read
    windows). 60 % / 40 %: the default 1000 MB keeps ≈ 4.2M texts and ≈ 400 MB of windows.
    A year of a busy desktop's history is ≈ 390k texts and ≈ 30 MB of windows; ten years
    ≈ 3.2M texts and ≈ 330 MB of windows, which then stay warm (a repeated ten-year
    dashboard query took 3.0–3.2 s in process, against 3.4–3.9 s with 700 MB split 70/30,
    which held only 60 % of the windows)."""
    from fastaw.transforms.dictionary import BYTES_PER_TEXT  # (Polars: query processes only)

    budget = max(0, cache_mb) << 20
    return budget * 6 // 10 // BYTES_PER_TEXT, budget * 4 // 10


def threads_per_query(threads: int) -> int:
    """How many statements of a query a query process runs at once: ``threads``, or for 0
    one per core (at most `MAX_AUTO_THREADS`)."""
    return threads if threads > 0 else max(1, min(os.cpu_count() or 1, MAX_AUTO_THREADS))


def _worker_init(data_dir: str, map_size: int, cache_mb: int, threads: int) -> None:
    global _source
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    # Linux: the idle scheduling class on top (the threads started later inherit both). A
    # nice 19 thread still runs out its time slice when a heartbeat's thread wakes; an
    # idle-class one gives way at once. (Two cores, a ten-year query repeated while 50
    # heartbeats/s arrive, p99: 7.0 and 8.3 ms against 10.1 and 9.7 ms at nice 19 alone.)
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    # Ctrl-C reaches the whole process group; the HTTP worker shuts its pool down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(os.getppid())
    fix_malloc_thresholds()
    from fastaw.columnar import ColumnSource
    from fastaw.query import statement_threads
    from fastaw.storage import Env
    from fastaw.storage.chunks import ChunkStore
    from fastaw.transforms.dictionary import limit_texts

    texts, frames = cache_budget(cache_mb)
    limit_texts(texts)
    statement_threads(threads_per_query(threads))
    _source = ColumnSource(ChunkStore(Env(Path(data_dir), map_size=map_size)), memory=frames)


def _exit_with_parent(parent: int) -> None:
    """Exit once the HTTP worker that started this process is gone (killed, out of memory):
    an orphaned query process holds its own call queue open, so it would wait forever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="fastaw-parent-watch", daemon=True).start()


def _ping() -> bool:
    return _source is not None


def execute(source: Any, lines: list[str], timeperiods: list[str], name: str | None,
            timeout: float) -> tuple[int, Any]:
    """Run one query → (200, JSON bytes) or (status, error body); never raises."""
    from fastaw.columnar.encoding import StaleTexts
    from fastaw.query import run_query
    from fastaw.transforms.dictionary import drop_worker_dictionary

    deadline = time.monotonic() + timeout
    try:
        try:
            return 200, run_query(lines, source, timeperiods, deadline=deadline,
                                  name=name or "")
        except StaleTexts:
            # The store's text table was started afresh (`fastaw chunks --rebuild`) after
            # the worker dictionary read texts from it: it can no longer read them again.
            # Once more with a new dictionary (which reads the windows again).
            log.info("the store's texts were rebuilt; the query runs again")
            drop_worker_dictionary()
            return 200, run_query(lines, source, timeperiods, deadline=deadline,
                                  name=name or "")
    except FastawError as exc:
        return exc.status, exc.body()
    except MemoryError:
        return 503, {"message": "The query ran out of memory"}
    except Exception as exc:  # a bug in a transform: report it, keep the worker alive
        log.exception("query failed")
        return 500, {"message": f"Internal error while running the query: {exc!r}"}


def _worker_run(lines: list[str], timeperiods: list[str], name: str | None,
                timeout: float) -> tuple[int, Any]:
    from fastaw.transforms.dictionary import worker_dictionary

    _source.frames.next_query()
    try:
        return execute(_source, lines, timeperiods, name, timeout)
    finally:
        # after a query that outgrew the worker dictionary (a ten-year one), free it and
        # its windows now, not when the next query comes
        _source.frames.keep_only(worker_dictionary())


class _Slot:
    """One query process (a `WorkerProcess`, started on first use)."""

    def __init__(self, data_dir: Path, map_size: int, cache_mb: int, threads: int) -> None:
        self.data_dir = data_dir
        self.map_size = map_size
        self.cache_mb = cache_mb
        self.threads = threads
        self._executor: WorkerProcess | None = None
        #: The pending release of the process while the slot is idle (`QueryPool.run`
        #: cancels it when it takes the slot; see ``idle_release``).
        self.release: asyncio.TimerHandle | None = None

    @property
    def started(self) -> bool:
        return self._executor is not None

    def executor(self) -> WorkerProcess:
        if self._executor is None:
            # Polars' allocator (jemalloc) reads this when the new process starts: give freed
            # pages back a quarter of a second after a query stops needing them (a
            # background thread does it), so an idle worker holds what its caches need, not
            # the high water mark of its last big query, and a long query returns what its
            # first statements freed. Returning them at once cost ~35 % of the query time
            # in page faults (see docs/architecture.md). (Unless the operator chose
            # otherwise.)
            os.environ.setdefault(ALLOCATOR_ENV, ALLOCATOR_CONF)
            self._executor = WorkerProcess(
                _worker_init,
                (str(self.data_dir), self.map_size, self.cache_mb, self.threads),
            )
        return self._executor

    def detach(self) -> WorkerProcess | None:
        """Let go of the process (the next use starts a new one); the old one, to shut
        down."""
        executor, self._executor = self._executor, None
        return executor

    def kill(self) -> None:
        """Kill this slot's process; the next use starts a fresh one."""
        executor = self.detach()
        if executor is not None:
            executor.kill()

    def close(self) -> None:
        executor = self.detach()
        if executor is not None:
            executor.shutdown(wait=True)


class QueryPool:
    """A pool of query processes over one store."""

    #: what a slot runs for `run` (replaceable in tests; must be picklable by reference)
    target: Any = staticmethod(_worker_run)

    def __init__(self, data_dir: Path, map_size: int, workers: int, timeout: float, *,
                 cache_mb: int = DEFAULT_CACHE_MB, threads: int = 0,
                 grace: float = GRACE_SECONDS,
                 idle_release: float = DEFAULT_IDLE_RELEASE) -> None:
        self.data_dir = data_dir
        self.map_size = map_size
        self.workers = max(1, workers)
        self.timeout = timeout
        self.grace = grace
        self.idle_release = idle_release
        self._slots = [_Slot(data_dir, map_size, cache_mb, threads)
                       for _ in range(self.workers)]
        self._idle: asyncio.Queue[_Slot] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: the slot put back last: the next query goes there (`_queue`)
        self._last: _Slot | None = None

    def _queue(self) -> asyncio.Queue[_Slot]:
        """The idle slots of the running event loop (made on first use; a new loop — e.g.
        successive ``asyncio.run`` calls in tests — starts with all slots).

        Last in, first out: a query goes to the slot that ran the previous one, whose
        memory still holds that query's windows and per-text answers (queries come back:
        the dashboard repeats them); the other slots serve only concurrent queries.
        """
        loop = asyncio.get_running_loop()
        if self._idle is None or self._loop is not loop:
            self._idle = asyncio.LifoQueue()
            self._loop = loop
            for slot in reversed(self._slots):
                self._idle.put_nowait(slot)
        return self._idle

    def anticipate(self) -> None:
        """Start the process the next query will go to, unless it runs already.

        The web UI queries as soon as its scripts have loaded, and a new process takes
        ≈ 0.5 s to start: most of the first answer after the server stood idle
        (`_release_when_idle`) when the query itself is small — a day's Activity view
        answered in ≈ 0.75 s, of which the start was ≈ 0.5 s. Serving the web UI's page
        therefore starts it (`fastaw.api.static`). Started this way, the process is
        stopped again like any other after ``idle_release`` seconds without a query.
        (Not on API calls: a client listing buckets on a timer, as a sync agent does,
        would keep restarting a process it never uses.)
        """
        slot = self._last or self._slots[0]
        if slot.started:
            return
        try:
            slot.executor().submit(_ping)
        except OSError as exc:  # only a head start: the query will report it
            log.warning("could not start a query worker ahead of a query: %s", exc)
            slot.kill()
            return
        if slot.release is None:
            self._release_when_idle(slot)

    async def run(self, lines: list[str], timeperiods: list[str], name: str | None) -> bytes:
        idle = self._queue()
        slot = await idle.get()
        if slot.release is not None:
            slot.release.cancel()
            slot.release = None
        try:
            future = slot.executor().submit(self.target, lines, timeperiods, name,
                                             self.timeout)
            try:
                status, payload = await asyncio.wait_for(
                    asyncio.wrap_future(future), self.timeout + self.grace
                )
            except TimeoutError:
                log.warning("query exceeded %.0f s; restarting its query worker", self.timeout)
                slot.kill()
                raise QueryTimeout(
                    f"The query did not finish within {self.timeout:g} s (query_timeout)"
                ) from None
            except BrokenProcessPool:
                slot.kill()
                raise ServiceUnavailable(
                    "A query worker died (out of memory?); it was restarted"
                ) from None
        finally:
            idle.put_nowait(slot)
            self._last = slot
            self._release_when_idle(slot)
        if status != 200:
            raise ForwardedError(status, payload)
        result: bytes = payload
        return result

    def _release_when_idle(self, slot: _Slot) -> None:
        """Stop the slot's process once it has been idle for ``idle_release`` seconds.

        A process keeps what its last queries read and worked out (up to
        ``query_cache_mb``, ≈ 300 MB after a year's dashboard query) so that queries
        asked again answer fast; a server left alone gives all of it back. The next query
        starts a new process (≈ 0.5 s) and reads afresh."""
        if self.idle_release <= 0:
            return

        def release() -> None:
            slot.release = None
            executor = slot.detach()
            if executor is not None:
                log.info("query worker idle for %g s: stopped", self.idle_release)
                executor.shutdown(wait=False)

        slot.release = asyncio.get_running_loop().call_later(self.idle_release, release)

    def close(self) -> None:
        for slot in self._slots:
            if slot.release is not None:
                slot.release.cancel()
                slot.release = None
            slot.close()
