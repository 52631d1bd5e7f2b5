"""Store text codes → the query's data dictionary codes.

Rows read from chunks carry codes of the store's text table (`fastaw.storage.texts`);
queries need codes of their data dictionary (`fastaw.transforms.dictionary`). The
dictionary keeps, per store and text epoch, its code for each store code looked up so far
(`StoreCodes`, in `Dictionary.stores`): a text new to the dictionary is read to be adopted
by it (`Dictionary.adopt`: hashed, its text left in the store, read again when needed).
"""

from __future__ import annotations

from typing import Final

import polars as pl

from fastaw.columnar.encoding import StaleTexts
from fastaw.storage.chunks import ChunkStore
from fastaw.storage.texts import BLOCK, block_buffers
from fastaw.transforms.dictionary import dictionary, gather_known, span


class StoreCodes:
    """Store text code → dictionary code, for the store codes looked up so far (null for
    the others). Immutable: adding codes makes a new one, so a reader holding the old one
    never sees it change.

    Kept as whichever form is smaller: pairs (store code, ours), joined on, or a table
    indexed by store code, gathered from. A year of a ten-year store's history uses 330k
    of its 2.8M codes, spread over all of them: as pairs 2.6 MB, as a table 11 MB. Ten
    years use them all: as pairs 22 MB, as a table 11 MB. A million rows then take
    ≈ 5 ms to gather against ≈ 250 ms to join (with 330k pairs, ≈ 35–60 ms to join), and
    ten years of a busy desktop are ≈ 13M rows (`fastaw.columnar.source` reads every window
    not kept in memory again).
    """

    __slots__ = ("_pairs", "_table")

    def __init__(self, pairs: pl.DataFrame | None = None) -> None:
        pairs = pl.DataFrame(schema=_PAIRS) if pairs is None else pairs
        # (a table costs 4 bytes and a validity bit per code up to the largest; pairs, 8
        # bytes per code known)
        self._table: pl.Series | None = None
        self._pairs: pl.DataFrame | None = pairs
        if pairs.height and span(pairs["store"]) * 33 <= pairs.height * 64:
            table = pl.repeat(None, span(pairs["store"]), dtype=pl.UInt32, eager=True)
            self._table, self._pairs = table.scatter(pairs["store"], pairs["ours"]), None

    def __len__(self) -> int:
        if self._pairs is not None:
            return self._pairs.height
        assert self._table is not None
        return self._table.len() - self._table.null_count()

    def lookup(self, codes: pl.Series) -> pl.Series:
        """The dictionary code of each store code of ``codes`` (null when not known)."""
        if self._pairs is not None:
            return pl.DataFrame({"store": codes}).join(
                self._pairs, on="store", how="left", maintain_order="left")["ours"]
        assert self._table is not None
        return gather_known(self._table, codes).alias("ours")

    def pairs(self) -> pl.DataFrame:
        """Every (store, ours) known, by store code."""
        if self._pairs is not None:
            return self._pairs
        assert self._table is not None
        known = self._table.is_not_null()
        return pl.DataFrame({
            "store": pl.int_range(0, self._table.len(), dtype=pl.UInt32, eager=True)
            .filter(known),
            "ours": self._table.filter(known)})

    def added(self, store: pl.Series, ours: pl.Series) -> StoreCodes:
        """These codes and the pairs ``store`` → ``ours`` (store codes new to them)."""
        new = pl.DataFrame({"store": store, "ours": ours})
        return StoreCodes(pl.concat([self.pairs(), new]).unique("store"))


#: A store's codes and ours, a pair per store text looked up (`StoreCodes`).
_PAIRS: Final = {"store": pl.UInt32(), "ours": pl.UInt32()}


class StoreTexts:
    """What the current data dictionary calls the texts of a store's text codes.

    Per dictionary and store (and text epoch), the codes looked up so far (`StoreCodes`),
    kept in the dictionary (`Dictionary.stores`), so they live and die with the codes they
    hold. Texts of codes not among them are read from the store, a block at a time, and
    adopted.
    """

    def __init__(self, store: ChunkStore) -> None:
        self.store = store
        self.name = str(store.env.path)

    def data(self, codes: pl.Series, epoch: int) -> pl.Series:
        """The data column (in the current dictionary) of store text ``codes``."""
        current = dictionary()
        key = (self.name, epoch)
        with current.lock:
            known = current.stores.get(key)
        if known is None:
            known = StoreCodes()
        found = known.lookup(codes)
        if found.null_count():
            missing = codes.filter(found.is_null()).unique().sort()
            reader = current.reader(key, lambda wanted: self._read(wanted, epoch))
            ours = current.adopt(reader, missing, self._read(missing, epoch))
            with current.lock:
                # (another statement may have added codes meanwhile: keep theirs too)
                current.stores[key] = current.stores.get(key, known).added(missing, ours)
            # (the new pairs only: looking all rows up again in every pair known so far
            # would join them against up to millions of pairs once more)
            found = found.fill_null(StoreCodes(pl.DataFrame({"store": missing, "ours": ours}))
                                    .lookup(codes))
        return found

    def _read(self, codes: pl.Series, epoch: int) -> pl.Series:
        """The texts of store ``codes`` (distinct, ascending), in their order; `StaleTexts`
        when the epoch is over (the codes meant other texts).

        Each block's wanted texts are copied out while the read snapshot holds the map's
        pages, one by one: Polars slicing a block's bytes at many offsets at once took 4–8
        times longer. (A year of the ten-year store, 327k texts in 674 blocks: ≈ 0.25 s,
        against 0.16 s with pyarrow, which query workers no longer import.)"""
        blocks = (codes // BLOCK).unique().sort()
        numbers = blocks.to_list()
        firsts = [*codes.search_sorted(blocks * BLOCK).to_list(), codes.len()]
        within = (codes % BLOCK).to_list()
        where = {number: (firsts[i], firsts[i + 1]) for i, number in enumerate(numbers)}
        taken: dict[int, pl.Series] = {}

        def use(number: int, value: memoryview) -> None:
            _, offsets, data = block_buffers(value)
            ends = offsets.cast("I")  # count + 1 offsets, never negative
            first, stop = where[number]
            texts = [bytes(data[ends[i]:ends[i + 1]]) for i in within[first:stop]]
            taken[number] = pl.Series(texts, dtype=pl.Binary).cast(pl.String)

        if not self.store.texts.read_blocks(numbers, epoch, use) or len(taken) != len(numbers):
            raise StaleTexts
        return pl.concat([taken[n] for n in numbers]) if numbers else \
            pl.Series([], dtype=pl.String)
