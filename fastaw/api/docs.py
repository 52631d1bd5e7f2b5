"""API documentation: the OpenAPI document and the Swagger UI page that browses it.

The document is generated from the route table (`routes.ROUTES`: paths, methods,
summaries, tags, body types, query parameters, extra responses) and the msgspec Structs
(`msgspec.json.schema_components`), once per process, and served at

- ``/api/0/openapi.json`` — OpenAPI 3.1 (``?openapi=3.0`` gives the same API as 3.0.3
  for tools that only read 3.0, such as the bundled Swagger UI 4);
- ``/api/swagger.json`` — the same document, at aw-server (Python)'s path.

``/api`` and ``/api/`` show Swagger UI, whose files come from the installed
``swagger-ui-bundle`` package and are served locally at ``/swaggerui/…`` (no CDN).
These paths hold no user data and are exempt from the API key (see `security`).
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec

from fastaw import __version__
from fastaw.api import handlers, routes
from fastaw.api.http import Request, Response
from fastaw.api.security import DOCS_PATHS  # exempt from the API key, never routed as API
from fastaw.api.webui import StaticDir, file_response
from fastaw.errors import BadRequest, MethodNotAllowed, NotFound
from fastaw.models import Info

if TYPE_CHECKING:
    from fastaw.api.app import Server

OPENAPI_PATH: Final = ("api", "0", "openapi.json")
SWAGGER_JSON_PATH: Final = ("api", "swagger.json")
ASSETS_PREFIX: Final = "swaggerui"
REF: Final = "#/components/schemas/{name}"

TAGS: Final = {
    "server": "Server identity and version",
    "buckets": "Buckets: one per watcher and host",
    "events": "Events in a bucket, and heartbeats",
    "query": "The ActivityWatch query language",
    "export": "Export and import (the dashboard's backup format)",
    "settings": "Dashboard settings (a JSON key-value store)",
    "docs": "This documentation",
}


# -- response shapes (documentation only; handlers render these as bytes) ----------------

class EventOut(msgspec.Struct):
    """An event as the server returns it."""

    id: int
    timestamp: datetime
    duration: float
    data: dict[str, Any]


class BucketMetadata(msgspec.Struct):
    start: datetime | None
    end: datetime | None


class BucketOut(msgspec.Struct):
    """A bucket as the server returns it (``events`` only in exports)."""

    id: str
    type: str
    client: str
    hostname: str
    created: datetime
    data: dict[str, Any]
    metadata: BucketMetadata
    last_updated: datetime | None
    events: list[EventOut] | None = None
    name: str | None = None


class ExportOut(msgspec.Struct):
    buckets: dict[str, BucketOut]


class ImportSummary(msgspec.Struct):
    buckets_created: int
    buckets_merged: int
    events_imported: int
    events_skipped: int


class DeleteEventResult(msgspec.Struct):
    success: int


_NOTHING: Final = object()  # a success without a body
_ERROR_CONTENT: Final = {"application/json": {"schema": {"$ref": REF.format(name="Error")}}}

#: handler → (status, description, body type or _NOTHING)
SUCCESS: Final[dict[Any, tuple[int, str, Any]]] = {
    handlers.info: (200, "Server information", Info),
    handlers.list_buckets: (200, "Every bucket, by id", dict[str, BucketOut]),
    handlers.get_bucket: (200, "The bucket", BucketOut),
    handlers.create_bucket: (200, "Created (empty body)", _NOTHING),
    handlers.delete_bucket: (200, "Deleted (empty body)", _NOTHING),
    handlers.get_events: (200, "Events, newest first", list[EventOut]),
    handlers.insert_events: (200, "The inserted events with their ids", list[EventOut]),
    handlers.count_events: (200, "The number of events", int),
    handlers.get_event: (200, "The event", EventOut),
    handlers.delete_event: (200, "`success` is 1 when an event was deleted",
                            DeleteEventResult),
    handlers.heartbeat: (200, "The merged or inserted event", EventOut),
    handlers.export_bucket: (200, "Export envelope (a download)", ExportOut),
    handlers.export_all: (200, "Export envelope (a download)", ExportOut),
    handlers.import_buckets: (200, "What was imported", ImportSummary),
    handlers.query: (200, "One result per timeperiod, in order", list[Any]),
    handlers.get_settings: (200, "Every setting, by key", dict[str, Any]),
    handlers.get_setting: (200, "The value (null when unset)", Any),
    handlers.set_setting: (201, "Stored (empty body)", _NOTHING),
    handlers.delete_setting: (200, "Deleted (empty body)", _NOTHING),
}

PATH_PARAMS: Final[dict[str, tuple[dict[str, Any], str]]] = {
    "bucket_id": ({"type": "string"}, "The bucket id"),
    "event_id": ({"type": "integer", "minimum": 0}, "The event id"),
    "key": ({"type": "string", "maxLength": 127}, "The setting key"),
}

QUERY_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "start": {"type": "string", "format": "date-time"},
    "end": {"type": "string", "format": "date-time"},
    "limit": {"type": "integer", "default": -1},
    "pulsetime": {"type": "number", "minimum": 0},
    "force": {"type": "string", "enum": ["1"]},
}

DESCRIPTION: Final = """\
The ActivityWatch REST API as served by fastaw, a drop-in replacement for aw-server.

