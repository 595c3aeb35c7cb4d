"""Templates with ``@``-variables, and the safe expression subset.

Three syntaxes appear in flow files:

* ``@results.name.category`` — a variable path (RapidPro and Glific);
* ``@(default(webhook.status, 0))`` — an expression (RapidPro's "excellent");
* ``<%= rem(@results.webhook.status * 2 + 1, 6) %>`` — EEx, which Glific evaluates as Elixir.

All three run through one small interpreter: literals, variables, arithmetic, comparison,
concatenation and a whitelist of pure functions. Nothing here can reach Python objects, import
anything or loop. What a contact typed only ever arrives as the *value* of a variable and is
appended to the output as text, so it is never evaluated, however it is written.

The interpreter is total: whatever the template and whatever the context holds, evaluation
returns. An expression that fails (bad syntax, an unknown function, division by zero, a number
out of range, too much work) evaluates to an :class:`ErrorValue`, as in goflow: a template
renders it as empty text, ``default()`` replaces it, and ``is_error()`` and the ``has_error``
case see it. Scanning is linear in the template's length, nesting is bounded, and each
evaluation has goflow's budget of work (text costs its length, any other value 1), which bounds
its time and memory whatever the values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from typing import Any, NamedTuple

from sutra.expressions.values import (
    MAX_NUMBER_DIGITS,
    ErrorValue,
    in_range,
    lookup,
    parse_number,
    render,
    to_number,
)


class ExpressionError(ValueError):
    """Raised inside the interpreter and turned into an :class:`ErrorValue`; it never escapes."""


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
_SPECIAL = re.compile(r"@|<%=")
_PAREN_SYNTAX = re.compile(r"[()\"'\\]")
_MAX_TEMPLATE_LENGTH = 100_000
_MAX_RESULT_LENGTH = 100_000
_MAX_DEPTH = 50
# goflow's limits: a larger exponent or rounding can only overflow, but would cost a lot first.
_MAX_EXPONENT = 100
_MAX_ROUND_PLACES = 1_000
# goflow's allowance per evaluation. Real templates cost a few hundred; this still bounds a
# hostile one to a few megabytes of text.
_BUDGET = 10_000_000
_TOO_COMPLEX = "expression is too complex to evaluate"
# A template with thousands of failing expressions reports a few, not thousands.
_MAX_ERRORS = 10
# Precision enough that any number in range (36 digits) goes through arithmetic exactly; every
# signal that would give NaN or an infinity raises instead, and becomes an error value.
_MATH = Context(
    prec=MAX_NUMBER_DIGITS,
    rounding=ROUND_HALF_EVEN,
    Emax=999_999,
    Emin=-999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
# What a builtin may raise on arguments it cannot take; each becomes an error value.
_FAILURES = (ArithmeticError, ValueError, TypeError, LookupError)


class _Budget:
    """The work one evaluation may still do; spending past it makes the evaluation an error."""

    __slots__ = ("remaining",)

    def __init__(self, total: int = _BUDGET) -> None:
        self.remaining = total

    def spend(self, cost: int) -> bool:
        self.remaining -= cost
        return self.remaining >= 0

    @property
    def exhausted(self) -> bool:
        return self.remaining < 0


def _cost(value: Any) -> int:
    return max(len(value), 1) if isinstance(value, str) else 1


def evaluate_template(
    text: str,
    context: Mapping[str, Any],
    *,
    escape: Callable[[str], str] | None = None,
    errors: list[str] | None = None,
) -> str:
    """Fill ``text`` with values from ``context``.

    A variable that does not resolve stays as written; an expression that fails renders as
    nothing (its error is appended to ``errors``).

    >>> ctx = {"contact": {"name": "Asha"}, "results": {"age": {"input": "12", "value": "12"}}}
    >>> evaluate_template("Hi @contact.name, you are @results.age. Mail me@example.com", ctx)
    'Hi Asha, you are 12. Mail me@example.com'
    >>> evaluate_template("@results.missing and @@contact.name", ctx)
    '@results.missing and @contact.name'
    >>> evaluate_template("next year: @(results.age + 1) / <%= @results.age * 2 %>", ctx)
    'next year: 13 / 24'
    >>> errors = []
    >>> evaluate_template("[@(results.age / 0)]", ctx, errors=errors), errors
    ('[]', ['@(results.age / 0): division by zero'])
    """
    return _fill(text, context, escape, _Budget(), errors)


def _fill(
    text: str,
    context: Mapping[str, Any],
    escape: Callable[[str], str] | None,
    budget: _Budget,
    errors: list[str] | None,
) -> str:
    if len(text) > _MAX_TEMPLATE_LENGTH:
        return text
    out: list[str] = []
    size = 0

    def put(piece: str) -> None:
        nonlocal size
        out.append(piece)
        size += len(piece)

    def put_value(value: Any, source: str) -> None:
        if budget.exhausted:
            _record(errors, source, ErrorValue(_TOO_COMPLEX))
            return
        rendered = render(value)
        if not budget.spend(len(rendered)):
            _record(errors, source, ErrorValue(_TOO_COMPLEX))
            return
        put(escape(rendered) if escape else rendered)

    # Once a "<%=" has no "%>" after it, no later one can have: never search again, which keeps
    # a template full of unclosed "<%=" linear.
    eex_can_close = True
    i, n = 0, len(text)
    while i < n and size <= _MAX_RESULT_LENGTH:
        found = _SPECIAL.search(text, i)
        if found is None:
            put(text[i:])
            break
        if found.start() > i:
            put(text[i : found.start()])
        i = found.start()
        if found.group() == "<%=":
            end = text.find("%>", i + 3) if eex_can_close else -1
            if end == -1:
                eex_can_close = False
                put("<")
                i += 1
                continue
            source = text[i : end + 2]
            value = _evaluate(text[i + 3 : end], context, budget)
            if isinstance(value, ErrorValue):
                # Glific's own EEx: a snippet that fails stays as the author wrote it.
                _record(errors, source, value)
                put(source)
            else:
                put_value(value, source)
            i = end + 2
            continue
        if text.startswith("@@", i):
            put("@")
            i += 2
            continue
        if text.startswith("@(", i):
            end = _closing_paren(text, i + 1)
            if end is None:
                # As goflow's scanner: an expression that never closes is text, to the end.
                put(text[i:])
                break
            source = text[i : end + 1]
            value = _evaluate(text[i + 2 : end], context, budget)
            if isinstance(value, ErrorValue):
                _record(errors, source, value)
            else:
                put_value(value, source)
            i = end + 1
            continue
        match = _VARIABLE.match(text, i)
        if match is None:
            put("@")
            i += 1
            continue
        consumed, value = _resolve_prefix(match.group(1), context, budget)
        if consumed:
            put_value(value, match.group(0)[: consumed + 1])
            i += 1 + consumed
        else:
            put(match.group(0))
            i = match.end()
    return "".join(out)[:_MAX_RESULT_LENGTH]


def _record(errors: list[str] | None, source: str, error: ErrorValue) -> None:
    if errors is not None and len(errors) < _MAX_ERRORS:
        shown = source if len(source) <= 100 else source[:97] + "..."
        errors.append(f"{shown}: {error.message}")


def evaluate_value(
    text: str, context: Mapping[str, Any], *, errors: list[str] | None = None
) -> Any:
    """The typed value of a router operand.

    An operand that is exactly one variable or expression keeps its type (a list of groups, a
    result map, the error of an expression that failed); anything else is rendered as a template.

    >>> evaluate_value("@contact.groups", {"contact": {"groups": [{"name": "A"}]}})
    [{'name': 'A'}]
    >>> evaluate_value("@(1 + 2)", {}), evaluate_value("@(1 / 0)", {})
    (Decimal('3'), ErrorValue(message='division by zero'))
    >>> evaluate_value("age @contact.age", {"contact": {"age": 3}})
    'age 3'
    """
    budget = _Budget()
    stripped = text.strip()
    if len(stripped) > _MAX_TEMPLATE_LENGTH:
        return text
    match = _VARIABLE.fullmatch(stripped)
    if match is not None:
        found, value = resolve_path(match.group(1), context, budget)
        return value if found else stripped
    if stripped.startswith("@(") and _closing_paren(stripped, 1) == len(stripped) - 1:
        value = _evaluate(stripped[2:-1], context, budget)
        if isinstance(value, ErrorValue):
            _record(errors, stripped, value)
        return value
    if stripped.startswith("<%=") and stripped.endswith("%>") and stripped.count("%>") == 1:
        value = _evaluate(stripped[3:-2], context, budget)
        if isinstance(value, ErrorValue):
            _record(errors, stripped, value)
            return stripped
        return value
    return _fill(text, context, None, budget, errors)


def _lookup(container: Any, key: str, budget: _Budget) -> tuple[bool, Any]:
    # A key not found as written is looked for among all the map's keys: that scan is work.
    if isinstance(container, Mapping) and key not in container:
        budget.spend(len(container))
    return lookup(container, key)


def resolve_path(
    path: str, context: Mapping[str, Any], budget: _Budget | None = None
) -> tuple[bool, Any]:
    """Walk a dotted path through the context, e.g. ``results.gpt.parsed_msg.city``."""
    budget = budget or _Budget()
    current: Any = context
    for segment in path.split("."):
        found, current = _lookup(current, segment, budget)
        if not found:
            return False, None
    return True, current


def _resolve_prefix(path: str, context: Mapping[str, Any], budget: _Budget) -> tuple[int, Any]:
    """Resolve as much of ``path`` as names something; returns the characters used.

    Text can follow a variable with a dot ("@contact.name.Thanks", "@fields.city.jpg"): once the
    walk reaches plain text or a number, the rest is ordinary text. A missing key in a map
    leaves the whole variable unresolved.
    """
    current: Any = context
    used = -1
    for depth, segment in enumerate(path.split(".")):
        found, value = _lookup(current, segment, budget)
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
    while True:
        # Jumps from one character that matters to the next; the text between is skipped in C.
        found = _PAREN_SYNTAX.search(text, i)
        if found is None:
            return None
        char = found.group()
        i = found.end()
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
                return i - 1


# --- the expression interpreter --------------------------------------------------------------


class _Token(NamedTuple):
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


def _evaluate(source: str, context: Mapping[str, Any], budget: _Budget) -> Any:
    try:
        value = _Parser(source, context, budget).parse()
    except ExpressionError as exc:
        return ErrorValue(str(exc))
    except RecursionError:
        # Nesting is bounded well below Python's limit; this only guards a deep caller stack.
        return ErrorValue("expression nests too deeply")
    # Sticky: default() or is_error() must not turn running out of work into a value.
    return ErrorValue(_TOO_COMPLEX) if budget.exhausted else value


class _Parser:
    """Parses and evaluates in one pass. Syntax errors raise (the whole expression fails);
    a failing operation yields an :class:`ErrorValue` that flows on to what uses it."""

    def __init__(self, source: str, context: Mapping[str, Any], budget: _Budget) -> None:
        self.tokens = _tokenize(source)
        self.pos = 0
        self.context = context
        self.budget = budget
        self.depth = 0

    def parse(self) -> Any:
        if not self.tokens:
            raise ExpressionError("empty expression")
        value = self.expression(0)
        if self.pos != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.pos].text!r}")
        return value

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, text: str | None = None) -> _Token:
        token = self.peek()
        if token is None or (text is not None and token.text != text):
            raise ExpressionError(f"expected {text or 'a value'}")
        self.pos += 1
        return token

    def apply(self, label: str, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` as a value: its error, or its result once paid for."""
        try:
            result = function(*args)
        except TypeError:
            return ErrorValue(f"wrong arguments for {label}")
        except _FAILURES as exc:
            return ErrorValue(_describe(exc))
        if not self.budget.spend(_cost(result)):
            return ErrorValue(_TOO_COMPLEX)
        return result

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
            left = _first_error(left, right) or self.apply(op, _binary, op, left, right)
        self.depth -= 1
        return left

    def unary(self) -> Any:
        # Prefix operators are collected in a loop, not by recursion: "- - - ... 1" with
        # thousands of signs costs one step each and no stack.
        prefixes: list[str] = []
        token = self.take()
        while token.text in ("-", "+", "!") or (
            token.kind == "name" and token.text.lower() == "not"
        ):
            prefixes.append("!" if token.kind == "name" else token.text)
            token = self.take()
        value = self.primary(token)
        for op in reversed(prefixes):
            if isinstance(value, ErrorValue):
                break
            value = self.apply(op, _PREFIX[op], value)
        return value

    def primary(self, token: _Token) -> Any:
        if token.text == "(":
            value = self.expression(0)
            self.take(")")
            return value
        if token.kind == "number":
            number = parse_number(token.text)
            return number if number is not None else ErrorValue("number value out of range")
        if token.kind == "string":
            return self.apply("text", _unquote, token.text)
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
            return self.call(text.lower(), args)
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered in ("nil", "null"):
            return None
        found, value = resolve_path(text.lstrip("@"), self.context, self.budget)
        return value if found else ErrorValue(f"{text} is not defined")

    def call(self, name: str, args: list[Any]) -> Any:
        if name in ("today", "now"):
            now = self.context.get("__now__")
            if not isinstance(now, datetime):
                return ErrorValue(f"{name}() needs the current time")
            return now.date() if name == "today" else now
        function = _FUNCTIONS.get(name)
        if function is None:
            return ErrorValue(f"unknown function {name}")
        if name not in _SEES_ERRORS:
            error = _first_error(*args)
            if error is not None:
                return error
        return self.apply(f"{name}()", function, *args)


