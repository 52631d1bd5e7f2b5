"""One async function per endpoint: decode → reader / writer / pool / exchange → encode.

Small reads run inline (a short LMDB read is microseconds); reads that can be large
(event lists without a small limit, exports) run on a thread so the event loop keeps
answering heartbeats.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec

from fastaw import __version__
from fastaw.api.http import (
    Request,
    Response,
    ThreadStream,
    attachment,
    empty_response,
    json_response,
)
from fastaw.api.spool import remove, spool_request, stream_file
from fastaw.errors import BadRequest, NotFound, Unauthorized, UnsupportedMediaType
from fastaw.exchange import (
    CONTENT_TYPES,
    Selection,
    check_format,
    export_filename,
    export_parquet,
    export_stream,
    prepare_import,
)
from fastaw.exchange.importer import ImportSummary, Staged
from fastaw.models import (
    MAX_EVENT_ID,
    Bucket,
    BucketIn,
    EventIn,
    Info,
    canonical_data,
    columns_from_wire,
    decode_json,
    event_from_wire,
    render_tails,
)
from fastaw.storage.inserts import PreparedRows, prepare_rows
from fastaw.storage.mutations import Writes, check_setting_key
from fastaw.timefmt import MAX_NS, parse_datetime

if TYPE_CHECKING:
    from fastaw.api.app import Server

INLINE_LIMIT: Final = 1000
#: Inserts of more events are validated on the server's validator thread (≈ 4 µs per
#: event), so the event loop keeps answering heartbeats (`fastaw.api.app.SWITCH_INTERVAL`).
INLINE_EVENTS: Final = 250
_INTEGER: Final = re.compile(r"[+-]?[0-9]+")
_info_encoder: Final = msgspec.json.Encoder()


def _time_param(request: Request, name: str) -> int | None:
    value = request.param(name)
    if value is None:
        return None
    try:
        return parse_datetime(value)
    except ValueError as exc:
        raise BadRequest(
            f"Invalid query parameter `{name}`: {exc} (use ISO 8601, e.g. 2024-01-01T00:00:00Z;"
            " encode '+' as %2B)"
        ) from None


def _limit_param(request: Request) -> int | None:
    value = request.param("limit")
    if value is None or value == "":
        return None
    if not _INTEGER.fullmatch(value):
        raise BadRequest(f"Invalid query parameter `limit`: {value!r} is not an integer")
    limit = int(value)
    return None if limit < 0 else limit


def _event_id(request: Request) -> int:
    raw = request.params["event_id"]
    if not _INTEGER.fullmatch(raw) or not 0 <= int(raw) <= MAX_EVENT_ID:
        raise BadRequest(
            f"Invalid event id {raw!r} in the path: expected an integer in 0 … {MAX_EVENT_ID}"
        )
    return int(raw)


# -- info --------------------------------------------------------------------------------

async def info(server: Server, request: Request) -> Response:
    body = Info(
        hostname=socket.gethostname(),
        version=f"v{__version__} (fastaw)",
        testing=server.config.testing,
        device_id=server.device_id,
    )
    return json_response(_info_encoder.encode(body))


# -- buckets -----------------------------------------------------------------------------

async def list_buckets(server: Server, request: Request) -> Response:
    return json_response(server.reader.buckets_json())


async def get_bucket(server: Server, request: Request) -> Response:
    return json_response(server.reader.bucket_json(request.params["bucket_id"]))


async def create_bucket(server: Server, request: Request) -> Response:
    bucket_id = request.params["bucket_id"]
    spec: BucketIn = decode_json(await request.json_body(), BucketIn)
    data = dict(spec.data or {})
    hostname = spec.hostname
    if hostname == "!local":
        hostname = socket.gethostname()
        data["device_id"] = server.device_id
    created = time.time_ns()
    if spec.created is not None:
        try:
            created = parse_datetime(spec.created)
        except ValueError as exc:
            raise BadRequest(f"Invalid body: `$.created`: {exc}") from None
    events = [event_from_wire(e, f"$.events[{i}]") for i, e in enumerate(spec.events or ())]
    bucket = Bucket(id=bucket_id, num=0, type=spec.type, client=spec.client, hostname=hostname,
                    created=created, data=canonical_data(data))
    await server.writer.run(lambda w: w.create_bucket(bucket, events))
    return empty_response(200)


async def delete_bucket(server: Server, request: Request) -> Response:
    bucket_id = request.params["bucket_id"]
    if server.config.require_force_delete and request.param("force") != "1":
        raise Unauthorized(
            "Deleting buckets is only permitted with ?force=1 (require_force_delete is set)"
        )
    await server.writer.run(lambda w: w.delete_bucket(bucket_id))
    return empty_response(200)


# -- events ------------------------------------------------------------------------------

async def get_events(server: Server, request: Request) -> Response:
    bucket_id = request.params["bucket_id"]
    start = _time_param(request, "start")
    end = _time_param(request, "end")
    limit = _limit_param(request)
    if limit is not None and limit <= INLINE_LIMIT:
        return json_response(server.reader.events_json(bucket_id, start, end, limit))
    stream = ThreadStream(lambda emit: server.reader.write_events(
        emit, bucket_id, start, end, limit, STREAM_ROWS))
    first = await stream.piece()  # a missing bucket raises here, before any byte is sent
    second = await stream.piece()
    if first is None or second is None:  # one piece: one body with a Content-Length
        await stream.aclose()
        return json_response(first or b"[]")
    stream.pending = [first, second]
    return Response(stream=stream)


#: Events per piece of a streamed event list (≈ 150 bytes each for window events): a list
#: of more is sent in pieces (chunked) while the rest is still being read.
STREAM_ROWS: Final = 4096


async def count_events(server: Server, request: Request) -> Response:
    bucket_id = request.params["bucket_id"]
    start = _time_param(request, "start")
    end = _time_param(request, "end")
    if start is None and end is None:
        count = server.reader.count(bucket_id)
    else:
        count = await asyncio.to_thread(server.reader.count, bucket_id, start, end)
    return json_response(str(count).encode())


async def get_event(server: Server, request: Request) -> Response:
    bucket_id = request.params["bucket_id"]
    event_id = _event_id(request)
    body = server.reader.event_json(bucket_id, event_id)
    if body is None:
        raise NotFound(f"There is no event with id {event_id} in bucket '{bucket_id}'")
    return json_response(body)


def _root(index: int) -> str:
    return "$"


def _item(index: int) -> str:
    return f"$[{index}]"


def _prepare_insert(server: Server, bucket_id: str, raws: list[EventIn],
                    where: Callable[[int], str]) -> PreparedRows:
    """Validate events and build their rows' bytes (all but the ids), column-wise."""
    columns = columns_from_wire(raws, where)
    tails = render_tails(columns.stamps, columns.durations, columns.datas)
    bucket = server.reader.bucket(bucket_id)  # the writer re-checks (and answers a 404)
    return prepare_rows(0 if bucket is None else bucket.num, columns.starts,
                        columns.durations, tails, columns.ids)


