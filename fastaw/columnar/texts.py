"""Store text codes → the query's data dictionary codes.

Rows read from chunks carry codes of the store's text table (`fastaw.storage.texts`);
queries need codes of their data dictionary (`fastaw.transforms.dictionary`). The
dictionary keeps, per store and text epoch, a table from one to the other
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


class StoreTexts:
    """What the current data dictionary calls the texts of a store's text codes.

    Per dictionary and store (and text epoch), a table from store code to dictionary code
    (null: not looked up yet), kept in the dictionary (`Dictionary.stores`), so it lives and
    dies with the codes it holds. Texts of codes not in it are read from the store, a
    block at a time, and interned.
    """

    def __init__(self, store: ChunkStore) -> None:
        self.store = store
        self.name = str(store.env.path)

    def data(self, codes: pl.Series, epoch: int) -> pl.Series:
        """The data column (in the current dictionary) of store text ``codes``."""
        current = dictionary()
        key = (self.name, epoch)
        with current.lock:
            table = current.stores.get(key)
        if table is None:
            table = pl.Series("stores", [], dtype=pl.UInt32)
        top = codes.max()
        size = 0 if top is None else int(top) + 1  # type: ignore[arg-type]
        if table.len() < size:
            table = table.extend_constant(None, size - table.len())
        known = table.gather(codes)
        if known.null_count():
            missing = codes.filter(known.is_null()).unique().sort()
            table = table.scatter(missing, self._intern(missing, epoch, current))
            with current.lock:
                current.stores[key] = table
            known = table.gather(codes)
        return known.cat.to(current.dtype)

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


