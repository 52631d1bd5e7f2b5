"""Query worker processes: queries never run on the HTTP event loop.

Each HTTP worker process owns a small pool of query processes (spawn context: no fork
hazards with LMDB or Polars threads). A query process opens the store itself and reads
through the column-chunk cache (`fastaw.columnar`); it returns the finished JSON bytes, so
no event lists cross the pipe. Limits: the interpreter checks a soft deadline between
statements and calls; if a worker still has not answered a few seconds after it, the
pool is torn down (killing the stuck process) and rebuilt, and the request answers 503.
A worker that dies (out of memory, a crash) is replaced the same way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Final

from fastaw.errors import FastawError, ForwardedError, QueryTimeout, ServiceUnavailable

log = logging.getLogger("fastaw.pool")
GRACE_SECONDS: Final = 5.0

_source: Any = None


def _worker_init(data_dir: str, map_size: int) -> None:
    global _source
    from fastaw.columnar import ColumnSource
    from fastaw.storage import Env
    from fastaw.storage.chunks import ChunkStore

    _source = ColumnSource(ChunkStore(Env(Path(data_dir), map_size=map_size)))


def _ping() -> bool:
    return _source is not None


def execute(source: Any, lines: list[str], timeperiods: list[str], name: str | None,
            timeout: float) -> tuple[int, Any]:
    """Run one query → (200, JSON bytes) or (status, error body); never raises."""
    from fastaw.query import run_query

    deadline = time.monotonic() + timeout
    try:
        return 200, run_query(lines, source, timeperiods, deadline=deadline, name=name or "")
    except FastawError as exc:
        return exc.status, exc.body()
    except MemoryError:
        return 503, {"message": "The query ran out of memory"}
    except Exception as exc:  # a bug in a transform: report it, keep the worker alive
        log.exception("query failed")
        return 500, {"message": f"Internal error while running the query: {exc!r}"}


def _worker_run(lines: list[str], timeperiods: list[str], name: str | None,
                timeout: float) -> tuple[int, Any]:
    return execute(_source, lines, timeperiods, name, timeout)


class QueryPool:
    """A pool of query processes over one store."""

    def __init__(self, data_dir: Path, map_size: int, workers: int, timeout: float) -> None:
        self.data_dir = data_dir
        self.map_size = map_size
        self.workers = max(1, workers)
        self.timeout = timeout
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None

    def _pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(str(self.data_dir), self.map_size),
            )
        return self._executor

    def warm_up(self) -> None:
        """Start the worker processes now rather than on the first query."""
        pool = self._pool()
        for _ in range(self.workers):
            pool.submit(_ping)

    def _reset(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        for process in list(getattr(executor, "_processes", {}).values()):
            process.kill()
        executor.shutdown(wait=False, cancel_futures=True)

    async def run(self, lines: list[str], timeperiods: list[str], name: str | None) -> bytes:
        future = self._pool().submit(_worker_run, lines, timeperiods, name, self.timeout)
        try:
            status, payload = await asyncio.wait_for(
                asyncio.wrap_future(future), self.timeout + GRACE_SECONDS
            )
        except TimeoutError:
            log.warning("query exceeded %.0f s; restarting the query workers", self.timeout)
            self._reset()
            raise QueryTimeout(
                f"The query did not finish within {self.timeout:g} s (query_timeout)"
            ) from None
        except BrokenProcessPool:
            self._reset()
            raise ServiceUnavailable(
                "A query worker died (out of memory?); the workers were restarted"
            ) from None
        if status != 200:
            raise ForwardedError(status, payload)
        result: bytes = payload
        return result

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
