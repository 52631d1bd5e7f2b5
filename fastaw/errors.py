"""The one error hierarchy of fastaw.

Domain code raises these; `fastaw.api` alone turns them into HTTP responses
(status from the class, body ``{"message": ...}`` plus ``extra`` fields).
Programming mistakes stay ``TypeError``/``ValueError`` and become a 500.
"""

from __future__ import annotations

from typing import Any, ClassVar


class FastawError(Exception):
    """Base class: a client-visible error with an HTTP status."""

    status: ClassVar[int] = 500

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"message": self.message, **self.extra}


class BadRequest(FastawError):
    """The request is malformed: bad JSON, a missing or mistyped field, a bad parameter."""

    status = 400


class Unauthorized(FastawError):
    status = 401


class Forbidden(FastawError):
    status = 403


class NotFound(FastawError):
    status = 404


class MethodNotAllowed(FastawError):
    status = 405


class PayloadTooLarge(FastawError):
    status = 413


class UnsupportedMediaType(FastawError):
    status = 415


class AlreadyExists(FastawError):
    """ActivityWatch answers 304 Not Modified (empty body) when a bucket already exists."""

    status = 304


class QueryError(FastawError):
    """A query that cannot be parsed or evaluated; carries a position when there is one."""

    status = 400

    def __init__(
        self, message: str, *, line: int | None = None, column: int | None = None, **extra: Any
    ) -> None:
        if line is not None:
            extra["line"] = line
            extra["column"] = column
        super().__init__(message, **extra)
        self.line = line
        self.column = column


class QueryTimeout(FastawError):
    """A query ran past its time limit and was stopped."""

    status = 503


class ServiceUnavailable(FastawError):
    status = 503


class ForwardedError(FastawError):
    """An error raised in another process (a query worker), re-raised with its status."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        message = str(body.get("message", ""))
        super().__init__(message, **{k: v for k, v in body.items() if k != "message"})
        self.status = status  # type: ignore[misc]


class StorageError(FastawError):
    """The store cannot be opened or is inconsistent (schema mismatch, corruption)."""

    status = 500
