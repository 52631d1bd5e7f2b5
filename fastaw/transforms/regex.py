"""Rust-dialect regexes (fancy-regex, as aw-server-rust compiles them) evaluated in bulk.

Engine choice, per pattern, decided once:

* **Polars** (``str.contains``) runs the Rust ``regex`` crate — the very engine fancy-regex
  delegates to for every pattern without "fancy" features. Such patterns therefore give
  identical matches and identical accept/reject decisions.
* Patterns *with* fancy features (look-around, back-references, atomic groups, possessive
  quantifiers, ``\\K \\G \\Z \\h \\H \\e \\O \\N \\R``, conditionals) are translated to Python
  ``re`` and evaluated there, once per distinct string.

Differences between the dialects that the translation handles (Rust → Python):

==================  ===========================  ==========================================
Rust                meaning                      Python written
==================  ===========================  ==========================================
``$`` (no ``m``)    end of text only             ``\\Z`` (Python ``$`` also matches before a
                                                 final newline)
``\\z``             end of text                  ``\\Z``
``\\Z``             end, or before a final \\n    ``(?=\\n?\\Z)``
``(?i)`` mid-group  flags to the end of group    scoped ``(?i:…)``, re-opened after each ``|``
``(?<n>…)``         named group                  ``(?P<n>…)``
``\\k<n>``          back-reference by name       ``(?P=n)``
``\\x{…}`` ``\\u{…}`` code point                 ``\\U0010ffff`` form
``[[:alpha:]]``     ASCII POSIX class            the ASCII ranges
``[a[bc]]``         nested class (union)         flattened ``[abc]``
``\\h`` ``\\H``     hex digit (fancy-regex)      ``[0-9A-Fa-f]`` / ``[^0-9A-Fa-f]``
``\\e \\O \\N \\R`` escape, any, non-newline, EOL ``\\x1b``, ``(?s:.)``, ``[^\\n]``, a line break
``\\<`` ``\\>``     word start / end             ``\\b(?=\\w)`` / ``\\b(?<=\\w)``
``\\K`` ``\\G``     keep-out / search start      dropped / ``\\A`` (only match *existence* is used)
==================  ===========================  ==========================================

Possessive quantifiers and atomic groups are native in Python ≥ 3.11. Not available in the
fallback (a fancy pattern using them is rejected with `RegexCompileError`): ``\\p{…}``
Unicode classes, class set operations ``&& -- ~~``, negated POSIX classes, flags ``U``/``R``,
subroutine calls, variable-width look-behind. Remaining semantic gaps in the fallback only:
``\\w``/``\\s`` differ on a few code points; fancy-regex's backtrack limit (a runtime error
counted as "no match") does not exist in Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import polars as pl

from fastaw.transforms.errors import RegexCompileError

_FANCY_ESCAPES: Final = frozenset("123456789kKGZhHeONRg")
_POSIX: Final = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_SIMPLE_ESCAPES: Final = {
    "z": "\\Z",
    "Z": "(?=\\n?\\Z)",
    "h": "[0-9A-Fa-f]",
    "H": "[^0-9A-Fa-f]",
    "e": "\\x1b",
    "O": "(?s:.)",
    "N": "[^\\n]",
    "R": "(?:\\r\\n|[\\n\\v\\f\\r\\x85\\u2028\\u2029])",
    "<": "\\b(?=\\w)",
    ">": "\\b(?<=\\w)",
    "K": "",
    "G": "\\A",
}
_PY_FLAGS: Final = frozenset("imsx")
# look-around, named back-reference, atomic group, conditional, subroutine call
_FANCY_GROUP: Final = re.compile(r"\(\?(?:=|!|<=|<!|>|P=|\(|R\)|[+-]?\d+\))")


class _Unsupported(Exception):
    pass


def is_fancy(pattern: str) -> bool:
    """Does fancy-regex need its backtracking VM for this pattern (so Polars can't run it)?"""
    i, n, in_class = 0, len(pattern), 0
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            if not in_class and pattern[i + 1] in _FANCY_ESCAPES:
                return True
            i += 2
            continue
        if in_class:
            if c == "[":
                in_class += 1
            elif c == "]":
                in_class -= 1
        elif c == "[":
            in_class = 1
            if pattern.startswith("[^]", i) or pattern.startswith("[]", i):
                i += 2 if pattern[i + 1] == "]" else 3
                continue
        elif (c == "(" and _FANCY_GROUP.match(pattern, i)) or (
            c == "+" and i > 0 and pattern[i - 1] in "*+?}" and not _escaped(pattern, i - 1)
        ):
            return True
        i += 1
    return False


def _escaped(pattern: str, i: int) -> bool:
    backslashes = 0
    while i - 1 - backslashes >= 0 and pattern[i - 1 - backslashes] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def _code_point(pattern: str, i: int) -> tuple[str, int]:
    """``\\x{…}`` / ``\\u{…}`` / ``\\U{…}`` at ``pattern[i]`` (the letter) → Python escape."""
    close = pattern.index("}", i)
    value = int(pattern[i + 2 : close], 16)
    return f"\\U{value:08x}", close + 1


def _translate_class(pattern: str, i: int) -> tuple[str, int]:
    """A bracket class starting at ``pattern[i] == '['`` → (Python class, index after it)."""
    out = ["["]
    i += 1
    if pattern.startswith("^", i):
        out.append("^")
        i += 1
    if pattern.startswith("]", i):
        out.append("\\]")
        i += 1
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "]":
            out.append("]")
            return "".join(out), i + 1
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt in "pP":
                raise _Unsupported("Unicode classes \\p{…} are not supported with fancy features")
            if nxt == "h":
                out.append("0-9A-Fa-f")
                i += 2
            elif nxt == "e":
                out.append("\\x1b")
                i += 2
            elif nxt in "xuU" and pattern.startswith("{", i + 2):
                text, i = _code_point(pattern, i + 1)
                out.append(text)
            else:
                out.append(pattern[i : i + 2])
                i += 2
            continue
        if c == "[":
            posix = re.match(r"\[:(\^?)([a-z]+):\]", pattern[i:])
            if posix:
                if posix.group(1) or posix.group(2) not in _POSIX:
                    raise _Unsupported(f"POSIX class {posix.group(0)} is not supported")
                out.append(_POSIX[posix.group(2)])
                i += posix.end()
                continue
            if pattern.startswith("[^", i):
                raise _Unsupported("negated nested classes are not supported")
            inner, i = _translate_class(pattern, i)
            out.append(inner[1:-1])
            continue
        if pattern.startswith(("&&", "--", "~~"), i):
            raise _Unsupported("class set operations are not supported with fancy features")
        out.append(c)
        i += 1
    raise _Unsupported("unclosed character class")


def translate(pattern: str) -> str:
    """Rust/fancy-regex syntax → equivalent Python ``re`` syntax (see the module docstring).

    >>> translate(r"a(?i)b|c$")
    'a(?i:b)|(?i:c\\\\Z)'
    """
    out: list[str] = []
    # One frame per open group: (flags active in it, scoped groups opened in it so far).
    stack: list[tuple[set[str], list[str]]] = [(set(), [])]
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        flags, opened = stack[-1]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[nxt])
                i += 2
            elif nxt == "k" and pattern.startswith("<", i + 2):
                close = pattern.index(">", i)
                out.append(f"(?P={pattern[i + 3 : close]})")
                i = close + 1
            elif nxt in "xuU" and pattern.startswith("{", i + 2):
                text, i = _code_point(pattern, i + 1)
                out.append(text)
            elif nxt in "pP":
                raise _Unsupported("Unicode classes \\p{…} are not supported with fancy features")
            elif nxt == "g":
                raise _Unsupported("subroutine calls are not supported")
            elif nxt == "b" and pattern.startswith("{", i + 2):
                close = pattern.index("}", i)
                kind = pattern[i + 3 : close]
                out.append("\\b(?=\\w)" if kind.startswith("start") else "\\b(?<=\\w)")
                i = close + 1
            else:
                out.append(pattern[i : i + 2])
                i += 2
        elif c == "[":
            text, i = _translate_class(pattern, i)
            out.append(text)
        elif c == "$":
            out.append("$" if "m" in flags else "\\Z")
            i += 1
        elif c == "|":
            out.append(")" * len(opened) + "|" + "".join(opened))
            i += 1
        elif c == "(":
            flag_group = re.match(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])", pattern[i:])
            if flag_group and (flag_group.group(1) or flag_group.group(2) is not None):
                on, off = flag_group.group(1), flag_group.group(2) or ""
                if not set(on + off) <= _PY_FLAGS:
                    raise _Unsupported(f"flag group {flag_group.group(0)} is not supported")
                spec = on + ("-" + off if off else "")
                new_flags = (flags | set(on)) - set(off)
                if flag_group.group(3) == ":":
                    out.append(f"(?{spec}:")
                    stack.append((new_flags, []))
                else:
                    out.append(f"(?{spec}:")
                    opened.append(f"(?{spec}:")
                    stack[-1] = (new_flags, opened)
                i += flag_group.end()
                continue
            if pattern.startswith("(?<", i) and not pattern.startswith(("(?<=", "(?<!"), i):
                out.append("(?P<")
                i += 3
            elif re.match(r"\(\?(?:R|[+-]?\d+)\)", pattern[i:]):
                raise _Unsupported("subroutine calls are not supported")
            else:
                out.append("(")
                i += 1
            stack.append((set(flags), []))
        elif c == ")":
            if len(stack) > 1:
                out.append(")" * len(opened))
                stack.pop()
            out.append(")")
            i += 1
        else:
            out.append(c)
            i += 1
    out.append(")" * len(stack[-1][1]))
    return "".join(out)


