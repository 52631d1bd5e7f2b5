"""ActivityWatch's JSON export: the streamed envelope out, an incremental reader in.

Out: ``{"buckets":{id:{...bucket...,"events":[...]}}}`` with aw-server-rust's bucket fields
(plus a real ``last_updated``) and events newest first. It is written piece by piece from
pages of stored rows; every event's JSON is spliced from the bytes stored with it (the
value is ``i64 duration | rendered event``), so no event is decoded or re-encoded.

In: the whole document is first checked by msgspec in one C pass, keeping each bucket and
each ``events`` array as a `msgspec.Raw` slice of the input (a memory map of the file:
nothing is copied). Each events array is then decoded in slices of about `CHUNK_BYTES`,
cut just after an element: a cut is guessed at the next ``},{`` and proven by decoding —
a wrong guess (inside a string or a nested object) leaves an unterminated value, which
msgspec rejects, so the cut moves to the next candidate. Memory therefore stays at one
slice of events however large the file is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final, TypeVar

import msgspec

from fastaw.errors import BadRequest
from fastaw.exchange.items import BucketItem, EventsItem, Item
from fastaw.exchange.wire import (
    Place,
    WireBucket,
    WireEvent,
    events_of,
    json_place,
    to_bucket,
)

if TYPE_CHECKING:  # (the reader process never imports the storage package)
    from fastaw.exchange.selection import Selection
    from fastaw.storage import Env

CHUNK_BYTES: Final = 1 << 21
_EVENTS_SLOT: Final = b"\x00"
_CUT: Final = re.compile(rb"\}\s*,\s*\{")
_PATH: Final = re.compile(r"`\$\[(\d+)\]")
_WS: Final = b" \t\r\n"
T = TypeVar("T")


# -- export ------------------------------------------------------------------------------

def export_chunks(env: Env, selection: Selection) -> Iterator[bytes]:
    """The export envelope of a resolved selection, as a stream of byte chunks."""
    from fastaw.exchange.selection import bucket_json

    yield b'{"buckets":{'
    for index, info in enumerate(selection.infos):
        head, _, tail = bucket_json(info).replace(
            b'"events":null', b'"events":' + _EVENTS_SLOT, 1).rpartition(_EVENTS_SLOT)
        yield (b"," if index else b"") + msgspec.json.encode(info.bucket.id) + b":" + head + b"["
        first = True
        for _, values in selection.pages(env, info, newest_first=True):
            body = b",".join([value[8:] for value in values])
            yield body if first else b"," + body
            first = False
        yield b"]" + tail
    yield b"}}"


# -- import ------------------------------------------------------------------------------

class _BucketHead(WireBucket, kw_only=True):
    events: msgspec.Raw = msgspec.Raw(b"null")


class _Envelope(msgspec.Struct):
    buckets: dict[str, msgspec.Raw] | list[msgspec.Raw]


class _Heads(msgspec.Struct):
    buckets: dict[str, _BucketHead] | list[_BucketHead]


_envelope: Final = msgspec.json.Decoder(_Envelope)
_heads: Final = msgspec.json.Decoder(_Heads)
_head: Final = msgspec.json.Decoder(_BucketHead)
_events: Final = msgspec.json.Decoder(list[WireEvent])
_raw_values: Final = msgspec.json.Decoder(list[msgspec.Raw])
_syntax: Final = msgspec.json.Decoder(msgspec.Raw)  # a syntax check, nothing allocated


def is_envelope(head: bytes) -> bool:
    """Whether the first bytes of a file look like ``{"buckets": …``."""
    return re.match(rb'\s*\{\s*"buckets"\s*:', head) is not None


def read_envelope(buf: Any, what: str = "import file", *, ascending: bool = False
                  ) -> Iterator[Item]:
    """Validated buckets and event batches of an export envelope (bytes or a memory map);
    ``ascending``: each bucket's batches oldest first (see `_event_slices`)."""
    try:  # the usual case in one pass; any error is found and named by the two below
        heads = _heads.decode(buf)
    except (msgspec.DecodeError, RecursionError):
        pass
    else:
        for key, where, head in _places(heads.buckets):
            yield from _bucket_items(head, key, where, ascending)
        return
    try:
        envelope = _envelope.decode(buf)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"Invalid {what}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"Malformed JSON in {what}: {exc}") from None
    for key, where, raw in _places(envelope.buckets):
        try:
            head = _head.decode(raw)
        except msgspec.ValidationError as exc:
            raise BadRequest(f"Invalid {what}: bucket at {where}: {exc}") from None
        yield from _bucket_items(head, key, where, ascending)
        del head


def _places(buckets: dict[str, T] | list[T]) -> list[tuple[str | None, str, T]]:
    """(key, JSON path, value) of each bucket of an envelope (an object or an array)."""
    if isinstance(buckets, dict):
        return [(key, f"$.buckets[{msgspec.json.encode(key).decode()}]", value)
                for key, value in buckets.items()]
    return [(None, f"$.buckets[{i}]", value) for i, value in enumerate(buckets)]


def _bucket_items(head: _BucketHead, key: str | None, where: str, ascending: bool
                  ) -> Iterator[Item]:
    bucket_id = head.id or key or ""
    bucket = to_bucket(bucket_id, head, where)
    yield BucketItem(bucket.id, bucket)
    yield from _event_slices(memoryview(head.events), f"{where}.events", bucket.id, ascending)


def _event_slices(raw: memoryview, where: str, bucket_id: str, ascending: bool = False
                  ) -> Iterator[EventsItem]:
    """Validated events of one JSON array, in slices of about `CHUNK_BYTES`; with
    ``ascending``, the last slice first (exports list events newest first).

    Ascending: the cuts are guessed all at once (`_guessed_cuts`, no decoding) and the
    slices decoded last to first; a slice that decodes proves its own first cut (see
    `_guessed_cuts`). A wrong guess, or any error, sends the part of the array not yet
    read through `_ascending_in_order`, which proves its cuts from the start and reports
    the first bad event of the file.
    """
    span = _array_span(raw, where)
    if span is None:
        return
    place = json_place(where)
    if not ascending:
        for _, _, base, wires in _cuts(raw, span, where, _events):
            yield events_of(wires, place, base, bucket_id)
        return
    guesses = _guessed_cuts(raw, span)
    done = len(guesses)  # guesses[done:] are read, and their first cut proven
    try:  # (the element counts, which a 400 needs, are left to the slow path)
        while done:
            pos, stop = guesses[done - 1]
            item = events_of(_events.decode(_array(raw, pos, stop)), place, 0, bucket_id)
            done -= 1
            yield item
    except (BadRequest, msgspec.DecodeError, msgspec.ValidationError):
        yield from _ascending_in_order(raw, (span[0], guesses[done - 1][1]), where, place,
                                       bucket_id)


def _guessed_cuts(raw: memoryview, span: tuple[int, int]) -> list[tuple[int, int]]:
    """(start, stop) of the slices `_cuts` makes when its first guess is right every time.

    Read last to first, a slice proves its first cut: the array is valid JSON (the
    envelope pass checked it), the slice's end is a proven cut (or the array's end), and
    ``[`` + slice + ``]`` decodes only if its start is too. A start inside a string turns
    every string of the slice inside out: a backslash (only ever inside strings) lands
    outside one, which is malformed, and without one the closing ``]`` lands inside an
    unterminated string; a start inside a nested value leaves that value's closing
    brackets without their openers. So when every slice decodes, the cuts are exactly
    the ones `_cuts` proves from the front (the first guess is taken when it is right).
    """
    pos, end = span
    cuts = []
    while pos < end:
        match = _CUT.search(raw, pos + CHUNK_BYTES, end) if pos + CHUNK_BYTES < end else None
        stop = end if match is None else match.start() + 1
        cuts.append((pos, stop))
        pos = end if match is None else match.end() - 1
    return cuts


def _ascending_in_order(raw: memoryview, span: tuple[int, int], where: str, place: Place,
                        bucket_id: str) -> Iterator[EventsItem]:
    """`_event_slices` ascending, counting elements: a first pass proves every cut by
    decoding the slices as raw values, then the slices are validated last to first. A bad
    slice is reported only after every slice before it has been found valid, so the 400
    still names the first bad event of the file."""
    slices: list[tuple[int, int, int]] = []
    try:
        slices.extend((pos, stop, base) for pos, stop, base, _ in _cuts(raw, span, where,
                                                                         _raw_values))
    except BadRequest:
        _check_in_order(raw, slices, where, place, bucket_id)
        raise
    for index in range(len(slices) - 1, -1, -1):
        pos, stop, base = slices[index]
        try:
            yield events_of(_decode(raw, pos, stop, where, base), place, base, bucket_id)
        except BadRequest:
            _check_in_order(raw, slices[:index], where, place, bucket_id)
            raise


def _check_in_order(raw: memoryview, slices: list[tuple[int, int, int]], where: str,
                    place: Place, bucket_id: str) -> None:
    """Validate these slices first to last (raising the first error): error paths only."""
    for pos, stop, base in slices:
        events_of(_decode(raw, pos, stop, where, base), place, base, bucket_id)


def _array_span(raw: memoryview, where: str) -> tuple[int, int] | None:
    """Where the elements of the array are (after ``[``, before ``]``); None for null."""
    end = len(raw)
    while end and raw[end - 1] in _WS:
        end -= 1
    pos = 0
    while pos < end and raw[pos] in _WS:
        pos += 1
    if end - pos == 4 and bytes(raw[pos:end]) == b"null":  # (never copy the whole array)
        return None
    if raw[pos:pos + 1].tobytes() != b"[":
        raise BadRequest(f"Invalid import file: {where} must be an array of events")
    pos += 1
    end -= 1  # the closing bracket
    while pos < end and raw[pos] in _WS:
        pos += 1
    return pos, end


def _decode(raw: memoryview, pos: int, stop: int, where: str, base: int) -> list[WireEvent]:
    try:
        events: list[WireEvent] = _events.decode(_array(raw, pos, stop))
    except msgspec.ValidationError as exc:
        raise BadRequest(f"Invalid import file: {_locate(str(exc), where, base)}") from None
    except msgspec.DecodeError as exc:  # (a proven slice: only for a raw-values pass)
        raise BadRequest(f"Malformed JSON in {where}: {exc}") from None
    return events


def _cuts(raw: memoryview, span: tuple[int, int], where: str, decoder: Any
          ) -> Iterator[tuple[int, int, int, list[Any]]]:
    """(start, stop, index of the first element, decoded elements) of each slice of the
    array, every cut proven by decoding the slice with ``decoder``."""
    pos, end = span
    base = 0
    while pos < end:
        cut = pos + CHUNK_BYTES
        while True:
            match = _CUT.search(raw, cut, end) if cut < end else None
            stop = end if match is None else match.start() + 1
            try:
                decoded = decoder.decode(_array(raw, pos, stop))
            except msgspec.ValidationError as exc:
                raise BadRequest(f"Invalid import file: {_locate(str(exc), where, base)}"
                                 ) from None
            except msgspec.DecodeError as exc:
                if match is None:
                    raise BadRequest(f"Malformed JSON in {where}: {exc}") from None
                cut = match.end() - 1
                continue
            break
        yield pos, stop, base, decoded
        base += len(decoded)
        pos = end if match is None else match.end() - 1


def _array(raw: memoryview, pos: int, stop: int) -> bytes:
    """``[`` + these elements + ``]`` (one copy)."""
    return b"".join((b"[", raw[pos:stop], b"]"))


def _locate(message: str, where: str, base: int) -> str:
    """A msgspec message about ``$[i]`` of a slice, rewritten to name the whole file's path."""
    return _PATH.sub(lambda m: f"`{where}[{base + int(m.group(1))}]", message)
