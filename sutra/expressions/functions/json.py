"""JSON functions: a value as JSON text, and JSON text as a value."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sutra.expressions.functions.examples import show as show
from sutra.expressions.functions.registry import Text, Value, function
from sutra.expressions.values import ErrorValue, to_json


@function(name="json")
def json_(value: Value) -> str | ErrorValue:
    """The JSON of ``value``: keys sorted, no spaces.

    >>> show('@(json("string"))')
    "string"
    >>> show('@(json(object("foo", 1, "bar", "x")))')
    {"bar":"x","foo":1}
    >>> show('@(json(contact.uuid))')
    "5d76d86b-3bb9-4d5a-b822-c9d86f5d8e4f"
    """
    return value if isinstance(value, ErrorValue) else to_json(value)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@function
def parse_json(text: Text) -> Any:
    r"""The value the JSON ``text`` holds: objects, arrays, text, numbers, booleans, null.

    >>> show(r'@(parse_json("{\"foo\": \"bar\"}").foo)')
    bar
    >>> show('@(parse_json("[1,2,3,4]")[2])')
    3
    >>> show('@(parse_json("invalid json"))')
    ERROR
    """
    try:
        return json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg}") from None
