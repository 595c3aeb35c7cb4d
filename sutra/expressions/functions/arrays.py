"""Array and object functions, including those that take a function: ``foreach(values,
upper)`` or ``foreach(values, (x) => x & "!")``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sutra.expressions.env import Evaluation
from sutra.expressions.functions.examples import show as show
from sutra.expressions.functions.registry import (
    Array,
    FunctionValue,
    Object,
    Text,
    Value,
    as_number,
    as_text,
    first_error,
    function,
)
from sutra.expressions.values import ErrorValue, lookup, render, to_json, visible_items


@function
def array(*values: Value) -> list[Any] | ErrorValue:
    """``values`` as an array.

    >>> show('@(array("a", "b", 356)[1])')
    b
    >>> show('@(count(array()))')
    0
    """
    return first_error(values) or list(values)


@function(name="object")
def object_(*pairs: Value) -> dict[str, Any] | ErrorValue:
    """An object of ``name, value`` pairs.

    >>> show('@(object("a", 123, "b", "hello"))')
    {a: 123, b: hello}
    >>> show('@(object("a"))')
    ERROR
    """
    error = first_error(pairs)
    if error is not None:
        return error
    if len(pairs) % 2:
        raise ValueError("requires an even number of arguments")
    return {as_text(pairs[i]): pairs[i + 1] for i in range(0, len(pairs), 2)}


@function
def count(value: Value) -> Decimal | ErrorValue:
    """How many items an array has, or properties an object.

    >>> show('@(count(contact.fields))')
    6
    >>> show('@(count(array("a", "b", "c")))')
    3
    >>> show('@(count(1234))')
    ERROR
    """
    if isinstance(value, ErrorValue):
        return value
    if value is None:
        return Decimal(0)
    if isinstance(value, Mapping):
        return Decimal(len(visible_items(value)))
    if isinstance(value, list | tuple):
        return Decimal(len(value))
    raise ValueError("value isn't countable")


@function
def extract(object: Object, properties: Text) -> Any:
    """The property ``properties`` of ``object``.

    >>> show('@(extract(contact, "name"))')
    Ryan Lewis
    >>> show('@(extract(contact.groups[0], "name"))')
    Testers
    """
    return lookup(object, properties)[1]


@function
def extract_object(object: Object, first: Text, *others: Text) -> dict[str, Any]:
    """A new object with only the named properties of ``object``.

    >>> show('@(extract_object(contact.groups[0], "name"))')
    {name: Testers}
    """
    return {name: lookup(object, name)[1] for name in (first, *others)}


@function
def foreach(
    ev: Evaluation, values: Array, func: FunctionValue, *args: Value
) -> list[Any] | ErrorValue:
    """An array of ``func`` applied to each of ``values`` (with ``args`` after each value).

    >>> show('@(foreach(array("a", "b", "c"), upper))')
    [A, B, C]
    >>> show('@(foreach(array("a", "b", "c"), (x) => x & "1"))')
    [a1, b1, c1]
    >>> show('@(foreach(array("the man", "fox", "jumped up"), word, 0))')
    [the, fox, jumped]
    """
    result = []
    for value in values:
        item = ev.call(func, [value, *args])
        if isinstance(item, ErrorValue):
            return item
        result.append(item)
    return result


@function
def foreach_value(
    ev: Evaluation, object: Object, func: FunctionValue, *args: Value
) -> dict[str, Any] | ErrorValue:
    """An object of ``func`` applied to each property value of ``object``.

    >>> show('@(foreach_value(object("a", "x", "b", "y"), upper))')
    {a: X, b: Y}
    >>> show('@(foreach_value(object("a", "hi there", "b", "good bye"), word, 1))')
    {a: there, b: bye}
    """
    result = {}
    for key, value in visible_items(object):
        item = ev.call(func, [value, *args])
        if isinstance(item, ErrorValue):
            return item
        result[key] = item
    return result


@function
def join(array: Array, separator: Text) -> str:
    """The items of ``array`` as text, with ``separator`` between.

    >>> show('@(join(array("a", "b", "c"), "|"))')
    a|b|c
    >>> show('@(join(split("a.b.c", "."), " "))')
    a b c
    """
    return separator.join(render(item) for item in array)


@function
def reverse(array: Array) -> list[Any]:
    """``array`` in reverse order.

    >>> show('@(reverse(array(3, 1, 2)))')
    [2, 1, 3]
    """
    return list(reversed(array))


def _sort_kind(value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, Mapping | list | tuple):
        raise ValueError(f"{render(value) or 'null'} isn't a comparable type")
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, time):
        return "time"
    return "text"


@function
def sort(array: Array) -> list[Any]:
    """``array`` in ascending order; its items must be of one comparable type.

    >>> show('@(sort(array(3, 1, 2)))')
    [1, 2, 3]
    >>> show('@(sort(array("C", "A", "B")))')
    [A, B, C]
    """
    kinds = {_sort_kind(item) for item in array}
    if len(kinds) > 1:
        raise ValueError("can't sort values of different types")
    if kinds == {"number"}:
        return sorted(array, key=as_number)
    if kinds == {"text"}:
        return sorted(array, key=render)
    return sorted(array)


@function(name="sum")
def sum_(array: Array) -> Decimal:
    """The sum of the numbers in ``array``.

    >>> show('@(sum(array(1, 2, "3")))')
    6
    """
    from sutra.expressions.operators import EXACT, checked

    total = Decimal(0)
    for item in array:
        total = checked(EXACT.add(total, as_number(item)))
    return total


@function
def unique(array: Array) -> list[Any]:
    """The distinct values of ``array``, in order of first appearance.

    >>> show('@(unique(array(1, 3, 2, 3)))')
    [1, 3, 2]
    >>> show('@(unique(array("hi", "there", "hi")))')
    [hi, there]
    """
    kept: list[Any] = []
    seen: set[str] = set()
    for item in array:
        # Equal values of one type are the same: 1 and "1" are not.
        kind = "number" if isinstance(item, int | float | Decimal) else type(item).__name__
        key = f"{kind}:{to_json(item)}"
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


@function
def concat(array1: Array, array2: Array) -> list[Any]:
    """``array1`` followed by ``array2``.

    >>> show('@(concat(array("a", "b"), array("c", "d")))')
    [a, b, c, d]
    >>> show('@(unique(concat(array(1, 2, 3), array(3, 4))))')
    [1, 2, 3, 4]
    """
    return [*array1, *array2]
