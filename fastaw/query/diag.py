"""Diagnostics: positions and the error texts of the query language.

Every error the query package raises is a `fastaw.errors.QueryError` whose message starts
with the aw-server-rust variant name and renders its payload the way Rust's ``Debug``
does, e.g. ``VariableNotDefined("x")`` or ``InvalidFunctionParameters("Expected 1
parameters in function, got 2")``, so the dashboard shows the familiar text.

Positions are 1-based; a column counts characters (code points) from the start of its line.
Every error with a position carries it as ``line``/``column`` fields and in the message:
a syntax error inside the payload (``ParsingError("… (at line 1, column 9)")``, where Rust
puts its span), a run-time error after Rust's text, naming the function when the error
comes out of a call: ``InvalidFunctionParameters("Expected 1 parameters in function, got
2") (in flood, at line 3, column 10)``. The Rust ``Variant("payload")`` prefix is always
kept intact. ``EmptyQuery`` has no position and is exactly ``EmptyQuery``.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from fastaw.errors import QueryError

# Unicode categories whose characters Rust's `char::escape_debug` writes as `\u{..}`.
_UNPRINTABLE: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_SIMPLE_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\0": "\\0",
}


def position(src: str, pos: int) -> tuple[int, int]:
    """(line, column) of the character offset ``pos`` in ``src``, both 1-based."""
    line = src.count("\n", 0, pos) + 1
    column = pos - (src.rfind("\n", 0, pos) + 1) + 1
    return line, column


def rust_str(text: str) -> str:
    """``text`` as Rust's ``{:?}`` writes a ``&str``: quoted, with Rust escapes."""
    out = ['"']
    for ch in text:
        esc = _SIMPLE_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch.isascii() and ch.isprintable():
            out.append(ch)
        elif unicodedata.category(ch) in _UNPRINTABLE:
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def error(variant: str, payload: str | None = None) -> QueryError:
    """A run-time error ``Variant("payload")`` (or bare ``Variant``) without a position."""
    if payload is None:
        return QueryError(variant)
    return QueryError(f"{variant}({rust_str(payload)})")


def syntax_error(src: str, pos: int, what: str) -> QueryError:
    """A ``ParsingError`` at character offset ``pos`` of ``src``."""
    line, column = position(src, pos)
    return QueryError(
        f"ParsingError({rust_str(f'{what} (at line {line}, column {column})')})",
        line=line,
        column=column,
    )


def at(err: QueryError, src: str, pos: int, function: str | None = None) -> QueryError:
    """``err`` located at offset ``pos`` (inside a call of ``function``), unless it
    already has a position."""
    if err.line is not None:
        return err
    line, column = position(src, pos)
    where = f"line {line}, column {column}"
    suffix = f" (in {function}, at {where})" if function else f" (at {where})"
    extra = {k: v for k, v in err.extra.items() if k not in ("line", "column")}
    located = QueryError(err.message + suffix, line=line, column=column, **extra)
    located.__cause__ = err.__cause__
    return located
