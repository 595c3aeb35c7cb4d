"""The Elixir functions a Glific ``<%= %>`` snippet may call, as Glific's safe interpreter
allows them: pure ``String``, ``Integer``, ``Float``, ``Enum``, ``List``, ``Decimal`` and
``Kernel`` functions and ``Timex.today()``. A snippet naming any other module function is
refused before it runs (it stays as the author wrote it, as Glific leaves a refused one).

Values are Sutra's: text, numbers (exact decimals), booleans, nil and lists.

>>> from sutra.expressions import evaluate_template
>>> evaluate_template('<%= String.upcase("hello") %>', {})
'HELLO'
>>> evaluate_template('<%= "  hi  " |> String.trim() |> String.upcase() %>', {})
'HI'
>>> evaluate_template('<%= Enum.sum([1, 2, 3]) %> / <%= Decimal.mult(2, 3) %>', {})
'6 / 6'
>>> evaluate_template('<%= String.replace("a b c", " ", "-") %>', {})
'a-b-c'
>>> evaluate_template('<%= System.cmd("id", []) %>', {})
'<%= System.cmd("id", []) %>'
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sutra.expressions.env import Evaluation
from sutra.expressions.functions.registry import (
    Array,
    Builtin,
    Integer,
    Number,
    Text,
    Value,
)
from sutra.expressions.operators import EXACT, checked, divide
from sutra.expressions.values import parse_number, render, to_json

ELIXIR: dict[str, Builtin] = {}


def elixir(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in ELIXIR:
            raise ValueError(f"Elixir function {name} is registered twice")
        ELIXIR[name] = Builtin(name, fn)
        return fn

    return register


def _integer(number: Decimal) -> int:
    if number != number.to_integral_value():
        raise ValueError(f"{render(number)} is not an integer")
    return int(number)


# --- String ------------------------------------------------------------------------------------


@elixir("String.upcase")
def upcase(text: Text) -> str:
    return text.upper()


@elixir("String.downcase")
def downcase(text: Text) -> str:
    return text.lower()


@elixir("String.capitalize")
def capitalize(text: Text) -> str:
    return text[:1].upper() + text[1:].lower()


@elixir("String.trim")
def trim(text: Text) -> str:
    return text.strip()


@elixir("String.length")
def length(text: Text) -> Decimal:
    return Decimal(len(text))


@elixir("String.reverse")
def reverse_text(text: Text) -> str:
    return text[::-1]


@elixir("String.replace")
def replace(text: Text, old: Text, new: Text) -> str:
    return text.replace(old, new) if old else text


@elixir("String.contains?")
def contains(text: Text, part: Text) -> bool:
    return part in text


@elixir("String.starts_with?")
def starts_with(text: Text, prefix: Text) -> bool:
    return text.startswith(prefix)


@elixir("String.ends_with?")
def ends_with(text: Text, suffix: Text) -> bool:
    return text.endswith(suffix)


@elixir("String.split")
def split(text: Text, separator: Text | None = None) -> list[str]:
    return text.split() if separator is None else text.split(separator)


@elixir("String.slice")
def slice_text(text: Text, start: Integer, count: Integer) -> str:
    begin = start if start >= 0 else max(len(text) + start, 0)
    return text[begin : begin + max(count, 0)]


@elixir("String.to_integer")
def to_integer(text: Text) -> Decimal:
    number = parse_number(text)
    if number is None or "." in text:
        raise ValueError(f"{text!r} is not an integer")
    return number


@elixir("String.to_float")
def to_float(text: Text) -> Decimal:
    number = parse_number(text)
    if number is None:
        raise ValueError(f"{text!r} is not a number")
    return number


@elixir("Integer.to_string")
def integer_to_string(number: Number) -> str:
    return str(_integer(number))


@elixir("Integer.parse")
def integer_parse(text: Text) -> Decimal:
    return to_integer(text.strip())


@elixir("Float.round")
def float_round(number: Number, places: Integer | None = None) -> Decimal:
    return checked(number.quantize(Decimal(1).scaleb(-(places or 0)), context=EXACT))


# --- Enum and List -----------------------------------------------------------------------------


@elixir("Enum.count")
def count(items: Array) -> Decimal:
    return Decimal(len(items))


@elixir("Enum.sum")
def sum_(items: Array) -> Decimal:
    total = Decimal(0)
    for item in items:
        number = parse_number(render(item))
        if number is None:
            raise ValueError(f"{render(item)!r} is not a number")
        total = checked(EXACT.add(total, number))
    return total


@elixir("Enum.join")
def join(items: Array, separator: Text = "") -> str:
    return separator.join(render(item) for item in items)


@elixir("Enum.at")
def at(items: Array, index: Integer) -> Any:
    return items[index] if -len(items) <= index < len(items) else None


@elixir("Enum.member?")
def member(items: Array, value: Value) -> bool:
    return any(render(item) == render(value) for item in items)


@elixir("Enum.reverse")
def reverse(items: Array) -> list[Any]:
    return items[::-1]


@elixir("Enum.take")
def take(items: Array, amount: Integer) -> list[Any]:
    return items[:amount] if amount >= 0 else items[amount:]


@elixir("Enum.uniq")
def uniq(items: Array) -> list[Any]:
    seen: dict[str, Any] = {}
    for item in items:
        seen.setdefault(render(item), item)
    return list(seen.values())


def _sortable(item: Any) -> tuple[int, Any]:
    number = parse_number(render(item))
    return (0, number) if number is not None else (1, render(item))


@elixir("Enum.sort")
def sort(items: Array) -> list[Any]:
    return sorted(items, key=_sortable)


@elixir("Enum.min")
def min_(items: Array) -> Any:
    return min(items, key=_sortable)


@elixir("Enum.max")
def max_(items: Array) -> Any:
    return max(items, key=_sortable)


@elixir("List.first")
def first(items: Array) -> Any:
    return items[0] if items else None


@elixir("List.last")
def last(items: Array) -> Any:
    return items[-1] if items else None


@elixir("Kernel.hd")
def hd(items: Array) -> Any:
    if not items:
        raise ValueError("hd of an empty list")
    return items[0]


# --- Decimal and Kernel's arithmetic ---------------------------------------------------------


@elixir("Decimal.add")
def add(a: Number, b: Number) -> Decimal:
    return checked(EXACT.add(a, b))


@elixir("Decimal.sub")
def sub(a: Number, b: Number) -> Decimal:
    return checked(EXACT.subtract(a, b))


@elixir("Decimal.mult")
def mult(a: Number, b: Number) -> Decimal:
    return checked(EXACT.multiply(a, b))


@elixir("Decimal.div")
def div(a: Number, b: Number) -> Decimal:
    return divide(a, b)


@elixir("Decimal.round")
def decimal_round(number: Number, places: Integer | None = None) -> Decimal:
    return float_round(number, places)


@elixir("Decimal.to_string")
def decimal_to_string(number: Number) -> str:
    return render(number)


@elixir("Decimal.new")
def decimal_new(value: Value) -> Decimal:
    return to_float(render(value))


@elixir("Kernel.round")
def kernel_round(number: Number) -> Decimal:
    return float_round(number, 0)


@elixir("Kernel.abs")
def kernel_abs(number: Number) -> Decimal:
    return abs(number)


@elixir("Kernel.to_string")
def to_string(value: Value) -> str:
    return render(value)


@elixir("Kernel.inspect")
def inspect_(value: Value) -> str:
    """A value as Elixir prints a term: text quoted, lists in brackets."""
    if isinstance(value, str):
        return to_json(value)
    if isinstance(value, list):
        return "[" + ", ".join(inspect_(item) for item in value) + "]"
    return "nil" if value is None else render(value)


@elixir("Kernel.is_nil")
def is_nil(value: Value) -> bool:
    return value is None


# --- dates ---------------------------------------------------------------------------------------


@elixir("Timex.today")
def today(ev: Evaluation) -> str:
    """Today's date in the organisation's time zone, as Elixir writes a date."""
    now = ev.env.now or datetime.now(UTC)
    return now.astimezone(ev.env.zone).date().isoformat()


# Kernel's functions are called without their module too (``hd([3, 4])``, ``round(2.5)``).
KERNEL = {name.removeprefix("Kernel."): fn for name, fn in ELIXIR.items() if name[:7] == "Kernel."}
