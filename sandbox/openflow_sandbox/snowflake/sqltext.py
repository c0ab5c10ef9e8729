"""A small SQL tokenizer and cursor-style parser for the statements the emulation answers itself.

Identifiers follow Snowflake's rules: unquoted ones resolve to upper case, double-quoted ones keep
their case (``""`` escapes a quote). Keywords only match unquoted words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import SqlError, syntax_error

TokenKind = Literal["word", "quoted", "string", "number", "symbol", "param"]

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+|--[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<string>'(?:[^'\\]|\\.|'')*')
  | (?P<dollar>\$\$.*?\$\$)
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<param>\?|:\d+|:[A-Za-z_]\w*)
  | (?P<symbol>[=,().;*<>!+\-/%\[\]{}:@|'])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "'": "'", '"': '"', "\\": "\\"}
_PLAIN_IDENT = re.compile(r"[A-Z_][A-Z0-9_$]*")


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str  # words as written; quoted identifiers and strings unescaped
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


def _unescape_string(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        elif ch == "'" and body[i + 1 : i + 2] == "'":
            out.append("'")
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _binding_token(binding: Mapping[str, Any], pos: int) -> Token:
    value = binding.get("value")
    if value is None:
        return Token("word", "NULL", pos)
    if binding.get("type") in ("FIXED", "REAL"):
        return Token("number", str(value), pos)
    return Token("string", str(value), pos)


def tokenize(
    sql: str, bindings: Mapping[str, Mapping[str, Any]] | None = None, *, lenient: bool = False
) -> list[Token]:
    """Split SQL into tokens; ``?`` / ``:n`` placeholders are replaced by the request's bindings.

    ``lenient`` never fails: it is used only to read a statement's leading keywords, so data SQL
    (casts like ``x::int``, unbound placeholders, odd characters) still reaches fakesnow untouched.
    """
    tokens: list[Token] = []
    pos = 0
    next_param = 1
    while pos < len(sql):
        m = _TOKEN_RE.match(sql, pos)
        if not m or (m.lastgroup == "symbol" and m.group() == "'"):
            if lenient:
                tokens.append(Token("symbol", sql[pos], pos))
                pos += 1
                continue
            raise syntax_error(sql[pos : pos + 10], pos)
        kind, text = m.lastgroup, m.group()
        if kind == "string":
            tokens.append(Token("string", _unescape_string(text[1:-1]), pos))
        elif kind == "dollar":
            tokens.append(Token("string", text[2:-2], pos))
        elif kind == "quoted":
            tokens.append(Token("quoted", text[1:-1].replace('""', '"'), pos))
        elif kind == "param":
            key = text[1:] if text != "?" else str(next_param)
            next_param += text == "?"
            if bindings and key in bindings:
                tokens.append(_binding_token(bindings[key], pos))
            elif lenient:
                tokens.append(Token("param", text, pos))
            else:
                raise syntax_error(text, pos)
        elif kind in ("number", "word", "symbol"):
            tokens.append(Token(kind, text, pos))  # type: ignore[arg-type]
        pos = m.end()
    while tokens and tokens[-1].kind == "symbol" and tokens[-1].text == ";":
        tokens.pop()
    return tokens


def quote_ident(part: str) -> str:
    """How Snowflake prints an identifier part: bare when it is a plain upper-case name."""
    return part if _PLAIN_IDENT.fullmatch(part) else '"' + part.replace('"', '""') + '"'


def fq(*parts: str) -> str:
    return ".".join(quote_ident(p) for p in parts)


def like_matches(pattern: str | None, name: str) -> bool:
    """SHOW ... LIKE: case-insensitive, ``%`` and ``_`` wildcards, backslash escapes."""
    if pattern is None:
        return True
    regex, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            regex.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        regex.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.fullmatch("".join(regex), name, re.IGNORECASE | re.DOTALL) is not None


@dataclass(frozen=True)
class Value:
    """A property value as written: a string literal, a number, a bare word, or a parenthesised list."""

    kind: Literal["string", "number", "word", "list"]
    text: str = ""
    items: tuple[Value, ...] = field(default=())

    def as_text(self) -> str:
        return self.text

    def as_int(self) -> int:
        if self.kind != "number" or "." in self.text:
            raise SqlError(
                1008, "22023", f"SQL compilation error:\ninvalid value [{self.text}], expected an integer"
            )
        return int(self.text)

    def as_bool(self) -> bool:
        if self.text.upper() not in ("TRUE", "FALSE"):
            raise SqlError(
                1008, "22023", f"SQL compilation error:\ninvalid value [{self.text}], expected a boolean"
            )
        return self.text.upper() == "TRUE"

    def as_name(self) -> list[str]:
        """An identifier given bare or inside a string (``DEFAULT_ROLE = 'r'``, ``EVENT_TABLE = 'd.s.t'``)."""
        if self.kind == "word":
            return [self.text.upper()]
        if self.kind == "string":
            return parse_name(self.text)
        raise syntax_error(self.text or "(")


def parse_name(text: str) -> list[str]:
    """Parse a possibly qualified identifier written as text, e.g. ``openflow."Mixed".t``."""
    parser = Parser(text)
    parts = parser.object_name()
    parser.end()
    return parts


class Parser:
    """A cursor over the tokens of one statement."""

    def __init__(self, sql: str, bindings: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.sql = sql
        self.tokens = tokenize(sql, bindings)
        self.i = 0

    # -- looking ahead -------------------------------------------------------------------
    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def at_end(self) -> bool:
        return self.i >= len(self.tokens)

    def is_kw(self, *words: str, offset: int = 0) -> bool:
        for k, word in enumerate(words):
            tok = self.peek(offset + k)
            if tok is None or tok.kind != "word" or tok.upper != word:
                return False
        return True

    def is_symbol(self, symbol: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok is not None and tok.kind == "symbol" and tok.text == symbol

    # -- consuming -----------------------------------------------------------------------
    def error(self) -> SqlError:
        tok = self.peek()
        return syntax_error("<EOF>" if tok is None else tok.text, len(self.sql) if tok is None else tok.pos)

    def next(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise self.error()
        self.i += 1
        return tok

    def accept(self, *words: str) -> bool:
        if self.is_kw(*words):
            self.i += len(words)
            return True
        return False

    def expect(self, *words: str) -> None:
        for word in words:
            if not self.accept(word):
                raise self.error()

    def accept_symbol(self, symbol: str) -> bool:
        if self.is_symbol(symbol):
            self.i += 1
            return True
        return False

    def expect_symbol(self, symbol: str) -> None:
        if not self.accept_symbol(symbol):
            raise self.error()

    def word(self) -> str:
        tok = self.next()
        if tok.kind != "word":
            self.i -= 1
            raise self.error()
        return tok.upper

    def ident(self) -> str:
        tok = self.next()
        if tok.kind == "word":
            return tok.upper
        if tok.kind == "quoted" and tok.text:
            return tok.text
        self.i -= 1
        raise self.error()

    def object_name(self, max_parts: int = 3) -> list[str]:
        parts = [self.ident()]
        while self.accept_symbol("."):
            parts.append(self.ident())
        if len(parts) > max_parts:
            raise syntax_error(".", 0)
        return parts

    def string(self) -> str:
        tok = self.next()
        if tok.kind != "string":
            self.i -= 1
            raise self.error()
        return tok.text

    def number(self) -> int:
        tok = self.next()
        if tok.kind != "number":
            self.i -= 1
            raise self.error()
        return Value("number", tok.text).as_int()

    def value(self) -> Value:
        if self.accept_symbol("("):
            items: list[Value] = []
            while not self.accept_symbol(")"):
                items.append(self.value())
                if not self.is_symbol(")"):
                    self.expect_symbol(",")
            return Value("list", items=tuple(items))
        tok = self.next()
        if tok.kind == "string":
            return Value("string", tok.text)
        if tok.kind == "number":
            return Value("number", tok.text)
        if tok.kind in ("word", "quoted"):
            # a qualified name given bare, e.g. DEFAULT_NAMESPACE = db.schema
            text = tok.upper if tok.kind == "word" else tok.text
            while self.accept_symbol("."):
                text += "." + self.ident()
            return Value("word", text)
        if tok.kind == "symbol" and tok.text == "-" and (num := self.peek()) and num.kind == "number":
            self.i += 1
            return Value("number", "-" + num.text)
        self.i -= 1
        raise self.error()

    def properties(self, *, allow: frozenset[str] | None = None) -> dict[str, Value]:
        """``KEY = value`` pairs (commas optional) until the end or a word not followed by ``=``."""
        props: dict[str, Value] = {}
        while True:
            tok, eq = self.peek(), self.peek(1)
            if tok is None or tok.kind != "word" or eq is None or eq.text != "=" or eq.kind != "symbol":
                return props
            key = tok.upper
            if allow is not None and key not in allow:
                raise SqlError(1008, "22023", f"SQL compilation error:\ninvalid property '{key}'")
            self.i += 2
            props[key] = self.value()
            self.accept_symbol(",")

    def like(self) -> str | None:
        return self.string() if self.accept("LIKE") else None

    def end(self) -> None:
        if not self.at_end():
            raise self.error()
