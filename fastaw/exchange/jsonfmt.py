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
from typing import Any, Final

import msgspec

from fastaw.errors import BadRequest
from fastaw.exchange.items import BucketItem, EventsItem, Item
from fastaw.exchange.selection import Selection, bucket_json
from fastaw.exchange.wire import WireBucket, WireEvent, events_of, json_place, to_bucket
from fastaw.storage import Env

CHUNK_BYTES: Final = 1 << 21
_EVENTS_SLOT: Final = b"\x00"
_CUT: Final = re.compile(rb"\}\s*,\s*\{")
_PATH: Final = re.compile(r"`\$\[(\d+)\]")
_WS: Final = b" \t\r\n"


# -- export ------------------------------------------------------------------------------

def export_chunks(env: Env, selection: Selection) -> Iterator[bytes]:
    """The export envelope of a resolved selection, as a stream of byte chunks."""
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


_envelope: Final = msgspec.json.Decoder(_Envelope)
_head: Final = msgspec.json.Decoder(_BucketHead)
_events: Final = msgspec.json.Decoder(list[WireEvent])


def is_envelope(head: bytes) -> bool:
    """Whether the first bytes of a file look like ``{"buckets": …``."""
    return re.match(rb'\s*\{\s*"buckets"\s*:', head) is not None


def read_envelope(buf: Any, what: str = "import file") -> Iterator[Item]:
    """Validated buckets and event batches of an export envelope (bytes or a memory map)."""
    try:
        envelope = _envelope.decode(buf)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"Invalid {what}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"Malformed JSON in {what}: {exc}") from None
    if isinstance(envelope.buckets, dict):
        entries: list[tuple[str | None, str, msgspec.Raw]] = [
            (key, f"$.buckets[{msgspec.json.encode(key).decode()}]", raw)
            for key, raw in envelope.buckets.items()]
    else:
        entries = [(None, f"$.buckets[{i}]", raw) for i, raw in enumerate(envelope.buckets)]
    for key, where, raw in entries:
        try:
            head = _head.decode(raw)
        except msgspec.ValidationError as exc:
            raise BadRequest(f"Invalid {what}: bucket at {where}: {exc}") from None
        bucket_id = head.id or key or ""
        bucket = to_bucket(bucket_id, head, where)
        yield BucketItem(bucket.id, bucket)
        yield from _event_slices(memoryview(head.events), f"{where}.events", bucket.id)
        del head


def _event_slices(raw: memoryview, where: str, bucket_id: str) -> Iterator[EventsItem]:
    """Validated events of one JSON array, in slices of about `CHUNK_BYTES`."""
    end = len(raw)
    while end and raw[end - 1] in _WS:
        end -= 1
    pos = 0
    while pos < end and raw[pos] in _WS:
        pos += 1
    if end - pos == 4 and bytes(raw[pos:end]) == b"null":  # (never copy the whole array)
        return
    if raw[pos:pos + 1].tobytes() != b"[":
        raise BadRequest(f"Invalid import file: {where} must be an array of events")
    pos += 1
    end -= 1  # the closing bracket
    while pos < end and raw[pos] in _WS:
        pos += 1
    base = 0
    place = json_place(where)
    while pos < end:
        cut = pos + CHUNK_BYTES
        while True:
            match = _CUT.search(raw, cut, end) if cut < end else None
            stop = end if match is None else match.start() + 1
            try:
                wires = _events.decode(b"[" + raw[pos:stop].tobytes() + b"]")
            except msgspec.ValidationError as exc:
                raise BadRequest(f"Invalid import file: {_locate(str(exc), where, base)}"
                                 ) from None
            except msgspec.DecodeError as exc:
                if match is None:
                    raise BadRequest(f"Malformed JSON in {where}: {exc}") from None
                cut = match.end() - 1
                continue
            break
        yield events_of(wires, place, base, bucket_id)
        base += len(wires)
        pos = end if match is None else match.end() - 1


def _locate(message: str, where: str, base: int) -> str:
    """A msgspec message about ``$[i]`` of a slice, rewritten to name the whole file's path."""
    return _PATH.sub(lambda m: f"`{where}[{base + int(m.group(1))}]", message)
