"""The data dictionary: how the ``data`` column of event frames is dictionary-encoded.

A frame's ``data`` is a column of integer *codes* (UInt32): each canonical data text has
one code in the current dictionary, and equal texts have equal codes. De-duplicating,
grouping, comparing and joining events by data are then integer operations, and an
answer computed from a text (the value of ``data["app"]``, its category under a rule set,
its URL split) can be remembered by code in the dictionary's *memo* (see
`fastaw.transforms.distinct.DistinctData`). A code never changes meaning within one
dictionary, so those answers never go stale: they are pure functions of the text.

Texts get their codes as merge keys get their numbers (`Numbering`: by two 64-bit hashes
of the text; two texts sharing both would share a code, a chance of ≈ n²/2¹²⁹, as for the
store's text table). The dictionary keeps the text of a code only when it made the text
itself (`intern`: a merge's output, a rewrite, an overlay). A text read from a store
(`adopt`) is kept there: the dictionary keeps where — which store reader, which code in
it — and reads it again when asked (`texts`), from the store's memory-mapped text table,
i.e. from the page cache rather than the process. A year of a busy desktop's history is
≈ 330k stored texts, ≈ 77 MB as interned strings against ≈ 12 MB as hashes and store
codes; a repeated query needs texts only for the events it answers with.

Queries run with a worker dictionary (`query_dictionary`): it lives across the queries a
query worker runs, so the dashboard asking about the same year again finds every per-text
answer remembered and only maps codes; it is dropped when a query leaves it holding more
texts than a limit (`TEXT_LIMIT`, or `limit_texts`; the next query starts an empty one),
which bounds the memory it keeps between queries. Outside a query, frames use
the process-wide default dictionary and nothing is memoized.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final, TypeAlias, TypeVar

import polars as pl

#: By default, a worker dictionary holding more texts than this is dropped when its query
#: ends (a year of a busy desktop's history is ≈ 390k texts, ≈ 41 MB with the memo);
#: `limit_texts` sets another limit (the server's ``query_cache_mb``).
TEXT_LIMIT: Final = 1_000_000
#: Memory a worker dictionary keeps per text between queries, memo included (measured: a
#: year of a busy desktop's history, 389k texts of which 62k kept here, 111 bytes — hashes
#: 20, origins and kept texts 22, store pairs 7, memo 40, merge numberings 17; rounded up
#: for histories with more or longer texts made by queries).
BYTES_PER_TEXT: Final = 150
#: Memo tables whose name starts with this are kept only while a query runs. The values of
#: keys per text (`fastaw.transforms.distinct.DistinctData.values`) are the large ones —
#: after a year's dashboard query, ≈ 27 MB, mostly titles and URLs — and a repeated
#: query needs only what was worked out from them (merge keys, filters, rewrites), which
#: is kept.
PER_QUERY: Final = "~"
#: Reads the texts of store codes (distinct, ascending), in their order (`Dictionary.reader`).
Reader: TypeAlias = Callable[[pl.Series], pl.Series]
_Column = TypeVar("_Column", pl.Series, pl.DataFrame)


class Dictionary:
    """Codes of canonical data texts (see the module doc) and, unless ``memo`` is None, a
    memo of per-text answers by code. ``size`` is the number of codes handed out.

    Statements of a query may run on several threads at once (`fastaw.query.dataflow`):
    whoever reads or writes the memo, the codes or ``size`` holds ``lock``.
    """

    __slots__ = ("_booleans", "_kept", "_numbers", "_origins", "_readers", "_single",
                 "_unasked", "lock", "memo", "numberings", "stores")

    def __init__(self, memo: dict[str, Any] | None) -> None:
        self.memo = memo
        self.lock = threading.RLock()
        #: Per store (and text epoch): the codes here of its text codes (`StoreCodes`)
        #: (see `fastaw.columnar.texts`), valid exactly as long as the dictionary.
        self.stores: dict[Hashable, Any] = {}
        #: Named `Numbering`\ s kept with the memo (see `numbering`).
        self.numberings: dict[str, Numbering] = {}
        self._booleans: set[str] = set()  #: memo tables of yes/no answers (`remember`)
        self._numbers = Numbering()  #: every text's code, by its hashes
        self._kept = pl.Series("text", [], dtype=pl.String)  #: per code: its text, or null
        #: per code: where its text is read (reader number, store code), or null
        self._origins = pl.Series("origin", [], dtype=pl.UInt64)
        self._readers: dict[Hashable, tuple[int, Reader]] = {}
        #: Texts read from a store to be adopted, until first asked for (`texts`) or until
        #: the query ends: the first answer about a new text needs it read only once.
        self._unasked = pl.DataFrame(schema={"code": pl.UInt32(), "text": pl.String()})
        #: Codes of single texts asked for one at a time (`code_of`: ``{}`` for every
        #: period union and overlay), which finding among millions of texts costs ≈ 30 ms
        self._single: dict[str, int] = {}

    def forget_per_query(self) -> None:
        """Drop the memo tables kept only while a query runs (`PER_QUERY`), and texts read
        but not asked for."""
        with self.lock:
            self._unasked = self._unasked.clear()
        if self.memo is not None:
            with self.lock:
                for table in [t for t in self.memo if t.startswith(PER_QUERY)]:
                    del self.memo[table]

    @property
    def size(self) -> int:
        """How many codes were handed out."""
        return len(self._numbers)

    # -- codes and texts ------------------------------------------------------------------

    def intern(self, texts: pl.Series) -> pl.Series:
        """The code of each of ``texts`` (null stays null); new texts are kept here."""
        return self._assign(texts, None)

    def code_of(self, text: str) -> int:
        """The code of one text (kept here if new)."""
        with self.lock:
            code = self._single.get(text)
        if code is None:
            code = self.intern(pl.Series([text], dtype=pl.String)).item()
            assert isinstance(code, int)
            with self.lock:
                if len(self._single) >= _MAX_SINGLE:
                    self._single.clear()
                self._single[text] = code
        return code

    def reader(self, key: Hashable, read: Reader) -> int:
        """The number of the store reader ``key``; ``read`` gives the texts of store codes
        (distinct, ascending) in their order, or raises when it no longer can."""
        with self.lock:
            found = self._readers.get(key)
            if found is None:
                found = self._readers[key] = (len(self._readers), read)
            return found[0]

    def adopt(self, reader: int, store_codes: pl.Series, texts: pl.Series) -> pl.Series:
        """The codes of ``texts``, read from a store where they have ``store_codes``
        (parallel): new ones are not kept here but read again from there when needed."""
        origins = store_codes.cast(pl.UInt64) + reader * _READER_UNIT
        return self._assign(texts, origins)

    def texts(self, codes: pl.Series) -> pl.Series:
        """The text of each of ``codes`` (null stays null)."""
        distinct = codes.unique().drop_nulls()
        if distinct.len() == 0:
            return pl.repeat(None, codes.len(), dtype=pl.String, eager=True)
        with self.lock:
            kept, origins = self._kept, self._origins
            readers = {number: read for number, read in self._readers.values()}
        found = kept.gather(distinct)
        missing = found.is_null().arg_true()
        if missing.len():
            found, missing = self._take_unasked(distinct, found, missing)
        if missing.len():
            where = origins.gather(distinct.gather(missing))
            numbers = where // _READER_UNIT
            for number in numbers.unique().to_list():
                mine = (numbers == number).arg_true()
                stored = (where.gather(mine) % _READER_UNIT).cast(pl.UInt32)
                order = stored.arg_sort()
                read = readers[number](stored.gather(order))
                found = found.scatter(missing.gather(mine.gather(order)), read)
        if distinct.len() == codes.len() and codes.null_count() == 0 and \
                codes.equals(distinct, check_names=False):
            return found
        table = pl.DataFrame({"code": distinct, "text": found})
        return pl.DataFrame({"code": codes}).join(
            table, on="code", how="left", maintain_order="left")["text"]

    def _take_unasked(self, distinct: pl.Series, found: pl.Series, missing: pl.Series
                      ) -> tuple[pl.Series, pl.Series]:
        """``found`` (texts of ``distinct``) with the texts of ``missing`` (positions) that
        were read to be adopted and not asked for since, which they no longer wait for;
        the positions still missing."""
        with self.lock:
            unasked = self._unasked
            if unasked.height == 0:
                return found, missing
            wanted = pl.DataFrame({"code": distinct.gather(missing), "at": missing})
            hits = wanted.join(unasked, on="code", how="inner")
            if hits.height:
                self._unasked = unasked.join(hits.select("code"), on="code", how="anti")
        if hits.height == 0:
            return found, missing
        found = found.scatter(hits["at"], hits["text"])
        return found, missing.filter(~missing.is_in(hits["at"].implode()))

    def _assign(self, texts: pl.Series, origins: pl.Series | None) -> pl.Series:
        """Codes of ``texts``: those of known texts, new ones for the others (kept, or
        recorded by their ``origins``)."""
        texts = texts.cast(pl.String)
        with self.lock:
            first = len(self._numbers)
            codes = self._numbers.numbers(texts)
            added = len(self._numbers) - first
            if added:
                rows = {"code": codes, "text": texts}
                if origins is not None:
                    rows["origin"] = origins
                fresh = (pl.DataFrame(rows).filter(pl.col("code") >= first)
                         .unique("code", keep="first").sort("code"))
                if origins is None:
                    self._kept = _appended(self._kept, fresh["text"])
                    self._origins = _appended(
                        self._origins, pl.repeat(None, added, dtype=pl.UInt64, eager=True))
                else:
                    self._kept = _appended(
                        self._kept, pl.repeat(None, added, dtype=pl.String, eager=True))
                    self._origins = _appended(self._origins, fresh["origin"])
                    if self.memo is not None:  # (a query's: it ends, and they go)
                        self._unasked = _appended(self._unasked,
                                                  fresh.select("code", "text"))
        return codes

    # -- memo -----------------------------------------------------------------------------

    def recall(self, table: str, codes: pl.Series) -> pl.Series | None:
        """Memo ``table``'s answer per code of ``codes`` (null: not known), or None when
        there is no memo or no such table. (Gathered under the lock: `remember` writes
        into the stored table in place.)"""
        if self.memo is None:
            return None
        with self.lock:
            stored = self.memo.get(table)
            if stored is None:
                return None
            found = gather_known(stored, codes)
        return found.cast(pl.Boolean) if table in self._booleans else found

    def remember(self, table: str, codes: pl.Series, values: pl.Series) -> None:
        """Store ``values`` for ``codes`` in memo ``table`` (nothing without a memo).

        Yes/no answers are stored as bytes: gathering a million of them by code takes
        5.4 ms as bytes (cast back included) against 8.6 ms as Polars' bits, and a repeated
        query gathers one table per filter and per overlay key."""
        if self.memo is None:
            return
        if values.dtype == pl.Boolean:
            values = values.cast(pl.UInt8)
            self._booleans.add(table)
        size = span(codes)
        with self.lock:
            stored = self.memo.get(table)
            if stored is None:
                stored = pl.repeat(None, size, dtype=values.dtype, eager=True).alias(table)
            elif stored.len() < size:
                stored = stored.extend_constant(None, size - stored.len())
            self.memo[table] = stored.scatter(codes, values)

    def numbering(self, name: str) -> Numbering:
        """The numbering called ``name``, kept as long as the memo's answers (which may hold
        its numbers); a new one each time without a memo."""
        if self.memo is None:
            return Numbering()
        with self.lock:
            return self.numberings.setdefault(name, Numbering())


class Numbering:
    """Numbers for texts that need an identity but no place in the dictionary.

    Merging events by keys groups them by the canonical object of the keys' values
    (``{"title":"…"}``): a text per group, needed only to tell groups apart. Interned, each
    would cost the dictionary ≈ 200 bytes for as long as it lives (a year of browser
    events merged by title and by URL: 126k texts, ≈ 25 MB); numbered here, a text costs
    20 bytes — two 64-bit hashes of it (different seeds) and its number. Two texts sharing
    both hashes would share a number: the chance is ≈ n²/2¹²⁹, as for the store's text
    table (`fastaw.storage.texts`).

    Equal texts get equal numbers for as long as the numbering lives; numbers are handed
    out from 0 in no particular order.
    """

    __slots__ = ("_known", "_lock")

    def __init__(self) -> None:
        self._known = pl.DataFrame(schema=_NUMBERED)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._known.height

    def numbers(self, texts: pl.Series) -> pl.Series:
        """The number of each of ``texts`` (null stays null), new ones numbered in the
        order they first appear."""
        digests = pl.DataFrame({"h1": texts.hash(_SEEDS[0]), "h2": texts.hash(_SEEDS[1])})
        present = texts.is_not_null()
        with self._lock:
            known = self._known
            if digests.height < known.height // 8:
                # (a join would hash every known text; a scan against a set of the few
                # hashes wanted is cheaper: many calls number a handful of texts)
                known = known.filter(pl.col("h1").is_in(digests["h1"].implode()))
            found = digests.join(known, on=["h1", "h2"], how="left",
                                 maintain_order="left")["number"]
            new = present & found.is_null()
            if new.any():
                first = self._known.height
                fresh = digests.filter(new).unique(maintain_order=True)
                fresh = fresh.with_columns(number=pl.int_range(
                    first, first + fresh.height, dtype=pl.UInt32))
                self._known = _appended(self._known, fresh)
                found = found.fill_null(digests.join(
                    fresh, on=["h1", "h2"], how="left", maintain_order="left")["number"])
        return found.zip_with(present, pl.repeat(None, texts.len(), dtype=pl.UInt32,
                                                  eager=True)).alias(texts.name)


#: The seeds of a `Numbering`'s two hashes.
_SEEDS: Final = (0x243F6A8885A308D3, 0x13198A2E03707344)
_NUMBERED: Final = {"h1": pl.UInt64(), "h2": pl.UInt64(), "number": pl.UInt32()}
#: An origin is reader number × this + store code.
_READER_UNIT: Final = 1 << 32
#: Single texts whose codes a dictionary remembers (`Dictionary.code_of`).
_MAX_SINGLE: Final = 256
#: Columns appended to this many times are made contiguous again.
_MAX_PIECES: Final = 64


def _appended(old: _Column, new: _Column) -> _Column:
    """``old`` with ``new`` appended (without copying ``old``, until it is in many
    pieces)."""
    joined = pl.concat([old, new], rechunk=False)
    return joined.rechunk() if joined.n_chunks() > _MAX_PIECES else joined


def codes_of(texts: pl.Series) -> pl.Series:
    """The codes of ``texts`` (null stays null) in the current dictionary, new texts kept
    in it."""
    return dictionary().intern(texts)


def code_of(text: str) -> int:
    """The code of one text in the current dictionary (kept in it if new)."""
    return dictionary().code_of(text)


def texts_of(codes: pl.Series) -> pl.Series:
    """The texts of ``codes`` (null stays null) in the current dictionary."""
    return dictionary().texts(codes)


def span(codes: pl.Series) -> int:
    """The length of a table indexed by ``codes``: one more than the largest."""
    top = codes.max()
    return 0 if top is None else int(top) + 1  # type: ignore[arg-type]


def gather_known(table: pl.Series, codes: pl.Series) -> pl.Series:
    """``table[code]`` per code; null for codes beyond the table (not known yet)."""
    size = span(codes)
    if size > table.len():
        table = table.extend_constant(None, size - table.len())
    return table.gather(codes)


_DEFAULT: Final = Dictionary(None)
_limit = TEXT_LIMIT
_CURRENT: ContextVar[Dictionary | None] = ContextVar("fastaw_dictionary", default=None)
_worker: Dictionary | None = None


def dictionary() -> Dictionary:
    """The current data dictionary."""
    return _CURRENT.get() or _DEFAULT


def data_dtype() -> pl.DataType:
    """The dtype of the ``data`` column: codes of the current dictionary."""
    return pl.UInt32()


def fresh_dictionary() -> Dictionary:
    """A new, empty dictionary with a memo."""
    return Dictionary({})


@contextmanager
def query_dictionary(fresh: bool = False) -> Iterator[Dictionary]:
    """Run the block with the worker dictionary (a new one when ``fresh``, or when the
    current one outgrew the limit, see `limit_texts`)."""
    global _worker
    if fresh or _worker is None or _worker.size > _limit:
        _worker = None  # let the old one go before the new one fills up
        _worker = fresh_dictionary()
    token = _CURRENT.set(_worker)
    try:
        yield _worker
    finally:
        _CURRENT.reset(token)
        if _worker is not None:
            _worker.forget_per_query()
            if _worker.size > _limit:
                # let it go now rather than at the next query: a ten-year query leaves a
                # dictionary of several GB, which nothing would use again
                _worker = None


def drop_worker_dictionary() -> None:
    """Let the worker dictionary go: the next query starts a new one (its texts can no
    longer be read, see `fastaw.pool.execute`)."""
    global _worker
    _worker = None


def worker_dictionary() -> Dictionary | None:
    """The worker dictionary the next query will use (None: it will start a new one)."""
    return _worker


def limit_texts(limit: int) -> None:
    """Keep the worker dictionary between queries only while it holds at most ``limit``
    texts (0: never keep it)."""
    global _limit
    _limit = max(0, limit)
