"""The web dashboard and custom static pages: files, types, caching, 304s, containment."""

from __future__ import annotations

import email.utils
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from fastaw.api.http import Request
from fastaw.api.webui import (
    INLINE_MAX,
    StaticDir,
    content_type,
    file_response,
    has_content_hash,
)
from fastaw.config import ConfigError, load
from tests.asgi_client import ASGIClient
from tests.conftest import LiveServer

BIG_SIZE = 3 * 1024 * 1024 + 17  # streamed in several chunks

FILES: dict[str, bytes] = {
    "index.html": b"<!doctype html><title>aw-webui</title>",
    "js/app.3f2a1b9c.js": b"console.log('app');",
    "js/chunk-vendors.5e6f7a8b.js": b"x" * (INLINE_MAX + 1),
    "js/app.3f2a1b9c.js.map": b'{"version":3}',
    "assets/index-BqX_v1aZ.js": b"export{};",
    "assets/index-BqX_v1aZ.css": b"body{}",
    "css/app.1a2b3c4d.css": b"body{color:red}",
    "css/varela-round.css": b"@font-face{}",
    "fonts/varela-round-latin.woff2": b"wOF2....",
    "static/logo.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    "static/logo.png": b"\x89PNG\r\n\x1a\n",
    "favicon.ico": b"\x00\x00\x01\x00",
    "manifest.json": b'{"name":"ActivityWatch"}',
    "manifest.webmanifest": b'{"name":"ActivityWatch"}',
    "sw.js": b"self.addEventListener('fetch',()=>{});",
    "module.mjs": b"export default 1;",
    "dark.css": b"body{background:#000}",
    "sub/index.html": b"<p>sub</p>",
    "empty/.keep": b"",
    ".hidden": b"secret",
    "big.bin": os.urandom(BIG_SIZE),
}


@pytest.fixture
def webui(tmp_path: Path) -> Path:
    root = tmp_path / "webui"
    for name, content in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (tmp_path / "secret.txt").write_bytes(b"TOP SECRET")
    (root / "escape.txt").symlink_to(tmp_path / "secret.txt")
    (root / "escape-dir").symlink_to(tmp_path)
    (root / "inside.js").symlink_to(root / "js" / "app.3f2a1b9c.js")
    return root


@pytest.fixture
def client(make_client: Callable[..., ASGIClient], webui: Path) -> ASGIClient:
    return make_client(webui=str(webui))