async def insert_events(server: Server, request: Request) -> Response:
    bucket_id = request.params["bucket_id"]
    decoded = decode_json(await request.json_body(), EventIn | list[EventIn])
    if isinstance(decoded, EventIn):
        rows = _prepare_insert(server, bucket_id, [decoded], _root)
    elif len(decoded) <= INLINE_EVENTS:
        rows = _prepare_insert(server, bucket_id, decoded, _item)
    else:
        rows = await asyncio.get_running_loop().run_in_executor(
            server.validator, _prepare_insert, server, bucket_id, decoded, _item)
    rendered = await server.writer.run(lambda w: w.insert_rows(bucket_id, rows))
    return json_response(b"[" + b",".join(rendered) + b"]")


async def delete_event(server: Server, request: Request) -> Response:
    bucket_id = request.params["bucket_id"]
    event_id = _event_id(request)
    deleted = await server.writer.run(lambda w: w.delete_event(bucket_id, event_id))
    return json_response(b'{"success":%d}' % int(deleted))


def _pulsetime(request: Request) -> int:
    raw = request.param("pulsetime")
    if raw is None:
        raise BadRequest("Missing required query parameter `pulsetime` (seconds)")
    try:
        seconds = float(raw)
    except ValueError:
        raise BadRequest(f"Invalid query parameter `pulsetime`: {raw!r} is not a number") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise BadRequest(
            f"Invalid query parameter `pulsetime`: {raw!r} must be a finite number >= 0"
        )
    ns = seconds * 1e9
    # Saturate like aw-server-rust: 1e300 s is "merge anything", not an overflow.
    return MAX_NS if ns >= MAX_NS else int(ns)


async def heartbeat(server: Server, request: Request) -> Response:
    bucket_id = request.params["bucket_id"]
    beat = event_from_wire(decode_json(await request.json_body(), EventIn), "$")
    pulsetime = _pulsetime(request)
    rendered = await server.writer.heartbeat(bucket_id, beat, pulsetime)
    return json_response(rendered)


# -- export / import ---------------------------------------------------------------------

