"""Request bodies to temporary files, and temporary files back out as response streams.

Imports can be gigabytes: the body (or each file of a ``multipart/form-data`` upload, the
dashboard's import button) is written to a temporary file in the data directory as it
arrives — never held in memory — and the importer reads it from there. A Parquet export is
written to a temporary file by Polars and then streamed; the file is removed when the
response ends, however it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any, Final

from python_multipart.multipart import MultipartParser, parse_options_header

from fastaw.api.http import Request
from fastaw.errors import BadRequest

MAX_IMPORT: Final = 64 << 30  # 64 GiB: bounded by the disk, not by memory
READ_CHUNK: Final = 1 << 20


class Upload:
    """One spooled file: the form field name (or ``body``), its path, a format hint."""

    def __init__(self, name: str, path: Path, hint: str | None) -> None:
        self.name = name
        self.path = path
        self.hint = hint


def _chunks(request: Request, limit: int) -> AsyncIterator[bytes]:
    return request.chunks(limit, disconnect=BadRequest(
        "The client disconnected before the upload finished"))


def _new_file(directory: Path) -> tuple[Path, IO[bytes]]:
    fd, name = tempfile.mkstemp(prefix=".upload-", dir=directory)
    return Path(name), os.fdopen(fd, "wb")


async def spool_request(request: Request, directory: Path,
                        limit: int = MAX_IMPORT) -> list[Upload]:
    """Write the body (or every uploaded file of a multipart body) to temporary files."""
    directory.mkdir(parents=True, exist_ok=True)
    if request.content_type == b"multipart/form-data":
        return await _spool_multipart(request, directory, limit)
    path, stream = _new_file(directory)
    try:
        with stream:
            async for chunk in _chunks(request, limit):
                stream.write(chunk)  # page-cache writes: microseconds per chunk
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return [Upload("body", path, request.content_type.decode("latin-1"))]


def _is_import_part(params: dict[bytes, bytes]) -> bool:
    """Every uploaded file, whatever its field name (aw-server), and a plain field named
    ``buckets``, ``buckets.…`` or ``buckets[…`` (aw-server-rust's form field)."""
    if b"filename" in params or b"filename*" in params:
        return True
    name = params.get(b"name", b"")
    return name == b"buckets" or name.startswith((b"buckets.", b"buckets["))


async def _spool_multipart(request: Request, directory: Path, limit: int) -> list[Upload]:
    _, options = parse_options_header(request.headers.get(b"content-type", b""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadRequest("multipart/form-data without a boundary")
    uploads: list[Upload] = []
    state: dict[str, Any] = {"headers": {}, "field": b"", "file": None, "path": None}

    def on_part_begin() -> None:
        state["headers"] = {}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        name = state["field"].lower()
        state["headers"][name] = state["headers"].get(name, b"") + data[start:end]

    def on_header_end() -> None:
        state["field"] = b""

    def on_headers_finished() -> None:
        _, params = parse_options_header(state["headers"].get(b"content-disposition", b""))
        if _is_import_part(params):  # other plain fields are ignored
            path, stream = _new_file(directory)
            name = params.get(b"name", b"").decode("utf-8", "replace")
            filename = params.get(b"filename", b"").decode("utf-8", "replace")
            uploads.append(Upload(name, path, filename or name))
            state["file"] = stream

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["file"] is not None:
            state["file"].write(data[start:end])

    def on_part_end() -> None:
        if state["file"] is not None:
            state["file"].close()
            state["file"] = None

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    })
    try:
        async for chunk in _chunks(request, limit):
            try:
                parser.write(chunk)
            except Exception as exc:
                raise BadRequest(f"Malformed multipart/form-data body: {exc}") from None
        try:
            parser.finalize()
        except Exception as exc:
            raise BadRequest(f"Malformed multipart/form-data body: {exc}") from None
    except BaseException:
        if state["file"] is not None:
            state["file"].close()
        remove(uploads)
        raise
    if state["file"] is not None:
        state["file"].close()
    if not uploads:
        raise BadRequest("The multipart upload contains no file (expected buckets.json)")
    return uploads


def remove(uploads: list[Upload]) -> None:
    for upload in uploads:
        with contextlib.suppress(OSError):
            upload.path.unlink()


class TempFileStream:
    """The bytes of a temporary file, read on a thread; the file is removed by `aclose`.

    A class, not an async generator: `aclose` must remove the file even when the stream was
    never iterated (a HEAD request, a client gone before the first chunk) — an unstarted
    generator's ``finally`` never runs.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def __aiter__(self) -> TempFileStream:
        return self

    async def __anext__(self) -> bytes:
        if self._file is None:
            self._file = open(self.path, "rb")  # noqa: SIM115 - closed by aclose
        block = await asyncio.to_thread(self._file.read, READ_CHUNK)
        if not block:
            await self.aclose()
            raise StopAsyncIteration
        return block

    async def aclose(self) -> None:
        if self._file is not None:
            self._file.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


def stream_file(path: Path) -> TempFileStream:
    """Stream a temporary file out; it is removed once the response is done, however."""
    return TempFileStream(path)