def evaluate_expression(source: str, context: Mapping[str, Any]) -> Any:
    """Evaluate one expression of the safe subset; a failure is an :class:`ErrorValue`.

    >>> evaluate_expression('rem(@results.webhook.status * 2 + 1, 6)',
    ...                     {"results": {"webhook": {"status": 4}}})
    Decimal('3')
    >>> evaluate_expression('default(webhook.status, 0) >= 200', {"webhook": None})
    False
    >>> evaluate_expression('upper(contact.name) & "!"', {"contact": {"name": "ravi"}})
    'RAVI!'
    >>> evaluate_expression('__import__("os")', {})
    ErrorValue(message='unknown function __import__')
    >>> evaluate_expression('default(1 / 0, "n/a") & " " & is_error(max())', {})
    'n/a true'
    """
    return _evaluate(source, context, _Budget())


def _first_error(*values: Any) -> ErrorValue | None:
    return next((value for value in values if isinstance(value, ErrorValue)), None)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ExpressionError):
        return str(exc)
    if isinstance(exc, ZeroDivisionError | DivisionByZero):
        return "division by zero"
    if isinstance(exc, InvalidOperation):
        return "no such number"  # 0 ^ 0, a root of a negative number
    if isinstance(exc, ArithmeticError):
        return "number value out of range"
    return str(exc) or type(exc).__name__