* Every path works with and without a trailing slash (`/api/0/buckets` = `/api/0/buckets/`).
* JSON bodies need `Content-Type: application/json` (415 otherwise).
* Errors are JSON: `{"message": "..."}`, sometimes with extra fields.
* Timestamps are ISO 8601 / RFC 3339; durations are seconds.
* When an API key is configured, every `/api/` path except `/api/0/info` and these
  documentation pages needs `Authorization: Bearer <key>` (use *Authorize* above).
"""


def _error_responses(route: routes.Route) -> dict[str, Any]:
    out: dict[str, Any] = {}
    params = [p[1:-1] for p in route.pattern if p.startswith("{")]
    if route.body is not None or route.query or "event_id" in params or "key" in params:
        out["400"] = {"$ref": "#/components/responses/BadRequest"}
    if route.pattern != ("api", "0", "info"):
        out["401"] = {"$ref": "#/components/responses/Unauthorized"}
    if "bucket_id" in params:
        out["404"] = {"$ref": "#/components/responses/NotFound"}
    if route.body is not None:
        out["415"] = {"$ref": "#/components/responses/UnsupportedMediaType"}
    return out


def _operation_ids() -> dict[int, str]:
    """A unique operationId per route: the handler's name, suffixed when reused."""
    seen: dict[str, int] = {}
    ids: dict[int, str] = {}
    for index, route in enumerate(routes.ROUTES):
        name = getattr(route.handler, "__name__", "operation")
        count = seen.get(name, 0)
        seen[name] = count + 1
        ids[index] = name if count == 0 else f"{name}_{count + 1}"
    return ids


