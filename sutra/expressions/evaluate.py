"""Templates with ``@``-variables, and the safe expression subset.

Three syntaxes appear in flow files:

* ``@results.name.category`` — a variable path (RapidPro and Glific);
* ``@(default(webhook.status, 0))`` — an expression (RapidPro's "excellent");
* ``<%= rem(@results.webhook.status * 2 + 1, 6) %>`` — EEx, which Glific evaluates as Elixir.

All three run through one small interpreter: literals, variables, arithmetic, comparison,
concatenation and a whitelist of pure functions. Nothing here can reach Python objects, import
anything or loop. What a contact typed only ever arrives as the *value* of a variable and is
appended to the output as text, so it is never evaluated, however it is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sutra.expressions.values import format_number, lookup, render, to_number


class ExpressionError(ValueError):
    pass


_VARIABLE = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)")
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>@?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<op><=|>=|==|!=|<>|&&|\|\||[-+*/^<>=&(),!])
    """,
    re.VERBOSE,
)
_MAX_TEMPLATE_LENGTH = 100_000
_MAX_RESULT_LENGTH = 100_000


def evaluate_template(
    text: str, context: Mapping[str, Any], *, escape: Callable[[str], str] | None = None
) -> str:
    """Fill ``text`` with values from ``context``; whatever does not resolve stays as written.

    >>> ctx = {"contact": {"name": "Asha"}, "results": {"age": {"input": "12", "value": "12"}}}
    >>> evaluate_template("Hi @contact.name, you are @results.age. Mail me@example.com", ctx)
    'Hi Asha, you are 12. Mail me@example.com'
    >>> evaluate_template("@results.missing and @@contact.name", ctx)
    '@results.missing and @contact.name'
    >>> evaluate_template("next year: @(results.age + 1) / <%= @results.age * 2 %>", ctx)
    'next year: 13 / 24'
    """
    if len(text) > _MAX_TEMPLATE_LENGTH:
        return text

    def put(value: Any) -> None:
        rendered = render(value)
        out.append(escape(rendered) if escape else rendered)

    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        if text.startswith("<%=", i):
            end = text.find("%>", i + 3)
            if end != -1:
                source = text[i + 3 : end]
                try:
                    put(evaluate_expression(source, context))
                except ExpressionError:
                    out.append(text[i : end + 2])
                i = end + 2
                continue
        char = text[i]
        if char != "@":
            out.append(char)
            i += 1
            continue
        if text.startswith("@@", i):
            out.append("@")
            i += 2
            continue
        if text.startswith("@(", i):
            end = _closing_paren(text, i + 1)
            if end is not None:
                try:
                    put(evaluate_expression(text[i + 2 : end], context))
                except ExpressionError:
                    out.append(text[i : end + 1])
                i = end + 1
                continue
        match = _VARIABLE.match(text, i)
        if match is None:
            out.append(char)
            i += 1
            continue
        consumed, value = _resolve_prefix(match.group(1), context)
        if consumed:
            put(value)
            i += 1 + consumed
        else:
            out.append(match.group(0))
            i = match.end()
    result = "".join(out)
    return result[:_MAX_RESULT_LENGTH]


def evaluate_value(text: str, context: Mapping[str, Any]) -> Any:
    """The typed value of a router operand.

    An operand that is exactly one variable or expression keeps its type (a list of groups, a
    result map); anything else is rendered as a template.

    >>> evaluate_value("@contact.groups", {"contact": {"groups": [{"name": "A"}]}})
    [{'name': 'A'}]
    >>> evaluate_value("@(1 + 2)", {})
    Decimal('3')
    >>> evaluate_value("age @contact.age", {"contact": {"age": 3}})
    'age 3'
    """
    stripped = text.strip()
    match = _VARIABLE.fullmatch(stripped)
    if match is not None:
        found, value = resolve_path(match.group(1), context)
        return value if found else stripped
    if stripped.startswith("@(") and _closing_paren(stripped, 1) == len(stripped) - 1:
        try:
            return evaluate_expression(stripped[2:-1], context)
        except ExpressionError:
            return stripped
    if stripped.startswith("<%=") and stripped.endswith("%>") and stripped.count("%>") == 1:
        try:
            return evaluate_expression(stripped[3:-2], context)
        except ExpressionError:
            return stripped
    return evaluate_template(text, context)


def resolve_path(path: str, context: Mapping[str, Any]) -> tuple[bool, Any]:
    """Walk a dotted path through the context, e.g. ``results.gpt.parsed_msg.city``."""
    current: Any = context
    for segment in path.split("."):
        found, current = lookup(current, segment)
        if not found:
            return False, None
    return True, current


