"""Functions goflow does not have, kept for what flows already use.

``rem``, ``div`` and ``length`` are Elixir's, for the EEx snippets Glific evaluates
(``<%= rem(@results.x, 2) %>``); ``len``, ``contains`` and ``not`` are earlier Sutra's. A flow
written for goflow never needs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sutra.expressions.functions.examples import show as show
from sutra.expressions.functions.registry import Number, Text, Value, function
from sutra.expressions.operators import EXACT, checked
from sutra.expressions.values import ErrorValue, render, truthy


@function
def rem(dividend: Number, divisor: Number) -> Decimal:
    """The remainder of ``dividend`` divided by ``divisor``, as Elixir's ``rem``.

    >>> show('@(rem(7, 3))')
    1
    """
    if divisor == 0:
        raise ValueError("division by zero")
    return checked(EXACT.remainder(dividend, divisor))


@function
def div(dividend: Number, divisor: Number) -> Decimal:
    """``dividend`` divided by ``divisor``, the fraction dropped, as Elixir's ``div``.

    >>> show('@(div(7, 2))')
    3
    """
    if divisor == 0:
        raise ValueError("division by zero")
    return checked(EXACT.divide_int(dividend, divisor))


@function(name="len")
def len_(value: Text) -> Decimal:
    """The number of characters of ``value`` as text.

    >>> show('@(len("hello"))')
    5
    """
    return Decimal(len(value))


@function
def length(value: Value) -> Decimal | ErrorValue:
    """The number of items in an array, or characters in text.

    >>> show('@(length(array(1, 2)))')
    2
    >>> show('@(length("hi"))')
    2
    """
    if isinstance(value, ErrorValue):
        return value
    if isinstance(value, list | tuple | Mapping):
        return Decimal(len(value))
    return Decimal(len(render(value)))


@function
def contains(text: Text, part: Text) -> bool:
    """Whether ``text`` contains ``part``, ignoring case.

    >>> show('@(contains("Good morning", "MORNING"))')
    true
    """
    return part.lower() in text.lower()


@function(name="not")
def not_(value: Value) -> bool | ErrorValue:
    """Whether ``value`` is not truthy.

    >>> show('@(not(false))')
    true
    """
    result = truthy(value)
    return result if isinstance(result, ErrorValue) else not result
