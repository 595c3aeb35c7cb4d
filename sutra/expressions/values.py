"""The values expressions work on, how they become text, JSON and booleans, and lookups.

goflow's types map onto Python's: text is ``str``, a number a ``Decimal`` (an ``int`` or
``float`` from a webhook's JSON is read as one), a boolean ``bool``, null ``None``, an array a
``list``, an object a ``Mapping``, a date ``date``, a datetime an aware ``datetime``, a time of
day ``time``, a function a :class:`Function` and a failure an :class:`ErrorValue`.

A map may carry ``__text__`` (or goflow's ``__default__``): what it renders as in a template
(``@contact`` is the contact's name). Keys that start with ``__`` are never shown, counted or
written to JSON.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sutra.expressions.env import Evaluation

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
# Rendering and JSON walk nested values; a webhook's JSON can nest deeper than is useful to show.
_MAX_NESTING = 64
_DEFAULT_KEYS = ("__text__", "__default__")


@dataclass(frozen=True)
class ErrorValue:
    """What an expression that failed evaluates to: renders as empty text, and ``is_error()`` or
    a ``has_error`` case can see it (goflow's error value)."""

    message: str

    def __str__(self) -> str:
        return self.message


class Function:
    """A value that can be called: a builtin (``@(upper)``) or ``(x) => x & "!"``."""

    name: str = "function"

    def invoke(self, ev: Evaluation, args: list[Any]) -> Any:
        raise NotImplementedError


class Aliased(dict):  # type: ignore[type-arg]
    """A map with extra names only lookups see.

    The context offers goflow's names beside Glific's (``@results.x.created_on`` beside the
    stored ``inserted_at``); a webhook body that sends ``@results`` whole gets the stored keys
    only, as JSON and ``dict()`` copy just the items.

    >>> result = Aliased({"value": "red"}, aliases={"category_localized": "Red"})
    >>> lookup(result, "category_localized"), dict(result)
    ((True, 'Red'), {'value': 'red'})
    """

    __slots__ = ("aliases",)

    def __init__(self, items: Mapping[str, Any], aliases: Mapping[str, Any] | None = None) -> None:
        super().__init__(items)
        self.aliases: Mapping[str, Any] = aliases or {}


def snakify(name: str) -> str:
    """The key a result is stored under: lower case, runs of non-alphanumerics become ``_``.

    >>> snakify("Favorite Color")
    'favorite_color'
    >>> snakify("  GPT -- response! ")
    'gpt_response'
    """
    return _NON_ALNUM.sub("_", name.strip().lower()).strip("_")


def is_hidden(key: Any) -> bool:
    return isinstance(key, str) and key.startswith("__")


def default_of(value: Mapping[str, Any]) -> tuple[bool, Any]:
    """The value a map stands for in a template, if it has one.

    Besides goflow's ``__default__``, a flow result stands for what the contact said and any
    other map with a ``value`` for that value, as Glific renders them (contract section 4).
    """
    for key in (*_DEFAULT_KEYS, "input", "value"):
        if key in value:
            return True, value[key]
    return False, None


def visible_items(value: Mapping[Any, Any]) -> list[tuple[str, Any]]:
    return [(str(k), v) for k, v in value.items() if not is_hidden(k)]


def render(value: Any, _depth: int = 0) -> str:
    """Text for a value placed in a message (goflow's rendering, Glific's for results).

    >>> render({"input": "blue", "value": "Blue", "category": "Other"})
    'blue'
    >>> render({"value": 4.0, "unit": "kg"}), render({"b": "x", "a": [1, True]})
    ('4', '{a: [1, true], b: x}')
    >>> render(["a", "b"]), render(True), render(None), render(Decimal("2.50"))
    ('[a, b]', 'true', '', '2.5')
    >>> render(ErrorValue("division by zero"))
    ''
    """
    if value is None or isinstance(value, ErrorValue):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return format_number(value)
    if isinstance(value, datetime):
        return render_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M:%S.%f")
    if isinstance(value, Function):
        return "function"
    if _depth > _MAX_NESTING:
        return "…"
    if isinstance(value, Mapping):
        found, default = default_of(value)
        if found:
            return render(default, _depth + 1)
        pairs = sorted(visible_items(value))
        return "{" + ", ".join(f"{k}: {render(v, _depth + 1)}" for k, v in pairs) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(render(item, _depth + 1) for item in value) + "]"
    return str(value)


def render_datetime(value: datetime) -> str:
    """goflow's form: microseconds always, ``Z`` for UTC.

    >>> from datetime import UTC
    >>> render_datetime(datetime(2018, 4, 11, 13, 24, 30, tzinfo=UTC))
    '2018-04-11T13:24:30.000000Z'
    """
    text = value.strftime("%Y-%m-%dT%H:%M:%S.%f")
    offset = value.utcoffset()
    if offset is None:
        return text
    if offset == timedelta(0):
        return text + "Z"
    return text + format_offset(offset, colon=True)


def format_offset(offset: timedelta, *, colon: bool) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{':' if colon else ''}{minutes:02d}"


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


def to_json(value: Any, _depth: int = 0) -> str:
    """goflow's JSON for a value: compact, keys sorted, dates as their text.

    >>> to_json({"b": "x", "a": Decimal("1.50"), "__text__": "hidden"})
    '{"a":1.5,"b":"x"}'
    >>> to_json([None, True, "é"]), to_json(date(2019, 4, 11))
    ('[null,true,"é"]', '"2019-04-11"')
    """
    if value is None or isinstance(value, Function):
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        number = to_number(value)
        return format_number(number) if number is not None else "null"
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, datetime | date | time):
        return _json_string(render(value))
    if isinstance(value, ErrorValue) or _depth > _MAX_NESTING:
        return "null"
    if isinstance(value, Mapping):
        pairs = sorted((k, v) for k, v in visible_items(value) if not isinstance(v, ErrorValue))
        body = ",".join(f"{_json_string(k)}:{to_json(v, _depth + 1)}" for k, v in pairs)
        return "{" + body + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(item, _depth + 1) for item in value) + "]"
    return _json_string(str(value))


