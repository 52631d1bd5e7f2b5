"""Wire shapes (msgspec Structs) and the byte renderings of events and buckets.

Every request body is decoded straight into these Structs by decoders built once, here.
Event ``data`` is kept as *canonical JSON* (compact, keys sorted at every level, integers
and floats kept apart), so "same data" is "same bytes" — the JSON-typed equality that
aw-server-rust uses (``1 != 1.0``) — and so output never re-encodes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import repeat
from operator import truediv
from typing import Any, Final, NamedTuple

import msgspec

from fastaw.errors import BadRequest
from fastaw.timefmt import (
    MAX_NS,
    MIN_NS,
    check_ns,
    format_ns,
    parse_datetime,
    parse_stamps,
    seconds_to_ns,
    seconds_to_ns_many,
)

JSONObject = dict[str, Any]
#: Event ids are positive 64-bit signed integers, as in aw-server-rust's SQLite table.
MAX_EVENT_ID: Final = 2**63 - 1


class EventIn(msgspec.Struct, kw_only=True, gc=False):
    """An event as clients send it (insert, heartbeat, import).

    ``gc=False``: nothing it holds can refer back to it, so the cycle collector need not
    track the thousands of them a batch decodes.
    """

    timestamp: str
    data: JSONObject
    duration: float = 0.0
    id: int | None = None


class BucketIn(msgspec.Struct, kw_only=True):
    """``POST /api/0/buckets/{id}``; the id comes from the path, unknown fields are ignored."""

    type: str
    client: str
    hostname: str
    created: str | None = None
    data: JSONObject | None = None
    events: list[EventIn] | None = None


class BucketMeta(msgspec.Struct, kw_only=True):
    """Bucket metadata as export files carry it (either reference server's shape);
    unknown fields are ignored."""

    type: str
    client: str
    hostname: str
    id: str | None = None
    created: str | None = None
    data: JSONObject | None = None


class ImportBucket(BucketMeta, kw_only=True):
    """One bucket of an export envelope, with its events."""

    events: list[EventIn] | None = None


class ImportEnvelope(msgspec.Struct):
    buckets: dict[str, ImportBucket]


class Event(msgspec.Struct, gc=False):
    """An event inside fastaw: integer ns, canonical data bytes."""

    id: int | None
    start: int
    duration: int
    data: bytes


class Bucket(msgspec.Struct, kw_only=True):
    """A bucket's stored record (msgpack in the store)."""

    id: str
    num: int
    type: str
    client: str
    hostname: str
    created: int
    data: bytes = b"{}"


class BucketStats(msgspec.Struct, array_like=True, gc=False):
    """Per-bucket facts kept beside the rows so no request has to scan for them."""

    count: int = 0
    max_duration: int = 0
    end: int | None = None
    anchor: int | None = None
    min_duration: int = 0


class Info(msgspec.Struct):
    hostname: str
    version: str
    testing: bool
    device_id: str


_json_encoder: Final = msgspec.json.Encoder(order="sorted")
_float_encoder: Final = msgspec.json.Encoder()


def canonical_data(data: JSONObject) -> bytes:
    """Canonical JSON of an event's data: compact, keys sorted, ints and floats apart."""
    return _json_encoder.encode(data)


def encode_duration(ns: int) -> bytes:
    """Seconds as aw-server-rust writes them (f64 ns / 1e9, shortest round-trip form)."""
    return _float_encoder.encode(ns / 1e9)


def encode_durations(durations: Sequence[int]) -> list[bytes]:
    """`encode_duration` of each ns duration, in one encoder call."""
    if not durations:
        return []
    return _float_encoder.encode(list(map(truediv, durations, repeat(1e9))))[1:-1].split(b",")


_TAIL: Final = b',"timestamp":"%b","duration":%b,"data":%b}'
#: An event's JSON is ``HEAD % id`` followed by its tail (see `render_tails`).
HEAD: Final = b'{"id":%d'


def render_event(event_id: int | None, start: int, duration: int, data: bytes) -> bytes:
    """The JSON object of an event, keys in aw-server-rust's order."""
    ident = b'{"id":null' if event_id is None else HEAD % event_id
    return ident + _TAIL % (format_ns(start).encode(), encode_duration(duration), data)


def render_tails(stamps: Sequence[bytes], durations: Sequence[int],
                 datas: Sequence[bytes]) -> list[bytes]:
    """What follows the id in each event's JSON (`render_event` = ``HEAD % id + tail``);
    ``stamps`` are `format_ns` of the starts, as bytes."""
    return [_TAIL % row for row in zip(stamps, encode_durations(durations), datas, strict=True)]


def event_from_wire(raw: EventIn, where: str) -> Event:
    """Validate and convert one decoded event; ``where`` names it in error messages."""
    try:
        start = parse_datetime(raw.timestamp)
    except ValueError as exc:
        raise BadRequest(f"Invalid timestamp at `{where}.timestamp`: {exc}") from None
    try:
        duration = check_ns(seconds_to_ns(raw.duration), "duration")
    except ValueError as exc:
        raise BadRequest(f"Invalid duration at `{where}.duration`: {exc}") from None
    if raw.id is not None and not 0 <= raw.id <= MAX_EVENT_ID:
        raise BadRequest(f"Invalid id at `{where}.id`: must be an integer in 0 … {MAX_EVENT_ID}")
    try:
        check_ns(start + duration, "the event's end")
    except ValueError as exc:
        raise BadRequest(f"Invalid event at `{where}`: {exc}") from None
    return Event(raw.id, start, duration, canonical_data(raw.data))


class EventColumns(NamedTuple):
    """Validated events as columns, in request order (see `columns_from_wire`)."""

    starts: list[int]
    durations: list[int]
    datas: list[bytes]  # canonical JSON
    stamps: list[bytes]  # format_ns of each start
    ids: list[int | None] | None  # None when no event names an id

    def events(self) -> list[Event]:
        ids = self.ids or [None] * len(self.starts)
        return list(map(Event, ids, self.starts, self.durations, self.datas))


#: |duration| below this (≈ 13 days): the end of a start this far inside the range fits too
_SHORT: Final = 2**50


def columns_from_wire(raws: list[EventIn], where: Callable[[int], str]) -> EventColumns:
    """`event_from_wire` of every event, column-wise: one pass per column, mostly in C.

    Anything the column functions do not cover alone (an unusual timestamp, a huge
    duration, an event near the ends of the time range, an invalid value) sends the
    whole list through `event_from_wire` in order, so the 400 names the first bad event
    (``where(i)``) exactly as the per-event path does, and results are identical.
    """
    texts = [raw.timestamp for raw in raws]
    durations = seconds_to_ns_many([raw.duration for raw in raws])
    ids: list[int | None] | None = [raw.id for raw in raws]
    assert ids is not None
    if ids.count(None) == len(ids):
        ids = None
    try:
        starts, stamps = parse_stamps(texts)
    except ValueError:
        starts = []
    if (durations is None or not starts or (ids is not None and not all(
            0 <= i <= MAX_EVENT_ID for i in ids if i is not None))
            or min(starts) <= MIN_NS + _SHORT or max(starts) >= MAX_NS - _SHORT):
        events = [event_from_wire(raw, where(i)) for i, raw in enumerate(raws)]
        starts = [event.start for event in events]
        durations = [event.duration for event in events]
        stamps = [format_ns(start).encode() for start in starts]
    datas = list(map(_json_encoder.encode, [raw.data for raw in raws]))
    return EventColumns(starts, durations, datas, stamps, ids)


def decode_json(body: bytes, type_: Any, what: str = "body") -> Any:
    """Decode a request body into ``type_``; every failure is a 400 that names the field."""
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"Invalid {what}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"Malformed JSON in {what}: {exc}") from None
    except RecursionError:  # msgspec's answer to very deep nesting
        raise BadRequest(f"Malformed JSON in {what}: nested too deeply") from None


def render_bucket(
    bucket: Bucket, stats: BucketStats, first_start: int | None, events: bytes | None = None
) -> bytes:
    """The JSON of a bucket: aw-server-rust's fields plus a real ``last_updated``."""
    start = b"null" if first_start is None else b'"' + format_ns(first_start).encode() + b'"'
    end = b"null" if stats.end is None else b'"' + format_ns(stats.end).encode() + b'"'
    head = msgspec.json.encode(
        {
            "id": bucket.id,
            "type": bucket.type,
            "client": bucket.client,
            "hostname": bucket.hostname,
            "created": format_ns(bucket.created),
        }
    )
    return b"".join(
        (
            head[:-1],
            b',"data":',
            bucket.data,
            b',"metadata":{"start":',
            start,
            b',"end":',
            end,
            b'},"events":',
            b"null" if events is None else events,
            b',"last_updated":',
            end,
            b',"name":null}',
        )
    )
