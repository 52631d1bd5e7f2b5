"""The query2 language: lexer, parser, interpreter and built-ins (no I/O; events come in
through an injected `EventSource`)."""

from fastaw.query.interp import (
    Program,
    compile_query,
    parse_timeperiod,
    run_query,
    statement_threads,
)
from fastaw.query.source import EventSource, MemorySource

__all__ = [
    "EventSource",
    "MemorySource",
    "Program",
    "compile_query",
    "parse_timeperiod",
    "run_query",
    "statement_threads",
]