def build_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of this server (pure: no I/O)."""
    types: list[Any] = []
    for route in routes.ROUTES:
        if route.body is not None:
            types.append(route.body)
        success = SUCCESS.get(route.handler)
        if success is not None and success[2] is not _NOTHING:
            types.append(success[2])
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    schema_of = iter(schemas)
    components["Error"] = {
        "title": "Error",
        "description": "Every error: a message that says what was wrong and where.",
        "type": "object",
        "properties": {"message": {"type": "string"}},
        "required": ["message"],
        "additionalProperties": True,
    }

    paths: dict[str, dict[str, Any]] = {}
    operation_ids = _operation_ids()
    for index, route in enumerate(routes.ROUTES):
        operation: dict[str, Any] = {
            "tags": [route.tag],
            "summary": route.summary,
            "operationId": operation_ids[index],
        }
        parameters: list[dict[str, Any]] = []
        for part in route.pattern:
            if part.startswith("{"):
                name = part[1:-1]
                schema, description = PATH_PARAMS.get(name, ({"type": "string"}, name))
                parameters.append({"name": name, "in": "path", "required": True,
                                   "description": description, "schema": schema})
        for name, description, required in route.query:
            parameters.append({"name": name, "in": "query", "required": required,
                               "description": description,
                               "schema": QUERY_SCHEMAS.get(name, {"type": "string"})})
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            content: dict[str, Any] = {"application/json": {"schema": next(schema_of)}}
            if route.handler is handlers.import_buckets:
                content["multipart/form-data"] = {"schema": {
                    "type": "object",
                    "properties": {"buckets.json": {"type": "string", "format": "binary",
                                                    "description": "An export file"}},
                }}
            operation["requestBody"] = {"required": True, "content": content}
        responses: dict[str, Any] = {}
        success = SUCCESS.get(route.handler)
        if success is None:
            responses["200"] = {"description": "Success"}
        else:
            status, description, body = success
            responses[str(status)] = {"description": description}
            if body is not _NOTHING:
                responses[str(status)]["content"] = {
                    "application/json": {"schema": next(schema_of)}
                }
        for status_code, description in route.responses.items():
            responses[str(status_code)] = {"description": description}
            if status_code >= 400:
                responses[str(status_code)]["content"] = _ERROR_CONTENT
        for status_code_text, ref in _error_responses(route).items():
            responses.setdefault(status_code_text, ref)
        operation["responses"] = responses
        if route.pattern == ("api", "0", "info"):
            operation["security"] = []
        paths.setdefault(route.path, {})[route.method.lower()] = operation

    for path, summary in (("/api/0/openapi.json", "This OpenAPI document"),
                          ("/api/swagger.json", "This OpenAPI document (aw-server's path)")):
        paths[path] = {"get": {
            "tags": ["docs"], "summary": summary, "security": [],
            "operationId": "openapi" if "openapi" in path else "swagger_json",
            "parameters": [] if "swagger" in path else [{
                "name": "openapi", "in": "query", "required": False,
                "description": "`3.0` for an OpenAPI 3.0.3 rendering",
                "schema": {"type": "string", "enum": ["3.0", "3.1"], "default": "3.1"},
            }],
            "responses": {"200": {"description": "OpenAPI document",
                                  "content": {"application/json": {"schema": {
                                      "type": "object"}}}}},
        }}

    used_tags = {op["tags"][0] for item in paths.values() for op in item.values()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fastaw — ActivityWatch API",
            "version": __version__,
            "description": DESCRIPTION,
            "license": {"name": "MPL-2.0", "url": "https://mozilla.org/MPL/2.0/"},
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()
                 if name in used_tags],
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": {
                name: {"description": text, "content": _ERROR_CONTENT}
                for name, text in (
                    ("BadRequest", "Malformed request: bad JSON, field or parameter"),
                    ("Unauthorized", "Missing or invalid API key"),
                    ("NotFound", "No such bucket (or event)"),
                    ("UnsupportedMediaType", "The body is not application/json"),
                )
            },
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer",
                           "description": "Only when the server has an API key configured"},
            },
        },
        # No API key configured (the default) or a Bearer key: both are valid.
        "security": [{}, {"apiKey": []}],
    }


# -- OpenAPI 3.0 rendering ---------------------------------------------------------------

def _schema_to_30(node: Any) -> Any:
    """JSON Schema 2020-12 (OpenAPI 3.1) → the OpenAPI 3.0 schema dialect, recursively."""
    if isinstance(node, list):
        return [_schema_to_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _schema_to_30(value) for key, value in node.items()}
    for key in ("anyOf", "oneOf"):
        options = out.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [option for option in options if option != {"type": "null"}]
            del out[key]
            out["nullable"] = True
            if len(rest) == 1 and "$ref" in rest[0]:
                out["allOf"] = rest
            elif len(rest) == 1:
                out.update(rest[0])
            else:
                out[key] = rest
    kind = out.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) != len(kind):
            out["nullable"] = True
        if len(kinds) == 1:
            out["type"] = kinds[0]
        else:
            del out["type"]
            out["anyOf"] = [{"type": k} for k in kinds]
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if "examples" in out:
        examples = out.pop("examples")
        if isinstance(examples, list) and examples:
            out["example"] = examples[0]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = out.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[plain] = value
            out[bound] = True
    return out


def to_openapi_30(document: dict[str, Any]) -> dict[str, Any]:
    """The same API as an OpenAPI 3.0.3 document."""
    out = copy.deepcopy(document)
    out["openapi"] = "3.0.3"
    out["components"]["schemas"] = _schema_to_30(out["components"]["schemas"])
    for item in out["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _schema_to_30(parameter["schema"])
            for holder in (operation.get("requestBody"), *operation["responses"].values()):
                for media in (holder or {}).get("content", {}).values():
                    media["schema"] = _schema_to_30(media["schema"])
    return out


@cache
def document_bytes(version: str = "3.1") -> bytes:
    document = build_document()
    if version == "3.0":
        document = to_openapi_30(document)
    return msgspec.json.encode(document)


# -- Swagger UI --------------------------------------------------------------------------

def swagger_ui_dir() -> Path | None:
    """The directory of the installed swagger-ui-bundle's static files (None if absent)."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    path = Path(str(swagger_ui_path))
    return path if path.is_dir() else None


