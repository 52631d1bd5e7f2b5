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

from collections.abc import Callable, Iterator
from itertools import groupby
from operator import attrgetter
from typing import IO, Any, Final, cast

import msgspec

from fastaw.errors import BadRequest
from fastaw.exchange.items import BucketItem, Item
from fastaw.exchange.selection import Selection, bucket_json
from fastaw.exchange.wire import WireBucket, columns_of, to_bucket
from fastaw.storage import Env

BLOCK_BYTES: Final = 1 << 22
_BUCKET: Final = attrgetter("bucket")
_TIMESTAMP: Final = attrgetter("timestamp")
_DURATION: Final = attrgetter("duration")
_DATA: Final = attrgetter("data")


def export_lines(env: Env, selection: Selection) -> Iterator[bytes]:
    """NDJSON of a resolved selection, as a stream of byte chunks."""
    for info in selection.infos:
        yield b'{"bucket":' + bucket_json(info) + b"}\n"
        head = b'{"bucket":' + msgspec.json.encode(info.bucket.id) + b","
        for _, values in selection.pages(env, info, newest_first=False):
            yield b"".join([head + value[9:] + b"\n" for value in values])


class _NdBucket(WireBucket, kw_only=True):
    pass


class _Line(msgspec.Struct, kw_only=True, gc=False):
    bucket: str | _NdBucket
    timestamp: str | None = None
    duration: float = 0.0
    data: msgspec.Raw = msgspec.Raw(b"null")  # a missing `data` is reported as not an object
    id: Any = None


_lines: Final = msgspec.json.Decoder(_Line)


def _decode_block(block: bytes, first: Callable[[], int]) -> list[_Line]:
    try:
        return _lines.decode_lines(block)
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    first_line = first()
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
    """(offset in the stream, whole lines) in blocks of about `BLOCK_BYTES`."""
    offset = 0
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
        yield offset, block
        offset += cut
    if rest.strip():
        yield offset, rest


def _line_at(stream: IO[bytes], offset: int) -> int:
    """The number of the line starting at byte ``offset``: counted by reading the stream
    again from its start, so only when an error names a line."""
    position = stream.tell()
    stream.seek(0)
    newlines = 0
    while offset > 0:
        chunk = stream.read(min(offset, BLOCK_BYTES))
        if not chunk:
            break
        newlines += chunk.count(b"\n")
        offset -= len(chunk)
    stream.seek(position)
    return newlines + 1


def _line_numbers(block: bytes, first_line: int) -> list[int]:
    """Line numbers of the non-blank lines of a block (computed only to name an error)."""
    return [first_line + i for i, text in enumerate(block.split(b"\n")) if text.strip()]


def read_lines(stream: IO[bytes]) -> Iterator[Item]:
    """Validated buckets and event batches of an NDJSON stream, a block of lines at a time.

    Event lines are grouped into runs of one bucket and validated column-wise; line numbers
    are worked out only when a line has to be named in an error.
    """
    for offset, block in _blocks(stream):

        def first(offset: int = offset) -> int:
            return _line_at(stream, offset)

        lines = _decode_block(block, first)
        numbers: list[int] = []

        def place(index: int, field: str, block: bytes = block,
                  first: Callable[[], int] = first, numbers: list[int] = numbers) -> str:
            if not numbers:
                numbers.extend(_line_numbers(block, first()))
            return f"line {numbers[index]}" + (f" (`{field}`)" if field else "")

        base = 0
        for key, run in groupby(list(map(_BUCKET, lines))):
            size = len(list(run))
            group = lines[base:base + size]
            if type(key) is not str:  # bucket lines (equal ones repeated are grouped too)
                for offset, line in enumerate(group):
                    meta = cast(_NdBucket, line.bucket)
                    bucket = to_bucket(meta.id or "", meta, place(base + offset, ""))
                    yield BucketItem(bucket.id, bucket)
            else:
                texts = list(map(_TIMESTAMP, group))
                if None in texts:
                    offset = texts.index(None)
                    raise BadRequest(f"Invalid NDJSON at {place(base + offset, '')}: an event "
                                     "line needs `timestamp` and `data`")
                yield columns_of(cast(list[str], texts), list(map(_DURATION, group)),
                                 list(map(_DATA, group)), place, base, key)
            base += size