def _resolve_prefix(path: str, context: Mapping[str, Any]) -> tuple[int, Any]:
    """Resolve as much of ``path`` as names something; returns the characters used.

    Text can follow a variable with a dot ("@contact.name.Thanks", "@fields.city.jpg"): once the
    walk reaches plain text or a number, the rest is ordinary text. A missing key in a map
    leaves the whole variable unresolved.
    """
    current: Any = context
    used = -1
    for depth, segment in enumerate(path.split(".")):
        found, value = lookup(current, segment)
        if not found:
            scalar = isinstance(current, str | int | float | Decimal) and depth >= 2
            return (used, current) if scalar else (0, None)
        current = value
        used += len(segment) + 1
    return used, current


def _closing_paren(text: str, open_index: int) -> int | None:
    depth = 0
    quote: str | None = None
    i = open_index
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


# --- the expression interpreter --------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise ExpressionError(f"unexpected character {source[pos]!r}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, match.group()))
        pos = match.end()
    return tokens


_BINARY_PRECEDENCE = {
    "or": 1,
    "||": 1,
    "and": 2,
    "&&": 2,
    "=": 3,
    "==": 3,
    "!=": 3,
    "<": 3,
    "<=": 3,
    ">": 3,
    ">=": 3,
    "&": 4,
    "<>": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "^": 7,
}
_MAX_DEPTH = 50


@dataclass(frozen=True)
class _Undefined:
    """A name that resolves to nothing: only ``default()`` may look at it."""

    name: str


def _defined(value: Any) -> Any:
    if isinstance(value, _Undefined):
        raise ExpressionError(f"{value.name} is not defined")
    return value


class _Parser:
    def __init__(self, source: str, context: Mapping[str, Any]) -> None:
        self.tokens = _tokenize(source)
        self.pos = 0
        self.context = context
        self.depth = 0

    def parse(self) -> Any:
        if not self.tokens:
            raise ExpressionError("empty expression")
        value = self.expression(0)
        if self.pos != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.pos].text!r}")
        return _defined(value)

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, text: str | None = None) -> _Token:
        token = self.peek()
        if token is None or (text is not None and token.text != text):
            raise ExpressionError(f"expected {text or 'a value'}")
        self.pos += 1
        return token

    def expression(self, min_precedence: int) -> Any:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise ExpressionError("expression nests too deeply")
        left = self.unary()
        while True:
            token = self.peek()
            if token is None:
                break
            op = token.text.lower() if token.kind == "name" else token.text
            precedence = _BINARY_PRECEDENCE.get(op)
            if precedence is None or precedence < min_precedence:
                break
            self.pos += 1
            # ^ is right-associative; everything else left.
            right = self.expression(precedence if op == "^" else precedence + 1)
            left = _binary(op, _defined(left), _defined(right))
        self.depth -= 1
        return left

    def unary(self) -> Any:
        token = self.take()
        if token.text == "-":
            return _arith("-", Decimal(0), _defined(self.unary()))
        if token.text == "+":
            return _num(_defined(self.unary()))
        if token.text == "!" or (token.kind == "name" and token.text.lower() == "not"):
            return not _truthy(_defined(self.unary()))
        if token.text == "(":
            value = self.expression(0)
            self.take(")")
            return value
        if token.kind == "number":
            return Decimal(token.text)
        if token.kind == "string":
            return _unquote(token.text)
        if token.kind == "name":
            return self.name(token.text)
        raise ExpressionError(f"unexpected {token.text!r}")

    def name(self, text: str) -> Any:
        next_token = self.peek()
        if next_token is not None and next_token.text == "(" and not text.startswith("@"):
            self.pos += 1
            args: list[Any] = []
            if self.peek() is not None and self.peek().text != ")":  # type: ignore[union-attr]
                args.append(self.expression(0))
                while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                    self.pos += 1
                    args.append(self.expression(0))
            self.take(")")
            return _call(text.lower(), args, self.context)
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered in ("nil", "null"):
            return None
        found, value = resolve_path(text.lstrip("@"), self.context)
        return value if found else _Undefined(text)


