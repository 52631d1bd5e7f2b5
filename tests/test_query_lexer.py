"""The query2 lexer: token rules of aw-server-rust (spec §2.1) and error positions."""

from __future__ import annotations

import pytest

from fastaw.errors import QueryError
from fastaw.query.lexer import Token, tokenize


def kinds(src: str) -> list[tuple[str, object]]:
    return [(t.kind, t.value) for t in tokenize(src)[:-1]]


def test_punctuation_and_operators() -> None:
    src = "== = + - * / % ( ) [ ] { } , : ;"
    assert [k for k, _ in kinds(src)] == src.split()


def test_double_equals_is_maximal_munch() -> None:
    assert kinds("a===b") == [("ident", "a"), ("==", None), ("=", None), ("ident", "b")]


def test_keywords_only_as_whole_words() -> None:
    assert kinds("if elif else return") == [
        ("if", None),
        ("elif", None),
        ("else", None),
        ("return", None),
    ]
    assert kinds("iffy returned true_x Trueish RETURN Return") == [
        ("ident", "iffy"),
        ("ident", "returned"),
        ("ident", "true_x"),
        ("ident", "Trueish"),
        ("ident", "RETURN"),
        ("ident", "Return"),
    ]


def test_booleans() -> None:
    assert kinds("true false True False") == [
        ("bool", True),
        ("bool", False),
        ("bool", True),
        ("bool", False),
    ]


@pytest.mark.parametrize(
    ("src", "value"),
    [("1", 1.0), ("10", 10.0), ("1.", 1.0), ("1.25", 1.25), ("007", 7.0), ("0.5", 0.5)],
)
def test_numbers_are_floats(src: str, value: float) -> None:
    [(kind, got)] = kinds(src)
    assert kind == "number"
    assert got == value
    assert isinstance(got, float)


def test_huge_number_is_inf() -> None:
    [(_, got)] = kinds("9" * 400)
    assert got == float("inf")


def test_exponent_is_not_part_of_a_number() -> None:
    assert kinds("1e5") == [("number", 1.0), ("ident", "e5")]


def test_whitespace_newlines_and_comments_are_skipped() -> None:
    assert kinds(" \t\r\n a # comment ; b\n# another\nc") == [("ident", "a"), ("ident", "c")]


def test_offsets() -> None:
    toks = tokenize("ab = 1;")
    assert [t.pos for t in toks] == [0, 3, 5, 6, 7]
    assert toks[-1] == Token("eof", None, 7)


@pytest.mark.parametrize(
    ("src", "value"),
    [
        ('"abc"', "abc"),
        ('""', ""),
        ('"a\\"b"', 'a"b'),
        ('"test \\" with escaped quote"', 'test " with escaped quote'),
        # no other escapes are processed
        ('"\\n\\\\\\w\\u0041"', "\\n\\\\\\w\\u0041"),
        ('"line\nbreak"', "line\nbreak"),
        ('"hello;world"', "hello;world"),
        ('"#not a comment"', "#not a comment"),
        ('"ünïcødé ✓"', "ünïcødé ✓"),
        # a backslash before the last quote of the input closes nothing: the literal ends there
        ('"x\\"', "x\\"),
        # single quotes: the Python dialect's strings, with \' as the one escape
        ("'abc'", "abc"),
        ("'it\\'s'", "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        ('"it\'s"', "it's"),
    ],
)
def test_strings(src: str, value: str) -> None:
    assert kinds(src) == [("string", value)]


def test_string_maximal_munch_swallows_escaped_closing_quote() -> None:
    """Spec §2.1: ``a = "x\\"; b = "y";`` is the string ``x"; b = `` then ``y``, then an
    unterminated string (Rust stops there; here it is an error at that quote)."""
    with pytest.raises(QueryError) as info:
        tokenize('a = "x\\"; b = "y";')
    assert (info.value.line, info.value.column) == (1, 17)
    assert kinds('a = "x\\"; b = "y""') == [
        ("ident", "a"),
        ("=", None),
        ("string", 'x"; b = '),
        ("ident", "y"),
        ("string", ""),
    ]


def test_string_maximal_munch_prefers_longest_candidate() -> None:
    # Both `"a\"` and `"a\" b \"` are candidates; the longer one wins, and its last
    # backslash closes nothing (it is a plain character before the closing quote).
    assert kinds('"a\\" b \\"') == [("string", 'a" b \\')]


def test_string_ends_at_first_unescaped_quote() -> None:
    assert kinds('"a" "b"') == [("string", "a"), ("string", "b")]


def error_of(src: str) -> QueryError:
    with pytest.raises(QueryError) as info:
        tokenize(src)
    return info.value


@pytest.mark.parametrize(
    ("src", "line", "column", "char"),
    [
        ("return 1; @ junk", 1, 11, "'@'"),
        ("a = 1;\nb = 2 != 3;", 2, 7, "'!'"),
        ("x = .5;", 1, 5, "'.'"),
        ("x = 1.2.3;", 1, 8, "'.'"),
        ("x = $a;", 1, 5, "'$'"),
        ("x =\u00a01;", 1, 4, "'\\xa0'"),
        ("x = 1;\n\n  é", 3, 3, "'é'"),
        ("a\x0cb", 1, 2, "'\\x0c'"),
    ],
)
def test_unknown_character_is_a_positioned_error(
    src: str, line: int, column: int, char: str
) -> None:
    """A deliberate difference: Rust silently stops lexing at such a character."""
    err = error_of(src)
    assert (err.line, err.column) == (line, column)
    assert (
        err.message
        == f'ParsingError("unexpected character {char} (at line {line}, column {column})")'.replace(
            "\\x", "\\\\x"
        )
    )
    assert err.body()["line"] == line


@pytest.mark.parametrize(("src", "line", "column"), [('x = "abc', 1, 5), ("a;\n  'abc", 2, 3)])
def test_unterminated_string(src: str, line: int, column: int) -> None:
    err = error_of(src)
    assert (err.line, err.column) == (line, column)
    assert err.message.startswith('ParsingError("unterminated string')
