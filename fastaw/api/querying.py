"""The query endpoint: validate the request, run it in a query worker, answer JSON bytes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from fastaw.models import decode_json
from fastaw.pool import QueryPool

if TYPE_CHECKING:
    from fastaw.api.app import Server


class QueryRequest(msgspec.Struct):
    timeperiods: list[str]
    query: list[str]


def pool_of(server: Server) -> QueryPool:
    if server.pool is None:
        config = server.config
        server.pool = QueryPool(server.data_dir, config.map_size, config.query_workers,
                                config.query_timeout, cache_mb=config.query_cache_mb,
                                threads=config.query_threads,
                                idle_release=config.query_idle_release)
    pool: QueryPool = server.pool
    return pool


def anticipate_query(server: Server) -> None:
    """A query is likely to come: have its worker process start now
    (`fastaw.pool.QueryPool.anticipate`)."""
    pool_of(server).anticipate()


async def run_query(server: Server, body: bytes, name: str | None) -> bytes:
    request: QueryRequest = decode_json(body, QueryRequest, "query request")
    if not request.timeperiods:
        return b"[]"
    return await pool_of(server).run(request.query, request.timeperiods, name)
