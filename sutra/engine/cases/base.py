"""The case-test registry: a router case names its test by type (``has_any_word``, ...).

A test receives the operand (its text, trimmed, and its typed value) and the case's arguments,
already templated, and returns a :class:`Match` or ``None``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sutra.engine.session import Contact, Input
from sutra.registry import register


@dataclass(frozen=True)
class CaseInput:
    text: str
    value: Any = None
    input: Input | None = None
    contact: Contact | None = None
    now: datetime | None = None
    timezone: str = "UTC"


@dataclass(frozen=True)
class Match:
    """The value a matching case extracted (stored as the result's ``value``)."""

    value: str
    extra: dict[str, str] = field(default_factory=dict)


CaseTest = Callable[[CaseInput, list[str]], Match | None]

CASE_TESTS: dict[str, CaseTest] = {}
# Known to the flow editor but needing services Sutra does not have (NLU, locations):
# a flow using them imports, and the case never matches (the runtime reports it).
UNSUPPORTED_CASE_TESTS = {
    "has_intent",
    "has_top_intent",
    "has_state",
    "has_district",
    "has_ward",
}


def case_test(name: str) -> Callable[[CaseTest], CaseTest]:
    def add(test: CaseTest) -> CaseTest:
        register(CASE_TESTS, "case test", name, test)
        return test

    return add


def is_known_case(name: str) -> bool:
    return name in CASE_TESTS or name in UNSUPPORTED_CASE_TESTS


_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokens(text: str) -> list[re.Match[str]]:
    """The words of ``text`` and its symbols (an emoji is a word of its own); no punctuation."""
    return [
        found
        for found in _TOKEN.finditer(text)
        if not unicodedata.category(found.group()[0]).startswith(("P", "M"))
    ]


def words(text: str) -> list[str]:
    """Lower-cased words of ``text``; punctuation separates words.

    >>> words("Yes, please!  OK?"), words("👍🏽 sure")
    (['yes', 'please', 'ok'], ['👍', '🏽', 'sure'])
    """
    return [found.group().lower() for found in tokens(text)]


def check(test: str, text: str, *args: str, value: Any = None, **kwargs: Any) -> str | None:
    """Run one case test on ``text``; the extracted value, or None. For examples and tests."""
    outcome = CASE_TESTS[test](CaseInput(text=text.strip(), value=value, **kwargs), list(args))
    return outcome.value if outcome else None
