"""What an evaluation knows besides the context: the organisation's settings and its work left.

:class:`Env` holds what goflow calls the environment: the time zone dates are shown in, the
default date and time formats, the current time. The engine builds one per step from the
organisation and the session (sutra/engine/scope.py); an evaluation without one runs in UTC
and has no current time (``now()`` is then an error).

:class:`Evaluation` is one evaluation's state: its :class:`Env`, its budget of work and how
deep calls of anonymous functions are nested. Every builtin receives it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sutra.expressions.values import Function

# goflow's allowance per evaluation. Real templates cost a few hundred; this still bounds a
# hostile one to a few megabytes of text.
BUDGET = 10_000_000
TOO_COMPLEX = "expression is too complex to evaluate"
# Anonymous functions can call one another ("((f) => f(f))((f) => f(f))" never ends): calls
# nest at most this deep.
MAX_CALL_DEPTH = 20


@dataclass(frozen=True)
class Env:
    """The organisation's settings an expression sees.

    >>> Env(timezone="Asia/Kolkata").zone
    zoneinfo.ZoneInfo(key='Asia/Kolkata')
    >>> Env(timezone="Not/AZone").zone
    datetime.timezone.utc
    """

    timezone: str = "UTC"
    # goflow's defaults: day first, 24-hour clock.
    date_format: str = "DD-MM-YYYY"
    time_format: str = "tt:mm"
    now: datetime | None = None
    # Seeds rand() and rand_between(): a replayed step draws the same numbers.
    seed: str | None = None

    @cached_property
    def zone(self) -> tzinfo:
        try:
            return ZoneInfo(self.timezone)
        except (ValueError, LookupError, OSError):
            # A misconfigured organisation still gets dates, in UTC.
            return UTC


class Budget:
    """The work one evaluation may still do; spending past it makes the evaluation an error."""

    __slots__ = ("remaining",)

    def __init__(self, total: int = BUDGET) -> None:
        self.remaining = total

    def spend(self, cost: int) -> bool:
        self.remaining -= cost
        return self.remaining >= 0

    @property
    def exhausted(self) -> bool:
        return self.remaining < 0


@dataclass
class Evaluation:
    """One evaluation in progress: what a builtin needs besides its arguments."""

    env: Env = field(default_factory=Env)
    budget: Budget = field(default_factory=Budget)
    depth: int = 0
    _random: random.Random | None = None

    def now(self) -> datetime | None:
        """The current time in the organisation's time zone."""
        return self.env.now.astimezone(self.env.zone) if self.env.now is not None else None

    def random(self) -> random.Random:
        if self._random is None:
            self._random = random.Random(self.env.seed)
        return self._random

    def affords(self, cost: int) -> bool:
        """Whether ``cost`` more work fits; a builtin asks before building a large value."""
        return self.budget.remaining >= cost

    def call(self, function: Function, args: Sequence[Any]) -> Any:
        """Call a function value (a builtin or an anonymous function) with ``args``."""
        from sutra.expressions.values import ErrorValue

        if self.depth >= MAX_CALL_DEPTH:
            return ErrorValue("functions call each other too deeply")
        if not self.budget.spend(1):
            return ErrorValue(TOO_COMPLEX)
        self.depth += 1
        try:
            return function.invoke(self, list(args))
        finally:
            self.depth -= 1
