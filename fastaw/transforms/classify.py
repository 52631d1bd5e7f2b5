"""categorize and tag (spec §5): rule parsing as aw-server-rust, matching in bulk.

Invariants: every rule is validated and compiled, in list order, before any event is
looked at (errors surface even for no events; the first error wins). A rule matches an
event iff one of the selected top-level data values is a JSON *string* the regex finds a
match in. Each rule's regex runs once over the distinct string values of the whole list
(Polars/Rust regex, or the Python fallback for fancy patterns); categories and tags are
then chosen per distinct data text and spliced back into the canonical JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import polars as pl

from fastaw.transforms.errors import InvalidParameters, RegexCompileError
from fastaw.transforms.frame import Events
from fastaw.transforms.jsondata import DistinctData, decode_value, encode
from fastaw.transforms.regex import Regex, compile_regex


@dataclass(frozen=True)
class Rule:
    """A parsed rule: ``regex`` None is a ``{"type": "none"}`` rule (never matches)."""

    regex: Regex | None
    select_keys: tuple[str, ...] | None = None


def parse_rule(rule: Any) -> Rule:
    """A rule dict (spec §5.2) → `Rule`, raising aw-server-rust's errors and messages."""
    if not isinstance(rule, dict):
        raise InvalidParameters(f"Expected rule dict, got {rule!r}")
    if "type" not in rule:
        raise InvalidParameters("rule does not have a type")
    rtype = rule["type"]
    if not isinstance(rtype, str):
        raise InvalidParameters("rule type is not a string")
    if rtype == "none":
        return Rule(None)
    if rtype != "regex":
        raise InvalidParameters(f"Unknown rule type '{rtype}'")
    if "regex" not in rule:
        raise InvalidParameters("regex rule is missing the 'regex' field")
    pattern = rule["regex"]
    if not isinstance(pattern, str):
        raise InvalidParameters("the regex field of the regex rule is not a string")
    ignore_case = rule.get("ignore_case", False)
    if not isinstance(ignore_case, bool):
        raise InvalidParameters("the ignore_case field of the regex rule is not a bool")
    select: tuple[str, ...] | None = None
    if "select_keys" in rule:
        keys = rule["select_keys"]
        if not isinstance(keys, list | tuple):
            raise InvalidParameters("the select_keys field of the regex rule is not a list")
        if not all(isinstance(k, str) for k in keys):
            raise InvalidParameters(
                "the select_keys field of the regex rule must contain only strings"
            )
        if not keys:
            raise RegexCompileError(pattern, "select_keys must not be empty")
        select = tuple(keys)
    return Rule(compile_regex(pattern, ignore_case), select)


def _parse_rules(rules: Sequence[Any], what: str) -> list[tuple[Any, Rule]]:
    parsed = []
    for item in rules:
        if not isinstance(item, list | tuple) or len(item) < 2:
            raise InvalidParameters(
                f"Expected function parameter of type list of ({what}, rule) tuples, "
                f"list contains {item!r}"
            )
        name = item[0]
        ok = (
            isinstance(name, str)
            if what == "tag"
            else isinstance(name, list | tuple) and all(isinstance(n, str) for n in name)
        )
        if not ok:
            raise InvalidParameters(
                f"Expected function parameter of type list of ({what}, rule) tuples, "
                f"list contains {item!r}"
            )
        parsed.append((name, parse_rule(item[1])))
    return parsed