def _shown(value: Any) -> str:
    text = render(value)
    return repr(text if len(text) <= 50 else text[:47] + "...")


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _num(value: Any) -> Decimal:
    number = to_number(value)
    if number is None:
        raise ExpressionError(f"{_shown(value)} is not a number")
    return number


def _integer(value: Any) -> int:
    whole = int(_num(value))
    if not -(2**31) <= whole < 2**31:
        raise ExpressionError(f"{whole} is out of range for an integer")
    return whole


def _checked(number: Decimal) -> Decimal:
    if not in_range(number):
        raise ExpressionError("number value out of range")
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
    pair: tuple[Any, Any]
    if a is not None and b is not None:
        pair = (a, b)
    elif a is None and b is None:
        pair = (render(left), render(right))
    else:
        # As goflow: a number compared with text that is not one ("NaN" >= 18) is an error, not
        # a comparison of their spellings.
        raise ExpressionError(f"{_shown(right if a is not None else left)} is not a number")
    return {
        "<": pair[0] < pair[1],
        "<=": pair[0] <= pair[1],
        ">": pair[0] > pair[1],
        ">=": pair[0] >= pair[1],
    }[op]


def _arith(op: str, left: Any, right: Any) -> Decimal:
    a, b = _num(left), _num(right)
    if op == "/" and b == 0:
        raise ExpressionError("division by zero")
    if op == "^" and abs(b) > _MAX_EXPONENT:
        raise ExpressionError("exponent too large")
    compute = {
        "+": _MATH.add,
        "-": _MATH.subtract,
        "*": _MATH.multiply,
        "/": _MATH.divide,
        "^": _MATH.power,
    }[op]
    return _checked(compute(a, b))


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


