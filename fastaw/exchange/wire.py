"""Imported records → validated event columns and `Bucket`s, fast enough for whole histories.

Every importer (ActivityWatch JSON, NDJSON, Parquet, SQLite migration) funnels through
here, so the rules are the ones of the REST API (`fastaw.models.event_from_wire`):
timestamps in the int64-ns range, finite durations, data a JSON object kept as canonical
JSON. Incoming event ids are dropped: imports assign fresh ids, so they can never overwrite
unrelated events (aw-server-rust's import can).

Timestamps and durations are converted by `fastaw.timefmt` (whose fast path covers the
shapes exports contain: aw-server-rust's ``…T…Z``, Python's ``…T…+00:00``, SQLite's
``… …+00:00``), the same functions the REST API uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any, Final

import msgspec

from fastaw.errors import BadRequest
from fastaw.exchange.items import EventsItem
from fastaw.models import Bucket, BucketMeta, canonical_data
from fastaw.timefmt import MAX_NS, MIN_NS, parse_datetime, seconds_to_ns

JSONObject = dict[str, Any]
SAFE: Final = 2**62  # |start|, |duration| below this: start + duration cannot overflow
_canonical: Final = msgspec.json.Encoder(order="sorted")
_objects: Final = msgspec.json.Decoder(list[dict[str, Any]])
_TIMESTAMP: Final = attrgetter("timestamp")
_DURATION: Final = attrgetter("duration")
_DATA: Final = attrgetter("data")


class WireEvent(msgspec.Struct, gc=False):
    """One event as export files carry it (either reference server's shape, or fastaw's).

    ``data`` stays raw JSON here: `canonical_datas` checks a whole batch at once.
    """

    timestamp: str
    data: msgspec.Raw
    duration: float = 0.0
    id: Any = None


WireBucket = BucketMeta  # bucket metadata as export files carry it (fastaw.models)


Place = Callable[[int, str], str]


def json_place(path: str) -> Place:
    """Names event ``i`` (and a field) by its JSON path, e.g. ``$.buckets["x"].events[3]``."""
    return lambda i, field: f"{path}[{i}]" + (f".{field}" if field else "")


def events_of(wires: Sequence[Any], place: Place, base: int, bucket_id: str) -> EventsItem:
    """Validate decoded events (`WireEvent`s, or anything with its three attributes);
    ``place(base + i, field)`` names event i in a 400."""
    return columns_of(list(map(_TIMESTAMP, wires)), list(map(_DURATION, wires)),
                      list(map(_DATA, wires)), place, base, bucket_id)


def columns_of(texts: list[str], seconds: list[float], raws: Sequence[Any], place: Place,
               base: int, bucket_id: str) -> EventsItem:
    """`events_of` on columns: timestamp texts, durations in seconds, data JSON texts."""
    import polars as pl

    from fastaw.exchange.batch import canonical_series, finish

    try:
        data = pl.Series(list(map(bytes, raws)), dtype=pl.Binary).cast(pl.String)
    except pl.exceptions.PolarsError:  # not UTF-8: the row-by-row check names the row
        canonical_datas(raws, place, base)
        raise
    data = canonical_series(data, lambda: raws, place, base)
    starts, stamps = checked_starts(pl.Series(texts, dtype=pl.String), place, base)
    durations = checked_durations(pl.Series(seconds, dtype=pl.Float64), place, base)
    check_range(starts, durations, place, base)
    return EventsItem(bucket_id, finish(pl.DataFrame(
        {"start": starts, "duration": durations, "data": data, "stamp": stamps})))


def checked_starts(texts: Any, place: Place, base: int) -> tuple[Any, Any]:
    """ns of every timestamp text (a String series), and the text where it already is
    the stored form (else null); 400 naming the first bad one.

    Polars parses the usual shapes; every other text goes through `parse_datetime`.
    """
    from fastaw.exchange.columns import parse_stamps

    starts, stamps = parse_stamps(texts)
    if starts.null_count():
        where = starts.is_null().arg_true().to_list()
        values = []
        for i in where:
            try:
                values.append(parse_datetime(texts[i]))
            except (ValueError, TypeError) as exc:
                raise BadRequest(f"Invalid timestamp at {place(base + i, 'timestamp')}: {exc}"
                                 ) from None
        starts = starts.scatter(where, values)
    return starts, stamps


def checked_durations(seconds: Any, place: Place, base: int) -> Any:
    """ns of every duration in seconds (a Float64 series); 400 naming the first bad one."""
    from fastaw.exchange.columns import nearest_ns

    durations = nearest_ns(seconds)
    if durations.null_count():
        where = durations.is_null().arg_true().to_list()
        values = []
        for i in where:
            try:
                values.append(seconds_to_ns(seconds[i]))
            except (ValueError, TypeError) as exc:
                raise BadRequest(f"Invalid duration at {place(base + i, 'duration')}: {exc}"
                                 ) from None
        durations = durations.scatter(where, values)
    return durations


def check_range(starts: Any, durations: Any, place: Place, base: int) -> None:
    """400 naming the first event whose end is outside the ns range (int64 series)."""
    if len(starts) and (starts.max() > SAFE or starts.min() < -SAFE or
                        durations.max() > SAFE or durations.min() < -SAFE):
        for i, (start, duration) in enumerate(zip(starts.to_list(), durations.to_list(),
                                                  strict=True)):
            check_event(start, duration, place(base + i, ""))


def canonical_datas(raws: Sequence[Any], place: Place, base: int) -> list[bytes]:
    """Canonical JSON of each data text (bytes-like); 400 naming the first non-object.

    One decode and one encode for the whole batch: when the texts already are canonical
    (exports of fastaw, and usually of aw-server-rust), the re-encoded batch equals them
    byte for byte and they are kept as they are.
    """
    changed = canonical_changes(raws, place, base)
    return [bytes(raw) for raw in raws] if changed is None else changed


def canonical_changes(raws: Sequence[Any], place: Place, base: int) -> list[bytes] | None:
    """`canonical_datas`, or None when every text is canonical already (no list made)."""
    if not raws:
        return None
    joined = b"[" + b",".join(raws) + b"]"
    try:
        decoded = _objects.decode(joined)
    except (msgspec.DecodeError, UnicodeDecodeError):  # find and name the bad one
        return [_one_data(raw, place, base + i) for i, raw in enumerate(raws)]
    if len(decoded) != len(raws):
        return [_one_data(raw, place, base + i) for i, raw in enumerate(raws)]
    if _canonical.encode(decoded) == joined:
        return None
    return [_canonical.encode(value) for value in decoded]


def _one_data(raw: Any, place: Place, index: int) -> bytes:
    try:
        value = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
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
            created = parse_datetime(raw.created)
        except ValueError as exc:
            raise BadRequest(f"Invalid bucket at {where}.created: {exc}") from None
    return Bucket(id=bucket_id, num=0, type=raw.type, client=raw.client,
                  hostname=raw.hostname, created=created,
                  data=canonical_data(raw.data or {}))
