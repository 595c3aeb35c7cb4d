"""Expressions into syntax trees: goflow's excellent grammar, plus the EEx Glific evaluates.

Precedence, loosest first, as in goflow's grammar: anonymous functions ``(x) => ...``, ``&``,
``=`` ``!=``, ``<`` ``<=`` ``>`` ``>=``, ``+`` ``-``, ``*`` ``/``, ``^`` (left to right, as
goflow's is), unary ``-``, then lookups ``a.b``, ``a["b"]``, ``a[0]`` and calls ``f(x)`` on any
atom. For Glific's EEx snippets (``<%= rem(@results.x, 2) == 0 and ... %>``) the parser also
takes ``==``, ``<>`` (concatenation), ``and``/``&&``, ``or``/``||``, ``not``/``!``, names
written with ``@`` and single-quoted text; goflow has none of these.

Parsing is linear in the source and bounded: nesting beyond :data:`MAX_DEPTH` is a syntax
error, so evaluating the tree never recurses deeply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sutra.expressions.values import ErrorValue, parse_number


class ExpressionError(ValueError):
    """A syntax error, or a failure inside the interpreter; it never escapes: the expression
    evaluates to an :class:`ErrorValue` instead."""


MAX_DEPTH = 50
# A tree this deep is refused: "1 + 1 + ... + 1" with hundreds of terms is not a flow's.
MAX_TREE_DEPTH = 100

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>@?[^\W\d]\w*(?:\.\w+)*\??)
  | (?P<op>=>|<=|>=|==|!=|<>|&&|\|\||\|>|[-+*/^<>=&(),!\[\].:])
    """,
    re.VERBOSE,
)

# Binary operators by how tightly they bind.
PRECEDENCE = {
    "or": 10,
    "||": 10,
    "and": 20,
    "&&": 20,
    "&": 30,
    "=": 40,
    "==": 40,
    "!=": 40,
    "<": 50,
    "<=": 50,
    ">": 50,
    ">=": 50,
    # EEx only, with Elixir's places: "x |> f()" below "in" below "<>".
    "|>": 53,
    "in": 56,
    "<>": 60,
    "+": 70,
    "-": 70,
    "*": 80,
    "/": 80,
    "^": 90,
}
_WORD_OPERATORS = {"and", "or"}
# Operators only EEx has: in goflow's expressions they stay syntax errors.
_EEX_OPERATORS = {"|>", "in"}
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None, "nil": None}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class Node:
    depth: int


@dataclass(frozen=True, slots=True)
class Literal(Node):
    value: Any


@dataclass(frozen=True, slots=True)
class Name(Node):
    """``contact.fields.age``: a name, then lookups of the dotted segments."""

    segments: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class Member(Node):
    """``target.key`` or ``target[key]``."""

    target: Node
    key: Node


