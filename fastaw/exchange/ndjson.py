"""NDJSON: one JSON object per line, for ``jq``, log tools and line-by-line processing.

Format (fastaw's; documented in docs/migrating.md)::

    {"bucket":{"id":"aw-watcher-window_host","type":"currentwindow",...}}
    {"bucket":"aw-watcher-window_host","id":7,"timestamp":"2024-01-01T10:00:00Z","duration":5.0,"data":{...}}
    ...

A line whose ``bucket`` is an object announces a bucket with its metadata; a line whose
``bucket`` is a string is one event of that bucket. Export writes each bucket's line and
then its events oldest first; import accepts lines in any order (an event line may come
before its bucket line, or name a bucket that already exists in the store).

Export splices stored bytes (``{"bucket":<id>,`` + the stored event JSON after its ``{``);
import reads blocks of lines and decodes each block with msgspec's ``decode_lines``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any, Final

import msgspec

from fastaw.errors import BadRequest
from fastaw.exchange.items import BucketItem, Item
from fastaw.exchange.selection import Selection, bucket_json
from fastaw.exchange.wire import WireBucket, WireEvent, events_of, to_bucket
from fastaw.storage import Env

BLOCK_BYTES: Final = 1 << 22
BATCH: Final = 50_000


def export_lines(env: Env, selection: Selection) -> Iterator[bytes]:
    """NDJSON of a resolved selection, as a stream of byte chunks."""
    for info in selection.infos:
        yield b'{"bucket":' + bucket_json(info) + b"}\n"
        head = b'{"bucket":' + msgspec.json.encode(info.bucket.id) + b","
        for _, values in selection.pages(env, info, newest_first=False):
            yield b"".join([head + value[9:] + b"\n" for value in values])


class _NdBucket(WireBucket, kw_only=True):
    pass


class _Line(msgspec.Struct, kw_only=True):
    bucket: str | _NdBucket
    timestamp: str | None = None
    duration: float = 0.0
    data: msgspec.Raw = msgspec.Raw(b"null")  # a missing `data` is reported as not an object
    id: Any = None


_lines: Final = msgspec.json.Decoder(_Line)


def _decode_block(block: bytes, first_line: int) -> list[_Line]:
    try:
        return _lines.decode_lines(block)
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    out: list[_Line] = []
    for offset, text in enumerate(block.split(b"\n")):
        if not text.strip():
            continue
        try:
            out.append(_lines.decode(text))
        except msgspec.ValidationError as exc:
            raise BadRequest(f"Invalid NDJSON at line {first_line + offset}: {exc}") from None
        except msgspec.DecodeError as exc:
            raise BadRequest(
                f"Malformed JSON in NDJSON at line {first_line + offset}: {exc}") from None
    return out


def _blocks(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(number of the block's first line, whole lines) in blocks of about `BLOCK_BYTES`."""
    line = 1
    rest = b""
    while True:
        data = stream.read(BLOCK_BYTES)
        if not data:
            break
        data = rest + data
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            rest = data
            continue
        block, rest = data[:cut], data[cut:]
        yield line, block
        line += block.count(b"\n")
    if rest.strip():
        yield line, rest


def _line_place(number: int, field: str) -> str:
    return f"line {number}" + (f" (`{field}`)" if field else "")


def read_lines(stream: IO[bytes]) -> Iterator[Item]:
    """Validated buckets and event batches of an NDJSON stream."""
    batch: list[WireEvent] = []
    batch_bucket = ""
    batch_line = 0
    for first_line, block in _blocks(stream):
        lines = _decode_block(block, first_line)
        numbers = [first_line + i for i, text in enumerate(block.split(b"\n")) if text.strip()]
        for number, line in zip(numbers, lines, strict=True):
            if isinstance(line.bucket, _NdBucket):
                bucket = to_bucket(line.bucket.id or "", line.bucket, f"line {number}")
                yield BucketItem(bucket.id, bucket)
                continue
            if line.timestamp is None:
                raise BadRequest(
                    f"Invalid NDJSON at line {number}: an event line needs `timestamp` and "
                    "`data`")
            if line.bucket != batch_bucket or len(batch) >= BATCH or \
                    number != batch_line + len(batch):
                if batch:
                    yield events_of(batch, _line_place, batch_line, batch_bucket)
                batch, batch_bucket, batch_line = [], line.bucket, number
            batch.append(WireEvent(line.timestamp, line.data, line.duration))
    if batch:
        yield events_of(batch, _line_place, batch_line, batch_bucket)
