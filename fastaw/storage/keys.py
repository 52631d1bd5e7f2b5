"""Every byte layout of the LMDB store, in one place. Pure functions, no I/O.

Sub-databases and their keys (all integers big-endian so byte order = numeric order):

``events``   bucket (u32) | start (i64 with the sign bit flipped) | ~id (u64, i.e. MAX - id)
             → duration (i64) | the event's rendered JSON object
             A bucket's events are contiguous and sorted by start; within one start the
             *largest* id comes first, so a reverse scan yields "newest first, ties by id
             ascending" — aw-server-rust's order — without any re-sorting.
``ids``      id (u64) → bucket (u32) | flipped start (u64): the events key without the id
``buckets``  bucket name (UTF-8) → `Bucket` (msgpack)
``stats``    bucket (u32) → `BucketStats` (msgpack)
``kv``       setting key (UTF-8) → JSON value
``meta``     b"schema" → u32, b"next_id" → u64, b"next_bucket" → u32
``windows``  bucket (u32) | window (u64) → generation (u64): bumped by every write whose
             event start falls in the window, so derived column chunks can tell they are stale
``chunks``   bucket (u32) | window (u64) → derived column chunk (opaque bytes)
"""

from __future__ import annotations

import struct
from typing import Final

SCHEMA_VERSION: Final = 1

SIGN: Final = 1 << 63
MAX_U64: Final = (1 << 64) - 1
#: Column chunks and their generations cover windows of 2**CHUNK_SHIFT ns (≈ 3.3 days).
CHUNK_SHIFT: Final = 48

_EVENT_KEY: Final = struct.Struct(">IQQ")
_BUCKET_START: Final = struct.Struct(">IQ")
_U32: Final = struct.Struct(">I")
_U64: Final = struct.Struct(">Q")
_I64: Final = struct.Struct(">q")

EVENT_KEY_SIZE: Final = _EVENT_KEY.size
VALUE_HEADER_SIZE: Final = _I64.size


def event_key(bucket: int, start: int, event_id: int) -> bytes:
    return _EVENT_KEY.pack(bucket, start + SIGN, MAX_U64 - event_id)


def split_event_key(key: bytes) -> tuple[int, int, int]:
    """(bucket, start, id) of an events key."""
    bucket, flipped, inv_id = _EVENT_KEY.unpack(key)
    return bucket, flipped - SIGN, MAX_U64 - inv_id


def _flip(start: int) -> int:
    return start + SIGN


def bucket_start_prefix(bucket: int, start: int) -> bytes:
    """The 12-byte prefix of every events key of ``bucket`` at ``start``."""
    return _BUCKET_START.pack(bucket, _flip(start))


def bucket_prefix(bucket: int) -> bytes:
    return _U32.pack(bucket)


def bucket_end_key(bucket: int) -> bytes:
    """The first key after every events key of ``bucket``."""
    return _U32.pack(bucket + 1)


def key_start(key: bytes) -> int:
    return int(_U64.unpack_from(key, 4)[0]) - SIGN


def key_id(key: bytes) -> int:
    return MAX_U64 - int(_U64.unpack_from(key, 12)[0])


def id_key(event_id: int) -> bytes:
    return _U64.pack(event_id)


def u32(value: int) -> bytes:
    return _U32.pack(value)


def read_u32(raw: bytes) -> int:
    return int(_U32.unpack(raw)[0])


def u64(value: int) -> bytes:
    return _U64.pack(value)


def read_u64(raw: bytes) -> int:
    return int(_U64.unpack(raw)[0])


def event_value(duration: int, rendered: bytes) -> bytes:
    return _I64.pack(duration) + rendered


def value_duration(value: bytes | memoryview) -> int:
    return int(_I64.unpack_from(value, 0)[0])


def window_of(start: int) -> int:
    """The column-chunk window an event start falls in (non-negative index)."""
    return (start + SIGN) >> CHUNK_SHIFT


def window_key(bucket: int, window: int) -> bytes:
    return _BUCKET_START.pack(bucket, window)


def window_bounds(window: int) -> tuple[int, int]:
    """[first, last] start ns covered by a window."""
    first = (window << CHUNK_SHIFT) - SIGN
    return first, first + (1 << CHUNK_SHIFT) - 1

MIN_START: Final = -SIGN
MAX_START: Final = SIGN - 1