@dataclass(frozen=True, slots=True)
class Call(Node):
    callee: Node
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Unary(Node):
    """Prefix operators, innermost last: ``- - 1`` is one node, however many signs."""

    ops: tuple[str, ...]
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Lambda(Node):
    params: tuple[str, ...]
    body: Node


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise ExpressionError(f"unexpected character {source[pos]!r}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group()))
        pos = match.end()
    return tokens


def parse(source: str, *, eex: bool = False) -> Node:
    """The syntax tree of one expression (of a Glific ``<%= %>`` snippet with ``eex``).

    >>> parse("1 + 2 * 3")  # doctest: +ELLIPSIS
    Binary(depth=3, op='+', left=Literal(...), right=Binary(depth=2, op='*', ...))
    """
    return _Parser(tokenize(source), eex).parse()


def _piped(value: Node, into: Node) -> Node:
    """Elixir's ``value |> f(a)``: ``f(value, a)``."""
    if isinstance(into, Call):
        return Call(_deeper(value, into), into.callee, (value, *into.args))
    if isinstance(into, Name | Literal):
        return Call(_deeper(value, into), into, (value,))
    raise ExpressionError("|> must be followed by a function call")


def _deeper(*nodes: Node) -> int:
    depth = 1 + max(node.depth for node in nodes)
    if depth > MAX_TREE_DEPTH:
        raise ExpressionError("expression nests too deeply")
    return depth


class _Parser:
    def __init__(self, tokens: list[Token], eex: bool = False) -> None:
        self.tokens = tokens
        self.pos = 0
        self.nesting = 0
        # Glific's <%= %>: Elixir's if/do/else, lists, "in", pipes and module functions.
        self.eex = eex

    def parse(self) -> Node:
        if not self.tokens:
            raise ExpressionError("empty expression")
        node = self.expression(0)
        if self.pos != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.pos].text!r}")
        return node

    def peek(self, ahead: int = 0) -> Token | None:
        index = self.pos + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def at(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "op" and token.text == text

    def take(self, text: str | None = None) -> Token:
        token = self.peek()
        if token is None or (text is not None and (token.kind != "op" or token.text != text)):
            raise ExpressionError(f"expected {text or 'a value'}")
        self.pos += 1
        return token

    def binary_op(self) -> str | None:
        token = self.peek()
        if token is None:
            return None
        lowered = token.text.lower()
        if token.kind == "op":
            found = token.text if token.text in PRECEDENCE else None
        else:
            words = _WORD_OPERATORS | {"in"} if self.eex else _WORD_OPERATORS
            found = lowered if token.kind == "name" and lowered in words else None
        if found in _EEX_OPERATORS and not self.eex:
            return None
        return found

    def expression(self, min_precedence: int) -> Node:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise ExpressionError("expression nests too deeply")
        if self.lambda_ahead():
            node = self.lambda_()
        else:
            node = self.unary()
            while True:
                op = self.binary_op()
                if op is None or PRECEDENCE[op] < min_precedence:
                    break
                self.pos += 1
                right = self.expression(PRECEDENCE[op] + 1)
                node = (
                    _piped(node, right)
                    if op == "|>"
                    else Binary(_deeper(node, right), op, node, right)
                )
        self.nesting -= 1
        return node

    def lambda_ahead(self) -> bool:
        # "(" NAME ("," NAME)* ")" "=>": only then is a parenthesis an anonymous function.
        if not self.at("("):
            return False
        i = 1
        while True:
            name = self.peek(i)
            if name is None or name.kind != "name" or "." in name.text:
                return False
            after = self.peek(i + 1)
            if after is None or after.kind != "op":
                return False
            if after.text == ")":
                arrow = self.peek(i + 2)
                return arrow is not None and arrow.kind == "op" and arrow.text == "=>"
            if after.text != ",":
                return False
            i += 2

    def lambda_(self) -> Node:
        self.take("(")
        params = [self.take().text.lower()]
        while self.at(","):
            self.pos += 1
            params.append(self.take().text.lower())
        self.take(")")
        self.take("=>")
        body = self.expression(0)
        return Lambda(_deeper(body), tuple(params), body)

    def unary(self) -> Node:
        # Prefix operators are collected in a loop, not by recursion: "- - - ... 1" with
        # thousands of signs costs one step each and no stack.
        prefixes: list[str] = []
        while True:
            token = self.peek()
            if token is None:
                raise ExpressionError("expected a value")
            if token.kind == "op" and token.text in ("-", "+", "!"):
                prefixes.append(token.text)
            elif token.kind == "name" and token.text.lower() == "not" and not self.call_next():
                prefixes.append("!")
            else:
                break
            self.pos += 1
        node = self.postfix(self.primary())
        return Unary(_deeper(node), tuple(prefixes), node) if prefixes else node

    def elixir_form(self) -> Node | None:
        """EEx forms goflow has no syntax for: ``if c, do: a, else: b``, a list ``[1, 2]``, a
        module function ``String.upcase``; None for anything else."""
        token = self.peek()
        if token is None:
            return None
        if token.kind == "name" and token.text.lower() == "if" and not self.call_next():
            self.pos += 1
            test = self.expression(0)
            yes = self.keyword("do")
            no: Node = self.keyword("else") if self.at(",") else Literal(1, None)
            return Call(_deeper(test, yes, no), Literal(1, _builtin("if")), (test, yes, no))
        if token.kind == "op" and token.text == "[":
            self.pos += 1
            items: list[Node] = []
            if not self.at("]"):
                items.append(self.expression(0))
                while self.at(","):
                    self.pos += 1
                    items.append(self.expression(0))
            self.take("]")
            return Call(_deeper(*items), Literal(1, _builtin("array")), tuple(items))
        if token.kind == "name" and not token.text.startswith("@"):
            function = _elixir(token.text, called=self.call_next())
            if function is not None:
                self.pos += 1
                return Literal(1, function)
        return None

    def keyword(self, word: str) -> Node:
        # ", do: value" and ", else: value", Elixir's keyword form of if.
        self.take(",")
        token = self.take()
        if token.kind != "name" or token.text.lower() != word:
            raise ExpressionError(f"expected {word}:")
        self.take(":")
        return self.expression(0)

    def call_next(self) -> bool:
        after = self.peek(1)
        return after is not None and after.kind == "op" and after.text == "("

    def primary(self) -> Node:
        if self.eex:
            found = self.elixir_form()
            if found is not None:
                return found
        token = self.take()
        if token.kind == "op" and token.text == "(":
            node = self.expression(0)
            self.take(")")
            return node
        if token.kind == "number":
            number = parse_number(token.text)
            value = number if number is not None else ErrorValue("number value out of range")
            return Literal(1, value)
        if token.kind == "string":
            text = unquote(token.text)
            return _interpolated(text) if self.eex and "#{" in text else Literal(1, text)
        if token.kind == "name":
            lowered = token.text.lower()
            if lowered in _LITERALS:
                return Literal(1, _LITERALS[lowered])
            segments = tuple(token.text.lstrip("@").split("."))
            return Name(1, segments, token.text)
        raise ExpressionError(f"unexpected {token.text!r}")

    def postfix(self, node: Node) -> Node:
        while True:
            if self.at("("):
                self.pos += 1
                args: list[Node] = []
                if not self.at(")"):
                    args.append(self.expression(0))
                    while self.at(","):
                        self.pos += 1
                        args.append(self.expression(0))
                self.take(")")
                node = Call(_deeper(node, *args), node, tuple(args))
            elif self.at("["):
                self.pos += 1
                key = self.expression(0)
                self.take("]")
                node = Member(_deeper(node, key), node, key)
            elif self.at("."):
                self.pos += 1
                segment = self.take()
                if segment.kind not in ("name", "number") or segment.text.startswith("@"):
                    raise ExpressionError(f"unexpected {segment.text!r} after '.'")
                for part in segment.text.split("."):
                    key = Literal(1, part)
                    node = Member(_deeper(node), node, key)
            else:
                return node


_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}
_HEX_ESCAPE = {"x": 2, "u": 4, "U": 8}


