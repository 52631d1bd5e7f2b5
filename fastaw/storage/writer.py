"""THE writer: one thread per process that owns every write transaction.

Durability contract: a caller's future is resolved only after the transaction holding its
change has been committed with ``sync=True`` (fsync), so an answered write survives a
crash or ``kill -9`` the next instant. Group commit: the thread drains everything queued
while the previous commit was running and applies it in one transaction (each operation in
a nested transaction, so one failing request never disturbs the others; an operation alone
in its commit runs in the transaction itself, aborted if it fails), then commits once.

Heartbeats (`Writer.heartbeat`) skip the nested transaction: consecutive heartbeats of a
batch are merged in memory and written once per batch (`fastaw.storage.heartbeats`), before
any other operation of the batch runs and before the commit.

Several processes (Granian workers, CLI commands) may each run a writer: LMDB lets one write
transaction exist at a time across processes, and every piece of state that matters (ids,
stats, heartbeat anchors) is read and written inside that transaction, so they agree.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Final, TypeVar

import lmdb

from fastaw.errors import FastawError, StorageError
from fastaw.models import Event
from fastaw.storage.env import Env
from fastaw.storage.heartbeats import HeartbeatBatch, NotBatchable
from fastaw.storage.mutations import Writes

T = TypeVar("T")
Operation = Callable[[Writes], Any]
log = logging.getLogger("fastaw.writer")

MAX_BATCH: Final = 2048
_STOP: Final = object()


Beat = tuple[str, Event, int]  # bucket id, heartbeat, pulsetime (ns)


class _Undo(Exception):
    """Aborts the write transaction of an operation that failed alone in it."""


class _Job:
    __slots__ = ("beat", "future", "loop", "op", "outcome")

    def __init__(self, op: Operation, loop: asyncio.AbstractEventLoop | None,
                 future: asyncio.Future[Any] | concurrent.futures.Future[Any],
                 beat: Beat | None = None) -> None:
        self.op = op
        self.loop = loop
        self.future = future
        self.beat = beat  # set for heartbeats: applied through the batch's HeartbeatBatch
        self.outcome: tuple[bool, Any] = (False, None)


def _settle(job: _Job) -> None:
    ok, value = job.outcome
    future = job.future
    if future.done():  # the awaiting request was cancelled; its write still happened
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _settle_all(jobs: list[_Job]) -> None:
    for job in jobs:
        _settle(job)


class Writer:
    """Queue of write operations applied by one thread with group commit."""

    def __init__(self, env: Env, *, max_batch: int = MAX_BATCH) -> None:
        self.env = env
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="fastaw-writer", daemon=True)
        self._started = False
        self.commits = 0
        self.operations = 0

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def stop(self) -> None:
        """Apply and commit everything queued so far, then end the thread."""
        if self._started:
            self._queue.put(_STOP)
            self._thread.join()
            self._started = False

    async def run(self, op: Callable[[Writes], T]) -> T:
        """Apply ``op`` in a write transaction; return its result once durably committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(op, loop, future))
        return await future

    def run_sync(self, op: Callable[[Writes], T]) -> T:
        """Blocking variant of `run` for threads and command-line tools."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put(_Job(op, None, future))
        return future.result()

    async def heartbeat(self, bucket_id: str, beat: Event, pulsetime: int) -> bytes:
        """`Writes.heartbeat`, batched with the other heartbeats of its commit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._queue.put(_Job(_classic(bucket_id, beat, pulsetime), loop, future,
                             (bucket_id, beat, pulsetime)))
        return await future

    def heartbeat_sync(self, bucket_id: str, beat: Event, pulsetime: int) -> bytes:
        """Blocking variant of `heartbeat`."""
        future: concurrent.futures.Future[bytes] = concurrent.futures.Future()
        self._queue.put(_Job(_classic(bucket_id, beat, pulsetime), None, future,
                             (bucket_id, beat, pulsetime)))
        return future.result()

    # -- the thread ----------------------------------------------------------------------
    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            jobs: list[_Job] = [first]
            while len(jobs) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                jobs.append(item)
            self._apply(jobs)
            self._deliver(jobs)

    def _apply(self, jobs: list[_Job]) -> None:
        while True:
            try:
                self._apply_once(jobs)
                return
            except lmdb.MapFullError:
                size = self.env.grow()
                log.warning("store map was full; grew it to %d bytes and retrying", size)
            except Exception as exc:  # the commit itself failed: nobody's write happened
                log.exception("write transaction failed")
                failure = StorageError(f"The write could not be committed: {exc}")
                for job in jobs:
                    job.outcome = (False, failure)
                return

    def _apply_once(self, jobs: list[_Job]) -> None:
        if len(jobs) == 1 and jobs[0].beat is None:
            self._apply_alone(jobs[0])
        else:
            self._apply_nested(jobs)
        self.commits += 1
        self.operations += len(jobs)

    def _apply_alone(self, job: _Job) -> None:
        """An operation alone in its commit runs in the write transaction itself, which is
        aborted if it fails: the nested transaction only isolates an operation from the
        others of its batch, and costs a large one dearly (LMDB looks every page it touches
        up in the nested transaction's dirty list: ≈ 0.1 s per 1M imported events)."""
        try:
            with self.env.write() as txn:
                writes = Writes(self.env, txn)
                try:
                    value = job.op(writes)
                    writes.finish()
                except lmdb.MapFullError:
                    raise
                except FastawError as exc:
                    job.outcome = (False, exc)
                    raise _Undo from None
                except Exception as exc:
                    log.exception("write operation failed")
                    job.outcome = (False, exc)
                    raise _Undo from None
                job.outcome = (True, value)
        except _Undo:  # (the transaction was aborted: nothing of it was written)
            pass

    def _apply_nested(self, jobs: list[_Job]) -> None:
        with self.env.write() as txn:
            beats = HeartbeatBatch(self.env, txn)
            for job in jobs:
                if job.beat is not None and self._beat(beats, job):
                    continue
                beats.flush()  # before anything else reads the transaction
                child = self.env.lmdb.begin(write=True, parent=txn)
                writes = Writes(self.env, child)
                try:
                    value = job.op(writes)
                    writes.finish()
                except lmdb.MapFullError:
                    child.abort()
                    raise
                except FastawError as exc:
                    child.abort()
                    job.outcome = (False, exc)
                    continue
                except Exception as exc:
                    child.abort()
                    log.exception("write operation failed")
                    job.outcome = (False, exc)
                    continue
                child.commit()
                job.outcome = (True, value)
            beats.flush()

    @staticmethod
    def _beat(beats: HeartbeatBatch, job: _Job) -> bool:
        """Apply a heartbeat in memory; False if it needs the nested-transaction path."""
        assert job.beat is not None
        try:
            job.outcome = (True, beats.apply(*job.beat))
        except NotBatchable:
            return False
        except lmdb.MapFullError:
            raise
        except FastawError as exc:
            job.outcome = (False, exc)
        except Exception as exc:
            log.exception("heartbeat failed")
            job.outcome = (False, exc)
        return True

    def _deliver(self, jobs: list[_Job]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        for job in jobs:
            if job.loop is None:
                _settle(job)
            else:
                by_loop.setdefault(job.loop, []).append(job)
        for loop, batch in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle_all, batch)


def _classic(bucket_id: str, beat: Event, pulsetime: int) -> Operation:
    return lambda writes: writes.heartbeat(bucket_id, beat, pulsetime)
