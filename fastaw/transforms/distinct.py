"""Per-text work on a frame's ``data``: each distinct text looked at once, answers memoized.

Invariant: a frame's ``data`` holds canonical JSON texts, dictionary-encoded
(`fastaw.transforms.dictionary`). A transform that must look inside data builds a
`DistinctData`, computes one answer per *distinct* text and maps it back onto the rows by
code (a lookup table indexed by code, gathered by the rows' codes). A year of window
events has ~10⁶ rows but ~10⁵ distinct texts, and the answers are pure functions of the
text, so inside a query they are memoized by code for as long as the dictionary lives:

* ``~key:<k>`` — the canonical text of ``data[k]`` (`DistinctData.values`), and ``~all``
  — whether every key of the text is known. These are kept only while the query runs
  (`fastaw.transforms.dictionary.PER_QUERY`): they are large, and a repeated query needs
  only the answers below, which were worked out from them;
* ``category:<rules>`` and ``split_url`` — the code of the text's overlay
  (`fastaw.transforms.overlay`) from categorize under a rule set, from split_url_events;
* other named answers (`DistinctData.memoized`): the merge key of given keys, whether a
  regex matches ``data[key]``, whether ``data[key]`` is one of given values.

A rewrite (`DistinctData.replace`: tag, simplify_window_titles) that only sets some keys
(``changed``) carries the ``~key:`` answers of every other key over to the new texts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, NamedTuple, TypeVar

import msgspec
import polars as pl

from fastaw.transforms.dictionary import PER_QUERY, dictionary, gather_known, span
from fastaw.transforms.frame import nulls
from fastaw.transforms.jsondata import (
    MAX_KEYS,
    JSONObject,
    all_key_value_texts,
    encode,
    key_value_texts,
    only_keys,
    sampled_keys,
    slice_size,
)

T = TypeVar("T")

#: Memo tables of key values, and of whether all keys of a text are known (per query).
_KEY: Final = PER_QUERY + "key:"
_ALL: Final = PER_QUERY + "all"
#: Memo value of a missing key (no canonical JSON text holds a raw NUL); null = not known.
_ABSENT: Final = "\x00"
_objects_decoder: Final = msgspec.json.Decoder(list[dict[str, Any]])
#: `DistinctData.memoized` hands at most this many texts at a time to a computation
#: (or more, in at most `jsondata.MAX_SLICES` slices).
COMPUTE_SLICE: Final = 1 << 16


class Rewrite(NamedTuple):
    """What a rewrite of distinct texts produced.

    ``texts``: the new text per distinct text (null = unchanged), parallel to the
    `DistinctData`'s codes; ``changed``: the keys the rewrite may have set (``None``: any);
    ``known``: value texts (null = missing) of changed keys in the new texts.
    """

    texts: pl.Series
    changed: Sequence[str] | None = None
    known: dict[str, pl.Series] | None = None


class DistinctData:
    """The distinct texts of a ``data`` column, their answers, and row mapping helpers."""

    def __init__(self, data: pl.Series) -> None:
        current = dictionary()
        if data.dtype == pl.String:
            data = current.intern(data)
        self.data = data
        self.memo = current.memo
        self._dictionary = current
        self._lock = current.lock
        self.codes = data
        self._distinct_codes: pl.Series | None = None
        self._distinct: pl.Series | None = None
        self._objects: list[JSONObject] | None = None

    @property
    def distinct_codes(self) -> pl.Series:
        """The codes of the distinct texts, ascending (found on first use: an answer
        memoized for every row's text needs no distinct texts, see `memoized_rows`)."""
        if self._distinct_codes is None:
            self._distinct_codes = _present(self.codes)
        return self._distinct_codes

    @property
    def distinct(self) -> pl.Series:
        """The distinct texts (parallel to `distinct_codes`)."""
        if self._distinct is None:
            self._distinct = self._dictionary.texts(self.distinct_codes)
        return self._distinct

    @property
    def objects(self) -> list[JSONObject]:
        if self._objects is None:
            if self.distinct.len() == 0:
                self._objects = []
            else:
                joined = self.distinct.str.join(",").cast(pl.Binary).item()
                self._objects = _objects_decoder.decode(b"[" + joined + b"]")
        return self._objects

    # -- rows ---------------------------------------------------------------------------

    def expand(self, values: pl.Series) -> pl.Series:
        """Row column of ``values`` (one per distinct text, parallel to `distinct_codes`)."""
        table = nulls(span(self.distinct_codes), values.dtype).alias(values.name)
        return table.scatter(self.distinct_codes, values).gather(self.codes)

    def map(self, values: Sequence[T | None], dtype: pl.DataType) -> pl.Series:
        """Row column: each row gets the value of its distinct text."""
        return self.expand(pl.Series(values, dtype=dtype))

    # -- answers ------------------------------------------------------------------------

    def values(self, keys: Sequence[str]) -> dict[str, pl.Series]:
        """Per distinct text and per key: the canonical text of ``data[key]`` (null when
        the key is missing), as `key_value_texts` computes it; memoized."""
        wanted = list(dict.fromkeys(keys))
        if self.memo is None:
            return key_value_texts(self.distinct, wanted)
        done = self._recall(_ALL, pl.Boolean()).fill_null(False)
        known = {key: self._known(key, done) for key in wanted}
        todo = [key for key in wanted if known[key].null_count()]
        if todo:
            need = known[todo[0]].is_null()
            for key in todo[1:]:
                need = need | known[key].is_null()
            codes = self.distinct_codes.filter(need)
            fresh = key_value_texts(self.distinct.filter(need), todo)
            for key in todo:
                self._remember(_KEY + key, codes, fresh[key].fill_null(_ABSENT))
                known[key] = self._known(key, done)
        return {key: known[key].replace(_ABSENT, None) for key in wanted}

    def keys(self) -> list[str]:
        """Every key some distinct text has at the top level.

        With a memo, each text's keys are all extracted and memoized, and the text marked
        ``all``: later asking for any key of it needs no extraction. The keys of a sample
        of the texts are asked for first (`values`: those known need no extraction), and
        the texts that turn out to have no other key are done.
        """
        if self.memo is None:
            every = all_key_value_texts(self.distinct)
            if every is None:
                return sorted({k for o in self.objects for k in o})
            return sorted(k for k, v in every.items() if v.null_count() < v.len())
        done = self._recall(_ALL, pl.Boolean()).fill_null(False)
        if not done.all():
            need = ~done
            codes, texts = self.distinct_codes.filter(need), self.distinct.filter(need)
            names = sampled_keys(texts)
            if len(names) <= MAX_KEYS:
                found = {k: v.filter(need) for k, v in self.values(names).items()}
                complete = only_keys(texts, found)
                self._remember(_ALL, codes.filter(complete), complete.filter(complete))
                codes, texts = codes.filter(~complete), texts.filter(~complete)
            if texts.len():
                every = all_key_value_texts(texts)
                if every is None:  # too many different keys to memoize them all
                    return sorted({k for o in self.objects for k in o})
                for key, values in every.items():
                    self._remember(_KEY + key, codes, values.fill_null(_ABSENT))
                self._remember(_ALL, codes, pl.repeat(True, codes.len(), eager=True))
        with self._lock:
            names = [t.removeprefix(_KEY) for t in self.memo if t.startswith(_KEY)]
        return sorted(k for k in names
                      if (self._recall(_KEY + k, pl.String()).fill_null(_ABSENT)
                          != _ABSENT).any())

    def _known(self, key: str, done: pl.Series) -> pl.Series:
        """Memoized texts of ``data[key]``; `_ABSENT` where every key of the text is known
        but this one is not among them; null where not known yet."""
        memo = self._recall(_KEY + key, pl.String())
        absent = pl.repeat(_ABSENT, memo.len(), dtype=pl.String, eager=True)
        return memo.zip_with(memo.is_not_null() | ~done, absent)

    def memoized(self, table: str, compute: Callable[[DistinctData], pl.Series],
                  dtype: pl.DataType) -> pl.Series:
        """``compute``'s answer per distinct text (parallel to `distinct_codes`; never
        null), memoized in ``table`` — a name that must identify the computation
        completely, parameters included. Only texts not seen before are handed to
        ``compute`` (as a `DistinctData` of their own)."""
        if self.memo is None:
            return compute(self)
        known = self._recall(table, dtype)
        need = known.is_null()
        if need.any():
            if need.all() and need.len() <= COMPUTE_SLICE:
                self._remember(table, self.distinct_codes, compute(self))
            else:
                # in even slices of texts: the columns an answer is worked out from
                # (values, strings, matches, keys) are then those of one slice. A year's
                # texts new to the dictionary: categorizing window events +79 → +39 MiB
                # while it runs, merging browser events by URL +64 → +29 MiB; each
                # 10–30 % slower. (In at most `jsondata.MAX_SLICES` slices: each costs the
                # computation's fixed part again; ten years in 64k slices took 23–24 s
                # instead of 18–22.)
                missing = self.distinct_codes.filter(need)
                size = slice_size(missing.len(), COMPUTE_SLICE)
                for at in range(0, missing.len(), size):
                    part = DistinctData(missing.slice(at, size))
                    self._remember(table, part.distinct_codes, compute(part))
            known = self._recall(table, dtype)
        return known

    def memoized_rows(self, table: str, compute: Callable[[DistinctData], pl.Series],
                      dtype: pl.DataType) -> pl.Series:
        """`memoized`'s answers per *row*. When the memo knows the answer for every row's
        text (a repeated query), this is one lookup by code, without finding the distinct
        texts first."""
        if self.memo is not None:
            rows = self._dictionary.recall(table, self.codes)
            if rows is not None and rows.null_count() == 0:
                return rows
        return self.expand(self.memoized(table, compute, dtype))

    def replace(self, rewrite: Rewrite) -> pl.Series:
        """New data column from a `Rewrite` of these distinct texts (not memoized)."""
        return self._apply(self._new_codes(rewrite))

    def rewrite(self, fn: Callable[[JSONObject], JSONObject | None]) -> pl.Series:
        """New data column: ``fn`` per distinct object (``None`` = unchanged), re-encoded."""
        new: list[str | None] = []
        for obj in self.objects:
            out = fn(obj)
            new.append(None if out is None else encode(out))
        if all(text is None for text in new):
            return self.data
        return self.replace(Rewrite(pl.Series(new, dtype=pl.String)))

    # -- internals ----------------------------------------------------------------------

    def _apply(self, codes: pl.Series) -> pl.Series:
        """The data column with each distinct code replaced by ``codes`` (parallel)."""
        if codes.equals(self.distinct_codes, check_names=False):
            return self.data
        return self.expand(codes)

    def _new_codes(self, rewrite: Rewrite) -> pl.Series:
        """Intern the rewritten texts; the new code per distinct text (its own when
        unchanged), carrying memoized answers over to the new texts."""
        new_codes = self._dictionary.intern(rewrite.texts)
        if self.memo is not None and rewrite.changed is not None:
            self._carry(new_codes, rewrite.changed, rewrite.known or {})
        return new_codes.zip_with(new_codes.is_not_null(), self.distinct_codes)

    def _carry(self, new_codes: pl.Series, changed: Sequence[str],
               known: dict[str, pl.Series]) -> None:
        assert self.memo is not None
        moved = new_codes.is_not_null()
        old, new = self.distinct_codes.filter(moved), new_codes.filter(moved)
        if new.len() == 0:
            return
        with self._lock:
            for table in [t for t in self.memo if t.startswith(_KEY)]:
                if table.removeprefix(_KEY) in changed:
                    continue
                values = gather_known(self.memo[table], old)
                got = values.is_not_null()
                self._remember(table, new.filter(got), values.filter(got))
        for key, values in known.items():
            self._remember(_KEY + key, new, values.filter(moved).fill_null(_ABSENT))

    def _recall(self, table: str, dtype: pl.DataType) -> pl.Series:
        """The memo ``table``'s entry per distinct code (null = not known)."""
        assert self.memo is not None
        values = self._dictionary.recall(table, self.distinct_codes)
        return nulls(self.distinct_codes.len(), dtype) if values is None else values

    def _remember(self, table: str, codes: pl.Series, values: pl.Series) -> None:
        """Store ``values`` for ``codes`` in memo ``table``."""
        assert self.memo is not None
        self._dictionary.remember(table, codes, values)


def _present(codes: pl.Series) -> pl.Series:
    """The distinct codes, ascending. Codes are small dense integers (below the dictionary's
    size), so marking them in a bitmap is cheaper than hashing them."""
    if codes.len() == 0:
        return codes.clear()
    marks = pl.repeat(False, span(codes), dtype=pl.Boolean, eager=True).scatter(codes, True)
    return marks.arg_true().cast(pl.UInt32)


def intern(strings: pl.Series) -> tuple[pl.Series, pl.Series]:
    """The distinct strings of ``strings`` and, per element, its index into them (null
    stays null), by interning them in a scratch dictionary: hashing once is cheaper than
    sorting or ranking strings."""
    interned = strings.cast(pl.Categorical(pl.Categories.random()))
    uniques = interned.unique().drop_nulls()
    codes = uniques.to_physical()
    position = nulls(span(codes), pl.UInt32).scatter(
        codes, pl.int_range(codes.len(), dtype=pl.UInt32, eager=True))
    return uniques.cast(pl.String), position.gather(interned.to_physical())
