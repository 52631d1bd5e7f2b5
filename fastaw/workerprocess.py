"""A child process that runs calls one at a time: what each query-pool slot runs on.

`multiprocessing` starts a *resource tracker* for the first process it spawns: one more
Python process (≈ 6.5 MiB of private memory) that outlives the queries, only to remove
named semaphores a crashed process might leave behind — the semaphores of
`concurrent.futures.ProcessPoolExecutor`'s queues. A `WorkerProcess` needs neither: the
child is started by `subprocess`, and calls and answers cross a pair of pipes as
length-prefixed pickles (functions by reference, as with multiprocessing's spawn).

It offers the part of a one-process executor the query pool uses: `submit` returns a
`concurrent.futures.Future`; when the child dies (killed, out of memory) every call not
answered yet fails with `BrokenProcessPool`; `shutdown` lets the child finish its call and
exit; `kill` stops it at once.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from concurrent.futures.process import BrokenProcessPool
from typing import IO, Any, Final

_LENGTH: Final = struct.Struct("<Q")


def _packed(message: object) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


def _send(stream: IO[bytes], message: object) -> None:
    stream.write(_packed(message))
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    """The next message, or raise EOFError when the other side has gone."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise EOFError
    (size,) = _LENGTH.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


class WorkerProcess:
    """A child process running ``initializer(*initargs)``, then the calls submitted, one
    at a time in the order submitted."""

    def __init__(self, initializer: Callable[..., object], initargs: Sequence[object]) -> None:
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(to_child), str(from_child)],
                pass_fds=(to_child, from_child), stdin=subprocess.DEVNULL)
        except BaseException:
            for fd in (to_child, from_parent, to_parent, from_child):
                os.close(fd)
            raise
        os.close(to_child)
        os.close(from_child)
        self._replies = os.fdopen(to_parent, "rb")
        self._lock = threading.Lock()
        self._pending: deque[Future[Any]] = deque()
        self._broken = False
        # Calls are written by a thread of their own: a write blocks while the pipe is
        # full, which it may be while the child is busy (starting, or running a call), and
        # the caller is the HTTP worker's event loop.
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        # the child unpickles the initializer with the parent's import path
        self._outbox.put(_packed(list(sys.path)))
        self._outbox.put(_packed((initializer, tuple(initargs))))
        threading.Thread(target=self._write_calls, args=(os.fdopen(from_parent, "wb"),),
                         name="fastaw-worker-calls", daemon=True).start()
        threading.Thread(target=self._read_replies, name="fastaw-worker-replies",
                         daemon=True).start()

    @property
    def pid(self) -> int:
        return self._process.pid

    def submit(self, fn: Callable[..., object], *args: object) -> Future[Any]:
        """Run ``fn(*args)`` in the child (after the calls submitted before)."""
        future: Future[Any] = Future()
        call = _packed((fn, args))
        with self._lock:
            if self._broken:
                raise BrokenProcessPool("the worker process has stopped")
            self._pending.append(future)
            self._outbox.put(call)
        return future

    def _write_calls(self, calls: IO[bytes]) -> None:
        try:
            while (call := self._outbox.get()) is not None:
                calls.write(call)
                calls.flush()
        except OSError:  # the child is gone: the reader fails the calls
            pass
        finally:
            with contextlib.suppress(OSError):  # (closing flushes what is left, in vain)
                calls.close()

    def _read_replies(self) -> None:
        try:
            while True:
                ok, value = _receive(self._replies)
                with self._lock:
                    future = self._pending.popleft()
                _settle(future, value if ok else None, None if ok else value)
        except Exception:  # the end of the pipe, or an answer that cannot be read: either
            pass           # way no call can be answered any more
        with self._lock:
            self._broken = True
            pending, self._pending = list(self._pending), deque()
        for future in pending:
            _settle(future, None, BrokenProcessPool("the worker process stopped"))
        with contextlib.suppress(OSError):  # (it has mostly exited: nothing to stop)
            self._process.kill()
        self._process.wait()
        self._replies.close()

    def kill(self) -> None:
        """Stop the child at once (calls not answered fail)."""
        with contextlib.suppress(OSError):
            self._process.kill()
        self._outbox.put(None)

    def shutdown(self, wait: bool = True) -> None:
        """Let the child finish the calls submitted and exit; with ``wait``, wait for it."""
        self._outbox.put(None)
        if wait:
            self._process.wait()


def _settle(future: Future[Any], result: object, error: BaseException | None) -> None:
    """Give ``future`` its result or error, unless the caller has cancelled it (a query
    given up on after its time limit)."""
    with contextlib.suppress(InvalidStateError):
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


def _serve(calls: IO[bytes], replies: IO[bytes]) -> None:
    """The child's side: set the import path, run the initializer, answer calls until the
    parent closes its end."""
    sys.path[:] = _receive(calls)
    initializer, initargs = _receive(calls)
    initializer(*initargs)
    while True:
        try:
            fn, args = _receive(calls)
        except EOFError:
            return
        try:
            reply: tuple[bool, object] = (True, fn(*args))
        except BaseException as exc:  # handed to the caller, as an executor does
            reply = (False, exc)
        try:
            _send(replies, reply)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            _send(replies, (False, RuntimeError(f"the worker could not send its answer: {exc}")))


if __name__ == "__main__":
    _serve(os.fdopen(int(sys.argv[1]), "rb"), os.fdopen(int(sys.argv[2]), "wb"))
