"""The query2 parser: grammar of spec §2.2, error positions, the nesting cap, and the fuzz
property that only `QueryError` ever escapes (tomli's fuzzer contract)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fastaw.errors import QueryError
from fastaw.query import MemorySource, ast, compile_query
from fastaw.query.parser import MAX_NESTING, parse

CORPUS = Path(__file__).parent / "data" / "queries"


def stmts(src: str) -> tuple[ast.Stmt, ...]:
    return parse(src).body


def expr(src: str) -> ast.Expr:
    [stmt] = stmts(f"{src};")
    assert isinstance(stmt, ast.ExprStmt)
    return stmt.value


def error_of(src: str) -> QueryError:
    with pytest.raises(QueryError) as info:
        parse(src)
    return info.value


# -- statements ---------------------------------------------------------------------------


def test_empty_programs() -> None:
    assert stmts("") == ()
    assert stmts(";;;\n;") == ()
    assert stmts("# only a comment") == ()


def test_assign_return_and_expression_statements() -> None:
    a, r, e = stmts("a = 1; return a; a;")
    assert a == ast.Assign("a", ast.Number(1.0, 4), 0)
    assert r == ast.Return(ast.ExprStmt(ast.Name("a", 14), 14), 7)
    assert e == ast.ExprStmt(ast.Name("a", 17), 17)


def test_return_assign() -> None:
    """``return a = 1;`` is accepted (the bench_assign benchmark)."""
    [r] = stmts("return a=1;")
    assert isinstance(r, ast.Return)
    assert r.body == ast.Assign("a", ast.Number(1.0, 9), 7)


def test_RETURN_is_a_plain_variable() -> None:
    [s] = stmts("RETURN = 1;")
    assert isinstance(s, ast.Assign)
    assert s.name == "RETURN"


def test_if_elif_else() -> None:
    [s] = stmts("if a { n=2; } elif b { } elif c { ;n=3;; } else { n=4; }")
    assert isinstance(s, ast.If)
    assert [b.condition for b in s.branches] == [
        ast.Name("a", 3),
        ast.Name("b", 19),
        ast.Name("c", 30),
    ]
    assert [len(b.body) for b in s.branches] == [1, 0, 1]
    assert s.orelse is not None and len(s.orelse) == 1


def test_if_needs_no_semicolon_but_allows_one() -> None:
    assert len(stmts("if a { } b;")) == 2
    assert len(stmts("if a { }; b;")) == 2


def test_nested_if() -> None:
    [s] = stmts("if a { if a { n = 2; } }")
    assert isinstance(s, ast.If)
    assert isinstance(s.branches[0].body[0], ast.If)


def test_dict_condition_parses() -> None:
    """The grammar allows any expression as a condition, even a dict literal."""
    [s] = stmts('if {"a": 1} { }')
    assert isinstance(s, ast.If)
    assert isinstance(s.branches[0].condition, ast.Dict)


# -- expressions --------------------------------------------------------------------------


def test_operators_share_one_level_left_assoc() -> None:
    e = expr("1+2*3==9")
    assert isinstance(e, ast.Chain)
    assert e.first == ast.Number(1.0, 0)
    assert [(op.op, op.operand) for op in e.rest] == [
        ("+", ast.Number(2.0, 2)),
        ("*", ast.Number(3.0, 4)),
        ("==", ast.Number(9.0, 7)),
    ]


def test_parentheses_group() -> None:
    e = expr("1+(2*3)")
    assert isinstance(e, ast.Chain)
    inner = e.rest[0].operand
    assert isinstance(inner, ast.Chain)
    assert inner.first == ast.Number(2.0, 3)


def test_literals() -> None:
    assert expr("true") == ast.Bool(True, 0)
    assert expr('"s"') == ast.String("s", 0)
    assert expr("x") == ast.Name("x", 0)
    assert expr("[]") == ast.List((), 0)
    assert expr("{}") == ast.Dict((), (), 0)
    assert expr("[1, [2]]") == ast.List((ast.Number(1.0, 1), ast.List((ast.Number(2.0, 5),), 4)), 0)


def test_dict_keys_last_wins() -> None:
    e = expr('{"a": 1, "b": 2, "a": 3}')
    assert isinstance(e, ast.Dict)
    assert e.keys == ("a", "b")
    assert e.values == (ast.Number(3.0, 22), ast.Number(2.0, 14))


def test_calls() -> None:
    assert expr("f()") == ast.Call("f", (), 0)
    assert expr("f (1, g(x))") == ast.Call(
        "f", (ast.Number(1.0, 3), ast.Call("g", (ast.Name("x", 8),), 6)), 0
    )
    # whitespace and newlines between name and "(" are fine
    assert isinstance(expr("split_url_events\n (events)"), ast.Call)


def test_long_operator_chain_is_flat() -> None:
    e = expr("+".join(["1"] * 20_000))
    assert isinstance(e, ast.Chain)
    assert len(e.rest) == 19_999


def test_single_quoted_dict_keys() -> None:
    e = expr("{'a': 1}")
    assert isinstance(e, ast.Dict)
    assert e.keys == ("a",)


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "line", "column", "what"),
    [
        ("return 1", 1, 9, "expected ';' after the statement, found end of input"),
        ("a = b = 1;", 1, 7, "expected ';' after the statement, found '='"),
        ("else if a { }", 1, 1, "expected an expression, found keyword 'else'"),
        ("if a { } else if b { }", 1, 15, "expected '{' to open the block, found keyword 'if'"),
        ("if a { n = 1;", 1, 14, "expected '}' to close the block, found end of input"),
        ("[1,]", 1, 4, "expected an expression, found ']'"),
        ("[,2]", 1, 2, "expected an expression, found ','"),
        ("f(1,);", 1, 5, "expected an expression, found ')'"),
        ("f(1 2);", 1, 5, "expected ')' or ',', found number 2.0"),
        ("[1 2];", 1, 4, "expected ']' or ',', found number 2.0"),
        ('{"a": 1,};', 1, 9, "expected a string key, found '}'"),
        ("{b: 1};", 1, 2, "expected a string key, found identifier b"),
        ('{"a" 1};', 1, 6, "expected ':' after the key, found number 1.0"),
        ('{"a": 1 "b": 2};', 1, 9, "expected '}' or ',', found a string"),
        ("{:};", 1, 2, "expected a string key, found ':'"),
        ("(1;", 1, 3, "expected ')', found ';'"),
        ("1 +;", 1, 4, "expected an expression, found ';'"),
        ("x = return;", 1, 5, "expected an expression, found keyword 'return'"),
        ("if = 1;", 1, 4, "expected an expression, found '='"),
        ("true = 5;", 1, 6, "expected ';' after the statement, found '='"),
        ("a = 1;\n  b = ;", 2, 7, "expected an expression, found ';'"),
        ("}", 1, 1, "expected an expression, found '}'"),
        ("1e5;", 1, 2, "expected ';' after the statement, found identifier e5"),
    ],
)
def test_syntax_errors(src: str, line: int, column: int, what: str) -> None:
    err = error_of(src)
    assert err.message == f'ParsingError("{what} (at line {line}, column {column})")'
    assert (err.line, err.column) == (line, column)
    assert err.status == 400
    assert err.body() == {"message": err.message, "line": line, "column": column}


def test_lines_are_joined_with_newline() -> None:
    """Spec §1.2: each array element is a line; a comment ends with its element."""
    program = compile_query(["a = 1; # comment", "return a;"])
    assert program.text == "a = 1; # comment\nreturn a;"
    with pytest.raises(QueryError) as info:
        compile_query(["a = 1;", "b = ;"])
    assert (info.value.line, info.value.column) == (2, 5)


def test_nesting_cap() -> None:
    ok = "[" * MAX_NESTING + "]" * MAX_NESTING + ";"
    assert len(stmts(ok)) == 1
    for deep in (
        "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1) + ";",
        "(" * 100_000 + "1" + ")" * 100_000 + ";",
        "f(" * 5_000 + ")" * 5_000 + ";",
        '{"a":' * 5_000 + "1" + "}" * 5_000 + ";",
        "if a {" * 5_000 + "}" * 5_000,
    ):
        err = error_of(deep)
        assert f"nesting deeper than {MAX_NESTING} levels" in err.message
        assert err.line == 1


# -- corpus: data/queries/invalid/<name>.query → <name>.txt (the expected error message) --


def _invalid_cases() -> list[Path]:
    return sorted((CORPUS / "invalid").glob("*.query"))


@pytest.mark.parametrize("path", _invalid_cases(), ids=lambda p: p.stem)
def test_invalid_corpus(path: Path) -> None:
    expected = path.with_suffix(".txt").read_text(encoding="utf-8").strip()
    with pytest.raises(QueryError) as info:
        program = compile_query(path.read_text(encoding="utf-8").removesuffix("\n").split("\n"))
        program.run(MemorySource(), ["2000-01-01T00:00:00Z/2000-01-02T00:00:00Z"])
    assert info.value.message == expected


# -- fuzz: any text parses or raises QueryError, nothing else -----------------------------

_TOKENS = st.sampled_from(
    [
        "a", "b", "x1", "if", "elif", "else", "return", "RETURN", "true", "False", "1",
        "2.5", "007", "1.", '"s"', '"a\\"b"', "'q'", '"', "'", "\\", "==", "=", "+", "-",
        "*", "/", "%", "(", ")", "[", "]", "{", "}", ",", ":", ";", " ", "\n", "#c\n",
        "f(", "@", ".", "é", "\x00",
    ]
)  # fmt: skip


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(_TOKENS, max_size=40).map("".join)))
@example("")
@example('"')
@example("'")
@example('"\\')
@example('"\\"')
@example('a = "x\\"; b = "y";')
@example("[" * 200)
@example("(" * 200 + "1" + ")" * 200)
@example("if a {" * 60 + "}" * 60)
@example("f(" * 60)
@example("\\")
@example("\x00")
@example("9" * 5000)
@example("return 1;\r\n#")
def test_parse_only_raises_query_error(src: str) -> None:
    try:
        result = parse(src)
    except QueryError as exc:
        assert exc.message.startswith("ParsingError(")
        assert exc.line is not None and exc.column is not None
        assert 1 <= exc.line <= src.count("\n") + 1
        assert exc.column >= 1
    else:
        assert isinstance(result, ast.Module)