async def _aiter_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Pull a blocking chunk iterator on a worker thread, batching small chunks."""
    sentinel = object()

    def pull() -> Any:
        parts: list[bytes] = []
        size = 0
        for chunk in chunks:
            parts.append(chunk)
            size += len(chunk)
            if size >= 1 << 20:
                break
        return b"".join(parts) if parts else sentinel

    while True:
        block = await asyncio.to_thread(pull)
        if block is sentinel:
            return
        yield block


def _selection(request: Request, bucket_ids: list[str] | None) -> Selection:
    """Buckets and ``[start, end)`` of an export request (``bucket=`` or ``buckets=a,b``)."""
    if bucket_ids is None:
        one = request.param("bucket")
        many = request.param("buckets")
        if one is not None or many is not None:
            bucket_ids = ([one] if one is not None else []) + (many.split(",") if many else [])
    return Selection(bucket_ids, _time_param(request, "start"), _time_param(request, "end"))


async def _export_response(server: Server, request: Request,
                           bucket_ids: list[str] | None) -> Response:
    fmt = check_format(request.param("format") or "json")
    selection = _selection(request, bucket_ids).resolve(server.env)
    filename = export_filename([info.bucket.id for info in selection.infos], fmt)
    headers = [(b"content-disposition", attachment(filename))]
    if fmt == "parquet":
        fd, name = tempfile.mkstemp(prefix=".export-", suffix=".parquet", dir=server.data_dir)
        os.close(fd)
        path = Path(name)
        try:
            await asyncio.to_thread(export_parquet, server.env, selection, path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return Response(status=200, headers=headers, content_type=CONTENT_TYPES[fmt],
                        stream=stream_file(path))
    return Response(status=200, headers=headers, content_type=CONTENT_TYPES[fmt],
                    stream=_aiter_thread(export_stream(server.env, selection, fmt)))


async def export_all(server: Server, request: Request) -> Response:
    return await _export_response(server, request, None)


async def export_bucket(server: Server, request: Request) -> Response:
    bucket_id = request.params["bucket_id"]
    server.reader.bucket_json(bucket_id)  # 404 for a missing bucket
    return await _export_response(server, request, [bucket_id])


IMPORT_TYPES: Final = (b"application/json", b"multipart/form-data", b"application/x-ndjson",
                       b"application/jsonl", b"application/vnd.apache.parquet",
                       b"application/octet-stream", b"text/csv")


async def import_buckets(server: Server, request: Request) -> Response:
    """Spool the upload to disk; validate and apply it all in one transaction, or nothing."""
    if request.content_type not in IMPORT_TYPES:
        got = request.headers.get(b"content-type", b"").decode("latin-1") or "none"
        raise UnsupportedMediaType(
            f"Expected Content-Type: application/json (or multipart/form-data, "
            f"application/x-ndjson, application/vnd.apache.parquet, text/csv), got {got}")
    uploads = await spool_request(request, server.data_dir)
    staged: list[Staged] = []
    try:
        for upload in uploads:
            if upload.path.stat().st_size == 0:
                raise BadRequest(f"The uploaded {upload.name!r} is empty")
            staged.append(await asyncio.to_thread(
                prepare_import, upload.path, _import_format(upload.hint), server.data_dir))

        def apply(writes: Writes) -> ImportSummary:
            total = ImportSummary()
            for item in staged:
                part = item.apply(writes)
                total.buckets_created += part.buckets_created
                total.buckets_merged += part.buckets_merged
                total.events_imported += part.events_imported
                total.events_skipped += part.events_skipped
            return total

        summary = await server.writer.run(apply)
    finally:
        for item in staged:
            item.close()
        remove(uploads)
    return json_response(msgspec.json.encode(summary.as_dict()))


def _import_format(hint: str | None) -> str | None:
    """A format forced by an explicit content type; None lets the content decide."""
    if hint in ("application/vnd.apache.parquet",):
        return "parquet"
    if hint in ("application/x-ndjson", "application/jsonl"):
        return "ndjson"
    return None


# -- settings ----------------------------------------------------------------------------

async def get_settings(server: Server, request: Request) -> Response:
    return json_response(server.reader.settings_json())


async def get_setting(server: Server, request: Request) -> Response:
    key = request.params["key"]
    check_setting_key(key)
    return json_response(server.reader.setting_json(key))


async def set_setting(server: Server, request: Request) -> Response:
    key = request.params["key"]
    check_setting_key(key)
    value = decode_json(await request.json_body(), Any, "setting value")
    encoded = msgspec.json.encode(value)
    await server.writer.run(lambda w: w.set_setting(key, encoded))
    return empty_response(201)


async def delete_setting(server: Server, request: Request) -> Response:
    key = request.params["key"]
    check_setting_key(key)
    await server.writer.run(lambda w: w.delete_setting(key))
    return empty_response(200)


# -- query -------------------------------------------------------------------------------

async def query(server: Server, request: Request) -> Response:
    body = await request.json_body()
    return json_response(await server.run_query(body, request.param("name")))
