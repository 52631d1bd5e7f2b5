"""Event ``data`` as canonical JSON text, worked on once per *distinct* text.

Invariant: a frame's ``data`` column holds canonical JSON (`fastaw.models.canonical_data`:
compact, keys sorted, ints and floats apart). Equal text ⇔ equal data under serde_json's
equality (``1 != 1.0``), except that ``0.0`` and ``-0.0`` have different texts.

Every transform that must look *inside* data decodes each distinct text once, computes a
per-distinct answer in Python and maps it back onto the rows with one vectorized
`replace_strict`/`is_in`. A year of window events has ~10⁶ rows but only ~10⁴–10⁵ distinct
data texts, so this is where the time goes — never a per-row Python loop.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from operator import attrgetter
from typing import Any, Final, TypeVar

import msgspec
import polars as pl

from fastaw.models import canonical_data

T = TypeVar("T")
JSONObject = dict[str, Any]

_decoder: Final = msgspec.json.Decoder(dict[str, Any])
_any_decoder: Final = msgspec.json.Decoder()
_objects_decoder: Final = msgspec.json.Decoder(list[dict[str, Any]])
UNMATCHABLE: Final = "\x00unmatchable"  # a text no canonical JSON value can have


def decode(text: str) -> JSONObject:
    """The data object of a canonical text."""
    return _decoder.decode(text)


def decode_value(text: str) -> Any:
    """Any JSON value of a canonical text."""
    return _any_decoder.decode(text)


def encode(value: Any) -> str:
    """Canonical JSON text of a value (what serde_json ``to_string`` prints, keys sorted)."""
    return canonical_data(value).decode()


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


def value_text(value: Any) -> str:
    """Canonical text of a query value for JSON-typed equality with stored data.

    Query numbers are floats, so ``1.0`` never equals a stored integer ``1`` (spec §0 #6);
    a Python ``int`` stays an integer. NaN/inf have no JSON form and match nothing.
    """
    if not _finite(value):
        return UNMATCHABLE
    return encode(value)


class DistinctData:
    """The distinct data texts of a frame, decoded lazily, with row mapping helpers."""

    def __init__(self, data: pl.Series) -> None:
        self.data = data
        self.distinct = data.unique()
        self.texts: list[str] = self.distinct.to_list()
        self._objects: list[JSONObject] | None = None

    @property
    def objects(self) -> list[JSONObject]:
        if self._objects is None:
            if self.distinct.len() == 0:
                self._objects = []
            else:
                joined = self.distinct.str.join(",").cast(pl.Binary).item()
                self._objects = _objects_decoder.decode(b"[" + joined + b"]")
        return self._objects

    def mask(self, keep: Sequence[bool]) -> pl.Series:
        """Row mask: rows whose data text is one of the kept distinct texts."""
        chosen = [t for t, k in zip(self.texts, keep, strict=True) if k]
        if len(chosen) == len(self.texts):
            return pl.Series(values=[True] * self.data.len(), dtype=pl.Boolean)
        return self.data.is_in(pl.Series(chosen, dtype=pl.String))

    def map(self, values: Sequence[T | None], dtype: pl.DataType) -> pl.Series:
        """Row column: each row gets the value of its distinct text."""
        return self.data.replace_strict(
            self.distinct,
            pl.Series(values, dtype=dtype),
            return_dtype=dtype,
        )

    def rewrite(self, fn: Callable[[JSONObject], JSONObject | None]) -> pl.Series:
        """New data column: ``fn`` per distinct object (``None`` = unchanged), re-encoded."""
        old: list[str] = []
        new: list[str] = []
        for text, obj in zip(self.texts, self.objects, strict=True):
            out = fn(obj)
            if out is not None:
                old.append(text)
                new.append(encode(out))
        if not old:
            return self.data
        return self.data.replace(pl.Series(old, dtype=pl.String), pl.Series(new, dtype=pl.String))


def key_texts(dd: DistinctData, keys: Sequence[str]) -> pl.Series:
    """Per row: the Rust merge key (canonical texts of ``data[k]`` joined by ``.``) or null
    when any key is missing."""
    values: list[str | None] = []
    for obj in dd.objects:
        try:
            values.append(".".join(encode(obj[k]) for k in keys))
        except KeyError:
            values.append(None)
    return dd.map(values, pl.String())


_UNRENAMABLE: Final = re.compile(r'["\\\x00-\x1f]')


@lru_cache(maxsize=128)
def _keys_decoder(keys: tuple[str, ...]) -> msgspec.json.Decoder[Any]:
    fields = [(f"f{i}", msgspec.Raw, msgspec.Raw(b"")) for i in range(len(keys))]
    struct = msgspec.defstruct(
        "Keys", fields, rename={f"f{i}": k for i, k in enumerate(keys)}, gc=False
    )
    return msgspec.json.Decoder(list[struct])  # type: ignore[valid-type]


def key_value_texts(texts: pl.Series, keys: Sequence[str]) -> dict[str, pl.Series]:
    """Per text of ``texts`` (canonical data texts, no nulls) and per key: the canonical
    text of ``data[key]``, or null when the key is missing.

    Only the wanted keys are looked at: one msgspec call over all texts captures each
    value's raw slice, which in canonical JSON *is* the value's canonical text.
    """
    wanted = tuple(dict.fromkeys(keys))
    if texts.len() == 0:
        return {k: pl.Series([], dtype=pl.String) for k in wanted}
    if any(_UNRENAMABLE.search(k) for k in wanted):
        # msgspec cannot name such a field: decode whole objects instead
        objects = [decode(t) for t in texts.to_list()]
        return {
            k: pl.Series([encode(o[k]) if k in o else None for o in objects], dtype=pl.String)
            for k in wanted
        }
    buf = b"[" + texts.str.join(",").cast(pl.Binary).item() + b"]"
    rows = _keys_decoder(wanted).decode(buf)
    out: dict[str, pl.Series] = {}
    for i, k in enumerate(wanted):
        get = attrgetter(f"f{i}")
        # one buffer, split in Polars: canonical JSON never holds a raw NUL
        joined = pl.Series([b"\x00".join(map(get, rows))], dtype=pl.Binary)
        s = joined.cast(pl.String).str.split("\x00").explode()
        out[k] = s.set(s == "", None)  # type: ignore[arg-type]
    return out


_strings_decoder: Final = msgspec.json.Decoder(list[str])


def string_values(value_texts: pl.Series) -> pl.Series:
    """The decoded strings of canonical value texts; null where the value is not a string."""
    is_string = value_texts.str.starts_with('"').fill_null(False)
    quoted = value_texts.filter(is_string)
    out = pl.Series([None] * value_texts.len(), dtype=pl.String)
    if quoted.len() == 0:
        return out
    decoded = _strings_decoder.decode(b"[" + quoted.str.join(",").cast(pl.Binary).item() + b"]")
    return out.scatter(is_string.arg_true(), pl.Series(decoded, dtype=pl.String))
