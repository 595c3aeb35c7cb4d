"""Number case tests, as goflow defines them: the first number in the text that passes.

Numbers are written in the organisation's number format (goflow's default: ``1,000,000.5``;
with a decimal comma, ``1.000.000,5``), in any script's digits (``١٢٣٤`` is 1234), and the
value stored is the number as goflow writes it (``1000000``, ``0.51``).

>>> from sutra.engine.cases.base import check
>>> check("has_number", "I am 12 years old"), check("has_number", "twelve")
('12', None)
>>> check("has_number", "we need 1,000,000 rupees"), check("has_number", "hi .51")
('1000000', '0.51')
>>> check("has_number", "१२३ and ٠.٥"), check("has_number", "J'AI 20ANS")
('123', '20')
>>> check("has_number_gt", "1 or 50", "10"), check("has_number_eq", "1,00,000", "100000")
('50', '100000')
>>> check("has_number_between", "10", "1", "10"), check("has_number_between", "11", "1", "10")
('10', None)
>>> check("has_number_lt", "5", "foo")
"ERROR: 'foo' is not a number"
>>> from sutra.engine.session import Environment
>>> check("has_number_eq", "1.234,5", "1234.5", env=Environment(decimal_symbol=","))
'1234.5'
"""

from __future__ import annotations

import operator
import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from sutra.engine.cases.base import CaseError, CaseInput, Match, case_test
from sutra.engine.session import Environment
from sutra.expressions.values import format_number, in_range, parse_number, shown

# A contact's text is searched this far for a number (a WhatsApp message is at most 4,096).
_MAX_TEXT = 4096
_PATTERNS: dict[str, re.Pattern[str]] = {}


def _pattern(decimal: str) -> re.Pattern[str]:
    """Digits with grouping symbols and a fraction, or a bare fraction (".51") after a
    non-word character; ``\\d`` is any script's decimal digit."""
    if decimal not in _PATTERNS:
        group = "," if decimal == "." else "."
        d, g = re.escape(decimal), re.escape(group)
        _PATTERNS[decimal] = re.compile(
            rf"(?P<sign>[-+]?)(?:(?P<whole>[\d{g}]+(?:{d}\d+)?)|(?P<before>\W|^)(?P<part>{d}\d+))"
        )
    return _PATTERNS[decimal]


def _decimal(found: re.Match[str], decimal: str) -> Decimal | None:
    group = "," if decimal == "." else "."
    sign = found.group("sign") or (found.group("before") or "").strip()
    if sign not in ("", "-", "+"):
        return None
    written = found.group("whole") or found.group("part")
    cleaned = sign + written.replace(group, "").replace(decimal, ".")
    cleaned = "".join(str(unicodedata.digit(c)) if c.isdigit() else c for c in cleaned)
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        return None
    return number if number.is_finite() and in_range(number) else None


def numbers_in(text: str, env: Environment) -> list[Decimal]:
    """Every number in ``text``, in order.

    >>> numbers_in("1-15, -.5 and ١٠ (.2)", Environment())
    [Decimal('1'), Decimal('-15'), Decimal('-0.5'), Decimal('10')]
    """
    found = []
    for candidate in _pattern(env.decimal_symbol).finditer(text[:_MAX_TEXT]):
        number = _decimal(candidate, env.decimal_symbol)
        if number is not None:
            found.append(number)
    return found


def _argument(args: list[str], index: int) -> Decimal:
    # An argument is often a template ("@results.limit") filled from what a contact typed: only a
    # plain decimal counts, so "NaN", "sNaN" or "inf" never reach a comparison.
    text = args[index] if index < len(args) else ""
    number = parse_number(text)
    if number is None:
        raise CaseError(f"{shown(text)} is not a number")
    return number


def _first(case: CaseInput, passes: Callable[[Decimal], bool]) -> Match | None:
    for number in numbers_in(case.text, case.env):
        if passes(number):
            return Match(format_number(number))
    return None


@case_test("has_number")
def has_number(case: CaseInput, args: list[str]) -> Match | None:
    return _first(case, lambda number: True)


def _comparison(name: str, compare: Callable[[Decimal, Decimal], bool]) -> None:
    def test(case: CaseInput, args: list[str]) -> Match | None:
        limit = _argument(args, 0)
        return _first(case, lambda number: compare(number, limit))

    case_test(name)(test)


_comparison("has_number_eq", operator.eq)
_comparison("has_number_lt", operator.lt)
_comparison("has_number_lte", operator.le)
_comparison("has_number_gt", operator.gt)
_comparison("has_number_gte", operator.ge)


@case_test("has_number_between")
def has_number_between(case: CaseInput, args: list[str]) -> Match | None:
    low, high = _argument(args, 0), _argument(args, 1)
    return _first(case, lambda number: low <= number <= high)
