"""Minimal HTTP plumbing over ASGI: requests, responses, query strings, body reading."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, quote, unquote_to_bytes

from fastaw.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_TYPE: Final = b"application/json"
MAX_BODY: Final = 1 << 30  # 1 GiB, like aw-server-rust's Rocket limit (1000 MiB)


@dataclass
class Request:
    """What a handler needs to know about a request."""

    method: str
    segments: list[str]
    query: dict[str, str]
    headers: dict[bytes, bytes]
    receive: Receive
    params: dict[str, str] = field(default_factory=dict)
    _body: bytes | None = None

    @property
    def content_type(self) -> bytes:
        return self.headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()

    async def chunks(self, limit: int = MAX_BODY, *,
                     disconnect: Exception | None = None) -> AsyncIterator[bytes]:
        """The body as it arrives; 413 past ``limit``. A client that disconnects ends
        the stream, or raises ``disconnect`` when given."""
        size = 0
        declared = self.headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes")
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                if disconnect is not None:
                    raise disconnect
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"The request body is larger than {limit} bytes")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return

    async def body(self, limit: int = MAX_BODY) -> bytes:
        if self._body is None:
            self._body = b"".join([chunk async for chunk in self.chunks(limit)])
        return self._body

    async def json_body(self) -> bytes:
        """The body of a JSON request; 415 unless the Content-Type is application/json."""
        if self.content_type != JSON_TYPE:
            got = self.headers.get(b"content-type", b"").decode("latin-1") or "none"
            raise UnsupportedMediaType(
                f"Expected Content-Type: application/json, got {got}"
            )
        body = await self.body()
        if not body.strip():
            raise BadRequest("The request body is empty; expected JSON")
        return body

    def param(self, name: str) -> str | None:
        return self.query.get(name)


@dataclass
class Response:
    """A complete response, or a streamed one when ``stream`` is set."""

    status: int = 200
    body: bytes = b""
    content_type: bytes | None = JSON_TYPE
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    stream: AsyncIterator[bytes] | None = None


class ThreadStream:
    """A body made on a worker thread by ``produce(emit)``, sent piece by piece.

    The thread runs at its own pace and never waits for the client (a read transaction it
    holds stays short); each emitted piece is sent while it makes the next. An exception
    of ``produce`` is raised where the next piece is awaited.
    """

    def __init__(self, produce: Callable[[Callable[[bytes], None]], None]) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()

        def put(item: bytes | BaseException | None) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def run() -> None:
            try:
                produce(put)
            except BaseException as exc:  # raised in the request
                put(exc)
            else:
                put(None)

        self._queue = queue
        self._thread = loop.run_in_executor(None, run)
        self.pending: list[bytes] = []  # pieces taken by `piece`, to be sent first

    async def piece(self) -> bytes | None:
        """The next piece; None after the last."""
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def __aiter__(self) -> ThreadStream:
        return self

    async def __anext__(self) -> bytes:
        if self.pending:
            return self.pending.pop(0)
        item = await self.piece()
        if item is None:
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        """Wait for the thread to finish (it does by itself; the rest is dropped)."""
        self.pending.clear()
        await self._thread


def json_response(body: bytes, status: int = 200) -> Response:
    return Response(status=status, body=body)


def empty_response(status: int = 200) -> Response:
    return Response(status=status, body=b"", content_type=None)


_TOKEN_CHARS: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&+-.^_`|~")


def attachment(filename: str) -> bytes:
    """A ``Content-Disposition: attachment`` value that is always a valid header.

    A plain name goes out as is (``filename=aw-bucket-export_x.json``, like aw-server-rust);
    a name with other characters (a bucket id may hold anything, even CR/LF) gets an ASCII
    fallback plus the exact name in RFC 6266's ``filename*``.
    """
    if all(c in _TOKEN_CHARS for c in filename):
        return f"attachment; filename={filename}".encode()
    fallback = "".join(c if c in _TOKEN_CHARS else "_" for c in filename)
    return f"attachment; filename={fallback}; filename*=UTF-8''{quote(filename, safe='')}".encode()


def split_path(raw_path: bytes) -> list[str]:
    """Non-empty, percent-decoded path segments (doubled and trailing slashes vanish).

    Segments are UTF-8, whether percent-encoded or sent raw (as curl does).
    """
    if b"%" not in raw_path:  # nothing to unquote: one decode for the whole path
        return [part for part in raw_path.decode("utf-8", "replace").split("/") if part]
    return [unquote_to_bytes(part).decode("utf-8", "replace")
            for part in raw_path.split(b"/") if part]


def parse_query(query_string: bytes) -> dict[str, str]:
    if not query_string:
        return {}
    if b"%" not in query_string and b"+" not in query_string:
        # what parse_qsl(keep_blank_values=True) gives when nothing needs unquoting
        query: dict[str, str] = {}
        for part in query_string.decode("utf-8", "replace").split("&"):
            if part:
                name, _, value = part.partition("=")
                query[name] = value
        return query
    try:
        return dict(parse_qsl(query_string.decode("utf-8", "replace"), keep_blank_values=True))
    except ValueError as exc:
        raise BadRequest(f"Malformed query string: {exc}") from None


async def send_response(send: Send, response: Response, *, head_only: bool = False,
                        extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = list(response.headers)
    if response.content_type is not None and response.status != 304:
        headers.append((b"content-type", response.content_type))
    if extra_headers:
        headers.extend(extra_headers)
    if response.stream is None:
        if response.status != 304:
            headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        body = b"" if head_only or response.status == 304 else response.body
        await send({"type": "http.response.body", "body": body})
        return
    try:
        await send({"type": "http.response.start", "status": response.status,
                    "headers": headers})
        if not head_only:
            async for chunk in response.stream:
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        # Release what the stream holds (temporary files, read snapshots) even when it was
        # not consumed: HEAD, or a client that went away.
        close = getattr(response.stream, "aclose", None)
        if close is not None:
            await close()
