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
from fastaw.transforms.frame import nulls

JSONObject = dict[str, Any]

_decoder: Final = msgspec.json.Decoder(dict[str, Any])
UNMATCHABLE: Final = "\x00unmatchable"  # a text no canonical JSON value can have

#: `key_value_texts` looks for values in at most this many texts at a time (or more, in
#: at most `MAX_SLICES` even slices).
_FIND_SLICE: Final = 1 << 15
#: Work done a slice of texts at a time is cut into at most this many slices: each costs
#: the work's fixed part again (ten years of texts in slices of 64k: 18–22 → 23–24 s).
MAX_SLICES: Final = 4


def decode(text: str) -> JSONObject:
    """The data object of a canonical text."""
    return _decoder.decode(text)


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

    Only the wanted keys are looked at. Values are found by position where the text's
    shape allows it (`_found_value_texts`), else decoded (`_decoded_value_texts`); either
    way the answer is the value's slice of the text, which in canonical JSON *is* its
    canonical text.
    """
    wanted = tuple(dict.fromkeys(keys))
    if texts.len() <= _FIND_SLICE:
        return _value_texts(texts, wanted)
    # a slice of texts at a time: finding a value makes several columns as long as the
    # texts (the window texts of a year, ≈ 190k: "app" +32 → +8 MiB while it runs, "app"
    # and "title" +45 → +21 MiB; 10–20 % slower)
    size = slice_size(texts.len(), _FIND_SLICE)
    parts = [_value_texts(texts.slice(at, size), wanted) for at in range(0, texts.len(), size)]
    return {key: pl.concat([part[key] for part in parts]) for key in wanted}


def _value_texts(texts: pl.Series, wanted: tuple[str, ...]) -> dict[str, pl.Series]:
    """`key_value_texts` in one go."""
    if texts.len() == 0 or not all(map(_findable, wanted)):
        return _decoded_value_texts(texts, wanted)
    found, ok = _found_value_texts(texts, wanted)
    if ok.all():
        return found
    rest = ok.not_().arg_true()
    decoded = _decoded_value_texts(texts.gather(rest), wanted)
    return {k: found[k].scatter(rest, decoded[k]) for k in wanted}


def slice_size(n: int, smallest: int) -> int:
    """The size of even slices of ``n`` items: at most `MAX_SLICES` of them, each as close
    to ``smallest`` items as that allows (one slice when ``n <= smallest``)."""
    count = max(1, min(MAX_SLICES, -(-n // smallest)))
    return max(1, -(-n // count))


def _findable(key: str) -> bool:
    """Whether `_found_value_texts` can look for ``key``: canonical JSON writes it as is
    (no character it escapes), and its member cannot be mistaken for anything else (see
    there)."""
    return not _UNRENAMABLE.search(key) and key[:1] not in (",", ":", "}", "]")


def _found_value_texts(texts: pl.Series, keys: Sequence[str]
                       ) -> tuple[dict[str, pl.Series], pl.Series]:
    """`key_value_texts` by finding each member in the text, and per text whether the
    answers hold (where not, they are to be decoded).

    Why finding is exact, for a `_findable` key ``k`` in a text with no nested object (no
    ``{`` but the first character; one in a string just sends the text to the decoder): a
    ``"`` right after ``,`` is not escaped, so it opens or closes a string; closing one,
    it would be followed by ``:``, ``,``, ``}`` or ``]``, which ``k`` does not start with.
    So ``,"k":`` (or ``{"k":`` at the start) is the member of key ``k``, at the top level
    as no object is nested. Its value ends at
    the first ``"`` after the opening one when no backslash comes before it (the answer
    is not trusted when the value holds one), else, for a number, ``true``, ``false`` or
    ``null``, at the next ``,`` or ``}``; arrays are left to the decoder. Offsets are in
    bytes throughout (Polars' ``str.find``; the text is sliced as binary).
    """
    text = pl.col("text")
    starts, rests, lengths, values, bad = {}, {}, {}, {}, []
    for i, key in enumerate(keys):
        first, later = f'{{"{key}":', f',"{key}":'
        starts[f"s{i}"] = (pl.when(text.str.starts_with(first)).then(len(first.encode()))
                           .otherwise(text.str.find(later, literal=True) + len(later.encode())))
        rests[f"r{i}"] = text.cast(pl.Binary).bin.slice(pl.col(f"s{i}"))
        rest = pl.col(f"r{i}")
        lengths[f"n{i}"] = (
            pl.when(rest.bin.starts_with(b'"'))
            .then(rest.bin.slice(1).cast(pl.String).str.find('"', literal=True) + 2)
            .when(rest.bin.starts_with(b"["))
            .then(None)
            .otherwise(rest.cast(pl.String).str.find("[,}]")))
        values[f"v{i}"] = rest.bin.slice(0, pl.col(f"n{i}")).cast(pl.String)
        # found but not trusted: an array, or a string holding a backslash
        bad.append(pl.col(f"s{i}").is_not_null()
                   & (pl.col(f"n{i}").is_null() | pl.col(f"v{i}").str.contains("\\", literal=True)))
    frame = (pl.DataFrame({"text": texts}).lazy()
             .with_columns(nested=text.str.slice(1).str.contains("{", literal=True), **starts)
             .with_columns(**rests).with_columns(**lengths).with_columns(**values)
             .select(*values, ok=~pl.any_horizontal("nested", *bad))
             .collect())
    return {key: frame[f"v{i}"].alias(key) for i, key in enumerate(keys)}, frame["ok"]


def _decoded_value_texts(texts: pl.Series, wanted: Sequence[str]) -> dict[str, pl.Series]:
    """`key_value_texts` by decoding: one msgspec call over all texts captures each
    value's raw slice."""
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
    rows = _keys_decoder(tuple(wanted)).decode(buf)
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
    """Like `key_value_texts` for *every* top-level key any of ``texts`` has, or None when
    they have more than `MAX_KEYS` distinct keys.

    The keys of a sample of the texts are looked for in all of them; the texts found to
    have no other key (`only_keys`) are done, the others are decoded.
    """
    if texts.len() == 0:
        return {}
    names = sampled_keys(texts)
    if len(names) > MAX_KEYS:
        return None
    found = key_value_texts(texts, names)
    rest = only_keys(texts, found).not_().arg_true()
    if rest.len() == 0:
        return found
    decoded = _decoded_all_value_texts(texts.gather(rest))
    if decoded is None or len(decoded.keys() | found.keys()) > MAX_KEYS:
        return None
    for name, values in decoded.items():
        column = found.get(name, nulls(texts.len(), pl.String))
        found[name] = column.scatter(rest, values)
    return {name: found[name].alias(name) for name in sorted(found)}


#: How many texts `sampled_keys` decodes.
SAMPLE: Final = 64


def sampled_keys(texts: pl.Series) -> list[str]:
    """The keys of up to `SAMPLE` of ``texts``, spread over them (sorted)."""
    step = max(1, texts.len() // SAMPLE)
    sample = texts.gather_every(step).head(SAMPLE)
    objects = _raw_objects_decoder.decode(
        b"[" + sample.str.join(",").cast(pl.Binary).item() + b"]")
    return sorted(set().union(*objects))


def only_keys(texts: pl.Series, values: dict[str, pl.Series]) -> pl.Series:
    """Per text: whether it has no key besides those ``values`` (texts of ``data[key]``,
    parallel to ``texts``, null = missing) say it has. Every key is followed by ``":``,
    so a text holding that as often as it has keys among ``values`` has no other."""
    counted = texts.str.count_matches('":', literal=True)
    if not values:
        return counted == 0
    present = pl.select(pl.sum_horizontal([v.is_not_null() for v in values.values()]))
    return present.to_series() == counted


def _decoded_all_value_texts(texts: pl.Series) -> dict[str, pl.Series] | None:
    """`all_key_value_texts` by decoding every text."""
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
