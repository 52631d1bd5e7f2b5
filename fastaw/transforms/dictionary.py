"""The data dictionary: how the ``data`` column of event frames is dictionary-encoded.

A frame's ``data`` is a Polars Categorical: each canonical data text is interned once and
rows hold its integer *code*. De-duplicating, grouping, comparing and joining events by
data are then integer operations, and an answer computed from a text (the value of
``data["app"]``, its category under a rule set, its URL split) can be remembered by code
in the dictionary's *memo* (see `fastaw.transforms.jsondata.DistinctData`). A code never
changes meaning within one dictionary, so those answers never go stale: they are pure
functions of the text.

Queries run with a worker dictionary (`query_dictionary`): it lives across the queries a
query worker runs, so the dashboard asking about the same year again finds every per-text
answer remembered and only maps codes; it is dropped when a query leaves it holding more
texts than a limit (`TEXT_LIMIT`, or `limit_texts`; the next query starts an empty one),
which bounds the memory it keeps between queries. Outside a query, frames use
the process-wide default categories and nothing is memoized.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

import polars as pl

#: By default, a worker dictionary holding more texts than this is dropped when its query
#: ends (a year of a busy desktop's history is ≈ 390k texts, ≈ 90 MB with the memo);
#: `limit_texts` sets another limit (the server's ``query_cache_mb``).
TEXT_LIMIT: Final = 1_000_000
#: Memory a worker dictionary keeps per text between queries, memo included (measured: a
#: year of a busy desktop's history, 786k texts with the merge keys, ≈ 230 bytes; rounded
#: up for histories of longer texts).
BYTES_PER_TEXT: Final = 350
#: Memo tables whose name starts with this are kept only while a query runs. The values of
#: keys per text (`fastaw.transforms.distinct.DistinctData.values`) are the large ones —
#: after a year's dashboard query, ≈ 110 MB, mostly titles and URLs — and a repeated
#: query needs only what was worked out from them (merge keys, filters, rewrites), which
#: is kept.
PER_QUERY: Final = "~"


class Dictionary:
    """A Categorical dtype (its categories are the dictionary) and, unless ``memo`` is
    None, a memo of per-text answers by code. ``size`` is one more than the largest code
    seen so far (kept up to date by the code that looks at codes).

    Statements of a query may run on several threads at once (`fastaw.query.dataflow`):
    whoever reads or writes the memo, or ``size``, holds ``lock``. (Interning texts into
    the dtype needs no lock: Polars' categories are safe to add to from any thread.)
    """

    __slots__ = ("_anchor", "_booleans", "dtype", "lock", "memo", "numberings", "size",
                 "stores")

    def __init__(self, dtype: pl.Categorical, memo: dict[str, Any] | None) -> None:
        self.dtype = dtype
        self.memo = memo
        self.size = 0
        self.lock = threading.RLock()
        #: Per store (and text epoch): pairs of its text codes and their codes here
        #: (see `fastaw.columnar.texts`), valid exactly as long as the dictionary.
        self.stores: dict[tuple[str, int], pl.DataFrame] = {}
        #: Named `Numbering`\ s kept with the memo (see `numbering`).
        self.numberings: dict[str, Numbering] = {}
        self._booleans: set[str] = set()  #: memo tables of yes/no answers (`remember`)
        # Polars frees a dictionary's texts (and reuses their codes) as soon as no column
        # of the dtype exists, even while the dtype object lives: an empty column keeps
        # the codes, and with them the memo, valid.
        self._anchor = pl.Series("anchor", [], dtype=dtype)

    def forget_per_query(self) -> None:
        """Drop the memo tables kept only while a query runs (`PER_QUERY`)."""
        if self.memo is not None:
            with self.lock:
                for table in [t for t in self.memo if t.startswith(PER_QUERY)]:
                    del self.memo[table]

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

    def saw(self, codes: pl.Series) -> None:
        """Note the largest of ``codes`` (for the size limit; nulls are no codes)."""
        top = codes.max()
        if top is not None:
            assert isinstance(top, int)
            with self.lock:
                self.size = max(self.size, top + 1)


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
        """The number of each of ``texts`` (null stays null), new ones numbered."""
        digests = pl.DataFrame({"h1": texts.hash(_SEEDS[0]), "h2": texts.hash(_SEEDS[1])})
        present = texts.is_not_null()
        with self._lock:
            known = self._known
            new = digests.filter(present).unique().join(known, on=["h1", "h2"], how="anti")
            if new.height:
                first = known.height
                known = self._known = pl.concat([known, new.with_columns(
                    number=pl.int_range(first, first + new.height, dtype=pl.UInt32))])
        found = digests.join(known, on=["h1", "h2"], how="left", maintain_order="left")
        return found.select(pl.when(present).then(pl.col("number"))).to_series()


#: The seeds of a `Numbering`'s two hashes.
_SEEDS: Final = (0x243F6A8885A308D3, 0x13198A2E03707344)
_NUMBERED: Final = {"h1": pl.UInt64(), "h2": pl.UInt64(), "number": pl.UInt32()}


def codes_of(texts: pl.Series, dtype: pl.DataType) -> pl.Series:
    """The codes of ``texts`` (null stays null) in the dictionary of ``dtype``, the new
    ones interned and counted toward the current dictionary's size (`Dictionary.saw`)."""
    codes = texts.cast(dtype).to_physical()
    dictionary().saw(codes)
    return codes


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


_DEFAULT: Final = Dictionary(pl.Categorical(), None)
_limit = TEXT_LIMIT
_CURRENT: ContextVar[Dictionary | None] = ContextVar("fastaw_dictionary", default=None)
_worker: Dictionary | None = None


def dictionary() -> Dictionary:
    """The current data dictionary."""
    return _CURRENT.get() or _DEFAULT


def data_dtype() -> pl.Categorical:
    """The dtype of the ``data`` column: a Categorical over the current dictionary."""
    return dictionary().dtype


def fresh_dictionary() -> Dictionary:
    """A new, empty dictionary with a memo."""
    return Dictionary(pl.Categorical(pl.Categories.random()), {})


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


def worker_dictionary() -> Dictionary | None:
    """The worker dictionary the next query will use (None: it will start a new one)."""
    return _worker


def limit_texts(limit: int) -> None:
    """Keep the worker dictionary between queries only while it holds at most ``limit``
    texts (0: never keep it)."""
    global _limit
    _limit = max(0, limit)
