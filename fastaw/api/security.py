"""Request gates that run before routing: CORS, the Host-header check, the API key.

Order: the Host check (only when bound to a loopback address — protection against DNS
rebinding; its 400 wins over a CORS refusal, as in aw-server-rust), then CORS (a disallowed
Origin is refused with 403 and the request is not executed), then the API key (only when configured; never for OPTIONS or
``/api/0/info``, nor for the API documentation, which holds no user data: ``/api``,
``/api/0/openapi.json``, ``/api/swagger.json``). All refusals are JSON errors.
"""

from __future__ import annotations

import hmac
import re
from typing import Final

from fastaw.config import Config
from fastaw.errors import BadRequest, Forbidden, Unauthorized

LOOPBACK_BINDS: Final = frozenset({"127.0.0.1", "localhost", "::1"})
ALLOWED_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
#: The official aw-watcher-web Chrome extension and every Firefox extension (per-install ids).
BUILTIN_ORIGIN_PATTERNS: Final = (
    r"chrome-extension://nglaklhklhcoonedhgnpgddginnjdadi",
    r"moz-extension://[^/]+",
)
TESTING_ORIGINS: Final = ("http://127.0.0.1:27180", "http://localhost:27180")
TESTING_ORIGIN_PATTERNS: Final = (r"chrome-extension://[^/]+",)
ALLOWED_METHODS: Final = b"GET, POST, DELETE"
#: The API documentation (see `fastaw.api.docs`): exempt from the API key.
DOCS_PATHS: Final = frozenset({("api",), ("api", "0", "openapi.json"), ("api", "swagger.json")})


class Gates:
    """The security configuration of one server, compiled once."""

    def __init__(self, config: Config) -> None:
        origins = {f"http://127.0.0.1:{config.port}", f"http://localhost:{config.port}"}
        origins.update(origin.rstrip("/") for origin in config.cors)
        patterns = list(BUILTIN_ORIGIN_PATTERNS) + list(config.cors_regex)
        if config.testing:
            origins.update(TESTING_ORIGINS)
            patterns.extend(TESTING_ORIGIN_PATTERNS)
        self.origins = frozenset(origins)
        self.origin_patterns = [re.compile(pattern) for pattern in patterns]
        self.check_host = config.host in LOOPBACK_BINDS
        self.api_key = config.api_key.encode() if config.api_key else None

    def origin_allowed(self, origin: str) -> bool:
        if origin in self.origins:
            return True
        return any(pattern.fullmatch(origin) for pattern in self.origin_patterns)

    def check_origin(self, origin: bytes | None) -> str | None:
        """The allowed origin to echo, None for a non-CORS request; 403 when disallowed."""
        if origin is None:
            return None
        text = origin.decode("latin-1")
        if not self.origin_allowed(text):
            raise Forbidden(f"Origin {text!r} is not allowed (configure it with `cors`)")
        return text

    def check_host_header(self, host: bytes | None) -> None:
        if not self.check_host:
            return
        if not host:
            raise BadRequest("Host header is invalid (missing)")
        text = host.decode("latin-1")
        name = text.rsplit(":", 1)[0] if not text.startswith("[") else text.split("]")[0] + "]"
        if name not in ALLOWED_HOSTS:
            raise BadRequest(f"Host header is invalid (was {text!r})")

    def check_api_key(self, method: str, segments: list[str], authorization: bytes | None) -> None:
        if self.api_key is None or method == "OPTIONS" or not segments or segments[0] != "api":
            return
        if segments == ["api", "0", "info"] or tuple(segments) in DOCS_PATHS:
            return
        expected = b"Bearer " + self.api_key
        if authorization is None or not hmac.compare_digest(authorization, expected):
            raise Unauthorized(
                "Missing or invalid API key. Set 'Authorization: Bearer <key>' header."
            )
