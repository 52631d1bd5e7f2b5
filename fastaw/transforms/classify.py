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
from typing import Any

import polars as pl

from fastaw.transforms.distinct import DistinctData, Rewrite, intern
from fastaw.transforms.errors import InvalidParameters, RegexCompileError
from fastaw.transforms.frame import Events
from fastaw.transforms.jsondata import (
    decode,
    decode_value,
    encode,
    leads_every_key,
    string_values,
)
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
    """Which distinct data objects each rule matches (one regex pass per distinct string
    of each key; the strings come from the query's memo of ``data[key]``)."""

    def __init__(self, dd: DistinctData) -> None:
        self.n = dd.distinct_codes.len()
        keys = dd.keys()
        self.keys: dict[str, tuple[pl.Series, pl.Series]] = {}
        for key, texts in dd.values(keys).items():
            strings = string_values(texts)
            if strings.null_count() == strings.len():
                continue
            self.keys[key] = intern(strings)
        self._hits: dict[tuple[Regex, str], pl.Series] = {}

    def of(self, rule: Rule) -> pl.Series:
        """Bool per distinct data object."""
        out = pl.repeat(False, self.n, dtype=pl.Boolean, eager=True).alias("m")
        if rule.regex is None:
            return out
        for key, (uniques, index) in self.keys.items():
            if rule.select_keys is not None and key not in rule.select_keys:
                continue
            hits = self._hits.get((rule.regex, key))
            if hits is None:
                hits = self._hits[(rule.regex, key)] = rule.regex.search(uniques)
            out = out | hits.gather(index).fill_null(False)
        return out


def _spliced(dd: DistinctData, key: str, values: pl.Series) -> pl.Series:
    """Each distinct text with ``key`` (which sorts before every ordinary key: ``$…``) set
    to the value text of ``values`` — canonical JSON stays canonical."""
    frame = pl.DataFrame({"text": dd.distinct, "value": values})
    member = pl.concat_str(pl.lit(f'{{"{key}":'), pl.col("value"))
    new = frame.select(
        pl.when(pl.col("text") == "{}")
        .then(pl.concat_str(member, pl.lit("}")))
        # every existing key sorts after ``key``: insert it first
        .when(leads_every_key(pl.col("text"), key))
        .then(pl.concat_str(member, pl.lit(","), pl.col("text").str.slice(1)))
        .otherwise(None)
    ).to_series()
    slow = new.is_null()
    if slow.any():
        fixed = [
            encode({**decode(text), key: decode_value(value)})
            for text, value in zip(dd.distinct.filter(slow).to_list(),
                                   values.filter(slow).to_list(), strict=True)
        ]
        new = new.scatter(slow.arg_true(), pl.Series(fixed, dtype=pl.String))
    return new


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
    names = pl.Series(
        [encode(["Uncategorized"])] + [encode(list(name)) for name, _ in parsed], dtype=pl.String
    )

    def rewrite(dd: DistinctData) -> Rewrite:
        matches = _Matches(dd)
        best_len = pl.repeat(1, matches.n, dtype=pl.Int64, eager=True)
        best = pl.repeat(-1, matches.n, dtype=pl.Int64, eager=True)
        for index, (name, rule) in enumerate(parsed):
            if rule.regex is None or len(name) == 0:
                continue
            take = (matches.of(rule) & (best_len <= len(name))).arg_true()
            best_len = best_len.scatter(take, len(name))
            best = best.scatter(take, index)
        chosen = names.gather(best + 1)
        # The new text differs only in ``$category``, now an array, which no rule can
        # match: categorizing it again chooses the same, unless the old ``$category`` was
        # a string (rules may have matched it).
        strings = matches.keys.get("$category")
        fixed = True if strings is None else strings[1].is_null()
        return Rewrite(_spliced(dd, "$category", chosen), ["$category"], {"$category": chosen},
                       fixed)

    data = DistinctData(events["data"]).remap("categorize:" + encode(list(rules)), rewrite)
    return events.with_columns(data=data)


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
    chosen = pl.Series([encode(sorted(t)) for t in tags], dtype=pl.String)
    data = dd.replace(Rewrite(_spliced(dd, "$tags", chosen), ["$tags"], {"$tags": chosen}))
    return events.with_columns(data=data)
