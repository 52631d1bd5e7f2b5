"""The ASGI application: lifespan, the request pipeline and THE error → response mapping.

Pipeline per request: Host check → CORS origin check → API key → OPTIONS preflight →
route → handler → CORS headers (aw-server-rust's outcomes: a bad Host is a 400 even when
the Origin is refused too). Every failure becomes a JSON
``{"message": ...}`` response here and nowhere else; an unexpected exception is logged and
answered 500 without a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import msgspec

from fastaw.api import docs, routes, static
from fastaw.api.http import (
    Receive,
    Request,
    Response,
    Scope,
    Send,
    empty_response,
    parse_query,
    send_response,
    split_path,
)
from fastaw.api.security import ALLOWED_METHODS, Gates
from fastaw.config import ENV_VAR, Config, aw_server_rust_device_id_file, from_env, load
from fastaw.errors import FastawError, Forbidden, MethodNotAllowed, NotFound
from fastaw.storage import Env, Reader, Writer

log = logging.getLogger("fastaw")
_error_encoder: Final = msgspec.json.Encoder()
#: How long a thread may hold the GIL while another waits (Python's default: 5 ms). The
#: writer thread and the event loop wait on it whenever a thread runs Python for long (a
#: large insert validated on a thread, an export, an import): 1 ms instead of 5 took
#: in-process heartbeats from ~1.1k/s (p99 ~85 ms) to ~2.7-4.5k/s (p99 16-25 ms) next to
#: such a thread, and changed nothing measurable without one.
SWITCH_INTERVAL: Final = 0.001



def error_response(exc: BaseException) -> Response:
    """The one mapping from an exception to an HTTP response."""
    if isinstance(exc, FastawError):
        if exc.status == 304:
            return Response(status=304, body=b"", content_type=None)
        return Response(status=exc.status, body=_error_encoder.encode(exc.body()))
    log.error("unhandled error", exc_info=exc)
    body = {"message": f"Internal server error ({type(exc).__name__}); see the server log"}
    return Response(status=500, body=_error_encoder.encode(body))


def load_device_id(data_dir: Path) -> str:
    """aw-server-rust's device id when it exists (stable ``!local`` buckets), else our own."""
    for path in (aw_server_rust_device_id_file(), data_dir / "device_id"):
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if text:
            return text
    device_id = str(uuid.uuid4())
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "device_id").write_text(device_id, encoding="utf-8")
    return device_id


class Server:
    """The state of a running server: store, writer, gates, query pool."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.data_dir = Path(config.data_dir)
        self.env = Env(self.data_dir, map_size=config.map_size, durable=config.durable)
        self.reader = Reader(self.env)
        self.writer = Writer(self.env)
        self.gates = Gates(config)
        self.device_id = load_device_id(self.data_dir)
        self.pool: Any = None
        # Large inserts are validated here, one at a time (first come, first served: several
        # sharing the GIL would all finish late), never on the event loop.
        self.validator = ThreadPoolExecutor(1, thread_name_prefix="fastaw-validate")
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.writer.start()

    async def run_query(self, body: bytes, name: str | None) -> bytes:
        from fastaw.api.querying import run_query

        return await run_query(self, body, name)

    def anticipate_query(self) -> None:
        """A query is likely to come: start the query worker it will go to."""
        from fastaw.api.querying import anticipate_query

        anticipate_query(self)

    def close(self) -> None:
        self.validator.shutdown()
        self.writer.stop()
        if self.pool is not None:
            self.pool.close()
        self.env.close()


class App:
    """The ASGI callable (Granian's factory target is `fastaw.api.create_app`)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.server: Server | None = None

    def startup(self) -> Server:
        if self.server is None:
            self.server = Server(self.config)
        return self.server

    def shutdown(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = self.server or self.startup()
        headers = {bytes(name).lower(): bytes(value) for name, value in scope["headers"]}
        method: str = scope["method"]
        raw_path = scope.get("raw_path") or scope["path"].encode()
        cors_headers: list[tuple[bytes, bytes]] = []
        head_only = method == "HEAD"
        try:
            segments = split_path(raw_path.split(b"?", 1)[0])
            # The Host check first: a refused Host answers 400 even for a refused Origin
            # (aw-server-rust's outcome), and never with CORS headers.
            server.gates.check_host_header(headers.get(b"host"))
            origin = server.gates.check_origin(headers.get(b"origin"))
            if origin is not None:
                cors_headers.append((b"access-control-allow-origin", origin.encode()))
                cors_headers.append((b"vary", b"Origin"))
            server.gates.check_api_key(method, segments, headers.get(b"authorization"))
            if method == "OPTIONS":
                response = self._preflight(headers, origin is not None)
            else:
                request = Request(method, segments, parse_query(scope.get("query_string", b"")),
                                  headers, receive)
                response = await self._dispatch(server, request)
        except Exception as exc:
            response = error_response(exc)
        await send_response(send, response, head_only=head_only, extra_headers=cors_headers)

    def _preflight(self, headers: dict[bytes, bytes], cors: bool) -> Response:
        response = empty_response(200)
        if cors:
            requested = headers.get(b"access-control-request-method", b"").upper()
            if requested and requested not in (b"GET", b"POST", b"DELETE", b"HEAD"):
                raise Forbidden(f"Method {requested.decode('latin-1')} is not allowed by CORS")
            response.headers.append((b"access-control-allow-methods", ALLOWED_METHODS))
            asked = headers.get(b"access-control-request-headers")
            if asked:
                response.headers.append((b"access-control-allow-headers", asked))
        return response

    async def _dispatch(self, server: Server, request: Request) -> Response:
        segments = request.segments
        if segments[:2] == ["api", "0"] and not docs.is_docs_path(segments):
            matches = routes.match(segments)
            method = "GET" if request.method == "HEAD" else request.method
            if not matches:
                raise NotFound(f"There is no API endpoint at /{'/'.join(segments)}")
            if method not in matches:
                allowed = ", ".join(sorted(matches))
                raise MethodNotAllowed(
                    f"Method {request.method} is not allowed on /{'/'.join(segments)}"
                    f" (allowed: {allowed})"
                )
            route, params = matches[method]
            request.params = params
            return await route.handler(server, request)
        return await static.serve(server, request)


def create_app(config: Config | None = None) -> App:
    """Build the ASGI app; without a Config, read the one `fastaw serve` put in the env."""
    if config is None:
        text = os.environ.get(ENV_VAR)
        config = from_env(text) if text else load({})
    return App(config)
