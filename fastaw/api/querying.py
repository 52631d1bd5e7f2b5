"""The query endpoint: validate the request, run it off the event loop, answer JSON bytes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import msgspec

from fastaw.models import decode_json

if TYPE_CHECKING:
    from fastaw.api.app import Server


class QueryRequest(msgspec.Struct):
    timeperiods: list[str]
    query: list[str]


async def run_query(server: Server, body: bytes, name: str | None) -> bytes:
    request: QueryRequest = decode_json(body, QueryRequest, "query request")
    if not request.timeperiods:
        return b"[]"
    from fastaw.pool import run_query_inline

    return await asyncio.to_thread(
        run_query_inline, server.env, request.query, request.timeperiods, name,
        server.config.query_timeout,
    )
