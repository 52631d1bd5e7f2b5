"""Statements that do not depend on each other run at the same time.

Most statements of a query are ``name = transform(...)``, and the dashboard's queries
have independent branches: one per browser, one merge per view. Run one after another,
they use one core (Polars runs most per-row passes on one thread). Here such a statement
becomes a *task*. A task runs on a small thread pool as soon as the tasks it reads from are
done. Polars releases the GIL, so tasks really run side by side.

Why the answer is the sequential one:

* values are immutable, and a task only calls built-ins that are pure functions of their
  arguments and the store (`PURE`: not ``print``); the order tasks run in cannot change
  what they compute;
* a task reads each name from the last statement before it that assigns the name, or
  from the environment as it was when the task was made: what a sequential run would
  read. Every task also reads ``TIMEINTERVAL``, which ``query_bucket`` reads implicitly;
* a statement that is not a task (``if``, a bare expression, a call of ``print`` or of
  anything not known pure) is a *barrier*: everything before it finishes first, then it
  runs in order on the calling thread;
* results are bound, and errors raised, in program order. A query answers the error of
  the first failing statement, as in a sequential run; tasks that read from a failed one
  never run, and tasks not started yet when an error is raised are skipped.

Shared state touched by concurrent tasks is locked where it lives: the data dictionary's
memo (`fastaw.transforms.dictionary.Dictionary.lock`) and the column source's reads.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final

from fastaw.query import ast
from fastaw.query.functions import BUILTINS
from fastaw.query.liveness import names_read
from fastaw.query.values import Builtin, Value

#: Built-ins without effects: the statements calling only these can run as tasks.
PURE: Final = frozenset(name for name in BUILTINS if name != "print")
#: Names every task reads though no expression names them (``query_bucket`` reads it).
IMPLICIT: Final = ("TIMEINTERVAL",)

_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def thread_pool(threads: int) -> ThreadPoolExecutor:
    """The process's pool of ``threads`` statement threads (made on first use)."""
    with _pools_lock:
        pool = _pools.get(threads)
        if pool is None:
            pool = _pools[threads] = ThreadPoolExecutor(
                threads, thread_name_prefix="fastaw-statement")
        return pool


