"""Store text codes → the query's data dictionary codes.

Rows read from chunks carry codes of the store's text table (`fastaw.storage.texts`);
queries need codes of their data dictionary (`fastaw.transforms.dictionary`). The
dictionary keeps, per store and text epoch, the pairs of one and the other
(`Dictionary.stores`), so each distinct text is read and interned once per dictionary.
"""

from __future__ import annotations

from typing import Final

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from fastaw.columnar.encoding import StaleTexts
from fastaw.storage.chunks import ChunkStore
from fastaw.storage.texts import BLOCK, block_buffers
from fastaw.transforms.dictionary import Dictionary, dictionary

#: Arrow's own allocator (mimalloc) frees pages lazily (``MADV_FREE``): a process keeps
#: them in its resident memory until the system runs short. The texts copied out of the
#: text table are freed as soon as they are interned, so they use the system allocator.
_POOL: Final = pa.system_memory_pool()
#: The pairs kept per store and epoch (`StoreTexts`).
_PAIRS: Final = {"store": pl.UInt32(), "ours": pl.UInt32()}


class StoreTexts:
    """What the current data dictionary calls the texts of a store's text codes.

    Per dictionary and store (and text epoch), the pairs (store code, dictionary code)
    looked up so far, kept in the dictionary (`Dictionary.stores`), so they live and die
    with the codes they hold. Texts of codes not among them are read from the store, a
    block at a time, and interned.

    The pairs are a frame joined on, not a table indexed by store code: a year of a
    ten-year store's history uses 330k of its 2.8M codes, spread over all of them — as a
    table, 11 MB kept between queries; as pairs, 2.6 MB, for ≈ 20 ms more per million
    rows read from chunks (windows kept in memory are not read again).
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
            known = pl.DataFrame(schema=_PAIRS)
        rows = pl.DataFrame({"store": codes})
        found = rows.join(known, on="store", how="left", maintain_order="left")["ours"]
        if found.null_count():
            missing = codes.filter(found.is_null()).unique().sort()
            new = pl.DataFrame({"store": missing, "ours": self._intern(missing, epoch, current)})
            with current.lock:
                # (another statement may have added pairs meanwhile: keep theirs too)
                known = pl.concat([current.stores.get(key, known), new]).unique("store")
                current.stores[key] = known
            found = found.fill_null(rows.join(new, on="store", how="left",
                                              maintain_order="left")["ours"])
        return found.cat.to(current.dtype)

    def _intern(self, codes: pl.Series, epoch: int, current: Dictionary) -> pl.Series:
        """Dictionary codes of the texts of store ``codes`` (distinct, ascending).

        Each block's wanted texts are taken (copied) by Arrow while the read snapshot
        holds the map's pages, then all of them are interned in one cast."""
        blocks = (codes // BLOCK).unique().sort()
        numbers = blocks.to_list()
        firsts = [*codes.search_sorted(blocks * BLOCK).to_list(), codes.len()]
        within = (codes % BLOCK).rechunk().to_arrow()
        where = {number: (firsts[i], firsts[i + 1] - firsts[i])
                 for i, number in enumerate(numbers)}
        taken: dict[int, pa.Array] = {}

        def use(number: int, value: memoryview) -> None:
            count, offsets, data = block_buffers(value)
            texts = pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(data))
            taken[number] = pc.take(texts, within.slice(*where[number]), memory_pool=_POOL)

        if not self.store.texts.read_blocks(numbers, epoch, use) or len(taken) != len(numbers):
            raise StaleTexts
        strings = pl.from_arrow(pa.chunked_array([taken[n] for n in numbers], pa.string()))
        assert isinstance(strings, pl.Series)
        return strings.cast(current.dtype).to_physical()


