"""A contact's addresses (URNs, ``scheme:path``) as goflow normalises them before keeping one.

A phone (``tel``) is stored in E.164, a number without ``+`` read in the organisation's default
country; a WhatsApp id is its digits; an email is lower case. Anything that is not an address of
its scheme is refused with the reason, for the run's error event.

>>> normalize_urn("tel", " 0781 234 567 ", "RW")
'tel:+250781234567'
>>> normalize_urn("whatsapp", "+91 98123 45678", None)
'whatsapp:919812345678'
>>> normalize_urn("mailto", "Bob@Example.ORG", None)
'mailto:bob@example.org'
>>> normalize_urn("tel", "12345", "IN")
Traceback (most recent call last):
...
ValueError: not a valid phone number in IN
>>> normalize_urn("fax", "123", None)
Traceback (most recent call last):
...
ValueError: 'fax' is not a URN scheme
"""

from __future__ import annotations

import re

import phonenumbers

from sutra.expressions.functions.urls import URN_SCHEMES

# goflow's longest path; longer is no address, and libphonenumber is not asked about it.
MAX_PATH = 255
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SEPARATORS = re.compile(r"[\s().-]")


def normalize_urn(scheme: str, path: str, country: str | None) -> str:
    """``scheme:path`` normalised; ValueError saying why it is no address of ``scheme``."""
    scheme = scheme.strip().lower()
    path = path.strip()
    if scheme not in URN_SCHEMES:
        raise ValueError(f"{scheme!r} is not a URN scheme")
    if not path:
        raise ValueError("empty path")
    if len(path) > MAX_PATH:
        raise ValueError(f"longer than {MAX_PATH} characters")
    if scheme == "tel":
        return f"tel:{_phone(path, country)}"
    if scheme == "whatsapp":
        digits = _SEPARATORS.sub("", path).removeprefix("+")
        if not digits.isascii() or not digits.isdigit():
            raise ValueError("a WhatsApp id is digits only")
        return f"whatsapp:{digits}"
    if scheme == "mailto":
        if not _EMAIL.fullmatch(path):
            raise ValueError("not an email address")
        return f"mailto:{path.lower()}"
    if scheme == "twitter":
        path = path.removeprefix("@").lower()
    if any(c.isspace() for c in path):
        raise ValueError("a URN path has no spaces")
    return f"{scheme}:{path}"


def _phone(path: str, country: str | None) -> str:
    region = country.upper() if country else None
    value = path
    if not any(c.isdigit() for c in value):
        raise ValueError("not a phone number")
    if value.startswith("00") and region is None:
        value = "+" + value[2:]
    if region is None and not value.startswith("+"):
        raise ValueError("no country code, and the organisation has no default country")
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        where = f" in {region}" if region and not value.startswith("+") else ""
        raise ValueError(f"not a valid phone number{where}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
