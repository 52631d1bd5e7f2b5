"""`StoreCodes`: store text code → dictionary code, as pairs or as a table."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from fastaw.columnar.texts import StoreCodes

#: Codes spread thinly (kept as pairs) or packed (kept as a table).
_pairs = st.one_of(*(st.dictionaries(st.integers(0, top), st.integers(0, 2**32 - 1),
                                     max_size=300) for top in (5000, 300)))


def _expected(pairs: dict[int, int], codes: list[int]) -> list[int | None]:
    return [pairs.get(code) for code in codes]


def _codes(pairs: dict[int, int]) -> StoreCodes:
    return StoreCodes(pl.DataFrame({"store": list(pairs), "ours": list(pairs.values())},
                                   schema={"store": pl.UInt32(), "ours": pl.UInt32()}))


@given(_pairs, st.lists(st.integers(0, 6000), max_size=200))
def test_lookup_answers_the_pairs_known_and_null_for_the_others(
        pairs: dict[int, int], codes: list[int]) -> None:
    found = _codes(pairs).lookup(pl.Series(codes, dtype=pl.UInt32))
    assert found.dtype == pl.UInt32
    assert found.to_list() == _expected(pairs, codes)


@given(_pairs, _pairs, st.lists(st.integers(0, 6000), max_size=200))
def test_added_keeps_the_old_pairs_and_leaves_the_old_codes_unchanged(
        old: dict[int, int], more: dict[int, int], codes: list[int]) -> None:
    new = {code: ours for code, ours in more.items() if code not in old}
    before = _codes(old)
    after = before.added(pl.Series(list(new), dtype=pl.UInt32),
                         pl.Series(list(new.values()), dtype=pl.UInt32))
    wanted = pl.Series(codes, dtype=pl.UInt32)
    assert after.lookup(wanted).to_list() == _expected(old | new, codes)
    assert before.lookup(wanted).to_list() == _expected(old, codes)
    assert len(after) == len(old | new)


def test_dense_codes_are_kept_as_a_table_and_sparse_ones_as_pairs() -> None:
    dense = _codes({code: code + 7 for code in range(0, 1000)})
    sparse = _codes({code * 100: code for code in range(0, 1000)})
    assert dense._table is not None and dense._pairs is None
    assert sparse._pairs is not None and sparse._table is None
    codes = pl.Series([0, 999, 1000, 5000, 99_900, 10**6], dtype=pl.UInt32)
    assert dense.lookup(codes).to_list() == [7, 1006, None, None, None, None]
    assert sparse.lookup(codes).to_list() == [0, None, 10, 50, 999, None]
