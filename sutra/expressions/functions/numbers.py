"""Number functions. Rounding is goflow's: half away from zero (``round(2.5)`` is 3)."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal

from sutra.expressions.env import Evaluation
from sutra.expressions.functions.examples import show as show
from sutra.expressions.functions.registry import Boolean, Integer, Number, function
from sutra.expressions.operators import EXACT, checked, divide
from sutra.expressions.values import format_number as plain_number

# Rounding to more places than a number has digits changes nothing; fewer than -1000 gives 0.
_MAX_ROUND_PLACES = 1_000


def _rounded(number: Decimal, places: int, rounding: str) -> Decimal:
    digits = max(-_MAX_ROUND_PLACES, min(_MAX_ROUND_PLACES, places))
    exponent = number.as_tuple().exponent
    if not isinstance(exponent, int) or exponent >= -digits:
        return number  # no digits beyond those kept: nothing to round
    # The rounded coefficient is never longer than the number's own plus one.
    context = Context(prec=len(number.as_tuple().digits) + 2, rounding=rounding)
    return checked(number.quantize(Decimal(1).scaleb(-digits), context=context))


@function(name="abs")
def abs_(number: Number) -> Decimal:
    """The absolute value of ``number``.

    >>> show('@(abs(-10))')
    10
    >>> show('@(abs("foo"))')
    ERROR
    """
    return EXACT.abs(number)


@function
def number(value: Number) -> Decimal:
    """``value`` as a number.

    >>> show('@(number("123.45000"))')
    123.45
    >>> show('@(number("what?"))')
    ERROR
    """
    return value


@function(name="round")
def round_(number: Number, places: Integer = 0) -> Decimal:
    """``number`` rounded to ``places`` decimals (tens, hundreds... when negative), half away
    from zero.

    >>> show('@(round(12.6))')
    13
    >>> show('@(round(12.146, 2))')
    12.15
    >>> show('@(round(12.146, -1))')
    10
    >>> show('@(round(2.5))')
    3
    """
    return _rounded(number, places, ROUND_HALF_UP)


@function
def round_up(number: Number, places: Integer = 0) -> Decimal:
    """``number`` rounded up to ``places`` decimals.

    >>> show('@(round_up(12.141))')
    13
    >>> show('@(round_up(12.141, 2))')
    12.15
    """
    return _rounded(number, places, ROUND_CEILING)


@function
def round_down(number: Number, places: Integer = 0) -> Decimal:
    """``number`` rounded down to ``places`` decimals.

    >>> show('@(round_down(12.6))')
    12
    >>> show('@(round_down(12.146, 2))')
    12.14
    """
    return _rounded(number, places, ROUND_FLOOR)


@function(name="max")
def max_(first: Number, *others: Number) -> Decimal:
    """The largest of ``numbers``.

    >>> show('@(max(1, -1, 10))')
    10
    >>> show('@(max(1, 10, "foo"))')
    ERROR
    """
    return max(first, *others)


@function(name="min")
def min_(first: Number, *others: Number) -> Decimal:
    """The smallest of ``numbers``.

    >>> show('@(min(2, 2, -10))')
    -10
    """
    return min(first, *others)


@function
def mean(first: Number, *others: Number) -> Decimal:
    """The arithmetic mean of ``numbers``.

    >>> show('@(mean(1, 2))')
    1.5
    >>> show('@(mean(1, "foo"))')
    ERROR
    """
    numbers = (first, *others)
    total = Decimal(0)
    for value in numbers:
        total = checked(EXACT.add(total, value))
    return divide(total, Decimal(len(numbers)))


@function
def mod(dividend: Number, divisor: Number) -> Decimal:
    """The remainder of ``dividend`` divided by ``divisor`` (the dividend's sign).

    >>> show('@(mod(5, 2))')
    1
    >>> show('@(mod(-5, 2))')
    -1
    """
    if divisor == 0:
        raise ValueError("division by zero")
    return checked(EXACT.remainder(dividend, divisor))


@function
def rand(ev: Evaluation) -> Decimal:
    """A random number from 0 up to, not including, 1. The same step of the same session
    draws the same numbers, so a replay goes the same way.

    >>> show('@(rand() >= 0)')
    true
    """
    return Decimal(repr(ev.random().random()))


@function
def rand_between(ev: Evaluation, low: Number, high: Number) -> Decimal:
    """A random whole number from ``low`` to ``high``, both included.

    >>> show('@(rand_between(1, 1))')
    1
    """
    span = int(high) - int(low) + 1
    if span < 1:
        raise ValueError("the range is empty")
    return Decimal(int(low) + ev.random().randrange(span))


@function
def percent(number: Number) -> str:
    """``number`` as a whole percentage.

    >>> show('@(percent(0.54234))')
    54%
    >>> show('@(percent(1.2))')
    120%
    """
    return f"{int(_rounded(number * 100, 0, ROUND_HALF_UP))}%"


def group_thousands(digits: str) -> str:
    sign = "-" if digits.startswith("-") else ""
    digits = digits.lstrip("-")
    groups = []
    while len(digits) > 3:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    return sign + ",".join([digits, *groups])


def format_decimal(number: Decimal, places: int | None, humanize: bool) -> str:
    if places is None:
        text = plain_number(number)
    else:
        text = format(_rounded(number, places, ROUND_HALF_UP), f".{places}f")
    whole, _, fraction = text.partition(".")
    if humanize:
        whole = group_thousands(whole)
    return f"{whole}.{fraction}" if fraction else whole


@function
def format_number(number: Number, places: Integer | None = None, humanize: Boolean = True) -> str:
    """``number`` with thousands separated, to ``places`` decimals (0 to 9) when given.

    >>> show('@(format_number(1234.5670))')
    1,234.567
    >>> show('@(format_number(1234.5670, 2, true))')
    1,234.57
    >>> show('@(format_number(1234.5678, 0, false))')
    1235
    """
    if places is not None and not 0 <= places <= 9:
        raise ValueError(f"must take 0-9 number of places, got {places}")
    return format_decimal(number, places, humanize)
