"""The store's text table: every distinct event-data text a column chunk holds, numbered.

Column chunks (`fastaw.storage.chunks`) do not repeat an event's data text: each chunk
lists the *codes* of its distinct texts, and the texts live here once per store. A query
reading years of history then moves integers, and turns into text (or rather into its
own dictionary, see `fastaw.columnar`) only the distinct texts it has not met before.

Layout (two sub-databases; everything is derived data, rebuilt with the chunks):

* ``texts``: block number (u32 big-endian) → a block of up to `BLOCK` consecutive codes'
  texts, as ``count (u32 LE) | count + 1 offsets (i32 LE) | text bytes`` — the buffers of
  an Arrow string array, so a reader maps a block without parsing it;
* ``textcodes``: the 16-byte BLAKE2b digest of a text → its code (u32 big-endian).

Codes are handed out in order (``next_text`` in ``meta``) and never change meaning while
the table lives, so a reader with an older snapshot simply knows fewer of them. Dropping
the table (with every chunk) starts a new *epoch* (``text_epoch`` in ``meta``, random):
chunks record the epoch of their codes, and texts are served only for the current one. A
code is assigned in the same write transaction that stores the chunk using it
(`TextTable.assign`). Two texts sharing a 128-bit digest would share a code; the chance
is ≈ n²/2¹²⁹ (10⁻²³ for 10⁸ texts).
Texts are never deleted one by one: ``fastaw chunks --rebuild`` starts the table afresh.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from fastaw.storage import keys
from fastaw.storage.env import Env

#: Texts per block (a block is rewritten when codes are added to it).
BLOCK: Final = 4096
_NEXT: Final = b"next_text"
_EPOCH: Final = b"text_epoch"
_COUNT: Final = struct.Struct("<I")


def digest(text: bytes) -> bytes:
    """The key of a text in ``textcodes``."""
    return hashlib.blake2b(text, digest_size=16).digest()


def pack_block(texts: Sequence[bytes]) -> bytes:
    """A block value: count, offsets, bytes (see the module docstring)."""
    offsets = [0]
    for text in texts:
        offsets.append(offsets[-1] + len(text))
    return (_COUNT.pack(len(texts)) + struct.pack(f"<{len(offsets)}i", *offsets)
            + b"".join(texts))


def block_buffers(block: memoryview) -> tuple[int, memoryview, memoryview]:
    """A block value's parts: how many texts, their ``count + 1`` offsets (i32 LE) and
    the text bytes — an Arrow string array's buffers."""
    (count,) = _COUNT.unpack_from(block)
    base = 4 + 4 * (count + 1)
    return count, block[4:base], block[base:]


def unpack_block(block: bytes) -> list[bytes]:
    """The texts of a block value, in code order."""
    count, offsets, data = block_buffers(memoryview(block))
    ends = struct.unpack(f"<{count + 1}i", offsets)
    return [bytes(data[a:b]) for a, b in itertools.pairwise(ends)]


