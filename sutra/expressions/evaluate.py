"""Templates with ``@``-variables, and the expression interpreter.

Three syntaxes appear in flow files:

* ``@results.name.category`` — a variable path (RapidPro and Glific);
* ``@(default(webhook.status, 0))`` — an expression in goflow's language, "excellent";
* ``<%= rem(@results.webhook.status * 2 + 1, 6) %>`` — EEx, which Glific evaluates as Elixir.

All three run through one interpreter: literals, variables, operators (operators.py), the
builtin functions (functions/) and anonymous functions. Nothing here can reach Python objects,
import anything or loop without bound. What a contact typed only ever arrives as the *value* of
a variable and is appended to the output as text, so it is never evaluated, however it is
written.

The interpreter is total: whatever the template and whatever the context holds, evaluation
returns. An expression that fails (bad syntax, an unknown function, division by zero, a number
out of range, too much work) evaluates to an :class:`ErrorValue`, as in goflow: a template
renders it as empty text, ``default()`` replaces it, and ``is_error()`` and the ``has_error``
case see it. Scanning is linear in the template's length, syntax trees are bounded in depth,
and each evaluation has goflow's budget of work (text costs its length, a list its size, any
other value 1), which bounds its time and memory whatever the values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sutra.expressions import functions as _functions  # noqa: F401  (registers the builtins)
from sutra.expressions.env import TOO_COMPLEX, Budget, Env, Evaluation
from sutra.expressions.functions.registry import FAILURES, FUNCTIONS, cost, describe
from sutra.expressions.operators import binary, prefix
from sutra.expressions.parser import (
    Binary,
    Call,
    ExpressionError,
    Lambda,
    Literal,
    Member,
    Name,
    Node,
    Unary,
    parse,
)
from sutra.expressions.values import (
    ErrorValue,
    Function,
    default_of,
    lookup,
    render,
    shown,
    to_json,
)

__all__ = [
    "ExpressionError",
    "evaluate_expression",
    "evaluate_template",
    "evaluate_value",
    "resolve_path",
]

# The builtins by name (the editor's autocomplete checks its list against it).
_FUNCTIONS = FUNCTIONS

_VARIABLE = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)")
_SPECIAL = re.compile(r"@|<%=")
_PAREN_SYNTAX = re.compile(r"[()\"'\\]")
_MAX_TEMPLATE_LENGTH = 100_000
_MAX_RESULT_LENGTH = 100_000
# A template with thousands of failing expressions reports a few, not thousands.
_MAX_ERRORS = 10
# Parsed trees are kept for the expressions flows use again and again.
_MAX_CACHED_SOURCE = 2_000


def evaluate_template(
    text: str,
    context: Mapping[str, Any],
    *,
    escape: Callable[[str], str] | None = None,
    errors: list[str] | None = None,
    env: Env | None = None,
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
    return _fill(text, context, escape, Evaluation(env or Env()), errors)


def _fill(
    text: str,
    context: Mapping[str, Any],
    escape: Callable[[str], str] | None,
    ev: Evaluation,
    errors: list[str] | None,
) -> str:
    if len(text) > _MAX_TEMPLATE_LENGTH:
        return text
    budget = ev.budget
    out: list[str] = []
    size = 0

    def put(piece: str) -> None:
        nonlocal size
        out.append(piece)
        size += len(piece)

    def put_value(value: Any, source: str) -> None:
        if budget.exhausted:
            _record(errors, source, ErrorValue(TOO_COMPLEX))
            return
        rendered = render(value)
        if not budget.spend(len(rendered)):
            _record(errors, source, ErrorValue(TOO_COMPLEX))
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
            value = _eex_value(_evaluate(text[i + 3 : end], context, ev, eex=True))
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
            value = _evaluate(text[i + 2 : end], context, ev)
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
        if budget.exhausted:
            # Nothing more can be shown; looking each variable up would only cost time (a
            # template can hold thousands).
            _record(errors, match.group(0), ErrorValue(TOO_COMPLEX))
            i = match.end()
            continue
        consumed, value = _resolve_prefix(match.group(1), context, budget)
        if consumed:
            put_value(value, match.group(0)[: consumed + 1])
            i += 1 + consumed
        else:
            put(match.group(0))
            i = match.end()
    return "".join(out)[:_MAX_RESULT_LENGTH]


def _eex_value(value: Any) -> Any:
    """What a snippet shows, as Glific renders it: a list's items joined by ", ", a map as
    JSON."""
    if isinstance(value, list):
        return ", ".join(render(item) for item in value)
    if isinstance(value, Mapping) and not default_of(value)[0]:
        return to_json(value)
    return value


def _record(errors: list[str] | None, source: str, error: ErrorValue) -> None:
    if errors is not None and len(errors) < _MAX_ERRORS:
        shown_source = source if len(source) <= 100 else source[:97] + "..."
        errors.append(f"{shown_source}: {error.message}")


def evaluate_value(
    text: str,
    context: Mapping[str, Any],
    *,
    errors: list[str] | None = None,
    env: Env | None = None,
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
    ev = Evaluation(env or Env())
    stripped = text.strip()
    if len(stripped) > _MAX_TEMPLATE_LENGTH:
        return text
    match = _VARIABLE.fullmatch(stripped)
    if match is not None:
        found, value = resolve_path(match.group(1), context, ev.budget)
        return value if found else stripped
    if stripped.startswith("@(") and _closing_paren(stripped, 1) == len(stripped) - 1:
        value = _evaluate(stripped[2:-1], context, ev)
        if isinstance(value, ErrorValue):
            _record(errors, stripped, value)
        return value
    if stripped.startswith("<%=") and stripped.endswith("%>") and stripped.count("%>") == 1:
        value = _evaluate(stripped[3:-2], context, ev, eex=True)
        if isinstance(value, ErrorValue):
            _record(errors, stripped, value)
            return stripped
        return value
    return _fill(text, context, None, ev, errors)


def evaluate_expression(source: str, context: Mapping[str, Any], *, env: Env | None = None) -> Any:
    """Evaluate one expression; a failure is an :class:`ErrorValue`.

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
    return _evaluate(source, context, Evaluation(env or Env()))


