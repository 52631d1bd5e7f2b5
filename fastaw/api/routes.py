"""The route table: (method, path pattern) → handler, for /api/0/… as in ActivityWatch.

Paths are matched on non-empty, percent-decoded segments, so every route works with and
without a trailing slash and with doubled slashes (aw-server-rust), never redirecting.
A ``{name}`` segment captures one segment into ``request.params``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from fastaw.api import handlers
from fastaw.api.http import Request, Response

if TYPE_CHECKING:
    from fastaw.api.app import Server

Handler = Callable[["Server", Request], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: tuple[str, ...]
    handler: Handler
    summary: str
    tag: str
    body: Any = None  # msgspec type of the JSON body, for the OpenAPI document
    query: tuple[tuple[str, str, bool], ...] = ()  # (name, description, required)
    responses: dict[int, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return "/" + "/".join(self.pattern)


B = ("api", "0", "buckets", "{bucket_id}")
RANGE = (
    ("start", "Only events ending at or after this instant (ISO 8601).", False),
    ("end", "Only events starting at or before this instant (ISO 8601).", False),
)


def _routes() -> list[Route]:
    from fastaw.api.querying import QueryRequest
    from fastaw.models import BucketIn, EventIn, ImportEnvelope

    h = handlers
    return [
        Route("GET", ("api", "0", "info"), h.info, "Server information", "server"),
        Route("GET", ("api", "0", "buckets"), h.list_buckets, "All buckets by id", "buckets"),
        Route("GET", B, h.get_bucket, "One bucket", "buckets", responses={404: "No such bucket"}),
        Route("POST", B, h.create_bucket, "Create a bucket (304 if it exists)", "buckets",
              body=BucketIn, responses={304: "The bucket already exists"}),
        Route("DELETE", B, h.delete_bucket, "Delete a bucket and its events", "buckets",
              query=(("force", "`1` to confirm (needed only with require_force_delete)", False),)),
        Route("GET", (*B, "events"), h.get_events, "Events, newest first, clipped to the range",
              "events", query=(*RANGE, ("limit", "At most this many (-1 = all)", False))),
        Route("POST", (*B, "events"), h.insert_events,
              "Insert events (an event with an id replaces that event)", "events",
              body=EventIn | list[EventIn]),
        Route("GET", (*B, "events", "count"), h.count_events, "Number of events", "events",
              query=RANGE),
        Route("GET", (*B, "events", "{event_id}"), h.get_event, "One event", "events",
              responses={404: "No such event"}),
        Route("DELETE", (*B, "events", "{event_id}"), h.delete_event, "Delete one event",
              "events"),
        Route("POST", (*B, "heartbeat"), h.heartbeat,
              "Heartbeat: merge into the last event or insert", "events", body=EventIn,
              query=(("pulsetime", "Seconds within which an equal heartbeat merges", True),)),
        Route("GET", (*B, "export"), h.export_bucket, "Export one bucket", "export"),
        Route("GET", ("api", "0", "export"), h.export_all, "Export every bucket", "export"),
        Route("POST", ("api", "0", "import"), h.import_buckets,
              "Import an export (JSON body or multipart file)", "export", body=ImportEnvelope),
        Route("POST", ("api", "0", "query"), h.query, "Run a query", "query",
              body=QueryRequest,
              query=(("name", "A name for the query (available to it as NAME)", False),)),
        Route("GET", ("api", "0", "settings"), h.get_settings, "All settings", "settings"),
        Route("GET", ("api", "0", "settings", "{key}"), h.get_setting,
              "One setting (null when unset)", "settings"),
        Route("POST", ("api", "0", "settings", "{key}"), h.set_setting, "Set a setting",
              "settings", body=Any),
        Route("DELETE", ("api", "0", "settings", "{key}"), h.delete_setting,
              "Delete a setting", "settings"),
    ]


ROUTES: list[Route] = _routes()


_BY_LENGTH: dict[int, list[Route]] = {}
for _route in ROUTES:
    _BY_LENGTH.setdefault(len(_route.pattern), []).append(_route)
_MATCH_CACHE: dict[tuple[str, ...], dict[str, tuple[Route, dict[str, str]]]] = {}
_MATCH_CACHE_SIZE: Final = 4096


def match(segments: list[str]) -> dict[str, tuple[Route, dict[str, str]]]:
    """Per method, the first route whose pattern matches the segments and its params."""
    key = tuple(segments)
    cached = _MATCH_CACHE.get(key)
    if cached is not None:
        return cached
    found: dict[str, tuple[Route, dict[str, str]]] = {}
    for route in _BY_LENGTH.get(len(segments), ()):
        if route.method in found:
            continue
        captured: dict[str, str] = {}
        for want, got in zip(route.pattern, segments, strict=True):
            if want.startswith("{"):
                captured[want[1:-1]] = got
            elif want != got:
                break
        else:
            found[route.method] = (route, captured)
    if len(_MATCH_CACHE) >= _MATCH_CACHE_SIZE:
        _MATCH_CACHE.clear()
    _MATCH_CACHE[key] = found
    return found
