"""What the operators do, with goflow's types.

* ``+ - * / ^`` take numbers (text that is a plain decimal counts) and give numbers in goflow's
  range: 36 significant digits, magnitude within 1E±100. A result that needs more digits is an
  error, except a quotient, which is rounded as goflow rounds it (16 decimal places, half up).
* ``< <= > >=`` compare numbers; anything else is an error (``"b" > "a"`` too, as in goflow).
* ``=`` and ``!=`` compare the values' text, exactly: ``1 = "1"`` is true, ``"a" = "A"`` false.
* ``&`` joins text; null is empty text.
* EEx's ``and``, ``or`` and ``!`` work on truthiness; ``&&`` and ``||`` give the operand that
  decides, as Elixir's do; goflow has only the functions. EEx's ``in`` is membership of a list.

Any operand that is an error makes the result that error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)
from typing import Any

from sutra.expressions.functions.registry import ArgumentError, as_number
from sutra.expressions.values import MAX_NUMBER_DIGITS, ErrorValue, in_range, render, truthy

# Every signal that would give NaN, an infinity or a rounded result raises instead, and becomes
# an error value: arithmetic on numbers in range is exact or fails.
EXACT = Context(
    prec=MAX_NUMBER_DIGITS,
    rounding=ROUND_HALF_UP,
    Emax=999_999,
    Emin=-999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow, Inexact],
)
# Wide enough for any quotient of two numbers in range before it is rounded.
_WIDE = Context(prec=250, rounding=ROUND_HALF_UP, Emax=999_999, Emin=-999_999, traps=[Overflow])
_SIGNIFICANT = Context(prec=MAX_NUMBER_DIGITS, rounding=ROUND_HALF_UP)
DIVISION_PLACES = Decimal("1e-16")
# goflow's limit: a larger exponent can only overflow, but would cost a lot first.
MAX_EXPONENT = 100


def checked(number: Decimal) -> Decimal:
    if not in_range(number):
        raise ArgumentError("number value out of range")
    return number


def divide(a: Decimal, b: Decimal) -> Decimal:
    """``a / b`` as goflow divides: to 16 decimal places, half up.

    >>> divide(Decimal(2), Decimal(3)), divide(Decimal(3), Decimal(2))
    (Decimal('0.6666666666666667'), Decimal('1.5'))
    """
    if b == 0:
        raise ArgumentError("division by zero")
    quotient = _WIDE.divide(a, b)
    exponent = quotient.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -16:
        quotient = quotient.quantize(DIVISION_PLACES, context=_WIDE)
    if not in_range(quotient) and quotient.is_finite():
        # Past 36 digits a quotient keeps its 36 most significant ones.
        quotient = _SIGNIFICANT.plus(quotient)
    return checked(quotient)


def power(a: Decimal, b: Decimal) -> Decimal:
    if abs(b) > MAX_EXPONENT:
        raise ArgumentError("exponent too large")
    if b == b.to_integral_value():
        whole = int(b)
        if whole < 0:
            return divide(Decimal(1), checked(EXACT.power(a, -whole)))
        return checked(EXACT.power(a, whole))
    # A fractional power is a float's, as in goflow.
    return checked(Decimal(repr(math.pow(float(a), float(b)))))


_ARITHMETIC: dict[str, Callable[[Decimal, Decimal], Decimal]] = {
    "+": lambda a, b: checked(EXACT.add(a, b)),
    "-": lambda a, b: checked(EXACT.subtract(a, b)),
    "*": lambda a, b: checked(EXACT.multiply(a, b)),
    "/": divide,
    "^": power,
}


def _boolean(value: Any) -> bool:
    result = truthy(value)
    if isinstance(result, ErrorValue):
        raise ArgumentError(result.message)
    return result


def binary(op: str, left: Any, right: Any) -> Any:
    """``left op right``; raises :class:`ArgumentError` (or an arithmetic error) on operands
    the operator cannot take.

    >>> binary("=", Decimal(1), "1"), binary("=", "a", "A"), binary("&", "n", None)
    (True, False, 'n')
    """
    if op in _ARITHMETIC:
        return _ARITHMETIC[op](as_number(left), as_number(right))
    if op in ("=", "=="):
        return render(left) == render(right)
    if op == "!=":
        return render(left) != render(right)
    if op in ("<", "<=", ">", ">="):
        a, b = as_number(left), as_number(right)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    if op in ("&", "<>"):
        return render(left) + render(right)
    if op == "and":
        return _boolean(left) and _boolean(right)
    if op == "or":
        return _boolean(left) or _boolean(right)
    # Elixir's "&&" and "||" give one of their operands: "@missing || \"default\"".
    if op == "&&":
        return right if _boolean(left) else left
    if op == "||":
        return left if _boolean(left) else right
    if op == "in":
        # EEx's membership: an item of a list (compared as text, as "==" compares) or a key.
        if isinstance(right, list | tuple):
            return any(render(item) == render(left) for item in right)
        if isinstance(right, Mapping):
            return render(left) in right
        raise ArgumentError(f"{render(right)!r} is not a list")
    raise ArgumentError(f"unknown operator {op}")


def prefix(op: str, value: Any) -> Any:
    if op == "-":
        return checked(EXACT.minus(as_number(value)))
    if op == "+":
        return as_number(value)
    return not _boolean(value)
