"""Event ``data`` as canonical JSON text: decoding, encoding, extracting values in bulk.

Invariant: a frame's ``data`` column holds canonical JSON (`fastaw.models.canonical_data`:
compact, keys sorted, ints and floats apart). Equal text ⇔ equal data under serde_json's
equality (``1 != 1.0``), except that ``0.0`` and ``-0.0`` have different texts.

The functions here work on a column of *distinct* texts (see `fastaw.transforms.distinct`
for how transforms get one and map answers back onto the rows) and never loop over texts
in Python where msgspec or Polars can do it in one call.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache
from operator import attrgetter
from typing import Any, Final

import msgspec
import polars as pl

from fastaw.models import canonical_data

JSONObject = dict[str, Any]

_decoder: Final = msgspec.json.Decoder(dict[str, Any])
_any_decoder: Final = msgspec.json.Decoder()
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


def leads_every_key(text: pl.Expr, key: str) -> pl.Expr:
    """Whether a ``key`` member can go first in the non-empty canonical object ``text``:
    its first key starts with a character sorting after ``key``'s first one (and is not an
    escape). Conservative: False also for some texts where it could."""
    first = text.str.slice(2, 1)
    return (first > key[0]) & (first != "\\")


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
        out[k] = s.set(s == "", None)
    return out


_raw_objects_decoder: Final = msgspec.json.Decoder(list[dict[str, msgspec.Raw]])
_NO_VALUE: Final = msgspec.Raw(b"")
#: `all_key_value_texts` gives up on texts with more distinct keys than this.
MAX_KEYS: Final = 64


def all_key_value_texts(texts: pl.Series) -> dict[str, pl.Series] | None:
    """Like `key_value_texts` for *every* top-level key any of ``texts`` has (one decode
    for all of them), or None when they have more than `MAX_KEYS` distinct keys."""
    if texts.len() == 0:
        return {}
    objects = _raw_objects_decoder.decode(
        b"[" + texts.str.join(",").cast(pl.Binary).item() + b"]")
    names: set[str] = set().union(*objects)
    if len(names) > MAX_KEYS:
        return None
    out: dict[str, pl.Series] = {}
    for name in sorted(names):
        joined = b"\x00".join([o.get(name, _NO_VALUE) for o in objects])
        column = pl.Series([joined], dtype=pl.Binary).cast(pl.String).str.split("\x00").explode()
        out[name] = column.set(column == "", None)
    return out


_strings_decoder: Final = msgspec.json.Decoder(list[str])


def string_values(value_texts: pl.Series) -> pl.Series:
    """The decoded strings of canonical value texts; null where the value is not a string.

    A canonical string without a backslash is its text between the quotes; only the others
    are decoded.
    """
    is_string = value_texts.str.starts_with('"').fill_null(False)
    escaped = is_string & value_texts.str.contains("\\", literal=True).fill_null(False)
    out = pl.select(
        pl.when(pl.lit(is_string & ~escaped))
        .then(pl.lit(value_texts).str.slice(1).str.strip_suffix('"'))
        .otherwise(None)
    ).to_series().alias(value_texts.name)
    if not escaped.any():
        return out
    quoted = value_texts.filter(escaped)
    decoded = _strings_decoder.decode(b"[" + quoted.str.join(",").cast(pl.Binary).item() + b"]")
    return out.scatter(escaped.arg_true(), pl.Series(decoded, dtype=pl.String))
