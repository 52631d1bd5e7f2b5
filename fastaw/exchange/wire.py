"""Imported records → validated event columns and `Bucket`s, fast enough for whole histories.

Every importer (ActivityWatch JSON, NDJSON, Parquet, SQLite migration) funnels through
here, so the rules are the ones of the REST API (`fastaw.models.event_from_wire`):
timestamps in the int64-ns range, finite durations, data a JSON object kept as canonical
JSON. Incoming event ids are dropped: imports assign fresh ids, so they can never overwrite
unrelated events (aw-server-rust's import can).

`fast_timestamp` parses the shapes exports actually contain (aw-server-rust's
``…T…Z``, Python's ``…T…+00:00`` and SQLite's ``… …+00:00``) without a regex and caches
the date part; anything else goes to the full parser in `fastaw.timefmt`.
"""

from __future__ import annotations

import decimal
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, cast

import msgspec

from fastaw.errors import BadRequest
from fastaw.exchange.items import EventsItem
from fastaw.models import Bucket, canonical_data
from fastaw.timefmt import MAX_NS, MIN_NS, parse_datetime

JSONObject = dict[str, Any]
_DAYS: dict[str, int] = {}
_ZERO_OFFSETS: Final = ("+00:00", "-00:00")
_NS: Final = 1_000_000_000
_EXACT: Final = float(2**50)
SAFE: Final = 2**62  # |start|, |duration| below this: start + duration cannot overflow
_canonical: Final = msgspec.json.Encoder(order="sorted")
_objects: Final = msgspec.json.Decoder(list[dict[str, Any]])


class WireEvent(msgspec.Struct, gc=False):
    """One event as export files carry it (either reference server's shape, or fastaw's).

    ``data`` stays raw JSON here: `canonical_datas` checks a whole batch at once.
    """

    timestamp: str
    data: msgspec.Raw
    duration: float = 0.0
    id: Any = None


class WireBucket(msgspec.Struct, kw_only=True):
    """Bucket metadata as export files carry it; unknown fields are ignored."""

    type: str
    client: str
    hostname: str
    id: str | None = None
    created: str | None = None
    data: JSONObject | None = None


_CLOCK: Final = {f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}": s for s in range(86_400)}
_DIGITS: Final = frozenset("0123456789")


def _day(date: str) -> int | None:
    """Days since the epoch of ``YYYY-MM-DD`` (validated once per distinct date), or None."""
    days = _DAYS.get(date)
    if days is None:
        try:
            ns = parse_datetime(date)
        except ValueError:
            return None
        if len(date) != 10 or ns % 86_400_000_000_000:
            return None
        if len(_DAYS) > 100_000:
            _DAYS.clear()
        days = _DAYS[date] = ns // 86_400_000_000_000
    return days


def fast_timestamp(text: str) -> int:
    """ns since the epoch of an RFC 3339 timestamp; same results as `parse_datetime`.

    Two dictionary look-ups (date, clock) and the fraction; other shapes take the full parser.
    """
    if text[-1:] == "Z":
        frac = text[19:-1]
    elif text[-6:] in _ZERO_OFFSETS:
        frac = text[19:-6]
    else:
        return parse_datetime(text)
    clock = _CLOCK.get(text[11:19])
    day = _day(text[:10])
    if clock is None or day is None or text[10:11] not in ("T", " ") or (
            frac and (frac[0] != "." or len(frac) < 2 or not _DIGITS.issuperset(frac[1:]))):
        return parse_datetime(text)
    ns = (day * 86_400 + clock) * _NS
    if frac:
        ns += int(frac[1:10].ljust(9, "0"))
    if not MIN_NS <= ns <= MAX_NS:
        return parse_datetime(text)
    return ns


def seconds_ns(seconds: float) -> int:
    """A duration in seconds as exact ns: the nearest ns to the number's decimal text.

    aw-server-rust truncates ``seconds * 1e9``, which turns 258.691000123 into
    258691000122 ns; rounding the product is exact while it is below 2**50 ns (13 days),
    and beyond that the decimal text is used.
    """
    if isinstance(seconds, int):
        return seconds * _NS
    product = seconds * 1e9
    if -_EXACT < product < _EXACT:
        return round(product)
    if not math.isfinite(seconds):
        raise ValueError(f"duration {seconds!r} is not a finite number")
    return int(decimal.Decimal(repr(seconds)).scaleb(9).to_integral_value(decimal.ROUND_HALF_EVEN))


Place = Callable[[int, str], str]


def json_place(path: str) -> Place:
    """Names event ``i`` (and a field) by its JSON path, e.g. ``$.buckets["x"].events[3]``."""
    return lambda i, field: f"{path}[{i}]" + (f".{field}" if field else "")