def _lookup(container: Any, key: str, budget: Budget) -> tuple[bool, Any]:
    # A key not found as written is looked for among all the map's keys: that scan is work.
    if isinstance(container, Mapping) and key not in container:
        budget.spend(len(container))
    return lookup(container, key)


def resolve_path(
    path: str, context: Mapping[str, Any], budget: Budget | None = None
) -> tuple[bool, Any]:
    """Walk a dotted path through the context, e.g. ``results.gpt.parsed_msg.city``."""
    budget = budget or Budget()
    current: Any = context
    for segment in path.split("."):
        found, current = _lookup(current, segment, budget)
        if not found:
            return False, None
    return True, current


def _resolve_prefix(path: str, context: Mapping[str, Any], budget: Budget) -> tuple[int, Any]:
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


# --- evaluating a syntax tree ----------------------------------------------------------------


@lru_cache(maxsize=1024)
def _parsed(source: str, eex: bool = False) -> Node | str:
    try:
        return parse(source, eex=eex)
    except ExpressionError as exc:
        return str(exc)


def _evaluate(source: str, context: Mapping[str, Any], ev: Evaluation, *, eex: bool = False) -> Any:
    try:
        tree = _parsed(source, eex) if len(source) <= _MAX_CACHED_SOURCE else parse(source, eex=eex)
    except ExpressionError as exc:
        return ErrorValue(str(exc))
    if isinstance(tree, str):
        return ErrorValue(tree)
    try:
        value = _Interpreter(context, ev).eval(tree, None)
    except RecursionError:
        # Trees and calls are bounded well below Python's limit; this guards a deep caller.
        return ErrorValue("expression nests too deeply")
    # Sticky: default() or is_error() must not turn running out of work into a value.
    return ErrorValue(TOO_COMPLEX) if ev.budget.exhausted else value


class _Lambda(Function):
    """``(x, y) => body``: a function value that sees the names around it where it was made."""

    def __init__(
        self, node: Lambda, scope: Mapping[str, Any] | None, interpreter: _Interpreter
    ) -> None:
        self.node = node
        self.scope = scope
        self.interpreter = interpreter

    def invoke(self, ev: Evaluation, args: list[Any]) -> Any:
        params = self.node.params
        if len(args) != len(params):
            return ErrorValue(f"need {len(params)} argument(s), got {len(args)}")
        scope = {**(self.scope or {}), **dict(zip(params, args, strict=True))}
        return self.interpreter.eval(self.node.body, scope)


