"""Static files from a directory: the web dashboard, custom pages, Swagger UI's assets.

Invariants:
- a request can only ever read a regular file inside the served directory: path segments
  that are empty, ``.``/``..``, hidden (leading dot) or contain a separator or NUL are
  refused outright, and the resolved real path (symlinks followed) must still lie inside
  the directory's real path — so a symlink pointing out of it answers 404;
- every answer for a file carries ``ETag`` (size + mtime) and ``Last-Modified``;
  ``If-None-Match`` (which wins) / ``If-Modified-Since`` answer 304 without the body;
- files whose name carries a content hash (``app.3f2a1b9c.js``, ``index-BqX3v1aZ.js``)
  are cached for a year as immutable; everything else (``index.html``, the service worker,
  unhashed files that a new build may change in place) is ``no-cache``: the browser
  revalidates with the ETag and usually gets a cheap 304;
- small files are read on the event loop (one short read from the page cache); larger
  files are streamed in chunks read on a worker thread, so a big file never stalls the
  loop, and ``HEAD`` never reads the file at all.
"""

from __future__ import annotations

import asyncio
import email.utils
import mimetypes
import os
import re
import stat
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from fastaw.api.http import Request, Response

INLINE_MAX: Final = 64 * 1024  # read on the event loop up to this size
CHUNK: Final = 512 * 1024  # streamed chunk size for larger files
IMMUTABLE: Final = b"public, max-age=31536000, immutable"
NO_CACHE: Final = b"no-cache"

#: Explicit types for what a web build contains; the platform's table can be incomplete or
#: wrong (e.g. ``.js`` as ``application/x-javascript`` on old systems).
CONTENT_TYPES: Final[dict[str, str]] = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".eot": "application/vnd.ms-fontobject",
    ".wasm": "application/wasm",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
    ".pdf": "application/pdf",
}

# A content hash: 8+ characters of [A-Za-z0-9_-] after a '.' or '-' at the end of the stem,
# with a digit or both letter cases (so words like "-round-latin" are not hashes).
_HASH_TAIL: Final = re.compile(r"[.-]([A-Za-z0-9_-]{8,64})$")


def content_type(name: str) -> bytes:
    """The Content-Type for a file name (``application/octet-stream`` when unknown)."""
    suffix = os.path.splitext(name)[1].lower()
    known = CONTENT_TYPES.get(suffix)
    if known is None:
        guessed, _ = mimetypes.guess_type(name, strict=True)
        known = guessed or "application/octet-stream"
        if known.startswith("text/") and "charset" not in known:
            known += "; charset=utf-8"
    return known.encode()


def has_content_hash(name: str) -> bool:
    """Whether a file name carries a build's content hash (so its content never changes)."""
    stem = name[:-4] if name.endswith(".map") else name
    stem = os.path.splitext(stem)[0]
    match = _HASH_TAIL.search(stem)
    if match is None:
        return False
    token = match.group(1)
    if any(ch.isdigit() for ch in token):
        return True
    return any(ch.isupper() for ch in token) and any(ch.islower() for ch in token)


def cache_control(name: str) -> bytes:
    return IMMUTABLE if has_content_hash(name) else NO_CACHE


def _safe_segment(part: str) -> bool:
    return bool(part) and not part.startswith(".") and not any(c in part for c in "/\\\x00")


def _contained(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


@dataclass(frozen=True)
class StaticDir:
    """One served directory; ``root`` is resolved again on every lookup (it may be swapped)."""

    root: Path
    index: str = "index.html"

    def resolve(self, parts: Sequence[str]) -> Path | None:
        """The real path of the regular file the segments name, or None (→ 404)."""
        if not all(_safe_segment(part) for part in parts):
            return None
        try:
            root = self.root.resolve(strict=True)
            real = root.joinpath(*parts).resolve(strict=True)
            if not _contained(real, root):
                return None
            if real.is_dir():
                real = (real / self.index).resolve(strict=True)
                if not _contained(real, root):
                    return None
            return real if real.is_file() else None
        except (OSError, RuntimeError, ValueError):
            return None


def _etag(size: int, mtime_ns: int) -> bytes:
    return b'"%x-%x"' % (size, mtime_ns)


def _etag_matches(header: bytes, etag: bytes) -> bool:
    """Weak comparison (RFC 9110 §13.1.2) of an If-None-Match list against our ETag."""
    if header.strip() == b"*":
        return True
    for candidate in header.split(b","):
        candidate = candidate.strip()
        if candidate.startswith(b"W/"):
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


def not_modified(request: Request, etag: bytes, mtime: float) -> bool:
    """Whether the client's cached copy is current (If-None-Match takes precedence)."""
    if_none_match = request.headers.get(b"if-none-match")
    if if_none_match is not None:
        return _etag_matches(if_none_match, etag)
    if_modified_since = request.headers.get(b"if-modified-since")
    if if_modified_since is None:
        return False
    try:
        since = email.utils.parsedate_to_datetime(if_modified_since.decode("latin-1"))
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        return False
    return int(mtime) <= since.timestamp()


class _FileStream:
    """Streams at most ``size`` bytes of an open file, reading on a worker thread.

    Owns the descriptor: closed at the end, on error, or when dropped unread (a client
    that disconnects before the body starts)."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd: int | None = fd
        self._remaining = size

    def __aiter__(self) -> _FileStream:
        return self

    async def __anext__(self) -> bytes:
        fd = self._fd
        if fd is None:
            raise StopAsyncIteration
        try:
            chunk = (
                await asyncio.to_thread(os.read, fd, min(CHUNK, self._remaining))
                if self._remaining > 0 else b""
            )
        except BaseException:
            self.close()
            raise
        if not chunk:  # done, or the file shrank since it was opened
            self.close()
            raise StopAsyncIteration
        self._remaining -= len(chunk)
        return chunk

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        self.close()


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover — makes this an async generator


def _read_all(fd: int, size: int) -> bytes:
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = os.read(fd, remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def file_response(request: Request, path: Path, cache: bytes | None = None) -> Response | None:
    """The response for one regular file (None when it vanished or is not a regular file)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    streaming = False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        size = info.st_size
        etag = _etag(size, info.st_mtime_ns)
        headers = [
            (b"cache-control", cache if cache is not None else cache_control(path.name)),
            (b"etag", etag),
            (b"last-modified", email.utils.formatdate(info.st_mtime, usegmt=True).encode()),
            (b"x-content-type-options", b"nosniff"),
        ]
        kind = content_type(path.name)
        if not_modified(request, etag, info.st_mtime):
            return Response(status=304, body=b"", content_type=None, headers=headers)
        if request.method == "HEAD":
            headers.append((b"content-length", str(size).encode()))
            return Response(content_type=kind, headers=headers, stream=_nothing())
        if size <= INLINE_MAX:
            return Response(body=_read_all(fd, size), content_type=kind, headers=headers)
        headers.append((b"content-length", str(size).encode()))
        streaming = True
        return Response(content_type=kind, headers=headers, stream=_FileStream(fd, size))
    finally:
        if not streaming:
            os.close(fd)
