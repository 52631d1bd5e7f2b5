"""Which variables a program no longer needs after each of its statements.

A query binds every intermediate event list to a name, and the dashboard's queries read
most of them once or twice: the window events before the AFK filter, each browser's
events before they are concatenated, the not-AFK periods once intersected. Kept until the
end of the evaluation, those frames are a large part of what a query holds (a year's
Activity query: the flooded window events alone are ≈ 26 MiB, and three versions of them
are bound in turn). The interpreter therefore lets go of a variable after the last
statement that reads it.

For each top-level statement, `released_after` lists the variables that no later statement
reads, at any depth (inside an ``if``, a condition, an argument), among those the statement
itself reads or assigns (so each is named once, where it dies). Names that no statement
assigns (the built-ins), ``RETURN`` and ``TIMEINTERVAL`` (which ``query_bucket`` reads
without naming it) are never released. Releasing only drops a binding: a value another
name (or ``RETURN``) holds lives on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from fastaw.query import ast

#: Names no statement may release: the answer, and what built-ins read without naming it
#: (``query_bucket`` reads ``TIMEINTERVAL``).
KEPT: Final = frozenset({"RETURN", "TIMEINTERVAL"})


def names_read(expr: ast.Expr) -> Iterator[str]:
    """Every name ``expr`` looks up: variables and called functions."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Name | ast.Call):
            yield node.name


def statement_reads(stmt: ast.Stmt) -> set[str]:
    """The names ``stmt`` may look up, in its expressions and nested blocks."""
    if isinstance(stmt, ast.Assign | ast.ExprStmt):
        return set(names_read(stmt.value))
    if isinstance(stmt, ast.Return):
        return set(names_read(stmt.body.value))
    reads: set[str] = set()
    for branch in stmt.branches:
        reads.update(names_read(branch.condition))
        for inner in branch.body:
            reads |= statement_reads(inner)
    for inner in stmt.orelse or ():
        reads |= statement_reads(inner)
    return reads


def statement_writes(stmt: ast.Stmt) -> set[str]:
    """The names ``stmt`` may assign, in it and its nested blocks."""
    if isinstance(stmt, ast.Assign):
        return {stmt.name}
    if isinstance(stmt, ast.Return):
        return {"RETURN"} | ({stmt.body.name} if isinstance(stmt.body, ast.Assign) else set())
    if isinstance(stmt, ast.ExprStmt):
        return set()
    writes: set[str] = set()
    for block in (*(branch.body for branch in stmt.branches), stmt.orelse or ()):
        for inner in block:
            writes |= statement_writes(inner)
    return writes


def released_after(body: tuple[ast.Stmt, ...]) -> tuple[frozenset[str], ...]:
    """Per statement of ``body``: the variables to drop once it has run (see the module)."""
    variables: set[str] = set()
    for stmt in body:
        variables |= statement_writes(stmt)
    variables -= KEPT
    read_later: set[str] = set()
    released: list[frozenset[str]] = []
    for stmt in reversed(body):
        reads = statement_reads(stmt)
        touched = (reads | statement_writes(stmt)) & variables
        released.append(frozenset(touched - read_later))
        read_later |= reads
    return tuple(reversed(released))