def raw_request(client: ASGIClient, method: str, raw_path: bytes,
                headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, bytes]:
    """Send a path exactly as given (httpx would normalize a literal ``/../``)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": method, "path": raw_path.decode("latin-1"),
        "raw_path": raw_path, "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:5600"), *(headers or [])],
    }
    client._run(client.app(scope, receive, send))  # type: ignore[arg-type]
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return status, body


# -- serving ------------------------------------------------------------------------------

def test_root_serves_index_html(client: ASGIClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.content == FILES["index.html"]
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-length"] == str(len(FILES["index.html"]))
    assert response.headers["etag"].startswith('"')
    assert email.utils.parsedate_to_datetime(response.headers["last-modified"]) is not None
    assert response.headers["x-content-type-options"] == "nosniff"
    assert client.get("/index.html").content == FILES["index.html"]


@pytest.mark.parametrize(("path", "expected"), [
    ("/js/app.3f2a1b9c.js", "text/javascript; charset=utf-8"),
    ("/module.mjs", "text/javascript; charset=utf-8"),
    ("/css/app.1a2b3c4d.css", "text/css; charset=utf-8"),
    ("/static/logo.svg", "image/svg+xml"),
    ("/static/logo.png", "image/png"),
    ("/fonts/varela-round-latin.woff2", "font/woff2"),
    ("/manifest.json", "application/json"),
    ("/manifest.webmanifest", "application/manifest+json"),
    ("/js/app.3f2a1b9c.js.map", "application/json"),
    ("/favicon.ico", "image/x-icon"),
    ("/big.bin", "application/octet-stream"),
])
def test_content_types(client: ASGIClient, path: str, expected: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == expected
    assert response.content == FILES[path.lstrip("/")]


@pytest.mark.parametrize(("path", "immutable"), [
    ("/js/app.3f2a1b9c.js", True),
    ("/js/app.3f2a1b9c.js.map", True),
    ("/css/app.1a2b3c4d.css", True),
    ("/assets/index-BqX_v1aZ.js", True),
    ("/assets/index-BqX_v1aZ.css", True),
    ("/index.html", False),
    ("/sw.js", False),
    ("/css/varela-round.css", False),  # Vite copies it unhashed: must revalidate
    ("/fonts/varela-round-latin.woff2", False),
    ("/manifest.json", False),
    ("/dark.css", False),
])
def test_cache_control(client: ASGIClient, path: str, immutable: bool) -> None:
    cache = client.get(path).headers["cache-control"]
    if immutable:
        assert cache == "public, max-age=31536000, immutable"
    else:
        assert cache == "no-cache"


def test_directory_serves_its_index(client: ASGIClient) -> None:
    assert client.get("/sub/").content == FILES["sub/index.html"]
    assert client.get("/sub").content == FILES["sub/index.html"]
    assert client.get("/empty/").status_code == 404


def test_symlink_inside_the_directory_is_served(client: ASGIClient) -> None:
    assert client.get("/inside.js").content == FILES["js/app.3f2a1b9c.js"]


def test_unknown_file_is_json_404(client: ASGIClient) -> None:
    for path in ("/nope.js", "/js/nope.js", "/activity/host/day"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"
        assert "message" in response.json()


def test_other_methods_are_404(client: ASGIClient) -> None:
    response = client.post("/index.html", content=b"{}")
    assert response.status_code == 404
    assert "message" in response.json()


def test_large_file_is_streamed_whole(client: ASGIClient) -> None:
    response = client.get("/big.bin")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(BIG_SIZE)
    assert response.content == FILES["big.bin"]
    medium = client.get("/js/chunk-vendors.5e6f7a8b.js")
    assert medium.content == FILES["js/chunk-vendors.5e6f7a8b.js"]


@pytest.mark.parametrize("path", ["/", "/big.bin", "/js/app.3f2a1b9c.js"])
def test_head(client: ASGIClient, path: str) -> None:
    got = client.get(path)
    head = client.request("HEAD", path)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(got.content))
    for name in ("content-type", "etag", "last-modified", "cache-control"):
        assert head.headers[name] == got.headers[name]


# -- conditional requests -----------------------------------------------------------------

def test_if_none_match(client: ASGIClient) -> None:
    first = client.get("/js/app.3f2a1b9c.js")
    etag = first.headers["etag"]
    for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = client.get("/js/app.3f2a1b9c.js", headers={"if-none-match": value})
        assert again.status_code == 304, value
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == first.headers["cache-control"]
        assert "content-type" not in again.headers
    other = client.get("/js/app.3f2a1b9c.js", headers={"if-none-match": '"nope"'})
    assert other.status_code == 200
    assert other.content == FILES["js/app.3f2a1b9c.js"]


def test_if_none_match_on_head_and_big_file(client: ASGIClient) -> None:
    etag = client.get("/big.bin").headers["etag"]
    assert client.get("/big.bin", headers={"if-none-match": etag}).status_code == 304
    assert client.request("HEAD", "/", headers={
        "if-none-match": client.get("/").headers["etag"]}).status_code == 304


def test_if_modified_since(client: ASGIClient, webui: Path) -> None:
    mtime = (webui / "index.html").stat().st_mtime
    same = email.utils.formatdate(mtime, usegmt=True)
    later = email.utils.formatdate(mtime + 60, usegmt=True)
    earlier = email.utils.formatdate(mtime - 60, usegmt=True)
    assert client.get("/", headers={"if-modified-since": same}).status_code == 304
    assert client.get("/", headers={"if-modified-since": later}).status_code == 304
    assert client.get("/", headers={"if-modified-since": earlier}).status_code == 200
    assert client.get("/", headers={"if-modified-since": "garbage"}).status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2)
    response = client.get("/", headers={"if-modified-since": later, "if-none-match": '"x"'})
    assert response.status_code == 200


def test_changed_file_gets_a_new_etag(client: ASGIClient, webui: Path) -> None:
    etag = client.get("/dark.css").headers["etag"]
    (webui / "dark.css").write_bytes(b"body{background:#111;color:#eee}")
    response = client.get("/dark.css", headers={"if-none-match": etag})
    assert response.status_code == 200
    assert response.headers["etag"] != etag


def test_served_by_granian(live_server: Callable[..., LiveServer], webui: Path) -> None:
    """Streaming with Content-Length, HEAD and 304 through a real Granian server."""
    server = live_server(extra=["--webui", str(webui)])
    with httpx.Client(base_url=server.url) as http:
        big = http.get("/big.bin")
        assert big.status_code == 200
        assert big.headers["content-length"] == str(BIG_SIZE)
        assert big.content == FILES["big.bin"]
        head = http.head("/big.bin")
        assert head.headers["content-length"] == str(BIG_SIZE)
        assert head.content == b""
        again = http.get("/big.bin", headers={"if-none-match": big.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""
        assert http.get("/").content == FILES["index.html"]
        assert http.get("/%2e%2e/secret.txt").status_code == 404


# -- containment --------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/js/%2e%2e/%2e%2e/secret.txt",
    "/..%2fsecret.txt",
    "/js%2f..%2f..%2fsecret.txt",
    "/%2e%2e%5csecret.txt",
    "/escape.txt",
    "/escape-dir/secret.txt",
    "/.hidden",
    "/%2ehidden",
    "/index.html%00.js",
    "/%2fetc%2fpasswd",
    "/pages/x/%2e%2e/secret.txt",
])
def test_path_traversal_is_refused(client: ASGIClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404, path
    assert b"TOP SECRET" not in response.content
    assert "message" in response.json()


@pytest.mark.parametrize("raw", [
    b"/../secret.txt",
    b"/js/../../secret.txt",
    b"//../secret.txt",
    b"/./../secret.txt",
    b"/../webui/index.html",
])
def test_literal_dot_dot_is_refused(client: ASGIClient, raw: bytes) -> None:
    status, body = raw_request(client, "GET", raw)
    assert status == 404
    assert b"TOP SECRET" not in body


def test_static_dir_resolve_unit(webui: Path, tmp_path: Path) -> None:
    static = StaticDir(webui)
    assert static.resolve([]) == (webui / "index.html").resolve()
    assert static.resolve(["js", "app.3f2a1b9c.js"]) is not None
    assert static.resolve(["..", "secret.txt"]) is None
    assert static.resolve(["escape.txt"]) is None
    assert static.resolve(["a/b"]) is None
    assert static.resolve([""]) is None
    assert StaticDir(tmp_path / "missing").resolve([]) is None


def test_file_vanishing_before_open_is_not_an_error(webui: Path) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    request = Request("GET", ["gone"], {}, {}, receive)
    assert file_response(request, webui / "gone.js") is None
    assert file_response(request, webui / "sub") is None  # a directory


# -- without a dashboard, custom pages, gates ---------------------------------------------

def test_without_webui_root_is_the_help_page(make_client: Callable[..., ASGIClient]) -> None:
    plain = make_client()
    response = plain.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert b"fastaw is running" in response.content
    assert plain.get("/index.html").status_code == 404
    assert plain.get("/js/app.js").json()["message"]


def test_custom_static_pages(make_client: Callable[..., ASGIClient], tmp_path: Path,
                             webui: Path) -> None:
    pages = tmp_path / "input-vis"
    (pages / "js").mkdir(parents=True)
    (pages / "index.html").write_bytes(b"<p>input</p>")
    (pages / "js" / "vis.js").write_bytes(b"draw();")
    client = make_client(webui=str(webui), custom_static={
        "aw-watcher-input": str(pages), "gone": str(tmp_path / "nowhere")})
    listing = client.get("/pages/")
    assert listing.status_code == 200
    assert listing.json() == ["aw-watcher-input", "gone"]
    index = client.get("/pages/aw-watcher-input/?hostname=h&start=s&end=e")
    assert index.content == b"<p>input</p>"
    assert index.headers["content-type"] == "text/html; charset=utf-8"
    script = client.get("/pages/aw-watcher-input/js/vis.js")
    assert script.content == b"draw();"
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert client.get("/pages/aw-watcher-input/nope.js").status_code == 404
    assert client.get("/pages/gone/").status_code == 404
    unknown = client.get("/pages/unknown/")
    assert unknown.status_code == 404
    assert "aw-watcher-input" in unknown.json()["message"]


def test_static_files_are_not_behind_the_api_key(make_client: Callable[..., ASGIClient],
                                                 webui: Path) -> None:
    client = make_client(webui=str(webui), api_key="secret123")
    assert client.get("/").status_code == 200
    assert client.get("/js/app.3f2a1b9c.js").status_code == 200
    assert client.get("/api/0/buckets/").status_code == 401


def test_host_check_applies_to_static_files(client: ASGIClient) -> None:
    response = client.get("/", headers={"host": "evil.example:5600"})
    assert response.status_code == 400
    assert "Host" in response.json()["message"]


# -- pure helpers, configuration ----------------------------------------------------------

@pytest.mark.parametrize(("name", "hashed"), [
    ("app.3f2a1b9c.js", True),
    ("chunk-vendors.1a2b3c4d.js", True),
    ("index-BqXzvaZc.js", True),
    ("index-Bq-3v1aZ.js", True),
    ("workbox-5ffe50d4.js", True),
    ("app.3f2a1b9c.js.map", True),
    ("index.html", False),
    ("varela-round-latin.woff2", False),
    ("varela-round-hebrew.woff2", False),
    ("swagger-ui-standalone-preset.js", False),
    ("favicon-32x32.png", False),
    ("registerSW.js", False),
    ("jquery-3.6.0.min.js", False),
    ("some-component.js", False),
])
def test_has_content_hash(name: str, hashed: bool) -> None:
    assert has_content_hash(name) is hashed


def test_content_type_fallbacks() -> None:
    assert content_type("README") == b"application/octet-stream"
    assert content_type("x.JS") == b"text/javascript; charset=utf-8"
    assert content_type("notes.csv").startswith(b"text/csv")


def test_config_checks_the_webui_directory(tmp_path: Path, webui: Path) -> None:
    assert load({"webui": str(webui)}).webui == str(webui)
    with pytest.raises(ConfigError, match="does not exist"):
        load({"webui": str(tmp_path / "missing")})
    with pytest.raises(ConfigError, match=r"no index\.html"):
        load({"webui": str(webui / "js")})
