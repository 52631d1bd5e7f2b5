"""Raw access for the column-chunk cache: window generations, row bytes, chunk blobs.

The chunk cache itself (turning rows into columns) lives outside storage — storage never
imports polars; this module only moves bytes. Consistency rule: a chunk is stored together
with the generation of its window at the time its rows were read, and is used only while
the window's generation is unchanged. Every write bumps the generation of the windows it
touches (`Writes.finish`), so a stale chunk is never served, whatever the interleaving of
writers and query workers across processes. A chunk value is ``generation (u64) |
FORMAT | text epoch (u64) | n (u32 LE) | n text codes (u32 LE) | blob``: the codes of the
chunk's distinct data texts in the store's text table (`fastaw.storage.texts`), assigned
in the transaction that stores the chunk, and the blob that refers to them by position. A chunk
of another `FORMAT` is stale too.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final, NamedTuple

from fastaw.storage import keys
from fastaw.storage.env import Env
from fastaw.storage.rows import Rows
from fastaw.storage.texts import TextTable

#: Version of the chunk derivation, stored after the generation. Bump it whenever the way
#: chunks are built from rows changes: every older chunk then counts as stale and is
#: rebuilt from the rows (1 → 2: data of non-ASCII events was cut wrongly; 2 → 3: data
#: texts in the text table, chunks hold their codes).
FORMAT: Final = b"fc03"
_HEAD: Final = 8 + len(FORMAT)
_COUNT: Final = struct.Struct("<I")
#: Texts looked up per write transaction at most when storing chunks (`store_chunks`
#: splits larger batches): a long write transaction delays every heartbeat behind it.
TEXTS_PER_COMMIT: Final = 20_000


class BucketRef(NamedTuple):
    num: int
    max_duration: int
    min_duration: int


class WindowRows(NamedTuple):
    generation: int
    keys: list[bytes]
    values: list[bytes]


class NewChunk(NamedTuple):
    """A chunk to store: its window, the window generation its rows were read at, the
    blob, and the distinct data texts the blob refers to by position."""

    num: int
    window: int
    generation: int
    blob: bytes
    texts: list[bytes]


class Chunk(NamedTuple):
    """A stored chunk: the text epoch of its codes, the text code of each of its distinct
    texts (u32 LE array) and its blob."""

    epoch: int
    codes: memoryview
    blob: memoryview


def chunk_of_value(value: bytes) -> Chunk | None:
    """The parts of a stored chunk value of the current `FORMAT` (None: another one)."""
    if value[8:_HEAD] != FORMAT:
        return None
    return split_chunk(value[_HEAD:])


def split_chunk(body: bytes) -> Chunk:
    """The parts of a chunk value after its head."""
    view = memoryview(body)
    epoch = keys.read_u64(bytes(view[:8]))
    (count,) = _COUNT.unpack_from(view, 8)
    end = 12 + 4 * count
    return Chunk(epoch, view[12:end], view[end:])


class ChunkStore:
    """Byte-level access to windows, rows and chunks of one store."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.texts = TextTable(env)

    def bucket_ids(self) -> list[str]:
        with self.env.read() as txn:
            return [bucket.id for bucket in Rows(self.env, txn).buckets()]

    def bucket_hostname(self, bucket_id: str) -> str | None:
        with self.env.read() as txn:
            bucket = Rows(self.env, txn).bucket(bucket_id)
            return None if bucket is None else bucket.hostname

    def bucket(self, bucket_id: str) -> BucketRef | None:
        with self.env.read() as txn:
            rows = Rows(self.env, txn)
            bucket = rows.bucket(bucket_id)
            if bucket is None:
                return None
            stats = rows.stats(bucket.num)
            return BucketRef(bucket.num, stats.max_duration, stats.min_duration)

    def windows(self, num: int, first: int, last: int) -> list[int]:
        """The windows in [first, last] that ever held an event of bucket ``num``."""
        return [window for window, _ in self.window_generations(num, first, last)]

    def window_generations(self, num: int, first: int, last: int) -> list[tuple[int, int]]:
        """(window, generation) of the windows in [first, last] that ever held an event of
        bucket ``num``, in one snapshot."""
        out: list[tuple[int, int]] = []
        with self.env.read() as txn, txn.cursor(db=self.env.windows) as cursor:
            if not cursor.set_range(keys.window_key(num, first)):
                return out
            upper = keys.window_key(num, last)
            for wkey, raw in cursor:
                if wkey > upper:
                    break
                out.append((keys.read_u64(wkey[4:]), keys.read_u64(raw)))
        return out

    def chunk(self, num: int, window: int) -> Chunk | None:
        """The window's chunk if it is current (its generation unchanged), else None.

        One short transaction per chunk: a long read of many chunks never holds them all
        in memory at once, and never pins one snapshot for the whole read.
        """
        wkey = keys.window_key(num, window)
        with self.env.read(buffers=True) as txn:
            raw = txn.get(wkey, db=self.env.windows)
            blob = txn.get(wkey, db=self.env.chunks)
            if raw is None or blob is None or bytes(blob[:_HEAD]) != bytes(raw) + FORMAT:
                return None
            # the one copy out of the map, before the txn ends
            return split_chunk(bytes(blob[_HEAD:]))

    def current_windows(self, num: int) -> set[int]:
        """The windows of bucket ``num`` whose stored chunk is current, in one snapshot."""
        current: set[int] = set()
        prefix = keys.u32(num)
        with self.env.read(buffers=True) as txn, \
                txn.cursor(db=self.env.chunks) as cursor:
            if not cursor.set_range(prefix):
                return current
            for wkey, blob in cursor:
                if bytes(wkey[:4]) != prefix:
                    break
                raw = txn.get(bytes(wkey), db=self.env.windows)
                if raw is not None and bytes(blob[:_HEAD]) == bytes(raw) + FORMAT:
                    current.add(keys.read_u64(bytes(wkey[4:])))
        return current

    def drop_chunks(self, num: int | None = None) -> int:
        """Delete the stored chunks of bucket ``num`` (of every bucket, and of none that
        still exists, when None); how many. They are rebuilt from the rows when read."""
        with self.env.write() as txn:
            if num is None:
                dropped = int(txn.stat(self.env.chunks)["entries"])
                txn.drop(self.env.chunks, delete=False)
                self.texts.drop(txn)  # no chunk refers to a text any more
                return dropped
            dropped = 0
            prefix = keys.u32(num)
            with txn.cursor(db=self.env.chunks) as cursor:
                found = cursor.set_range(prefix)
                while found and bytes(cursor.key()[:4]) == prefix:
                    found = cursor.delete()
                    dropped += 1
        return dropped

    def window_rows(self, num: int, window: int) -> WindowRows:
        """The generation and the raw rows of one window, ascending by key, one snapshot."""
        first, last = keys.window_bounds(window)
        with self.env.read() as txn:
            raw = txn.get(keys.window_key(num, window), db=self.env.windows)
            generation = 0 if raw is None else keys.read_u64(raw)
            low = keys.bucket_start_prefix(num, first)
            high = (keys.bucket_start_prefix(num, last + 1) if last < keys.MAX_START
                    else keys.bucket_end_key(num))
            key_list: list[bytes] = []
            value_list: list[bytes] = []
            with txn.cursor(db=self.env.events) as cursor:
                if cursor.set_range(low):
                    for key, value in cursor:
                        if key >= high:
                            break
                        key_list.append(key)
                        value_list.append(value)
        return WindowRows(generation, key_list, value_list)

    def store_chunks(self, chunks: Sequence[NewChunk]) -> int:
        """Store the chunks whose window is still unchanged (how many), giving their
        texts codes. Texts are looked up in a read transaction first, so the write
        transactions (at most `TEXTS_PER_COMMIT` texts each) only add the new ones."""
        stored = 0
        batch: list[NewChunk] = []
        texts = 0
        for chunk in chunks:
            if batch and texts + len(chunk.texts) > TEXTS_PER_COMMIT:
                stored += self._store(batch)
                batch, texts = [], 0
            batch.append(chunk)
            texts += len(chunk.texts)
        if batch:
            stored += self._store(batch)
        return stored

    def _store(self, chunks: Sequence[NewChunk]) -> int:
        every = [text for chunk in chunks for text in chunk.texts]
        with self.env.read() as txn:
            seen = self.texts.epoch(txn), self.texts.next_code(txn)
            found = self.texts.known(txn, every)
        hints: list[list[int | bytes] | None] = []
        start = 0
        for chunk in chunks:
            hints.append(found[start:start + len(chunk.texts)])
            start += len(chunk.texts)
        stored: list[tuple[NewChunk, list[int]]] = []
        with self.env.write() as txn:
            current = self.texts.epoch(txn), self.texts.next_code(txn)
            if current[0] != seen[0]:  # the table was dropped meanwhile: no hint holds
                hints = [None] * len(chunks)
            keep = []
            for chunk, hint in zip(chunks, hints, strict=True):
                raw = txn.get(keys.window_key(chunk.num, chunk.window), db=self.env.windows)
                if raw is not None and keys.read_u64(raw) == chunk.generation:
                    keep.append((chunk, hint))
            # no code assigned since the lookup (by another process): its misses are new
            codes = self.texts.assign(txn, [chunk.texts for chunk, _ in keep],
                                      [hint for _, hint in keep],
                                      hints_complete=current == seen)
            epoch = keys.u64(current[0])
            for (chunk, _), chunk_codes in zip(keep, codes, strict=True):
                head = (keys.u64(chunk.generation) + FORMAT + epoch
                        + _COUNT.pack(len(chunk_codes)))
                txn.put(keys.window_key(chunk.num, chunk.window),
                        head + struct.pack(f"<{len(chunk_codes)}I", *chunk_codes) + chunk.blob,
                        db=self.env.chunks)
                stored.append((chunk, chunk_codes))
        for chunk, chunk_codes in stored:  # committed: their codes are for keeps
            self.texts.remember(current[0], chunk.texts, chunk_codes)
        return len(stored)
