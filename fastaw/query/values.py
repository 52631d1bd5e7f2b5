"""The value model of the query language.

A value is one of:

=================  ===========================================================
language type      Python representation
=================  ===========================================================
None               ``None``
Bool               ``bool``
Number             ``float`` (always; never ``int``)
String             ``str``
List               ``list[Value]`` **or** an events frame (`Events`): a List whose
                   elements are all Events is kept columnar; it is turned into
                   ``list[Event]`` only where a generic list operation needs the
                   elements (``+`` with a non-event list, ``==``, ``contains``)
Dict               ``dict[str, Value]``
Event              `Event` (only ever seen as an element of such a ``list``)
Function           `Builtin`
=================  ===========================================================

Invariants: values are never mutated after they are built (a ``list`` or ``dict`` is
shared between variables, which gives Rust's value semantics without copies); an
`Event`'s ``data`` is canonical JSON text (see `fastaw.transforms.frame`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import msgspec

from fastaw.query.diag import error, rust_str
from fastaw.timefmt import format_ns
from fastaw.transforms.dictionary import texts_of
from fastaw.transforms.frame import Events, from_columns
from fastaw.transforms.overlay import plain

if TYPE_CHECKING:
    from fastaw.query.source import EventSource

#: Longest Debug rendering put into an error message; longer ones end in "…".
DEBUG_LIMIT: Final = 2000


class Event(msgspec.Struct, frozen=True, gc=False):
    """One event: integer ns, canonical JSON data text."""

    id: int | None
    timestamp: int
    duration: int
    data: str


class Context:
    """What a built-in sees of the running evaluation."""

    __slots__ = ("env", "source")

    def __init__(self, env: dict[str, Value], source: EventSource) -> None:
        self.env = env
        self.source = source


class Builtin(msgspec.Struct, frozen=True):
    """A built-in function value; ``fn`` gets the evaluated arguments."""

    name: str
    fn: Callable[[Context, list[Value]], Value]


Value: TypeAlias = (
    "float | str | bool | list[Value] | dict[str, Value] | Events | Event | Builtin | None"
)

_JSON_DECODER: Final = msgspec.json.Decoder()


# -- event lists ------------------------------------------------------------------------


def frame_to_events(frame: Events) -> list[Event]:
    """The events of a frame as `Event` values, in order (an overlay spliced in)."""
    frame = plain(frame)
    cols = [frame.get_column(name).to_list() for name in ("id", "timestamp", "duration")]
    cols.append(texts_of(frame["data"]).to_list())
    return [Event(*row) for row in zip(*cols, strict=True)]


def events_to_frame(events: list[Event]) -> Events:
    """A frame of `Event` values (caller checked that every element is an `Event`)."""
    return from_columns(
        [e.id for e in events],
        [e.timestamp for e in events],
        [e.duration for e in events],
        [e.data for e in events],
    )


def is_event_list(value: list[Value]) -> bool:
    return all(isinstance(item, Event) for item in value)


def elements(value: list[Value] | Events) -> list[Value]:
    """The elements of a List value as a Python list (frames are converted)."""
    if isinstance(value, list):
        return value
    return list(frame_to_events(value))


# -- equality (aw-server-rust `query_eq` and `PartialEq`) ---------------------------------


def _type_name(value: Value) -> str:
    if isinstance(value, Events):
        return "List"
    return {
        type(None): "None",
        bool: "Bool",
        float: "Number",
        str: "String",
        list: "List",
        dict: "Dict",
        Event: "Event",
        Builtin: "Function",
    }[type(value)]


def query_eq(a: Value, b: Value) -> bool:
    """``a == b`` in the language: different types (or functions) are an error."""
    ta, tb = _type_name(a), _type_name(b)
    if ta != tb or ta == "Function":
        raise error(
            "InvalidType", f"Cannot compare values of different types {debug(a)} and {debug(b)}"
        )
    if ta == "None":
        return False  # a quirk of Rust's query_eq, kept on purpose
    return deep_eq(a, b)


def deep_eq(a: Value, b: Value) -> bool:
    """Structural equality: different types are unequal, ``None == None``, ids ignored."""
    ta, tb = _type_name(a), _type_name(b)
    if ta != tb or ta == "Function":
        return False
    if ta == "List":
        assert isinstance(a, list | Events) and isinstance(b, list | Events)
        if isinstance(a, Events) and isinstance(b, Events):
            if a.height != b.height:
                return False
            cols = ["timestamp", "duration", "data"]
            return bool(plain(a).select(cols).equals(plain(b).select(cols)))
        la, lb = elements(a), elements(b)
        return len(la) == len(lb) and all(deep_eq(x, y) for x, y in zip(la, lb, strict=True))
    if ta == "Dict":
        assert isinstance(a, dict) and isinstance(b, dict)
        return a.keys() == b.keys() and all(deep_eq(a[k], b[k]) for k in a)
    if ta == "Event":
        assert isinstance(a, Event) and isinstance(b, Event)
        return (a.timestamp, a.duration, a.data) == (b.timestamp, b.duration, b.data)
    return bool(a == b)  # None, Bool, Number (f64 ==), String


# -- Rust Debug rendering for error messages ---------------------------------------------


class _Full(Exception):
    """Raised inside `debug` once the rendering is long enough."""


class _Out:
    """A string builder that stops (raises `_Full`) past `DEBUG_LIMIT` characters."""

    __slots__ = ("length", "parts")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)
        if self.length > DEBUG_LIMIT:
            raise _Full


def rust_number(x: float) -> str:
    """f64 as Rust's Display writes it: shortest digits, never an exponent (1.0 → ``1``)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = format(Decimal(repr(x)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _json_debug(value: Any, out: _Out) -> None:
    """serde_json ``Value`` Debug of a decoded JSON value."""
    if value is None:
        out.add("Null")
    elif isinstance(value, bool):
        out.add(f"Bool({'true' if value else 'false'})")
    elif isinstance(value, int):
        out.add(f"Number({value})")
    elif isinstance(value, float):
        out.add(f"Number({msgspec.json.encode(value).decode()})")
    elif isinstance(value, str):
        out.add(f"String({rust_str(value)})")
    elif isinstance(value, list):
        out.add("Array [")
        for n, item in enumerate(value):
            out.add(", " if n else "")
            _json_debug(item, out)
        out.add("]")
    else:
        out.add("Object {")
        for n, (k, v) in enumerate(sorted(value.items())):
            out.add(f"{', ' if n else ''}{rust_str(k)}: ")
            _json_debug(v, out)
        out.add("}")