def evaluate_expression(source: str, context: Mapping[str, Any]) -> Any:
    """Evaluate one expression of the safe subset.

    >>> evaluate_expression('rem(@results.webhook.status * 2 + 1, 6)',
    ...                     {"results": {"webhook": {"status": 4}}})
    Decimal('3')
    >>> evaluate_expression('default(webhook.status, 0) >= 200', {"webhook": None})
    False
    >>> evaluate_expression('upper(contact.name) & "!"', {"contact": {"name": "ravi"}})
    'RAVI!'
    >>> evaluate_expression('__import__("os")', {})
    Traceback (most recent call last):
    ...
    sutra.expressions.evaluate.ExpressionError: unknown function __import__
    """
    return _Parser(source, context).parse()


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _num(value: Any) -> Decimal:
    number = to_number(value)
    if number is None:
        raise ExpressionError(f"{render(value)!r} is not a number")
    return number


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0")
    if isinstance(value, Decimal):
        return value != 0
    return bool(value)


def _equal(left: Any, right: Any) -> bool:
    left_number, right_number = to_number(left), to_number(right)
    if left_number is not None and right_number is not None:
        return left_number == right_number
    return render(left).lower() == render(right).lower()


def _compare(op: str, left: Any, right: Any) -> bool:
    a, b = to_number(left), to_number(right)
    pair: tuple[Any, Any] = (
        (a, b) if a is not None and b is not None else (render(left), render(right))
    )
    return {
        "<": pair[0] < pair[1],
        "<=": pair[0] <= pair[1],
        ">": pair[0] > pair[1],
        ">=": pair[0] >= pair[1],
    }[op]


def _arith(op: str, left: Any, right: Any) -> Decimal:
    a, b = _num(left), _num(right)
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        if abs(b) > 100:
            raise ExpressionError("exponent too large")
        return a**b
    except (InvalidOperation, ZeroDivisionError) as exc:
        raise ExpressionError(f"cannot compute {format_number(a)} {op} {format_number(b)}") from exc


def _binary(op: str, left: Any, right: Any) -> Any:
    if op in ("or", "||"):
        return _truthy(left) or _truthy(right)
    if op in ("and", "&&"):
        return _truthy(left) and _truthy(right)
    if op in ("=", "=="):
        return _equal(left, right)
    if op == "!=":
        return not _equal(left, right)
    if op in ("<", "<=", ">", ">="):
        return _compare(op, left, right)
    if op in ("&", "<>"):
        return render(left) + render(right)
    return _arith(op, left, right)


def _round(value: Any, places: Any = 0) -> Decimal:
    return round(_num(value), int(_num(places)))


def _word(text: Any, index: Any) -> str:
    words = render(text).split()
    position = int(_num(index))
    return words[position] if -len(words) <= position < len(words) else ""


def _modulo(a: Any, b: Any) -> Decimal:
    divisor = _num(b)
    if divisor == 0:
        raise ExpressionError("division by zero")
    return _num(a) % divisor


def _divide_int(a: Any, b: Any) -> Decimal:
    divisor = _num(b)
    if divisor == 0:
        raise ExpressionError("division by zero")
    return Decimal(int(_num(a) / divisor))


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "default": lambda value, fallback: (
        fallback if isinstance(value, _Undefined) or value in (None, "") else value
    ),
    "if": lambda test, yes, no="": yes if _truthy(test) else no,
    "and": lambda *args: all(_truthy(a) for a in args),
    "or": lambda *args: any(_truthy(a) for a in args),
    "not": lambda value: not _truthy(value),
    "upper": lambda text: render(text).upper(),
    "lower": lambda text: render(text).lower(),
    "title": lambda text: render(text).title(),
    "trim": lambda text: render(text).strip(),
    "text": render,
    "number": _num,
    "len": lambda value: Decimal(len(render(value))),
    "length": lambda value: Decimal(len(value) if isinstance(value, list) else len(render(value))),
    "abs": lambda value: abs(_num(value)),
    "round": _round,
    "max": lambda *args: max(_num(a) for a in args),
    "min": lambda *args: min(_num(a) for a in args),
    "rem": _modulo,
    "mod": _modulo,
    "div": _divide_int,
    "word": _word,
    "word_count": lambda text: Decimal(len(render(text).split())),
    "contains": lambda text, part: render(part).lower() in render(text).lower(),
}


def _call(name: str, args: list[Any], context: Mapping[str, Any]) -> Any:
    if name in ("today", "now"):
        now = context.get("__now__")
        if not isinstance(now, datetime):
            raise ExpressionError(f"{name}() needs the current time")
        return now.date() if name == "today" else now
    function = _FUNCTIONS.get(name)
    if function is None:
        raise ExpressionError(f"unknown function {name}")
    if name != "default":
        args = [_defined(arg) for arg in args]
    try:
        return function(*args)
    except TypeError as exc:
        raise ExpressionError(f"wrong arguments for {name}()") from exc