def unquote(literal: str) -> str:
    """A text literal's value: Go's escapes (``\\n``, ``\\u00a9``...) are read as goflow reads
    them; a literal with an escape Go does not know is kept as written (``"\\d+"`` is ``\\d+``).

    >>> unquote('"caf\\\\u00e9 \\\\"ok\\\\""'), unquote('"\\\\d+ and \\\\n"')
    ('café "ok"', '\\\\d+ and \\\\n')
    """
    quote, body = literal[0], literal[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            if char == "\n" and quote == '"':
                return body  # Go refuses a line break inside quotes: the text stays as written
            out.append(char)
            i += 1
            continue
        if i + 1 >= len(body):
            return body
        code = body[i + 1]
        if code in _ESCAPES and (code != "'" or quote == "'"):
            out.append(_ESCAPES[code])
            i += 2
        elif code in _HEX_ESCAPE:
            width = _HEX_ESCAPE[code]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                return body
            point = int(digits, 16)
            if point > 0x10FFFF or 0xD800 <= point <= 0xDFFF:
                return body
            out.append(chr(point))
            i += 2 + width
        elif code in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not all(c in "01234567" for c in digits):
                return body
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            return body
    return "".join(out)


def _builtin(name: str) -> Any:
    from sutra.expressions.functions import FUNCTIONS

    return FUNCTIONS[name]


def _elixir(name: str, *, called: bool) -> Any:
    """The Elixir function a name calls in EEx, or None when it is not one (a variable, or one
    of goflow's functions); a module function Glific does not allow is a syntax error."""
    from sutra.expressions.elixir import ELIXIR, KERNEL
    from sutra.expressions.functions import FUNCTIONS

    if "." in name and name[:1].isupper():
        if name in ELIXIR:
            return ELIXIR[name]
        raise ExpressionError(f"{name} is not a function Sutra runs")
    if called and name.lower() not in FUNCTIONS and name in KERNEL:
        return KERNEL[name]
    return None


def _interpolated(text: str) -> Node:
    """Elixir's ``"count: #{@n}"``: the text with each ``#{...}`` evaluated and joined in."""
    parts: list[Node] = []
    pos = 0
    while True:
        start = text.find("#{", pos)
        if start == -1:
            break
        end = text.find("}", start + 2)
        if end == -1:
            raise ExpressionError("#{ without }")
        if start > pos:
            parts.append(Literal(1, text[pos:start]))
        parts.append(parse(text[start + 2 : end], eex=True))
        pos = end + 1
    if pos < len(text):
        parts.append(Literal(1, text[pos:]))
    node = parts[0] if parts else Literal(1, "")
    if len(parts) == 1 and not isinstance(node, Literal):
        node = Binary(_deeper(node), "<>", Literal(1, ""), node)
    for part in parts[1:]:
        node = Binary(_deeper(node, part), "<>", node, part)
    return node
