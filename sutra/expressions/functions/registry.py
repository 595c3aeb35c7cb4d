"""How a builtin function is declared: one decorated Python function per expression function.

The decorator reads the function's signature. Each parameter's type says how an argument is
converted (``Text``, ``Number``, ``Integer``, ``DateTime``...) and the defaults and ``*args``
say how many arguments it takes, so every builtin checks its arguments as goflow's do::

    @function
    def repeat(ev: Evaluation, text: Text, count: Integer) -> str:
        ...

An argument that is already an error is the call's result (``upper(1 / 0)`` fails with the
division's error); one that cannot be converted fails the call with goflow's message. Only a
``Value`` parameter receives any value as it is, errors included (``default()``,
``is_error()``). An exception a builtin raises on arguments it cannot take becomes an error
value, and a builtin's result is paid for from the evaluation's budget.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from sutra.expressions.datetimes import DateError, to_date, to_datetime, to_time
from sutra.expressions.env import TOO_COMPLEX, Evaluation
from sutra.expressions.values import (
    ErrorValue,
    Function,
    default_of,
    render,
    shown,
    to_number,
    truthy,
)


class ArgumentError(ValueError):
    """An argument a builtin cannot take; the call's error value says why."""


@dataclass(frozen=True)
class Convert:
    """How one parameter's argument is converted before the builtin sees it."""

    kind: str
    convert: Callable[[Any, Evaluation], Any]


def cost(value: Any) -> int:
    """What holding a value costs: text its length, a list or map its size, anything else 1."""
    if isinstance(value, str):
        return max(len(value), 1)
    if isinstance(value, list | tuple | Mapping):
        return len(value) + 1
    return 1


def as_number(value: Any, ev: Evaluation | None = None) -> Decimal:
    number = to_number(value)
    if number is None:
        raise ArgumentError(f"{shown(value)} is not a number")
    return number


def as_integer(value: Any, ev: Evaluation | None = None) -> int:
    whole = int(as_number(value))
    if not -(2**31) <= whole < 2**31:
        raise ArgumentError(f"number value {whole} is out of range for an integer")
    return whole


def as_text(value: Any, ev: Evaluation | None = None) -> str:
    return render(value)


def as_boolean(value: Any, ev: Evaluation | None = None) -> bool:
    result = truthy(value)
    if isinstance(result, ErrorValue):
        raise ArgumentError(result.message)
    return result


def as_array(value: Any, ev: Evaluation | None = None) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    raise ArgumentError(f"{shown(value)} is not an array")


