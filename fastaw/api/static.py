"""Everything outside /api/0/: the web dashboard's files, the API docs, a help page."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastaw.errors import NotFound

from fastaw.api.http import Request, Response

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


async def serve(server: Server, request: Request) -> Response:
    if request.method not in ("GET", "HEAD"):
        raise NotFound(f"There is nothing at /{'/'.join(request.segments)}")
    if not request.segments:
        return Response(body=HELP_PAGE, content_type=b"text/html; charset=utf-8")
    raise NotFound(f"There is nothing at /{'/'.join(request.segments)}")
