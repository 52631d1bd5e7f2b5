"""Recursive-descent parser for the query2 language (Rust dialect).

Grammar (equivalent to aw-server-rust's LALR grammar in `aw-query/src/parser.rs`):

    program    := { statement | ";" }
    statement  := if_stmt | simple ";"
    simple     := "return" assign | assign
    assign     := IDENT "=" binop | binop
    if_stmt    := "if" binop block { "elif" binop block } [ "else" block ]
    block      := "{" { statement | ";" } "}"
    binop      := operand { ("+" | "-" | "*" | "/" | "%" | "==") operand }
    operand    := IDENT "(" [ binop { "," binop } ] ")" | "{" [ STRING ":" binop
                  { "," STRING ":" binop } ] "}" | "[" [ binop { "," binop } ] "]"
                  | IDENT | BOOL | NUMBER | STRING | "(" binop ")"

Invariant: nesting (blocks, parentheses, lists, dicts, call arguments) is capped at
`MAX_NESTING` levels, so no input can exhaust Python's recursion limit here or in the
interpreter; deeper input is a ``ParsingError`` at the opening token.
"""

from __future__ import annotations

from typing import Final

from fastaw.query import ast
from fastaw.query.diag import syntax_error
from fastaw.query.lexer import (
    BOOL,
    EOF,
    IDENT,
    NUMBER,
    OPERATORS,
    STRING,
    Token,
    describe,
    tokenize,
)

MAX_NESTING: Final = 100


class _Parser:
    """State of one parse: the token list and the index of the next token."""

    def __init__(self, src: str, tokens: list[Token]) -> None:
        self.src = src
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    # -- helpers -----------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        # The token list always ends with EOF; never index past it.
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != EOF:
            self.i += 1
        return tok

    def expect(self, kind: str, what: str) -> Token:
        tok = self.peek()
        if tok.kind != kind:
            raise syntax_error(self.src, tok.pos, f"expected {what}, found {describe(tok)}")
        return self.advance()

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise syntax_error(self.src, tok.pos, f"nesting deeper than {MAX_NESTING} levels")

    # -- statements --------------------------------------------------------------------

    def statements(self, in_block: bool) -> tuple[ast.Stmt, ...]:
        body: list[ast.Stmt] = []
        while True:
            kind = self.peek().kind
            if kind == ";":
                self.advance()
            elif kind == EOF or (in_block and kind == "}"):
                return tuple(body)
            else:
                body.append(self.statement())

    def statement(self) -> ast.Stmt:
        tok = self.peek()
        if tok.kind == "if":
            return self.if_stmt()
        if tok.kind == "return":
            self.advance()
            stmt: ast.Stmt = ast.Return(self.assign(), tok.pos)
        else:
            stmt = self.assign()
        self.expect(";", "';' after the statement")
        return stmt

    def assign(self) -> ast.Assign | ast.ExprStmt:
        tok = self.peek()
        if tok.kind == IDENT and self.peek(1).kind == "=":
            self.advance()
            self.advance()
            return ast.Assign(str(tok.value), self.binop(), tok.pos)
        return ast.ExprStmt(self.binop(), tok.pos)

    def if_stmt(self) -> ast.If:
        start = self.advance()
        branches = [ast.Branch(self.binop(), self.block(), start.pos)]
        while self.peek().kind == "elif":
            tok = self.advance()
            branches.append(ast.Branch(self.binop(), self.block(), tok.pos))
        orelse = None
        if self.peek().kind == "else":
            self.advance()
            orelse = self.block()
        return ast.If(tuple(branches), orelse, start.pos)

    def block(self) -> tuple[ast.Stmt, ...]:
        tok = self.expect("{", "'{' to open the block")
        self.enter(tok)
        body = self.statements(in_block=True)
        self.expect("}", "'}' to close the block")
        self.depth -= 1
        return body

    # -- expressions -------------------------------------------------------------------

    def binop(self) -> ast.Expr:
        first = self.operand()
        if self.peek().kind not in OPERATORS:
            return first
        rest: list[ast.Operation] = []
        while self.peek().kind in OPERATORS:
            op = self.advance()
            rest.append(ast.Operation(op.kind, self.operand(), op.pos))
        return ast.Chain(first, tuple(rest), first.pos)

    def operand(self) -> ast.Expr:
        tok = self.advance()
        kind = tok.kind
        if kind == IDENT:
            name = str(tok.value)
            if self.peek().kind == "(":
                self.enter(self.advance())
                args = self.sequence(")", "')' or ','")
                self.depth -= 1
                return ast.Call(name, args, tok.pos)
            return ast.Name(name, tok.pos)
        if kind == NUMBER:
            assert isinstance(tok.value, float)
            return ast.Number(tok.value, tok.pos)
        if kind == STRING:
            return ast.String(str(tok.value), tok.pos)
        if kind == BOOL:
            return ast.Bool(bool(tok.value), tok.pos)
        if kind == "(":
            self.enter(tok)
            inner = self.binop()
            self.expect(")", "')'")
            self.depth -= 1
            return inner
        if kind == "[":
            self.enter(tok)
            items = self.sequence("]", "']' or ','")
            self.depth -= 1
            return ast.List(items, tok.pos)
        if kind == "{":
            self.enter(tok)
            result = self.dict_body(tok)
            self.depth -= 1
            return result
        raise syntax_error(self.src, tok.pos, f"expected an expression, found {describe(tok)}")

    def sequence(self, closing: str, what: str) -> tuple[ast.Expr, ...]:
        """Comma-separated expressions up to ``closing`` (no trailing comma)."""
        items: list[ast.Expr] = []
        if self.peek().kind == closing:
            self.advance()
            return ()
        while True:
            items.append(self.binop())
            tok = self.advance()
            if tok.kind == closing:
                return tuple(items)
            if tok.kind != ",":
                raise syntax_error(self.src, tok.pos, f"expected {what}, found {describe(tok)}")

    def dict_body(self, start: Token) -> ast.Dict:
        entries: dict[str, ast.Expr] = {}
        if self.peek().kind == "}":
            self.advance()
            return ast.Dict((), (), start.pos)
        while True:
            key = self.expect(STRING, "a string key")
            self.expect(":", "':' after the key")
            entries[str(key.value)] = self.binop()
            tok = self.advance()
            if tok.kind == "}":
                return ast.Dict(tuple(entries), tuple(entries.values()), start.pos)
            if tok.kind != ",":
                raise syntax_error(
                    self.src, tok.pos, f"expected '}}' or ',', found {describe(tok)}"
                )


def parse(src: str) -> ast.Module:
    """Parse a whole program; raise `QueryError` (``ParsingError``) with line and column."""
    parser = _Parser(src, tokenize(src))
    body = parser.statements(in_block=False)
    return ast.Module(body)