class _Interpreter:
    """Evaluates a syntax tree against the context. A failing operation yields an
    :class:`ErrorValue` that flows on to what uses it."""

    def __init__(self, context: Mapping[str, Any], ev: Evaluation) -> None:
        self.context = context
        self.ev = ev

    def pay(self, value: Any) -> Any:
        return value if self.ev.budget.spend(cost(value)) else ErrorValue(TOO_COMPLEX)

    def eval(self, node: Node, scope: Mapping[str, Any] | None) -> Any:
        if self.ev.budget.exhausted:
            return ErrorValue(TOO_COMPLEX)
        if isinstance(node, Literal):
            return self.pay(node.value)
        if isinstance(node, Name):
            return self.name(node, scope)
        if isinstance(node, Binary):
            left = self.eval(node.left, scope)
            right = self.eval(node.right, scope)
            error = left if isinstance(left, ErrorValue) else right
            if isinstance(error, ErrorValue):
                return error
            return self.operate(binary, node.op, left, right)
        if isinstance(node, Unary):
            value = self.eval(node.operand, scope)
            for op in reversed(node.ops):
                if isinstance(value, ErrorValue):
                    break
                value = self.operate(prefix, op, value)
            return value
        if isinstance(node, Call):
            return self.call(node, scope)
        if isinstance(node, Member):
            return self.member(node, scope)
        if isinstance(node, Lambda):
            return _Lambda(node, scope, self)
        return ErrorValue("unknown syntax")

    def operate(self, operator: Callable[..., Any], *args: Any) -> Any:
        try:
            result = operator(*args)
        except FAILURES as exc:
            return ErrorValue(describe(exc))
        return self.pay(result)

    def name(self, node: Name, scope: Mapping[str, Any] | None) -> Any:
        first, *rest = node.segments
        lowered = first.lower()
        plain = not node.source.startswith("@")
        if plain and scope is not None and lowered in scope:
            current = scope[lowered]
        elif plain and lowered in FUNCTIONS:
            current = FUNCTIONS[lowered]
        else:
            found, current = _lookup(self.context, first, self.ev.budget)
            if not found:
                # EEx's "@name" is Elixir's assign: one that is not there is nil.
                return None if not plain else ErrorValue(f"{node.source} is not defined")
        for segment in rest:
            target = current
            found, current = self.lookup_key(target, segment)
            if not found:
                missing = isinstance(target, Mapping)
                if missing and not plain:
                    return None  # Elixir: a map without the key gives nil
                return ErrorValue(f"{node.source} is not defined" if missing else current)
        return current

    def lookup_key(self, target: Any, key: str) -> tuple[bool, Any]:
        """A property or item of ``target``; when missing, the message why."""
        if target is None:
            return False, "null doesn't support lookups"
        if isinstance(target, ErrorValue):
            return False, target.message
        found, value = _lookup(target, key, self.ev.budget)
        if found:
            return True, value
        if isinstance(target, Mapping):
            return False, f"{key} is not defined"
        if isinstance(target, list | tuple):
            return False, f"index {key} out of range for {len(target)} items"
        return False, f"{shown(target)} has no property {key!r}"

    def member(self, node: Member, scope: Mapping[str, Any] | None) -> Any:
        target = self.eval(node.target, scope)
        if isinstance(target, ErrorValue):
            return target
        key = self.eval(node.key, scope)
        if isinstance(key, ErrorValue):
            return key
        if isinstance(key, Decimal):
            if key != key.to_integral_value():
                return ErrorValue(f"{render(key)} is not an index")
            key = int(key)
        found, value = self.lookup_key(target, render(key))
        return value if found else ErrorValue(value)

    def call(self, node: Call, scope: Mapping[str, Any] | None) -> Any:
        callee = node.callee
        function: Any
        if (
            isinstance(callee, Name)
            and len(callee.segments) == 1
            and not callee.source.startswith("@")
            and not (scope and callee.segments[0].lower() in scope)
        ):
            function = FUNCTIONS.get(callee.segments[0].lower())
            if function is None:
                return ErrorValue(f"unknown function {callee.source}")
        else:
            function = self.eval(callee, scope)
            if isinstance(function, ErrorValue):
                return function
            if not isinstance(function, Function):
                return ErrorValue(f"{shown(function)} is not a function")
        args = [self.eval(arg, scope) for arg in node.args]
        return self.ev.call(function, args)
