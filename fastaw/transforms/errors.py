"""Errors a transform raises on client input (bad rules, bad regexes).

Both carry ``kind``, the aw-server-rust ``QueryError`` variant name, so the query layer can
render upstream's message shape ``Kind("message")`` without knowing transform details.
"""

from __future__ import annotations

from typing import ClassVar

from fastaw.errors import QueryError


class TransformError(QueryError):
    """A transform refused its arguments."""

    kind: ClassVar[str] = "InvalidFunctionParameters"


class InvalidParameters(TransformError):
    """An argument has the wrong shape (aw-server-rust ``InvalidFunctionParameters``)."""

    kind = "InvalidFunctionParameters"


class RegexCompileError(TransformError):
    """A pattern that neither regex engine accepts (aw-server-rust ``RegexCompileError``)."""

    kind = "RegexCompileError"

    def __init__(self, pattern: str, detail: str) -> None:
        super().__init__(f"Failed to compile regex string '{pattern}': {detail}")
        self.pattern = pattern
        self.detail = detail
