"""Phone and e-mail case tests: they find a phone number or an address anywhere in the text.

A phone number is stored in E.164. One written without its country code is read in the
country the case names, else the organisation's default country (goflow's environment); it
must be a possible number there (libphonenumber's metadata, through ``phonenumbers``).

>>> from sutra.engine.cases.base import check
>>> from sutra.engine.session import Environment
>>> check("has_phone", "call me on +91 98123 45678 please")
'+919812345678'
>>> check("has_phone", "my number is 0788123123", env=Environment(default_country="RW"))
'+250788123123'
>>> check("has_phone", "my number is 206 779 9294", "US"), check("has_phone", "0788123123")
('+12067799294', None)
>>> check("has_phone", "my number is 10000", "US") is None
True
>>> check("has_email", "write to Asha.K@example.org."), check("has_email", "<foo~$1+x@bar-2.com>")
('Asha.K@example.org', 'foo~$1+x@bar-2.com')
>>> check("has_email", "email is foo@bar") is None
True
"""

from __future__ import annotations

import re

import phonenumbers
import re2

from sutra.engine.cases.base import CaseInput, Match, case_test

# The most of a contact's text searched for a number (a WhatsApp message is at most 4,096).
_MAX_TEXT = 4096
_NOT_DIALLED = re.compile(r"[^\d+]")


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def find_phone(text: str, country: str | None) -> str | None:
    """The first phone number in ``text`` in E.164, as goflow finds it: a number as written,
    else the text's digits taken together if they make a valid number ("u812111005611")."""
    text = text[:_MAX_TEXT]
    region = (country or "").strip().upper() or "ZZ"
    matches = phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE)
    for found in matches:
        return _e164(found.number)
    digits = _NOT_DIALLED.sub("", text)
    if not digits:
        return None
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return None
    return _e164(number) if phonenumbers.is_valid_number(number) else None


@case_test("has_phone")
def has_phone(case: CaseInput, args: list[str]) -> Match | None:
    country = args[0] if args and args[0].strip() else case.env.default_country
    found = find_phone(case.text, country)
    return Match(found) if found else None


# goflow's form: a letter or digit, then letters, digits and -_+$~. before the "@"; a domain of
# at least two parts, each starting with a letter or digit. In RE2, so that a long text without
# an "@" costs linear time (a backtracking engine tries every start: quadratic).
_LETTER = r"[\pL\pN]"
_EMAIL = re2.compile(rf"{_LETTER}[-_+$~.\pL\pN]*@{_LETTER}[-_\pL\pN]*(?:\.{_LETTER}[-_\pL\pN]*)+")


@case_test("has_email")
def has_email(case: CaseInput, args: list[str]) -> Match | None:
    found = _EMAIL.search(case.text[:_MAX_TEXT])
    return Match(found.group()) if found else None
