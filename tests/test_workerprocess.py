"""`fastaw.workerprocess`: calls run in a child process, in order; its death fails them."""

from __future__ import annotations

import os
import time
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pytest

from fastaw.workerprocess import WorkerProcess

_state: dict[str, Any] = {}


def remember(key: str, value: Any) -> None:
    _state[key] = value


def recall(key: str) -> tuple[Any, int]:
    return _state.get(key), os.getpid()


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def fail(message: str) -> None:
    raise ValueError(message)


def unpicklable() -> Any:
    return lambda: None


class _Unreadable:
    """Pickles fine, but unpickling it raises."""

    def __reduce__(self) -> Any:
        return (fail, ("unreadable",))


def unreadable() -> Any:
    return _Unreadable()


@pytest.fixture
def worker() -> Any:
    made = WorkerProcess(remember, ("started", True))
    yield made
    made.kill()


def test_calls_run_in_the_child_in_order_after_the_initializer(worker: WorkerProcess) -> None:
    futures = [worker.submit(nap, 0.2), worker.submit(recall, "started"),
               worker.submit(remember, "x", 1), worker.submit(recall, "x")]
    assert futures[0].result(timeout=30) == 0.2
    assert futures[1].result(timeout=30) == (True, worker.pid) and worker.pid != os.getpid()
    assert futures[3].result(timeout=30) == (1, worker.pid)


def test_an_error_reaches_the_caller_and_the_child_goes_on(worker: WorkerProcess) -> None:
    with pytest.raises(ValueError, match="no such thing"):
        worker.submit(fail, "no such thing").result(timeout=30)
    with pytest.raises(RuntimeError, match="could not send its answer"):
        worker.submit(unpicklable).result(timeout=30)
    assert worker.submit(recall, "started").result(timeout=30)[0] is True


def test_a_killed_child_fails_its_calls_and_takes_no_more(worker: WorkerProcess) -> None:
    assert worker.submit(recall, "started").result(timeout=30)[0] is True
    running, queued = worker.submit(nap, 60), worker.submit(recall, "started")
    worker.kill()
    for future in (running, queued):
        with pytest.raises(BrokenProcessPool):
            future.result(timeout=30)
    with pytest.raises(BrokenProcessPool):
        worker.submit(recall, "started")


def test_an_answer_that_cannot_be_read_stops_the_child(worker: WorkerProcess) -> None:
    with pytest.raises(BrokenProcessPool):
        worker.submit(unreadable).result(timeout=30)
    deadline = time.monotonic() + 10
    while worker._process.poll() is None:
        assert time.monotonic() < deadline, "the child was left running"
        time.sleep(0.01)


def test_shutdown_lets_the_child_finish_its_calls_and_exit() -> None:
    made = WorkerProcess(remember, ("started", True))
    answer = made.submit(nap, 0.3)
    made.shutdown(wait=True)
    assert answer.result(timeout=1) == 0.3
    with pytest.raises(ProcessLookupError):
        os.kill(made.pid, 0)


def test_a_failing_initializer_breaks_the_worker() -> None:
    made = WorkerProcess(fail, ("cannot start",))
    with pytest.raises(BrokenProcessPool):
        made.submit(recall, "started").result(timeout=30)
