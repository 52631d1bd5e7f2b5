"""categorize and tag (spec §5): rule parsing as aw-server-rust, matching in bulk.

Invariants: every rule is validated and compiled, in list order, before any event is
looked at (errors surface even for no events; the first error wins). A rule matches an
event iff one of the selected top-level data values is a JSON *string* the regex finds a
match in. Each rule's regex runs once per key over the string values of the distinct data
texts (de-duplicated first where many are equal; Polars/Rust regex, or the Python fallback
for fancy patterns); categories and tags are then chosen per distinct data text. Tags
are spliced into the canonical JSON; categories too, unless they are to stay in an
overlay (`fastaw.transforms.overlay`, as the query builtin asks).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from fastaw.transforms.dictionary import codes_of
from fastaw.transforms.distinct import DistinctData, Rewrite, intern
from fastaw.transforms.errors import InvalidParameters, RegexCompileError
from fastaw.transforms.frame import Events
from fastaw.transforms.jsondata import encode, string_values
from fastaw.transforms.overlay import plain, spliced, with_overlay
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


#: `_Matches` looks at this many strings of a key to decide whether to de-duplicate them.
_SAMPLE = 2000


class _Matches:
    """Which distinct data objects each rule matches (one regex pass per distinct string
    of each key; the strings come from the query's memo of ``data[key]``).

    A key's strings are de-duplicated first unless a sample shows them nearly all
    different (titles: hashing them would cost more than it saves in regex passes).

    With several rules, one pass of all their (Polars) regexes as one alternation finds
    the strings any of them matches — a string no branch matches is matched by none — and
    each rule then runs on those only (most strings match no rule).
    """

    def __init__(self, dd: DistinctData, regexes: Sequence[Regex]) -> None:
        self.n = dd.distinct_codes.len()
        natives = dict.fromkeys(r.native for r in regexes if _combinable(r))
        self._combined = set(natives)
        self._any = "|".join(f"(?:{p})" for p in natives) if len(natives) > 2 else None
        self._candidates: dict[str, pl.Series] = {}
        keys = dd.keys()
        # per key: the strings to search, and per object the index of its string in them
        # (None: the strings are the objects' own, null where not a string)
        self.keys: dict[str, tuple[pl.Series, pl.Series | None]] = {}
        for key, texts in dd.values(keys).items():
            strings = string_values(texts)
            if strings.null_count() == strings.len():
                continue
            sample = strings.drop_nulls().gather_every(max(1, self.n // _SAMPLE))
            if sample.n_unique() * 10 > sample.len() * 9:
                self.keys[key] = (strings, None)
            else:
                self.keys[key] = intern(strings)
        self._hits: dict[tuple[Regex, str], pl.Series] = {}

    def of(self, rule: Rule) -> pl.Series:
        """Bool per distinct data object."""
        out = pl.repeat(False, self.n, dtype=pl.Boolean, eager=True).alias("m")
        if rule.regex is None:
            return out
        for key, (_, index) in self.keys.items():
            if rule.select_keys is not None and key not in rule.select_keys:
                continue
            hits = self._hits.get((rule.regex, key))
            if hits is None:
                hits = self._hits[(rule.regex, key)] = self._search(rule.regex, key)
            out = out | (hits if index is None else hits.gather(index).fill_null(False))
        return out

    def _search(self, regex: Regex, key: str) -> pl.Series:
        """``regex.search`` over the key's strings (only on the candidates when it is a
        branch of the alternation)."""
        strings = self.keys[key][0]
        if self._any is not None and regex.native in self._combined:
            if key not in self._candidates:
                try:
                    self._candidates[key] = strings.str.contains(self._any).arg_true()
                except pl.exceptions.PolarsError:  # e.g. too big to compile
                    self._any = None
                    return regex.search(strings)
            take = self._candidates[key]
            return pl.repeat(False, strings.len(), dtype=pl.Boolean, eager=True).scatter(
                take, regex.search(strings.gather(take)))
        return regex.search(strings)


def _combinable(regex: Regex) -> bool:
    """Whether the regex is run by Polars and can be a branch of an alternation as is: not
    in verbose mode, where a comment could swallow the group's closing parenthesis."""
    return regex.native is not None and not _VERBOSE.search(regex.native)


_VERBOSE = re.compile(r"\(\?[a-zA-Z-]*x")


def _members(key: str, values: pl.Series) -> pl.Series:
    """``{"key":value}`` per value text."""
    return pl.select(pl.concat_str(pl.lit("{" + encode(key) + ":"), pl.lit(values),
                                   pl.lit("}"))).to_series()


def categorize(events: Events, rules: Sequence[Any], overlay: bool = False) -> Events:
    """Set ``data["$category"]`` to the deepest matching category (ties: the later rule).

    ::

        rules: [Work]~"Docs", [Work,Prog]~"vim", [Media]=none
        [title: "vim"] [title: "Docs"] [title: "tv"]
          → $category [Work,Prog]   [Work]   [Uncategorized]

    ``rules`` are ``[name: list[str], rule: dict]`` pairs (spec §5.2). With ``overlay``,
    the category is set in the frame's overlay (`fastaw.transforms.overlay`) and ``data``
    is left as it is; the category of each distinct data text is memoized per rule set.
    """
    parsed = _parse_rules(rules, "category")
    if events.height == 0:
        return plain(events)
    events = plain(events)
    names = _members("$category", pl.Series(
        [encode(["Uncategorized"])] + [encode(list(name)) for name, _ in parsed],
        dtype=pl.String))
    regexes = [rule.regex for name, rule in parsed if rule.regex is not None and name]

    def choose(dd: DistinctData) -> pl.Series:
        """Per distinct text: the code of its overlay ``{"$category":[…]}``."""
        matches = _Matches(dd, regexes)
        best_len = pl.repeat(1, matches.n, dtype=pl.Int64, eager=True)
        best = pl.repeat(-1, matches.n, dtype=pl.Int64, eager=True)
        for index, (name, rule) in enumerate(parsed):
            if rule.regex is None or len(name) == 0:
                continue
            take = (matches.of(rule) & (best_len <= len(name))).arg_true()
            best_len = best_len.scatter(take, len(name))
            best = best.scatter(take, index)
        return codes_of(names).gather(best + 1)

    dd = DistinctData(events["data"])
    codes = dd.memoized_rows("category:" + encode(list(rules)), choose, pl.UInt32())
    result = with_overlay(events, codes)
    return result if overlay else plain(result)


def tag(events: Events, rules: Sequence[Any]) -> Events:
    """Set ``data["$tags"]`` to the names of all matching rules, sorted and de-duplicated.

    ::

        rules: b~"x", a~"x", c~"nope"      [title: "x"] [title: "y"]
                                             → $tags [a, b]   []
    """
    parsed = _parse_rules(rules, "tag")
    if events.height == 0:
        return events
    events = plain(events)
    dd = DistinctData(events["data"])
    matches = _Matches(dd, [rule.regex for _, rule in parsed if rule.regex is not None])
    tags: list[set[str]] = [set() for _ in range(matches.n)]
    for name, rule in parsed:
        if rule.regex is None:
            continue
        for d in matches.of(rule).arg_true().to_list():
            tags[d].add(name)
    chosen = pl.Series([encode(sorted(t)) for t in tags], dtype=pl.String)
    new = spliced(dd.distinct, _members("$tags", chosen))
    data = dd.replace(Rewrite(new, ["$tags"], {"$tags": chosen}))
    return events.with_columns(data=data)