VECTOR_MIN: Final = 256  # below this many events, Polars' per-call overhead isn't worth it


def events_of(wires: Sequence[Any], place: Place, base: int, bucket_id: str) -> EventsItem:
    """Validate decoded events (`WireEvent`s, or anything with its three attributes);
    ``place(base + i, field)`` names event i in a 400.

    Large batches parse timestamps and convert durations column-wise (Polars); every value
    the fast paths leave out (unusual shapes, out-of-range years, huge durations) and every
    error goes through the scalar functions, so results and messages are the same.
    """
    return columns_of([wire.timestamp for wire in wires], [wire.duration for wire in wires],
                      [wire.data for wire in wires], place, base, bucket_id)


def columns_of(texts: list[str], seconds: list[float], raws: Sequence[Any], place: Place,
               base: int, bucket_id: str) -> EventsItem:
    """`events_of` on columns: timestamp texts, durations in seconds, data JSON texts."""
    datas = canonical_datas(raws, place, base)
    starts: list[int | None]
    durations: list[int | None]
    if len(texts) >= VECTOR_MIN:
        from fastaw.exchange.columns import parse_timestamps, seconds_to_ns

        starts, durations = parse_timestamps(texts), seconds_to_ns(seconds)
    else:
        starts, durations = [None] * len(texts), [None] * len(texts)
    for i, start in enumerate(starts):
        if start is None:
            try:
                starts[i] = fast_timestamp(texts[i])
            except ValueError as exc:
                raise BadRequest(f"Invalid timestamp at {place(base + i, 'timestamp')}: {exc}"
                                 ) from None
    for i, duration in enumerate(durations):
        if duration is None:
            try:
                durations[i] = seconds_ns(seconds[i])
            except ValueError as exc:
                raise BadRequest(f"Invalid duration at {place(base + i, 'duration')}: {exc}"
                                 ) from None
    done_starts = cast(list[int], starts)
    done_durations = cast(list[int], durations)
    if done_durations and (max(done_durations) > SAFE or min(done_durations) < -SAFE or
                           max(done_starts) > SAFE or min(done_starts) < -SAFE):
        for i, (start, duration) in enumerate(zip(done_starts, done_durations, strict=True)):
            check_event(start, duration, place(base + i, ""))
    return EventsItem(bucket_id, done_starts, done_durations, datas)


def canonical_datas(raws: Sequence[Any], place: Place, base: int) -> list[bytes]:
    """Canonical JSON of each data text (bytes-like); 400 naming the first non-object.

    One decode and one encode for the whole batch: when the texts already are canonical
    (exports of fastaw, and usually of aw-server-rust), the re-encoded batch equals them
    byte for byte and they are kept as they are.
    """
    if not raws:
        return []
    joined = b"[" + b",".join(raws) + b"]"
    try:
        decoded = _objects.decode(joined)
    except msgspec.DecodeError:  # (ValidationError included) find and name the bad one
        return [_one_data(raw, place, base + i) for i, raw in enumerate(raws)]
    if len(decoded) != len(raws):
        return [_one_data(raw, place, base + i) for i, raw in enumerate(raws)]
    if _canonical.encode(decoded) == joined:
        return [bytes(raw) for raw in raws]
    return [_canonical.encode(value) for value in decoded]


def _one_data(raw: Any, place: Place, index: int) -> bytes:
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise BadRequest(f"Invalid data at {place(index, 'data')}: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid data at {place(index, 'data')}: expected a JSON object")
    return canonical_data(value)


def check_event(start: int, duration: int, where: str) -> None:
    end = start + duration
    if not MIN_NS <= start <= MAX_NS or not MIN_NS <= duration <= MAX_NS or \
            not MIN_NS <= end <= MAX_NS:
        raise BadRequest(
            f"Invalid event at {where}: its end is outside the supported range "
            "1677-09-21 … 2262-04-11")


def to_bucket(bucket_id: str, raw: WireBucket, where: str) -> Bucket:
    """A bucket record from file metadata; a missing ``created`` becomes now."""
    if not bucket_id:
        raise BadRequest(f"Invalid bucket at {where}: it has no id")
    created = time.time_ns()
    if raw.created is not None:
        try:
            created = fast_timestamp(raw.created)
        except ValueError as exc:
            raise BadRequest(f"Invalid bucket at {where}.created: {exc}") from None
    return Bucket(id=bucket_id, num=0, type=raw.type, client=raw.client,
                  hostname=raw.hostname, created=created,
                  data=canonical_data(raw.data or {}))