def as_object(value: Any, ev: Evaluation | None = None) -> Mapping[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    raise ArgumentError(f"{shown(value)} is not an object")


def as_function(value: Any, ev: Evaluation | None = None) -> Function:
    if isinstance(value, Function):
        return value
    raise ArgumentError(f"{shown(value)} is not a function")


def _dates(convert: Callable[[Any, Any], Any]) -> Callable[[Any, Evaluation], Any]:
    def converted(value: Any, ev: Evaluation) -> Any:
        try:
            return convert(value, ev.env)
        except DateError as exc:
            raise ArgumentError(str(exc)) from None

    return converted


Value = Annotated[Any, Convert("any", lambda value, ev: value)]
Text = Annotated[str, Convert("text", as_text)]
Number = Annotated[Decimal, Convert("number", as_number)]
Integer = Annotated[int, Convert("integer", as_integer)]
Boolean = Annotated[bool, Convert("boolean", as_boolean)]
Array = Annotated[list[Any], Convert("array", as_array)]
Object = Annotated[Mapping[str, Any], Convert("object", as_object)]
FunctionValue = Annotated[Function, Convert("function", as_function)]
Date = Annotated[date, Convert("date", _dates(to_date))]
DateTime = Annotated[datetime, Convert("datetime", _dates(to_datetime))]
Time = Annotated[time, Convert("time", _dates(to_time))]

# What a builtin may raise on arguments it cannot take; each becomes an error value.
FAILURES = (ArithmeticError, ValueError, TypeError, LookupError, RecursionError)


class Builtin(Function):
    """A registered builtin: its name, parameters and the Python function behind it."""

    def __init__(self, name: str, implementation: Callable[..., Any]) -> None:
        self.name = name
        self.implementation = implementation
        self.__doc__ = implementation.__doc__
        signature = inspect.signature(implementation)
        hints = get_type_hints(implementation, include_extras=True)
        params = list(signature.parameters.values())
        self.wants_ev = bool(params) and hints.get(params[0].name) is Evaluation
        if self.wants_ev:
            params = params[1:]
        self.converters: list[Convert] = []
        self.variadic: Convert | None = None
        self.min_args = 0
        for param in params:
            converter = _converter(hints.get(param.name), f"{name}({param.name})")
            if param.kind is inspect.Parameter.VAR_POSITIONAL:
                self.variadic = converter
            else:
                self.converters.append(converter)
                if param.default is inspect.Parameter.empty:
                    self.min_args += 1
        self.max_args: int | None = None if self.variadic else len(self.converters)

    def arity_error(self, given: int) -> str | None:
        low, high = self.min_args, self.max_args
        if high is None:
            return None if given >= low else f"need at least {low} argument(s), got {given}"
        if low <= given <= high:
            return None
        if low == high:
            return f"need {low} argument(s), got {given}"
        return f"need {low} to {high} argument(s), got {given}"

    def invoke(self, ev: Evaluation, args: list[Any]) -> Any:
        problem = self.arity_error(len(args))
        if problem is not None:
            return ErrorValue(f"error calling {self.name}: {problem}")
        converted: list[Any] = [ev] if self.wants_ev else []
        for i, arg in enumerate(args):
            converter = self.converters[i] if i < len(self.converters) else self.variadic
            assert converter is not None
            if converter.kind == "any":
                converted.append(arg)
                continue
            if isinstance(arg, ErrorValue):
                return arg
            try:
                converted.append(converter.convert(arg, ev))
            except FAILURES as exc:
                return ErrorValue(f"error calling {self.name}: {describe(exc)}")
        # A builtin's work grows with the text it reads: that is paid before it starts, so a
        # loop over a long text cannot do more work than the budget allows.
        if not ev.budget.spend(sum(len(a) for a in converted if isinstance(a, str))):
            return ErrorValue(TOO_COMPLEX)
        try:
            result = self.implementation(*converted)
        except FAILURES as exc:
            return ErrorValue(f"error calling {self.name}: {describe(exc)}")
        if not ev.budget.spend(cost(result)):
            return ErrorValue(TOO_COMPLEX)
        return result


def describe(exc: BaseException) -> str:
    from decimal import DivisionByZero, InvalidOperation

    if isinstance(exc, ZeroDivisionError | DivisionByZero):
        return "division by zero"
    if isinstance(exc, InvalidOperation):
        return "no such number"  # 0 ^ 0, a root of a negative number
    if isinstance(exc, RecursionError):
        return "the value nests too deeply"
    if isinstance(exc, ArithmeticError):
        return "number value out of range"
    return str(exc) or type(exc).__name__


def _converter(hint: Any, where: str) -> Convert:
    # An optional parameter is annotated "Integer | None": its Annotated part says how.
    candidates = [hint] if get_origin(hint) is Annotated else list(get_args(hint))
    for candidate in candidates:
        if get_origin(candidate) is Annotated:
            for extra in get_args(candidate)[1:]:
                if isinstance(extra, Convert):
                    return extra
    raise TypeError(f"{where}: annotate the parameter with Text, Number, Value...")


FUNCTIONS: dict[str, Builtin] = {}


def function(implementation: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Register ``implementation`` as the expression function of its name (a trailing ``_``
    dropped: ``if_`` is ``if``)."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        registered = name or fn.__name__.rstrip("_")
        if registered in FUNCTIONS:
            raise ValueError(f"function {registered} is registered twice")
        FUNCTIONS[registered] = Builtin(registered, fn)
        return fn

    return register(implementation) if implementation is not None else register


def first_error(values: Sequence[Any]) -> ErrorValue | None:
    return next((v for v in values if isinstance(v, ErrorValue)), None)


def default_value(value: Mapping[str, Any]) -> Any:
    """What a map stands for (``@contact`` is the name), or the map itself."""
    found, default = default_of(value)
    return default if found else value
