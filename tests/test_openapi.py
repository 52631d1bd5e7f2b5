"""The OpenAPI document and the Swagger UI page that browses it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fastaw import __version__
from fastaw.api import docs, routes
from tests.asgi_client import ASGIClient

try:
    from openapi_spec_validator import validate as validate_spec
except ImportError:  # optional test dependency
    validate_spec = None


@pytest.fixture
def document(client: ASGIClient) -> dict[str, Any]:
    response = client.get("/api/0/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def test_document_structure(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["version"] == __version__
    assert document["info"]["title"]
    assert {tag["name"] for tag in document["tags"]} >= {r.tag for r in routes.ROUTES}
    assert "apiKey" in document["components"]["securitySchemes"]


def test_every_route_is_documented_with_its_methods(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for route in routes.ROUTES:
        assert route.path in paths, route.path
        operation = paths[route.path][route.method.lower()]
        assert operation["summary"] == route.summary
        assert operation["tags"] == [route.tag]
        assert any(code.startswith("2") for code in operation["responses"])
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", route.path))
        queried = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert queried == {name for name, _, _ in route.query}
        if route.body is not None:
            assert "application/json" in operation["requestBody"]["content"]
    documented = {(path, method) for path, item in paths.items() for method in item}
    table = {(r.path, r.method.lower()) for r in routes.ROUTES}
    assert documented - table == {("/api/0/openapi.json", "get"), ("/api/swagger.json", "get")}
    ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    refs = set(_refs(document))
    assert "#/components/schemas/EventIn" in refs
    for ref in refs:
        assert isinstance(_resolve(document, ref), dict), ref


def test_body_schemas(document: dict[str, Any]) -> None:
    paths = document["paths"]
    schemas = document["components"]["schemas"]

    def body(path: str, method: str = "post") -> Any:
        return paths[path][method]["requestBody"]["content"]["application/json"]["schema"]

    heartbeat = body("/api/0/buckets/{bucket_id}/heartbeat")
    event = _resolve(document, heartbeat["$ref"])
    assert event["required"] == ["timestamp", "data"]
    assert event["properties"]["duration"]["type"] == "number"
    bucket = _resolve(document, body("/api/0/buckets/{bucket_id}")["$ref"])
    assert set(bucket["required"]) == {"type", "client", "hostname"}
    insert = body("/api/0/buckets/{bucket_id}/events")
    assert len(insert["anyOf"]) == 2  # one event or a list of events
    query = _resolve(document, body("/api/0/query")["$ref"])
    assert set(query["required"]) == {"timeperiods", "query"}
    imported = paths["/api/0/import"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in imported
    assert "Error" in schemas


def test_response_schemas(document: dict[str, Any]) -> None:
    paths = document["paths"]

    def ok(path: str, method: str = "get", status: str = "200") -> Any:
        return paths[path][method]["responses"][status]

    info = ok("/api/0/info")["content"]["application/json"]["schema"]
    assert set(_resolve(document, info["$ref"])["required"]) >= {"hostname", "version"}
    events = ok("/api/0/buckets/{bucket_id}/events")["content"]["application/json"]["schema"]
    assert events["type"] == "array"
    assert ok("/api/0/settings/{key}", "post", "201")["description"]
    assert "content" not in ok("/api/0/buckets/{bucket_id}", "post")
    assert "304" in paths["/api/0/buckets/{bucket_id}"]["post"]["responses"]
    assert paths["/api/0/info"]["get"]["security"] == []
    not_found = paths["/api/0/buckets/{bucket_id}"]["get"]["responses"]["404"]
    assert not_found["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    unauthorized = paths["/api/0/buckets/{bucket_id}"]["get"]["responses"]["401"]
    assert _resolve(document, unauthorized["$ref"])["content"]["application/json"]


@pytest.mark.skipif(validate_spec is None, reason="openapi-spec-validator is not installed")
def test_documents_are_valid_openapi(client: ASGIClient) -> None:
    assert validate_spec is not None
    validate_spec(client.get("/api/0/openapi.json").json())
    validate_spec(client.get("/api/0/openapi.json?openapi=3.0").json())


def test_openapi_30_rendering(client: ASGIClient) -> None:
    document = client.get("/api/0/openapi.json", params={"openapi": "3.0"}).json()
    assert document["openapi"] == "3.0.3"
    text = str(document)
    assert "'type': 'null'" not in text
    created = document["components"]["schemas"]["BucketIn"]["properties"]["created"]
    assert created == {"type": "string", "nullable": True, "default": None}
    events = document["components"]["schemas"]["BucketIn"]["properties"]["events"]
    assert events["nullable"] is True
    assert events["type"] == "array"
    bad = client.get("/api/0/openapi.json", params={"openapi": "2.0"})
    assert bad.status_code == 400
    assert "openapi" in bad.json()["message"]


def test_schema_to_30_unit() -> None:
    convert = docs._schema_to_30
    assert convert({"anyOf": [{"$ref": "#/x"}, {"type": "null"}]}) == {
        "nullable": True, "allOf": [{"$ref": "#/x"}]}
    assert convert({"type": ["integer", "null"]}) == {"type": "integer", "nullable": True}
    assert convert({"const": "a"}) == {"enum": ["a"]}
    assert convert({"exclusiveMinimum": 0}) == {"minimum": 0, "exclusiveMinimum": True}
    assert convert({"examples": [1, 2]}) == {"example": 1}


def test_swagger_json_is_the_same_document(client: ASGIClient) -> None:
    assert client.get("/api/swagger.json").json() == client.get("/api/0/openapi.json").json()


@pytest.mark.parametrize("path", ["/api/0/openapi.json/", "/api//0/openapi.json"])
def test_openapi_path_variants(client: ASGIClient, path: str) -> None:
    assert client.get(path).json()["openapi"] == "3.1.0"


def test_docs_methods(client: ASGIClient) -> None:
    response = client.post("/api/0/openapi.json", json={})
    assert response.status_code == 405
    assert "message" in response.json()
    head = client.request("HEAD", "/api/0/openapi.json")
    assert head.status_code == 200
    assert head.content == b""


def test_swagger_page_and_its_local_assets(client: ASGIClient) -> None:
    for path in ("/api", "/api/"):
        page = client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert b"SwaggerUIBundle" in page.content
    html = client.get("/api/").text
    assets = re.findall(r'(?:href|src)="(/[^"]+)"', html)
    assert assets, html
    assert not re.search(r'(?:href|src)="(?:https?:)?//', html)  # no CDN
    expected = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        suffix = asset[asset.rindex("."):]
        assert response.headers["content-type"].startswith(expected[suffix]), asset
    url = re.search(r'url: "([^"]+)"', html)
    assert url is not None
    target = client.get(url.group(1)).json()
    major = docs.swagger_ui_major(docs.swagger_ui_dir())  # type: ignore[arg-type]
    assert target["openapi"].startswith("3.1" if major >= 5 else "3.0")


def test_swagger_asset_errors(client: ASGIClient) -> None:
    assert client.get("/swaggerui/nope.js").status_code == 404
    assert client.get("/swaggerui/%2e%2e/__init__.py").status_code == 404
    assert client.get("/swaggerui/").status_code == 404


def test_docs_are_exempt_from_the_api_key(make_client: Callable[..., ASGIClient]) -> None:
    client = make_client(api_key="secret123")
    for path in ("/api/", "/api", "/api/0/openapi.json", "/api/swagger.json",
                 "/swaggerui/swagger-ui.css", "/api/0/info"):
        assert client.get(path).status_code == 200, path
    for path in ("/api/0/buckets/", "/api/0/settings", "/api/0/openapi.json/../buckets"):
        assert client.get(path).status_code == 401, path
    assert client.get("/api/other").status_code == 401


def test_unknown_api_paths_stay_404(client: ASGIClient) -> None:
    for path in ("/api/0/nope", "/api/other", "/api/0/openapi.yaml"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "message" in response.json()


def test_missing_swagger_bundle(client: ASGIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docs, "swagger_ui_dir", lambda: None)
    page = client.get("/api/")
    assert page.status_code == 200
    assert b"/api/0/openapi.json" in page.content
    assert client.get("/swaggerui/swagger-ui.css").status_code == 404
