"""How values found in a flow's context turn into text, and lookups into them."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


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
    """
    if value is None:
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
    """
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text
    return str(value)


def to_number(value: Any) -> Decimal | None:
    """A number from a value or its text, or None.

    >>> to_number("  42 "), to_number("4.5"), to_number("abc"), to_number(True)
    (Decimal('42'), Decimal('4.5'), None, None)
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return to_number(render(value))
    try:
        return Decimal(str(value).strip())
    except ArithmeticError:
        return None


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
