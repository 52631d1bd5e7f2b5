"""The data dictionary: codes by text, texts kept or read back from where they came from."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from fastaw.transforms.dictionary import fresh_dictionary

texts = st.lists(st.sampled_from(['{"a":1}', '{"a":1.0}', '{"b":"é"}', "{}", '{"c":[1]}']) |
                 st.text(max_size=8), max_size=30)


class Store:
    """Texts by store code, counting what is read (as the store's text table would be)."""

    def __init__(self, entries: list[str]) -> None:
        self.entries = entries
        self.asked: list[int] = []

    def read(self, codes: pl.Series) -> pl.Series:
        wanted = codes.to_list()
        assert wanted == sorted(set(wanted)), "codes are asked for distinct and ascending"
        self.asked += wanted
        return pl.Series([self.entries[c] for c in wanted], dtype=pl.String)


@settings(max_examples=60, deadline=None)
@given(texts, texts, st.lists(st.none() | st.integers(0, 29), max_size=40))
def test_equal_texts_get_equal_codes_whichever_way_they_came(
        made: list[str], stored: list[str], asked: list[int | None]) -> None:
    dictionary = fresh_dictionary()
    store = Store(sorted(set(stored)))
    reader = dictionary.reader(("store", 0), store.read)
    made_codes = dictionary.intern(pl.Series(made, dtype=pl.String)).to_list()
    adopted = dictionary.adopt(reader, pl.Series(range(len(store.entries)), dtype=pl.UInt32),
                               pl.Series(store.entries, dtype=pl.String)).to_list()
    by_text: dict[str, int] = {}
    for text, code in [*zip(made, made_codes, strict=True),
                       *zip(store.entries, adopted, strict=True)]:
        assert by_text.setdefault(text, code) == code  # one code per text
    assert len(set(by_text.values())) == len(by_text) == dictionary.size  # one text per code
    codes = [None if a is None or not by_text else list(by_text.values())[a % len(by_text)]
             for a in asked]
    back = dictionary.texts(pl.Series(codes, dtype=pl.UInt32)).to_list()
    text_of = {code: text for text, code in by_text.items()}
    assert back == [None if c is None else text_of[c] for c in codes]
    # and the same again, now read from the store where a text is only there
    assert dictionary.texts(pl.Series(codes, dtype=pl.UInt32)).to_list() == back


def test_stored_texts_are_read_once_for_the_first_answer_then_from_the_store() -> None:
    dictionary = fresh_dictionary()
    store = Store(['{"app":"a"}', '{"app":"b"}', '{"app":"c"}'])
    reader = dictionary.reader(("store", 0), store.read)
    codes = dictionary.adopt(reader, pl.Series([0, 1, 2], dtype=pl.UInt32),
                             pl.Series(store.entries, dtype=pl.String))
    assert dictionary.texts(codes).to_list() == store.entries
    assert store.asked == []  # the texts read to adopt them served the first answer
    assert dictionary.texts(codes.slice(1, 2)).to_list() == store.entries[1:]
    assert store.asked == [1, 2]  # then they are read again: the dictionary keeps none
    dictionary.forget_per_query()
    assert dictionary.intern(pl.Series(['{"app":"b"}'])).to_list() == [codes[1]]
    assert dictionary.size == 3


@settings(max_examples=60, deadline=None)
@given(texts, texts)
def test_one_text_at_a_time_gets_the_code_of_the_same_text_in_a_column(
        before: list[str], singles: list[str]) -> None:
    dictionary = fresh_dictionary()
    dictionary.intern(pl.Series(before, dtype=pl.String))
    codes = [dictionary.code_of(text) for text in singles]
    assert codes == [dictionary.code_of(text) for text in singles]  # (remembered)
    assert codes == dictionary.intern(pl.Series(singles, dtype=pl.String)).to_list()
    assert dictionary.texts(pl.Series(codes, dtype=pl.UInt32)).to_list() == singles
