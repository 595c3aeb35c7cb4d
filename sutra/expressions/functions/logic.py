"""Logic and type functions: conditions, defaults, errors and conversions between types."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sutra.expressions.datetimes import DateError, to_datetime
from sutra.expressions.env import Evaluation
from sutra.expressions.functions.examples import show as show
from sutra.expressions.functions.registry import Value, as_number, function
from sutra.expressions.operators import EXACT, checked
from sutra.expressions.values import ErrorValue, render, to_number, truthy


@function(name="and")
def and_(first: Value, *others: Value) -> bool | ErrorValue:
    """Whether all ``values`` are truthy.

    >>> show('@(and(true))')
    true
    >>> show('@(and(true, false, true))')
    false
    """
    for value in (first, *others):
        result = truthy(value)
        if result is not True:
            return result
    return True


@function(name="or")
def or_(first: Value, *others: Value) -> bool | ErrorValue:
    """Whether any of ``values`` is truthy.

    >>> show('@(or(true, false, true))')
    true
    """
    for value in (first, *others):
        result = truthy(value)
        if result is not False:
            return result
    return False


@function(name="if")
def if_(test: Value, value1: Value, value2: Value = "") -> Any:
    """``value1`` if ``test`` is truthy, else ``value2``; an error in ``test`` is the result
    (an error in the branch not taken is not).

    >>> show('@(if(1 = 1, "foo", "bar"))')
    foo
    >>> show('@(if("foo" > "bar", "foo", "bar"))')
    ERROR
    """
    result = truthy(test)
    if isinstance(result, ErrorValue):
        return result
    return value1 if result else value2


@function
def boolean(value: Value) -> bool | ErrorValue:
    """``value`` as a boolean.

    >>> show('@(boolean(array(1, 2)))')
    true
    >>> show('@(boolean("FALSE"))')
    false
    >>> show('@(boolean(1 / 0))')
    ERROR
    """
    return truthy(value)


@function
def text(value: Value) -> str | ErrorValue:
    """``value`` as text.

    >>> show('@(text(3 = 3))')
    true
    >>> show('@(json(text(123.45)))')
    "123.45"
    >>> show('@(text(1 / 0))')
    ERROR
    """
    return value if isinstance(value, ErrorValue) else render(value)


@function
def default(value: Value, default: Value) -> Any:
    """``value``, unless it is empty or an error: then ``default``.

    >>> show('@(default(undeclared.var, "default_value"))')
    default_value
    >>> show('@(default("", "value"))')
    value
    >>> show('@(default(datetime("invalid-date"), "today"))')
    today
    """
    if isinstance(value, ErrorValue) or value is None or render(value) == "":
        return default
    return value


@function
def is_error(value: Value) -> bool:
    """Whether ``value`` is an error.

    >>> show('@(is_error(datetime("foo")))')
    true
    >>> show('@(is_error("hello"))')
    false
    """
    return isinstance(value, ErrorValue)


@function
def legacy_add(ev: Evaluation, arg1: Value, arg2: Value) -> Any:
    """RapidPro's old ``+``: a date plus a number of days, or two numbers added. goflow's
    migration of old flows writes it.

    >>> show('@(legacy_add("2017-01-15", 3))')
    2017-01-18T00:00:00.000000-05:00
    >>> show('@(legacy_add(2, 3))')
    5
    """
    error = arg1 if isinstance(arg1, ErrorValue) else arg2
    if isinstance(error, ErrorValue):
        return error

    def as_date(value: Any) -> datetime | None:
        if to_number(value) is not None:
            return None
        try:
            return to_datetime(value, ev.env)
        except DateError:
            return None

    date1, date2 = as_date(arg1), as_date(arg2)
    if date1 is not None and date2 is not None:
        raise ValueError("cannot operate on two dates")
    for moment, days in ((date1, arg2), (date2, arg1)):
        if moment is not None:
            count = int(as_number(days))
            if not -(2**31) <= count < 2**31:
                raise ValueError("cannot operate on integers greater than 32 bit")
            return moment + timedelta(days=count)
    return checked(EXACT.add(as_number(arg1), as_number(arg2)))
