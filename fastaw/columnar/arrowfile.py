"""How many rows an Arrow IPC file holds, read from its footer (no Arrow library needed).

Query workers read many small chunk files at once (`fastaw.columnar.encoding`) and must
know each one's height before reading them: the rows of one read are split back into
windows by those heights. Polars reads the files but tells no heights per file, and
importing pyarrow only for that cost each query worker ≈ 8 MiB.

The layout (Arrow columnar format, "IPC File Format"): the file ends with a footer
(a flatbuffer), its size as int32 and the magic ``ARROW1``. The footer's fourth field lists
the record batches as blocks (offset i64, metadata length i32, padding, body length i64);
at each offset is an encapsulated message (``0xFFFFFFFF``, int32 length, then a
flatbuffer ``Message``), whose header, a ``RecordBatch``, has the row count as its first
field. Flatbuffer tables are read through their vtables, so absent fields take their
defaults (zero rows).
"""

from __future__ import annotations

import struct
from typing import Final

_MAGIC: Final = b"ARROW1"
_CONTINUATION: Final = 0xFFFFFFFF
_BLOCK_SIZE: Final = 24
_FOOTER_RECORD_BATCHES: Final = 3
_MESSAGE_HEADER: Final = 2
_RECORD_BATCH_LENGTH: Final = 0


class NotAnArrowFile(ValueError):
    """The bytes are not an Arrow IPC file."""


def _u32(buffer: memoryview, at: int) -> int:
    return int(struct.unpack_from("<I", buffer, at)[0])


def _field(buffer: memoryview, table: int, index: int) -> int:
    """Where field ``index`` of the table at ``table`` sits, relative to the table (0:
    absent)."""
    vtable = table - int(struct.unpack_from("<i", buffer, table)[0])
    size = int(struct.unpack_from("<H", buffer, vtable)[0])
    entry = 4 + 2 * index
    return int(struct.unpack_from("<H", buffer, vtable + entry)[0]) if entry < size else 0


def _target(buffer: memoryview, table: int, index: int) -> int | None:
    """The table or vector that field ``index`` refers to (None: absent)."""
    offset = _field(buffer, table, index)
    if not offset:
        return None
    at = table + offset
    return at + _u32(buffer, at)


def file_rows(blob: bytes | memoryview) -> int:
    """The number of rows of the Arrow IPC file ``blob`` (all its record batches)."""
    data = memoryview(blob)
    size = len(data)
    if size < 16 or bytes(data[:6]) != _MAGIC or bytes(data[size - 6:]) != _MAGIC:
        raise NotAnArrowFile("not an Arrow IPC file (no ARROW1 magic at both ends)")
    try:
        footer_size = int(struct.unpack_from("<i", data, size - 10)[0])
        footer = data[size - 10 - footer_size:size - 10]
        root = _u32(footer, 0)
        batches = _target(footer, root, _FOOTER_RECORD_BATCHES)
        if batches is None:
            return 0
        rows = 0
        for index in range(_u32(footer, batches)):
            (offset,) = struct.unpack_from("<q", footer, batches + 4 + _BLOCK_SIZE * index)
            skip = 8 if _u32(data, offset) == _CONTINUATION else 4
            message = data[offset + skip:]
            header = _target(message, _u32(message, 0), _MESSAGE_HEADER)
            if header is None:
                continue
            length = _field(message, header, _RECORD_BATCH_LENGTH)
            if length:
                rows += int(struct.unpack_from("<q", message, header + length)[0])
        return rows
    except (struct.error, IndexError) as exc:
        raise NotAnArrowFile(f"damaged Arrow IPC file footer: {exc}") from exc
