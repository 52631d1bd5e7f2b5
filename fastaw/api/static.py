"""Everything outside the API router: the web dashboard, custom pages, the API docs.

- ``/api``, ``/api/``, ``/api/0/openapi.json``, ``/api/swagger.json`` → `docs`;
- ``/swaggerui/<file>`` → Swagger UI's files from the swagger-ui-bundle package;
- ``/pages/`` → the names of the custom static directories (JSON list, like aw-server);
  ``/pages/<name>/<path>`` → a file of the ``custom_static`` directory ``name``
  (a directory answers its ``index.html``), as aw-server-rust mounts them;
- anything else → a file of the ``webui`` directory (``/`` is its ``index.html``).
  aw-webui routes with the URL fragment (``/#/activity/…``), so no path other than ``/``
  needs ``index.html`` and unknown files are a plain 404.
- without a ``webui`` directory, ``/`` is a short help page.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from fastaw.api import docs
from fastaw.api.http import Request, Response
from fastaw.api.webui import StaticDir, file_response
from fastaw.errors import NotFound

if TYPE_CHECKING:
    from fastaw.api.app import Server

HELP_PAGE = b"""<!doctype html><html><head><meta charset="utf-8"><title>fastaw</title></head>
<body><h1>fastaw is running</h1>
<p>The ActivityWatch API is at <a href="/api/0/info">/api/0/info</a>;
interactive API documentation is at <a href="/api/">/api/</a>.</p>
<p>No web dashboard is configured. Point fastaw at a build of
<a href="https://github.com/ActivityWatch/aw-webui">aw-webui</a> with
<code>fastaw serve --webui /path/to/aw-webui/dist</code> (or <code>webui = "..."</code>
in the config file).</p></body></html>"""


def _not_found(request: Request) -> NotFound:
    return NotFound(f"There is nothing at /{'/'.join(request.segments)}")


async def serve(server: Server, request: Request) -> Response:
    segments = request.segments
    if docs.is_docs_path(segments):
        return await docs.serve(server, request)
    if request.method not in ("GET", "HEAD"):
        raise _not_found(request)
    if segments and segments[0] == docs.ASSETS_PREFIX:
        return await docs.serve_asset(request, segments[1:])
    if segments and segments[0] == "pages":
        return _serve_page(server, request)
    if segments and segments[0] == "api":
        raise _not_found(request)
    webui = server.config.webui
    if webui is not None and segments in ([], ["index.html"]):
        # the web UI is loading: its first query follows once its scripts run
        server.anticipate_query()
    if webui is None:
        if not segments:
            return Response(body=HELP_PAGE, content_type=b"text/html; charset=utf-8",
                            headers=[(b"cache-control", b"no-cache")])
        raise _not_found(request)
    return _serve_file(request, Path(webui), segments)


def _serve_file(request: Request, root: Path, parts: list[str]) -> Response:
    path = StaticDir(root).resolve(parts)
    response = file_response(request, path) if path is not None else None
    if response is None:
        raise _not_found(request)
    return response


def _serve_page(server: Server, request: Request) -> Response:
    pages = server.config.custom_static
    segments = request.segments
    if len(segments) == 1:
        return Response(body=msgspec.json.encode(sorted(pages)),
                        headers=[(b"cache-control", b"no-cache")])
    name = segments[1]
    directory = pages.get(name)
    if directory is None:
        configured = ", ".join(sorted(pages)) or "none"
        raise NotFound(f"There is no custom static directory named {name!r}"
                       f" (configured: {configured})")
    return _serve_file(request, Path(directory), segments[2:])