class TextTable:
    """Codes of texts and texts of codes, within the caller's transactions."""

    def __init__(self, env: Env) -> None:
        self.env = env
        #: How many texts' codes this process remembers (see `remember`); 0: none.
        self.recent_limit = 0
        self._recent: dict[bytes, int] = {}
        self._recent_epoch: int | None = None

    def known(self, txn: Any, texts: Sequence[bytes]) -> list[int | bytes]:
        """The code of each text, or where it has none yet its digest (any transaction).
        Texts not remembered (`remember`) are looked up by digest, the distinct digests
        in key order (neighbouring pages), in one call."""
        recent = self._recent if self._recent_epoch == self.epoch(txn) else {}
        out: list[int | bytes | None] = [recent.get(text) for text in texts] if recent \
            else [None] * len(texts)
        todo = [i for i, code in enumerate(out) if code is None]
        if todo:
            digests = [digest(texts[i]) for i in todo]
            with txn.cursor(db=self.env.textcodes) as cursor:
                found = dict(cursor.getmulti(sorted(set(digests))))
            for i, key in zip(todo, digests, strict=True):
                raw = found.get(key)
                out[i] = key if raw is None else keys.read_u32(raw)
        return out  # type: ignore[return-value]  # (no None is left)

    def remember(self, epoch: int, texts: Sequence[bytes], codes: Sequence[int]) -> None:
        """Remember committed codes of texts (at most `recent_limit`; when full, start
        over): building many chunks meets the same texts window after window, and a
        dictionary lookup costs a tenth of a digest and a B-tree search."""
        if self.recent_limit <= 0:
            return
        if self._recent_epoch != epoch or len(self._recent) + len(texts) > self.recent_limit:
            self._recent = {}
            self._recent_epoch = epoch
        self._recent.update(zip(texts, codes, strict=True))

    def assign(self, txn: Any, lists: Sequence[Sequence[bytes]],
               hints: Sequence[Sequence[int | bytes] | None], *,
               hints_complete: bool = False) -> list[list[int]]:
        """The code of each text of each list, assigning new codes (in a write
        transaction) to texts that have none; a text new to several lists gets one.

        ``hints``: per list, what `known` found earlier: codes (they never change
        meaning) and the digests of texts it found no code for, to be looked up again —
        unless ``hints_complete``: no code was assigned since, so those texts are new."""
        out: list[list[int]] = []
        added: list[bytes] = []
        index: list[tuple[bytes, bytes]] = []
        first = next_code = self.next_code(txn)
        fresh: dict[bytes, int] = {}
        for texts, hint in zip(lists, hints, strict=True):
            codes: list[int] = []
            for i, text in enumerate(texts):
                known = None if hint is None else hint[i]
                if isinstance(known, int):
                    codes.append(known)
                    continue
                code = fresh.get(text)
                if code is None:
                    key = known or digest(text)
                    found = None if hints_complete and known is not None \
                        else txn.get(key, db=self.env.textcodes)
                    if found is not None:
                        code = keys.read_u32(bytes(found))
                    else:
                        code = fresh[text] = next_code
                        next_code += 1
                        added.append(text)
                        index.append((key, keys.u32(code)))
                codes.append(code)
            out.append(codes)
        if added:
            index.sort()  # in key order: each B-tree page is visited once
            with txn.cursor(db=self.env.textcodes) as cursor:
                cursor.putmulti(index)
            self._append(txn, first, added)
            txn.put(_NEXT, keys.u64(next_code), db=self.env.meta)
        return out

    def _append(self, txn: Any, first: int, added: list[bytes]) -> None:
        """Write the texts of codes ``first``… into their blocks."""
        block, offset = divmod(first, BLOCK)
        pending = added
        while pending:
            key = keys.u32(block)
            raw = txn.get(key, db=self.env.texts) if offset else None
            head = unpack_block(bytes(raw)) if raw is not None else []
            assert len(head) == offset, "text blocks out of step with next_text"
            room = BLOCK - len(head)
            txn.put(key, pack_block(head + pending[:room]), db=self.env.texts)
            pending = pending[room:]
            block, offset = block + 1, 0

    def epoch(self, txn: Any) -> int:
        """The current epoch (0 until the table is first dropped)."""
        raw = txn.get(_EPOCH, db=self.env.meta)
        return 0 if raw is None else keys.read_u64(bytes(raw))

    def read_blocks(self, numbers: Iterable[int], epoch: int,
                    use: Callable[[int, memoryview], None]) -> bool:
        """Call ``use(number, value)`` for each stored block of ``numbers``, in one read
        snapshot, the value a view of the map valid only during the call; False (and no
        call) when ``epoch`` is not the current one (the codes meant other texts)."""
        with self.env.read(buffers=True) as txn:
            if self.epoch(txn) != epoch:
                return False
            for number in numbers:
                raw = txn.get(keys.u32(number), db=self.env.texts)
                if raw is not None:
                    use(number, raw)
        return True

    def next_code(self, txn: Any) -> int:
        """How many codes have been handed out (in ``txn``'s snapshot)."""
        raw = txn.get(_NEXT, db=self.env.meta)
        return 0 if raw is None else keys.read_u64(bytes(raw))

    def count(self) -> int:
        """How many codes have been handed out."""
        with self.env.read() as txn:
            return self.next_code(txn)

    def drop(self, txn: Any) -> None:
        """Forget every text (only together with every chunk: they hold the codes)."""
        txn.drop(self.env.texts, delete=False)
        txn.drop(self.env.textcodes, delete=False)
        txn.delete(_NEXT, db=self.env.meta)
        txn.put(_EPOCH, keys.u64(secrets.randbits(64)), db=self.env.meta)