def _event_debug(e: Event, out: _Out) -> None:
    secs, nanos = divmod(e.duration, 1_000_000_000)
    ident = "None" if e.id is None else f"Some({e.id})"
    out.add(
        f"Event(Event {{ id: {ident}, timestamp: {format_ns(e.timestamp)}, "
        f"duration: TimeDelta {{ secs: {secs}, nanos: {nanos} }}, data: {{"
    )
    data = _JSON_DECODER.decode(e.data)
    for n, (k, v) in enumerate(sorted(data.items())):
        out.add(f"{', ' if n else ''}{rust_str(k)}: ")
        _json_debug(v, out)
    out.add("} })")


def _debug(value: Value, out: _Out) -> None:
    if value is None:
        out.add("None()")
    elif isinstance(value, bool):
        out.add(f"Bool({'true' if value else 'false'})")
    elif isinstance(value, float):
        out.add(f"Number({rust_number(value)})")
    elif isinstance(value, str):
        out.add(f"String({value})")
    elif isinstance(value, Builtin):
        out.add(f"Function({value.name})")
    elif isinstance(value, Event):
        _event_debug(value, out)
    elif isinstance(value, dict):
        out.add("Dict({")
        for n, (k, v) in enumerate(value.items()):
            out.add(f"{', ' if n else ''}{rust_str(k)}: ")
            _debug(v, out)
        out.add("})")
    else:
        # Only the head of a long frame can ever be shown; never convert all of it.
        items = elements(value.head(64) if isinstance(value, Events) else value)
        out.add("List([")
        for n, item in enumerate(items):
            out.add(", " if n else "")
            _debug(item, out)
        out.add("])")


def debug(value: Value) -> str:
    """``value`` as aw-server-rust's ``{:?}`` of a DataType, cut at `DEBUG_LIMIT`."""
    out = _Out()
    try:
        _debug(value, out)
    except _Full:
        return "".join(out.parts)[:DEBUG_LIMIT] + "…"
    return "".join(out.parts)