class _Matches:
    """Which distinct data objects each rule matches (one regex pass per distinct string)."""

    def __init__(self, dd: DistinctData) -> None:
        objects = dd.objects
        self.n = len(objects)
        # every top-level (object, key, value) in order, flattened at C speed
        all_values = list(chain.from_iterable(o.values() for o in objects))
        is_string = pl.Series([isinstance(v, str) for v in all_values], dtype=pl.Boolean)
        lens = pl.Series([len(o) for o in objects], dtype=pl.UInt32)
        owner = pl.int_range(self.n, dtype=pl.UInt32, eager=True).repeat_by(lens).explode()
        ds = owner.drop_nulls().filter(is_string)
        keys = pl.Series(list(chain.from_iterable(objects)), dtype=pl.String).filter(is_string)
        values = [v for v in all_values if isinstance(v, str)]
        self.values = pl.Series("v", values, dtype=pl.String).unique()
        self.pairs = pl.DataFrame(
            {
                "d": pl.Series(ds, dtype=pl.UInt32),
                "key": pl.Series(keys, dtype=pl.String),
                "v": pl.Series(values, dtype=pl.String).replace_strict(
                    self.values, pl.int_range(self.values.len(), dtype=pl.UInt32, eager=True)
                ),
            }
        )
        self._hits: dict[Regex, pl.Series] = {}

    def of(self, rule: Rule) -> pl.Series:
        """Bool per distinct data object."""
        if rule.regex is None or self.pairs.height == 0:
            return pl.repeat(False, self.n, dtype=pl.Boolean, eager=True).alias("m")
        hits = self._hits.get(rule.regex)
        if hits is None:
            hits = self._hits[rule.regex] = rule.regex.search(self.values)
        pair_hit = hits.gather(self.pairs["v"])
        if rule.select_keys is not None:
            pair_hit = pair_hit & self.pairs["key"].is_in(list(rule.select_keys))
        matched = self.pairs["d"].filter(pair_hit).unique()
        return (
            pl.repeat(False, self.n, dtype=pl.Boolean, eager=True).alias("m").scatter(matched, True)
        )


def _splice(text: str, key: str, value_text: str, obj: dict[str, Any]) -> str:
    """``text`` with ``key`` set to ``value_text`` (canonical JSON stays canonical)."""
    if text == "{}":
        return f'{{"{key}":{value_text}}}'
    if text[2] != "\\" and text[2] > key[0]:
        # every existing key sorts after ``key`` ('$' + …): insert it first
        return f'{{"{key}":{value_text},{text[1:]}'
    return encode({**obj, key: decode_value(value_text)})


def categorize(events: Events, rules: Sequence[Any]) -> Events:
    """Set ``data["$category"]`` to the deepest matching category (ties: the later rule).

    ::

        rules: [Work]~"Docs", [Work,Prog]~"vim", [Media]=none
        [title: "vim"] [title: "Docs"] [title: "tv"]
          → $category [Work,Prog]   [Work]   [Uncategorized]

    ``rules`` are ``[name: list[str], rule: dict]`` pairs (spec §5.2).
    """
    parsed = _parse_rules(rules, "category")
    if events.height == 0:
        return events
    dd = DistinctData(events["data"])
    matches = _Matches(dd)
    best_len = pl.repeat(1, matches.n, dtype=pl.Int64, eager=True)
    best = pl.repeat(-1, matches.n, dtype=pl.Int64, eager=True)
    for index, (name, rule) in enumerate(parsed):
        if rule.regex is None or len(name) == 0:
            continue
        take = matches.of(rule) & (best_len <= len(name))
        best_len = best_len.scatter(take.arg_true(), len(name))
        best = best.scatter(take.arg_true(), index)
    names = [encode(["Uncategorized"])] + [encode(list(name)) for name, _ in parsed]
    new = [
        _splice(text, "$category", names[b + 1], obj)
        for text, obj, b in zip(dd.texts, dd.objects, best.to_list(), strict=True)
    ]
    return events.with_columns(data=dd.map(new, pl.String()))


def tag(events: Events, rules: Sequence[Any]) -> Events:
    """Set ``data["$tags"]`` to the names of all matching rules, sorted and de-duplicated.

    ::

        rules: b~"x", a~"x", c~"nope"      [title: "x"] [title: "y"]
                                             → $tags [a, b]   []
    """
    parsed = _parse_rules(rules, "tag")
    if events.height == 0:
        return events
    dd = DistinctData(events["data"])
    matches = _Matches(dd)
    tags: list[set[str]] = [set() for _ in range(matches.n)]
    for name, rule in parsed:
        if rule.regex is None:
            continue
        for d in matches.of(rule).arg_true().to_list():
            tags[d].add(name)
    new = [
        _splice(text, "$tags", encode(sorted(t)), obj)
        for text, obj, t in zip(dd.texts, dd.objects, tags, strict=True)
    ]
    return events.with_columns(data=dd.map(new, pl.String()))
