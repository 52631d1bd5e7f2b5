"""Query results → the JSON bytes aw-server-rust answers.

Rules (spec §1.5): compact; every object's keys sorted; numbers are f64 written like
serde_json/ryu (``1.0``, ``1e16``, ``0.00001``), NaN and ±inf as ``null``; an event is
``{"data":…,"duration":<seconds>,"id":<int|null>,"timestamp":"…Z"}``. Event data is
already canonical JSON text (keys sorted), so it is spliced in with `msgspec.Raw`, never
decoded and re-encoded. Whole event lists are written column-wise by
`fastaw.transforms.frame.to_json_bytes`; `event_json` is the scalar writer for single
events (and the reference the tests hold the vectorized one to). A Function value cannot
be written (Rust panics; here it is an ``InvalidType`` error).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import msgspec

from fastaw.query.diag import error
from fastaw.query.values import Builtin, Event, Value
from fastaw.timefmt import format_ns
from fastaw.transforms.frame import Events, to_json_bytes, to_json_bytes_many
from fastaw.transforms.overlay import plain

_ENCODER: Final = msgspec.json.Encoder(order="sorted")
#: Event lists of one result holding at most this many events in all are written together.
TOGETHER_EVENTS: Final = 20_000


def events_json(frame: Events) -> bytes:
    """A frame as a JSON array of events, in frame order (vectorized, in transforms)."""
    return to_json_bytes(plain(frame))


def event_json(event: Event) -> bytes:
    """One event as JSON; the duration is ``ns as f64 / 1e9`` written like serde_json."""
    duration = _ENCODER.encode(event.duration / 1e9).decode()
    ident = "null" if event.id is None else event.id
    return (
        f'{{"data":{event.data},"duration":{duration},'
        f'"id":{ident},"timestamp":"{format_ns(event.timestamp)}"}}'
    ).encode()


def _jsonable(value: Value, written: dict[int, bytes]) -> Any:
    """``value`` as something msgspec encodes: containers rebuilt, events as `Raw`
    (event lists from ``written``, by identity, when there)."""
    if value is None or isinstance(value, bool | float | str):
        return value
    if isinstance(value, list):
        return [_jsonable(item, written) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item, written) for key, item in value.items()}
    if isinstance(value, Event):
        return msgspec.Raw(event_json(value))
    if isinstance(value, Builtin):
        raise error("InvalidType", f"Cannot serialize the function {value.name}")
    done = written.get(id(value))
    return msgspec.Raw(done if done is not None else events_json(value))


def _event_lists(value: Value) -> Iterator[Events]:
    """Every event list inside ``value`` (lists and dicts walked, depth first)."""
    if isinstance(value, list):
        for item in value:
            yield from _event_lists(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _event_lists(item)
    elif isinstance(value, Events):
        yield value


def encode_value(value: Value) -> bytes:
    """One period's result as JSON bytes. The event lists inside a result (the
    dashboard's answer holds a dozen of up to 100 events) are written in one pass when
    they are small, else one by one."""
    if isinstance(value, Events):
        return events_json(value)
    lists = list({id(frame): frame for frame in _event_lists(value)}.values())
    written: dict[int, bytes] = {}
    if len(lists) > 1 and sum(frame.height for frame in lists) <= TOGETHER_EVENTS:
        written = {id(frame): text for frame, text
                   in zip(lists, to_json_bytes_many([plain(f) for f in lists]), strict=True)}
    return _ENCODER.encode(_jsonable(value, written))


def encode_results(results: list[bytes]) -> bytes:
    """The response body: the per-period results as one JSON array."""
    return b"[" + b",".join(results) + b"]"
