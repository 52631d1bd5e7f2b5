"""The query2 syntax tree: frozen msgspec Structs, each carrying its character offset.

Invariants:
* nodes are immutable and shared by every evaluation of a compiled program;
* ``pos`` is the offset in the joined source of the token that starts the node (for a
  `Call`, its name; for an `Operation`, its operator), used for error positions;
* all binary operators share one precedence level and associate left, so an operator
  sequence is one flat `Chain` evaluated left to right (no deep trees to recurse into);
* a `Dict` has unique keys (a repeated key keeps its last value, as Rust's HashMap does;
  the replaced value expression is never evaluated).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeAlias

import msgspec


class Number(msgspec.Struct, frozen=True):
    value: float
    pos: int


class String(msgspec.Struct, frozen=True):
    value: str
    pos: int


class Bool(msgspec.Struct, frozen=True):
    value: bool
    pos: int


class Name(msgspec.Struct, frozen=True):
    """A variable reference (built-in functions are variables too)."""

    name: str
    pos: int


class List(msgspec.Struct, frozen=True):
    items: tuple[Expr, ...]
    pos: int


class Dict(msgspec.Struct, frozen=True):
    keys: tuple[str, ...]
    values: tuple[Expr, ...]
    pos: int


class Call(msgspec.Struct, frozen=True):
    """``name(args)``: the arguments are evaluated before ``name`` is looked up."""

    name: str
    args: tuple[Expr, ...]
    pos: int


class Operation(msgspec.Struct, frozen=True):
    """One ``<op> operand`` step of a `Chain`; ``op`` is one of ``+ - * / % ==``."""

    op: str
    operand: Expr
    pos: int


class Chain(msgspec.Struct, frozen=True):
    """``first op1 x1 op2 x2 …`` = ``((first op1 x1) op2 x2) …``."""

    first: Expr
    rest: tuple[Operation, ...]
    pos: int


Expr: TypeAlias = Number | String | Bool | Name | List | Dict | Call | Chain


class Assign(msgspec.Struct, frozen=True):
    name: str
    value: Expr
    pos: int


class ExprStmt(msgspec.Struct, frozen=True):
    """An expression evaluated for its errors and discarded."""

    value: Expr
    pos: int


class Return(msgspec.Struct, frozen=True):
    """``return x;`` stores x in ``RETURN`` and goes on; ``return a = x;`` stores None."""

    body: Assign | ExprStmt
    pos: int


class Branch(msgspec.Struct, frozen=True):
    condition: Expr
    body: tuple[Stmt, ...]
    pos: int


class If(msgspec.Struct, frozen=True):
    """``if c {…} elif c {…} else {…}``; ``orelse`` is None without an ``else``."""

    branches: tuple[Branch, ...]
    orelse: tuple[Stmt, ...] | None
    pos: int


Stmt: TypeAlias = Assign | ExprStmt | Return | If


def walk(expr: Expr) -> Iterator[Expr]:
    """``expr`` and every expression inside it, depth first, left to right."""
    yield expr
    if isinstance(expr, Call):
        inner: tuple[Expr, ...] = expr.args
    elif isinstance(expr, Chain):
        inner = (expr.first, *(step.operand for step in expr.rest))
    elif isinstance(expr, List):
        inner = expr.items
    elif isinstance(expr, Dict):
        inner = expr.values
    else:
        return
    for item in inner:
        yield from walk(item)


class Module(msgspec.Struct, frozen=True):
    """A whole program: its statements in order."""

    body: tuple[Stmt, ...]