def _json_string(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def truthy(value: Any) -> bool | ErrorValue:
    """goflow's truthiness: empty text, ``"false"``, 0, null and empty arrays or objects are
    false; an error stays an error.

    >>> truthy("0"), truthy("FALSE"), truthy(" "), truthy([]), truthy(Decimal(0))
    (True, False, True, False, False)
    """
    if isinstance(value, ErrorValue):
        return value
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value != "" and value.lower() != "false"
    if isinstance(value, int | float | Decimal):
        return value != 0
    if isinstance(value, Mapping):
        found, default = default_of(value)
        if found and not isinstance(default, Mapping):
            return truthy(default)
        return bool(visible_items(value))
    if isinstance(value, list | tuple):
        return len(value) > 0
    if isinstance(value, time):
        return value != time(0)
    return True


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
        found, default = default_of(value)
        return to_number(default) if found and not isinstance(default, Mapping) else None
    if isinstance(value, str):
        return parse_number(value)
    return None


def shown(value: Any) -> str:
    """A value as an error message quotes it."""
    text = render(value)
    return repr(text if len(text) <= 50 else text[:47] + "...")


def lookup(container: Any, key: str) -> tuple[bool, Any]:
    """Find ``key`` in a map: exactly, then ignoring case, then by the snake-cased forms of both
    (a field keyed ``age-group`` is ``@fields.age_group``); or an item of a list by index.

    >>> lookup({"Age-Group": "adult"}, "age_group"), lookup(["a", "b"], "-1")
    ((True, 'adult'), (True, 'b'))
    """
    if isinstance(container, Mapping):
        if key in container:
            return True, container[key]
        lowered = key.lower()
        snake = snakify(key)
        for candidate, value in container.items():
            if isinstance(candidate, str) and (
                candidate.lower() == lowered or (snake and snakify(candidate) == snake)
            ):
                return True, value
        aliases = getattr(container, "aliases", None)
        if aliases:
            return lookup(aliases, key)
        return False, None
    if isinstance(container, Sequence) and not isinstance(container, str):
        index = _index(key)
        if index is not None and -len(container) <= index < len(container):
            return True, container[index]
    return False, None


def _index(key: str) -> int | None:
    digits = key[1:] if key.startswith("-") else key
    if not digits.isdigit() or len(digits) > 10:
        return None
    return int(key)
