"""Query results → the JSON bytes aw-server-rust answers.

Rules (spec §1.5): compact; every object's keys sorted; numbers are f64 written like
serde_json/ryu (``1.0``, ``1e16``, ``0.00001``), NaN and ±inf as ``null``; an event is
``{"data":…,"duration":<seconds>,"id":<int|null>,"timestamp":"…Z"}``. Event data is
already canonical JSON text (keys sorted), so it is spliced in with `msgspec.Raw`, never
decoded and re-encoded. A Function value cannot be written (Rust panics; here it is an
``InvalidType`` error).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from fastaw.query.diag import error
from fastaw.query.values import Builtin, Event, Value
from fastaw.timefmt import format_ns
from fastaw.transforms.frame import Events

_ENCODER: Final = msgspec.json.Encoder(order="sorted")


def _event_text(ident: int | None, ts: int, duration_text: str, data: str) -> str:
    return (
        f'{{"data":{data},"duration":{duration_text},'
        f'"id":{"null" if ident is None else ident},"timestamp":"{format_ns(ts)}"}}'
    )


def events_json(frame: Events) -> bytes:
    """A frame as a JSON array of events, in frame order."""
    if frame.height == 0:
        return b"[]"
    ids = frame.get_column("id").to_list()
    timestamps = frame.get_column("timestamp").to_list()
    durations = frame.get_column("duration").to_list()
    datas = frame.get_column("data").to_list()
    # One encoder call writes every duration the way serde_json does; floats never
    # contain a comma, so splitting the array text is exact.
    duration_texts = _ENCODER.encode([d / 1e9 for d in durations]).decode()[1:-1].split(",")
    parts = map(_event_text, ids, timestamps, duration_texts, datas)
    return ("[" + ",".join(parts) + "]").encode()


def _event_json(event: Event) -> bytes:
    duration_text = _ENCODER.encode(event.duration / 1e9).decode()
    return _event_text(event.id, event.timestamp, duration_text, event.data).encode()


def _jsonable(value: Value) -> Any:
    """``value`` as something msgspec encodes: containers rebuilt, events as `Raw`."""
    if value is None or isinstance(value, bool | float | str):
        return value
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, Event):
        return msgspec.Raw(_event_json(value))
    if isinstance(value, Builtin):
        raise error("InvalidType", f"Cannot serialize the function {value.name}")
    return msgspec.Raw(events_json(value))


def encode_value(value: Value) -> bytes:
    """One period's result as JSON bytes."""
    if isinstance(value, Events):
        return events_json(value)
    return _ENCODER.encode(_jsonable(value))


def encode_results(results: list[bytes]) -> bytes:
    """The response body: the per-period results as one JSON array."""
    return b"[" + b",".join(results) + b"]"