@dataclass(frozen=True)
class Regex:
    """A compiled rule/filter pattern: ``search`` answers "is there a match anywhere"."""

    pattern: str
    native: str | None
    fallback: re.Pattern[str] | None
    literals: tuple[str, ...] | None = None

    def search(self, values: pl.Series) -> pl.Series:
        """One bool per string of ``values`` (null → False), evaluated by the chosen engine."""
        if self.literals is not None:
            # a case-sensitive alternation of plain words: Aho-Corasick finds the same
            # matches as the regex, several times faster
            return values.str.contains_any(list(self.literals)).fill_null(False)
        if self.native is not None:
            return values.str.contains(self.native).fill_null(False)
        assert self.fallback is not None
        search = self.fallback.search
        return pl.Series(
            values.name,
            [v is not None and search(v) is not None for v in values.to_list()],
            dtype=pl.Boolean,
        )

    def search_one(self, value: str) -> bool:
        """`search` for a single string."""
        return bool(self.search(pl.Series([value], dtype=pl.String))[0])


@lru_cache(maxsize=512)
def compile_regex(pattern: str, ignore_case: bool = False) -> Regex:
    """Compile ``pattern`` as aw-server-rust would (``ignore_case`` prefixes ``(?i)``).

    Raises `RegexCompileError` (message shows ``pattern`` without the prefix) when the
    pattern is invalid Rust regex syntax, or uses fancy features the fallback lacks.
    """
    full = "(?i)" + pattern if ignore_case else pattern
    if not is_fancy(full):
        try:
            pl.Series([""], dtype=pl.String).str.contains(full)
        except pl.exceptions.PolarsError as exc:
            raise RegexCompileError(pattern, _polars_detail(str(exc))) from None
        return Regex(pattern, full, None, _literal_alternation(full))
    try:
        translated = translate(full)
    except (_Unsupported, ValueError) as exc:
        raise RegexCompileError(pattern, str(exc) or "invalid escape") from None
    try:
        return Regex(pattern, None, re.compile(translated))
    except (re.error, OverflowError, ValueError) as exc:
        raise RegexCompileError(pattern, str(exc)) from None


_METACHARACTERS: Final = frozenset("\\.+*?()|[]{}^$#&-~")


def _literal_alternation(pattern: str) -> tuple[str, ...] | None:
    """The words of ``a|bc|d`` when the pattern is nothing but plain words (no flags,
    escapes, classes or anything else a regex engine would treat specially), else None."""
    words = tuple(pattern.split("|"))
    if any(not word or not word.isprintable() or _METACHARACTERS.intersection(word)
           for word in words):
        return None
    return words


def _polars_detail(message: str) -> str:
    """The regex crate's own message out of a Polars ComputeError."""
    lines = [line.strip() for line in message.splitlines()]
    for line in lines:
        if line.startswith("error:"):
            return line
    return lines[0] if lines else message