def swagger_ui_major(directory: Path) -> int:
    """The Swagger UI major version from the bundle's folder name (``swagger-ui-4.15.5``)."""
    match = re.search(r"(\d+)\.\d+", directory.name)
    return int(match.group(1)) if match else 0


SWAGGER_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>fastaw — ActivityWatch API</title>
<link rel="stylesheet" href="/swaggerui/swagger-ui.css">
<link rel="icon" type="image/png" href="/swaggerui/favicon-32x32.png" sizes="32x32">
</head><body><div id="swagger-ui"></div>
<script src="/swaggerui/swagger-ui-bundle.js" charset="utf-8"></script>
<script src="/swaggerui/swagger-ui-standalone-preset.js" charset="utf-8"></script>
<script>
window.ui = SwaggerUIBundle({
  url: "__URL__",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout"
});
</script></body></html>
"""

NO_SWAGGER_PAGE: Final = b"""<!doctype html><html><head><meta charset="utf-8">
<title>fastaw API</title></head><body><h1>fastaw API</h1>
<p>Swagger UI is not installed (<code>pip install swagger-ui-bundle</code>). The OpenAPI
document is at <a href="/api/0/openapi.json">/api/0/openapi.json</a>.</p></body></html>"""


def swagger_page() -> bytes:
    directory = swagger_ui_dir()
    if directory is None:
        return NO_SWAGGER_PAGE
    # Swagger UI before 5 renders only OpenAPI 3.0 documents.
    url = "/api/0/openapi.json" if swagger_ui_major(directory) >= 5 else (
        "/api/0/openapi.json?openapi=3.0")
    return SWAGGER_PAGE.replace("__URL__", url).encode()


# -- handlers ----------------------------------------------------------------------------

def is_docs_path(segments: list[str]) -> bool:
    return tuple(segments) in DOCS_PATHS


async def serve(server: Server, request: Request) -> Response:
    """``/api``, ``/api/``, ``/api/0/openapi.json``, ``/api/swagger.json``."""
    if request.method not in ("GET", "HEAD"):
        raise MethodNotAllowed(
            f"Method {request.method} is not allowed on /{'/'.join(request.segments)}"
            " (allowed: GET)"
        )
    path = tuple(request.segments)
    if path == ("api",):
        return Response(body=swagger_page(), content_type=b"text/html; charset=utf-8",
                        headers=[(b"cache-control", b"no-cache")])
    version = (request.param("openapi") or "3.1") if path == OPENAPI_PATH else "3.1"
    if version not in ("3.0", "3.1"):
        raise BadRequest(f"Invalid query parameter `openapi`: {version!r} (use 3.0 or 3.1)")
    return Response(body=document_bytes(version), headers=[(b"cache-control", b"no-cache")])


async def serve_asset(request: Request, parts: list[str]) -> Response:
    """A Swagger UI file at ``/swaggerui/<name>``."""
    directory = swagger_ui_dir()
    path = StaticDir(directory).resolve(parts) if directory is not None and parts else None
    response = file_response(request, path) if path is not None else None
    if response is None:
        raise NotFound(f"There is no Swagger UI file at /{'/'.join(request.segments)}")
    return response