def calls(expr: ast.Expr) -> Iterator[str]:
    """The names of the functions ``expr`` calls."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Call):
            yield node.name


class _Skipped(Exception):
    """A task that did not run (a task it reads from failed, or the run was stopped)."""


class Task:
    """One statement's expression, evaluated on the pool once its inputs are done.

    Its value is kept only while something still needs it (``holds``): each later task
    reading it, until that task starts, and each name it is the latest assignment of,
    until the name is assigned again or released (`fastaw.query.liveness`). So a frame
    read by one later statement is freed once that statement has run, as in a sequential
    run, not when the whole dataflow is bound.
    """

    __slots__ = ("dependents", "env", "expr", "future", "holds", "inputs", "stmt", "value",
                 "waiting")

    def __init__(self, stmt: ast.Assign | ast.Return, expr: ast.Expr, env: dict[str, Value],
                 inputs: dict[str, Task]) -> None:
        self.stmt = stmt
        self.expr = expr
        self.env = env  #: the values it reads that were known when it was made
        self.inputs = inputs  #: the names it reads from earlier tasks
        self.future: Future[None] = Future()  #: done when it ran (or its error)
        self.value: Value = None
        self.holds = 0
        self.dependents: list[Task] = []
        self.waiting = 0

    def result(self) -> Value:
        """Its value, or its error raised (None once nothing needs the value)."""
        self.future.result()
        return self.value


class Dataflow:
    """The tasks made so far for one evaluation, and their scheduling.

    ``evaluate(env, expr)`` evaluates an expression in an environment (on a pool thread);
    ``bind(stmt, result)`` binds a finished statement's value (``result()``, which raises
    its error) in program order, on the calling thread; names released on the way
    (`add`'s ``released``) are then dropped from ``env``.
    """

    def __init__(self, pool: ThreadPoolExecutor, env: dict[str, Value],
                 evaluate: Callable[[dict[str, Value], ast.Expr], Value],
                 bind: Callable[[ast.Assign | ast.Return, Callable[[], Value]], None]) -> None:
        self.pool = pool
        self.env = env
        self.evaluate = evaluate
        self.bind = bind
        self.tasks: list[Task] = []
        self.latest: dict[str, Task] = {}  #: the last task assigning each name
        self.released: set[str] = set()  #: names to drop from ``env`` once bound
        self.stopped = False
        self._ready: list[Task] = []  #: ready tasks not started yet (see `finish`)
        self._lock = threading.Lock()
        self._context = contextvars.copy_context()

    def add(self, stmt: ast.Stmt, released: frozenset[str] = frozenset()) -> bool:
        """Make ``stmt`` a task if it can be one (else it is a barrier: False). No later
        statement reads the names ``released``: their values need not be kept after it."""
        if isinstance(stmt, ast.Assign):
            expr, targets = stmt.value, [stmt.name]
        elif isinstance(stmt, ast.Return):
            expr = stmt.body.value
            targets = ["RETURN"] + ([stmt.body.name] if isinstance(stmt.body, ast.Assign)
                                    else [])
        else:
            return False
        called = list(calls(expr))
        for name in called:
            function = self.env.get(name)
            if name in self.latest or not isinstance(function, Builtin) or \
                    function.name not in PURE:  # (print may go by another name)
                return False
        reads = (*names_read(expr), *IMPLICIT)
        # only what it reads: a copy of the whole environment would keep every value
        # bound so far alive until the task has run
        env = {name: self.env[name] for name in reads if name in self.env}
        inputs = {name: self.latest[name] for name in reads if name in self.latest}
        task = Task(stmt, expr, env, inputs)
        self.tasks.append(task)
        with self._lock:
            for dep in dict.fromkeys(inputs.values()):
                dep.holds += 1
                if not dep.future.done():
                    dep.dependents.append(task)
                    task.waiting += 1
            ready = task.waiting == 0
            for name in targets:
                if name in self.latest:
                    self._let_go(self.latest[name])
                self.latest[name] = task
                task.holds += 1
            for name in released:
                if name in self.latest:
                    self._let_go(self.latest.pop(name))
        self.released |= released
        if ready and not called:
            self._run_one(task)  # no call, nothing to wait for: cheaper here than handed over
        elif ready:
            self._ready.append(task)
        return True

    def _submit(self, task: Task) -> None:
        self.pool.submit(self._context.copy().run, self._run, task)

    def _run(self, task: Task) -> None:
        """Run ``task``, then, on the same thread, one of the tasks it made ready (the
        others go to the pool): a chain of statements each reading the one before runs
        without a hand-over between threads at every link."""
        next_task: Task | None = task
        while next_task is not None:
            ready = self._run_one(next_task)
            for other in ready[1:]:
                self._submit(other)
            next_task = ready[0] if ready else None

    def _run_one(self, task: Task) -> list[Task]:
        """Evaluate ``task`` (its value or error go to its future); the tasks now ready."""
        try:
            if self.stopped:
                raise _Skipped
            env, inputs = task.env, task.inputs
            # tasks refer to each other (inputs, dependents): without these links the
            # values they hold are freed as soon as they are bound, not by the cycle
            # collector some time later
            task.env, task.inputs = {}, {}
            if any(dep.future.exception() is not None for dep in inputs.values()):
                raise _Skipped
            taken = {dep: self._take(dep) for dep in dict.fromkeys(inputs.values())}
            for name, dep in inputs.items():
                env[name] = taken[dep]
            del taken
            value = self.evaluate(env, task.expr)
            del env
            with self._lock:
                if task.holds:
                    task.value = value
            del value
            task.future.set_result(None)
        except BaseException as exc:  # handed to the thread that binds it
            task.future.set_exception(exc)
        with self._lock:
            ready = []
            for dependent in task.dependents:
                dependent.waiting -= 1
                if dependent.waiting == 0:
                    ready.append(dependent)
            task.dependents = []
        return ready

    def _take(self, task: Task) -> Value:
        """``task``'s value, for a task reading it (which then no longer holds it)."""
        with self._lock:
            value = task.value
            self._let_go(task)
            return value

    def _let_go(self, task: Task) -> None:
        """One fewer hold on ``task``'s value: the last one frees it (lock held)."""
        task.holds -= 1
        if task.holds == 0:
            task.value = None

    def finish(self) -> None:
        """Wait for every task made so far and bind their values in program order; raise
        the first error in program order (after every started task has ended)."""
        tasks, self.tasks = self.tasks, []
        self.latest.clear()
        ready, self._ready = self._ready, []
        if len(ready) == 1:
            # nothing could run beside it: run it (and what it makes ready) here rather
            # than hand it over to another thread. With several, this thread only waits:
            # working too would run more statements at once than there are threads (the
            # year's dashboard query took 10 % longer on two cores)
            self._run(ready[0])
        else:
            for task in ready:
                self._submit(task)
        try:
            for task in tasks:
                self.bind(task.stmt, task.result)
            for name in self.released:
                self.env.pop(name, None)
            self.released.clear()
        except BaseException:
            self.stopped = True
            for task in tasks:
                task.future.exception()  # wait: no task outlives the evaluation
            raise