_PREFIX: dict[str, Callable[[Any], Any]] = {
    "-": lambda value: _checked(_MATH.minus(_num(value))),
    "+": _num,
    "!": lambda value: not _truthy(value),
}


def _round(value: Any, places: Any = 0) -> Decimal:
    number = _num(value)
    digits = max(-_MAX_ROUND_PLACES, min(_MAX_ROUND_PLACES, _integer(places)))
    exponent = number.as_tuple().exponent
    if not isinstance(exponent, int) or exponent >= -digits:
        return number  # no digits beyond those kept: nothing to round
    # The rounded coefficient is never longer than the number's own, so this precision is enough.
    context = Context(
        prec=len(number.as_tuple().digits) + 1, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation]
    )
    return _checked(number.quantize(Decimal(1).scaleb(-digits), context=context))


def _word(text: Any, index: Any) -> str:
    words = render(text).split()
    position = _integer(index)
    return words[position] if -len(words) <= position < len(words) else ""


def _modulo(a: Any, b: Any) -> Decimal:
    divisor = _num(b)
    if divisor == 0:
        raise ExpressionError("division by zero")
    return _checked(_MATH.remainder(_num(a), divisor))


def _divide_int(a: Any, b: Any) -> Decimal:
    divisor = _num(b)
    if divisor == 0:
        raise ExpressionError("division by zero")
    return _checked(_MATH.divide_int(_num(a), divisor))


def _extreme(pick: Callable[..., Decimal], name: str) -> Callable[..., Decimal]:
    def choose(*args: Any) -> Decimal:
        if not args:
            raise ExpressionError(f"{name}() needs at least one number")
        return pick(_num(a) for a in args)

    return choose


def _default(value: Any, fallback: Any) -> Any:
    return fallback if isinstance(value, ErrorValue) or value in (None, "") else value


def _if(test: Any, yes: Any, no: Any = "") -> Any:
    # Only the test's error matters: the branch not taken may fail unseen.
    if isinstance(test, ErrorValue):
        return test
    return yes if _truthy(test) else no


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "default": _default,
    "if": _if,
    "is_error": lambda value: isinstance(value, ErrorValue),
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
    "abs": lambda value: _MATH.abs(_num(value)),
    "round": _round,
    "max": _extreme(max, "max"),
    "min": _extreme(min, "min"),
    "rem": _modulo,
    "mod": _modulo,
    "div": _divide_int,
    "word": _word,
    "word_count": lambda text: Decimal(len(render(text).split())),
    "contains": lambda text, part: render(part).lower() in render(text).lower(),
}
# Functions that take an error as an argument rather than failing with it.
_SEES_ERRORS = {"default", "if", "is_error"}
