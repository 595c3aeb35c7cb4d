"""Number, phone and e-mail case tests: they find the thing anywhere in the text.

>>> from sutra.engine.cases.base import check
>>> check("has_number", "I am 12 years old"), check("has_number", "twelve")
('12', None)
>>> check("has_number_gt", "we need 25,000 rupees", "1000"), check("has_number_eq", "4,5", "4.5")
('25,000', '4,5')
>>> check("has_number_eq", "1,00,000", "100000")
'1,00,000'

>>> check("has_number_eq", "1", "1"), check("has_number_eq", "option 2", "1")
('1', None)
>>> check("has_number_lt", "4.5", "5"), check("has_number_gte", "5", "5")
('4.5', '5')
>>> check("has_number_between", "10", "1", "10"), check("has_number_between", "11", "1", "10")
('10', None)
>>> check("has_number_between", "5", "NaN", "10"), check("has_number_lt", "5", "inf")
(None, None)
>>> check("has_phone", "call me on +91 98123 45678 please")
'+919812345678'
>>> check("has_email", "write to Asha.K@example.org.")
'Asha.K@example.org'
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from sutra.engine.cases.base import CaseInput, Match, case_test
from sutra.expressions.values import parse_number

# "25,000" and "1,00,000" (Indian grouping) are thousands; "4,5" is a decimal comma.
_NUMBER = re.compile(
    r"(?<![\d.,])[-+]?(?:\d{1,3}(?:,\d{2})*,\d{3}(?!\d)|\d+(?:[.,]\d+)?)(?:\.\d+)?"
)


def first_number(text: str) -> tuple[str, Decimal] | None:
    for found in _NUMBER.finditer(text):
        written = found.group()
        grouped = re.fullmatch(r"[-+]?\d{1,3}(?:,\d{2})*,\d{3}(?:\.\d+)?", written)
        plain = written.replace(",", "") if grouped else written.replace(",", ".")
        try:
            return written, Decimal(plain)
        except InvalidOperation:
            continue
    return None


def _argument(args: list[str], index: int) -> Decimal | None:
    # An argument is often a template ("@results.limit") filled from what a contact typed: only a
    # plain decimal counts, so "NaN", "sNaN" or "inf" never reach a comparison.
    return parse_number(args[index]) if index < len(args) else None


@case_test("has_number")
def has_number(case: CaseInput, args: list[str]) -> Match | None:
    found = first_number(case.text)
    return Match(found[0]) if found else None


def _comparison(name: str, compare: Callable[[Decimal, Decimal], bool]) -> None:
    def test(case: CaseInput, args: list[str]) -> Match | None:
        found = first_number(case.text)
        limit = _argument(args, 0)
        if found is None or limit is None:
            return None
        return Match(found[0]) if compare(found[1], limit) else None

    case_test(name)(test)


_comparison("has_number_eq", operator.eq)
_comparison("has_number_lt", operator.lt)
_comparison("has_number_lte", operator.le)
_comparison("has_number_gt", operator.gt)
_comparison("has_number_gte", operator.ge)


@case_test("has_number_between")
def has_number_between(case: CaseInput, args: list[str]) -> Match | None:
    found = first_number(case.text)
    low, high = _argument(args, 0), _argument(args, 1)
    if found is None or low is None or high is None:
        return None
    return Match(found[0]) if low <= found[1] <= high else None


_PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")


@case_test("has_phone")
def has_phone(case: CaseInput, args: list[str]) -> Match | None:
    found = _PHONE.search(case.text)
    if found is None:
        return None
    digits = re.sub(r"\D", "", found.group())
    if not 7 <= len(digits) <= 15:
        return None
    return Match(("+" if found.group().startswith("+") else "") + digits)


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")


@case_test("has_email")
def has_email(case: CaseInput, args: list[str]) -> Match | None:
    found = _EMAIL.search(case.text)
    return Match(found.group()) if found else None
