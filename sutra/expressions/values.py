"""How values found in a flow's context turn into text, and lookups into them."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
# goflow's number syntax: "12", "-4.5", ".5". No exponent, "NaN" or "inf": what a contact types
# is text until it looks like a plain decimal.
_PLAIN_NUMBER = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)")
# goflow's range for a number: 36 significant digits, magnitude within 1E±100. Anything outside
# it is not a number, so arithmetic and rendering stay small whatever the input.
MAX_NUMBER_DIGITS = 36
MAX_NUMBER_MAGNITUDE = 100
# A plain decimal in range is far shorter; longer text is not parsed at all.
_MAX_NUMBER_TEXT = 1000


@dataclass(frozen=True)
class ErrorValue:
    """What an expression that failed evaluates to: renders as empty text, and ``is_error()`` or
    a ``has_error`` case can see it (goflow's error value)."""

    message: str

    def __str__(self) -> str:
        return self.message


def snakify(name: str) -> str:
    """The key a result is stored under: lower case, runs of non-alphanumerics become ``_``.

    >>> snakify("Favorite Color")
    'favorite_color'
    >>> snakify("  GPT -- response! ")
    'gpt_response'
    """
    return _NON_ALNUM.sub("_", name.strip().lower()).strip("_")


def render(value: Any) -> str:
    """Text for a value placed in a message.

    >>> render({"input": "blue", "value": "Blue", "category": "Other"})
    'blue'
    >>> render({"value": 4.0, "unit": "kg"})
    '4'
    >>> render(["a", "b"]), render(True), render(None), render(Decimal("2.50"))
    ('a, b', 'true', '', '2.5')
    >>> render(ErrorValue("division by zero"))
    ''
    """
    if value is None or isinstance(value, ErrorValue):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return format_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        # A flow result renders as what the contact said; other maps by their value.
        for key in ("__text__", "input", "value"):
            if key in value:
                return render(value[key])
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, list | tuple):
        return ", ".join(render(item) for item in value)
    return str(value)


def format_number(value: int | float | Decimal) -> str:
    """Numbers as people write them: no trailing ``.0``.

    >>> format_number(3.0), format_number(2.5), format_number(10), format_number(Decimal("1.10"))
    ('3', '2.5', '10', '1.1')
    >>> format_number(Decimal("1E+2")), format_number(Decimal("0E+1000"))
    ('100', '0')
    >>> format_number(Decimal("1E+999999999")), format_number(Decimal("NaN"))
    ('1E+999999999', 'NaN')
    """
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal):
        if value.is_zero():
            return "0"
        # Positional notation only where it stays short: a huge exponent would spell out millions
        # of zeros (and normalize() could overflow), so it keeps its scientific form.
        if not value.is_finite() or abs(value.adjusted()) > MAX_NUMBER_MAGNITUDE:
            return str(value)
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    try:
        return str(value)
    except ValueError:  # an int beyond Python's digit limit for str()
        return format(Decimal(value), "E")


def in_range(number: Decimal) -> bool:
    """Whether ``number`` is one goflow would hold: finite, 36 digits, magnitude within 1E±100.

    >>> in_range(Decimal("1E+100")), in_range(Decimal("1E+101")), in_range(Decimal("NaN"))
    (True, False, False)
    """
    if not number.is_finite():
        return False
    if number.is_zero():
        return True
    if not -MAX_NUMBER_MAGNITUDE <= number.adjusted() <= MAX_NUMBER_MAGNITUDE:
        return False
    digits = number.as_tuple().digits
    if len(digits) <= MAX_NUMBER_DIGITS:
        return True
    # Trailing zeros of the coefficient are not significant ("1.000...0" is in range).
    significant = len(digits)
    while digits[significant - 1] == 0:
        significant -= 1
    return significant <= MAX_NUMBER_DIGITS


def parse_number(text: str) -> Decimal | None:
    """A number from text written as a plain decimal, or None.

    >>> parse_number(" 42 "), parse_number("-.5"), parse_number("1e9999999999")
    (Decimal('42'), Decimal('-0.5'), None)
    >>> parse_number("NaN"), parse_number("sNaN"), parse_number("inf"), parse_number("1" * 40)
    (None, None, None, None)
    """
    stripped = text.strip()
    if len(stripped) > _MAX_NUMBER_TEXT or not _PLAIN_NUMBER.fullmatch(stripped):
        return None
    number = Decimal(stripped)
    return number if in_range(number) else None


def to_number(value: Any) -> Decimal | None:
    """A number from a value or its text, or None.

    >>> to_number("  42 "), to_number("4.5"), to_number("abc"), to_number(True)
    (Decimal('42'), Decimal('4.5'), None, None)
    >>> to_number("NaN"), to_number(float("inf")), to_number(Decimal("sNaN")), to_number(2.5)
    (None, None, None, Decimal('2.5'))
    """
    if isinstance(value, bool) or value is None or isinstance(value, ErrorValue):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = Decimal(repr(value))
    if isinstance(value, int):
        if value.bit_length() > 4 * MAX_NUMBER_MAGNITUDE:
            return None
        value = Decimal(value)
    if isinstance(value, Decimal):
        return value if in_range(value) else None
    if isinstance(value, Mapping):
        return to_number(render(value))
    return parse_number(value if isinstance(value, str) else render(value))


def lookup(container: Any, key: str) -> tuple[bool, Any]:
    """Find ``key`` in a map: exactly, then case-insensitively, then by its snake-cased form."""
    if isinstance(container, Mapping):
        if key in container:
            return True, container[key]
        lowered = key.lower()
        snake = snakify(key)
        for candidate, value in container.items():
            if isinstance(candidate, str) and candidate.lower() in (lowered, snake):
                return True, value
        return False, None
    if isinstance(container, list | tuple) and key.isdigit():
        index = int(key)
        if index < len(container):
            return True, container[index]
    return False, None
