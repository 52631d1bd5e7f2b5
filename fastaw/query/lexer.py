"""The query2 lexer: source text → tokens with character offsets.

Rules (aw-server-rust `aw-query/src/lexer.rs`, maximal munch, first rule wins on a tie):

* skipped: ``[ \\t\\r\\n]+`` and ``#`` comments to the end of the line;
* keywords ``if elif else return`` and booleans ``true false True False`` only when the
  whole identifier matches (``iffy``, ``Trueish`` are identifiers);
* numbers ``[0-9]+\\.?[0-9]*`` are floats (``1``, ``1.``, ``007``; no sign, no exponent);
* identifiers ``[a-zA-Z_][a-zA-Z0-9_]*`` (ASCII only);
* strings in double quotes; the only escape is ``\\"`` → ``"``; the literal is the
  *longest* candidate, so a backslash right before a quote escapes it whenever a later
  quote exists (``"x\\"; b = "y"`` is the string ``x"; b = ``). Single-quoted strings are
  accepted too (the Python dialect has them; Rust stops lexing at ``'``), with the same
  rules and ``\\'`` as the one escape;
* operators and punctuation ``== = + - * / % ( ) [ ] { } , : ;``.

Difference from Rust, on purpose: Rust silently ends the token stream at the first
character no rule matches (``return 1; @ junk`` runs as ``return 1;``); here that
character is a ``ParsingError`` naming it and its line and column. An unterminated string
is likewise an error at its opening quote.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

from fastaw.query.diag import syntax_error

# Token kinds. Punctuation and keywords use their own text as the kind.
IDENT: Final = "ident"
NUMBER: Final = "number"
STRING: Final = "string"
BOOL: Final = "bool"
EOF: Final = "eof"

KEYWORDS: Final = frozenset({"if", "elif", "else", "return"})
BOOLS: Final = {"true": True, "false": False, "True": True, "False": False}
OPERATORS: Final = frozenset({"+", "-", "*", "/", "%", "=="})

_TOKEN: Final = re.compile(
    r"(?P<skip>(?:[ \t\r\n]+|\#[^\n]*)+)"
    r"|(?P<number>[0-9]+\.?[0-9]*)"
    r"|(?P<ident>[a-zA-Z_][a-zA-Z0-9_]*)"
    r"|(?P<punct>==|[=+\-*/%()\[\]{},:;])"
)


class Token(msgspec.Struct, frozen=True, gc=False):
    """One token: its kind, its value (for literals and identifiers) and its offset."""

    kind: str
    value: str | float | bool | None
    pos: int


def describe(tok: Token) -> str:
    """A token as an error message names it."""
    if tok.kind == EOF:
        return "end of input"
    if tok.kind == IDENT:
        return f"identifier {tok.value}"
    if tok.kind == STRING:
        return "a string"
    if tok.kind == NUMBER:
        return f"number {tok.value!r}"
    if tok.kind == BOOL:
        return "true" if tok.value else "false"
    if tok.kind in KEYWORDS:
        return f"keyword '{tok.kind}'"
    return f"'{tok.kind}'"


def _scan_string(src: str, start: int) -> tuple[int, str]:
    """Lex the string literal opening at ``start``; return (end offset, value).

    Maximal munch over ``Q ( [^Q] | \\Q )* Q``: a quote preceded by a backslash may either
    close the literal or be an escaped quote, so the literal ends at the first quote *not*
    preceded by a backslash, or else at the last backslash-quote before the end of input.
    """
    quote = src[start]
    i = start + 1
    last_candidate = -1
    while True:
        j = src.find(quote, i)
        if j == -1:
            break
        if j - 1 > start and src[j - 1] == "\\":
            last_candidate = j
            i = j + 1
            continue
        return j + 1, src[start + 1 : j].replace("\\" + quote, quote)
    if last_candidate == -1:
        raise syntax_error(src, start, "unterminated string")
    return last_candidate + 1, src[start + 1 : last_candidate].replace("\\" + quote, quote)


def tokenize(src: str) -> list[Token]:
    """All tokens of ``src``, ending with one ``eof`` token at ``len(src)``."""
    tokens: list[Token] = []
    append = tokens.append
    match = _TOKEN.match
    pos = 0
    end = len(src)
    while pos < end:
        m = match(src, pos)
        if m is None:
            ch = src[pos]
            if ch == '"' or ch == "'":
                new_pos, text = _scan_string(src, pos)
                append(Token(STRING, text, pos))
                pos = new_pos
                continue
            raise syntax_error(src, pos, f"unexpected character {ch!r}")
        kind = m.lastgroup
        text = m.group()
        if kind == "ident":
            if text in KEYWORDS:
                append(Token(text, None, pos))
            elif text in BOOLS:
                append(Token(BOOL, BOOLS[text], pos))
            else:
                append(Token(IDENT, text, pos))
        elif kind == "number":
            # float() of this grammar never fails; overlong literals become inf (as Rust).
            append(Token(NUMBER, float(text), pos))
        elif kind == "punct":
            append(Token(text, None, pos))
        pos = m.end()
    append(Token(EOF, None, end))
    return tokens
