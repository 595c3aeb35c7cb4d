"""The case-test registry: a router case names its test by type (``has_any_word``, ...).

A test receives the operand (its text, trimmed, and its typed value) and the case's arguments,
already templated, and returns a :class:`Match` or ``None``. A case that cannot be decided (an
argument that is not a number, a pattern that does not compile) raises :class:`CaseError`: the
case does not match and the run gets a warning saying why, where goflow's test is an error.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sutra.engine.session import Contact, Environment, Input
from sutra.registry import register


@dataclass(frozen=True)
class CaseInput:
    text: str
    value: Any = None
    input: Input | None = None
    contact: Contact | None = None
    now: datetime | None = None
    # The organisation's settings: time zone, date and number formats, country, locations.
    env: Environment = field(default_factory=Environment)
    # The flow was written in Glific, whose case tests differ from goflow's in places.
    glific: bool = False

    @property
    def timezone(self) -> str:
        return self.env.timezone


class CaseError(ValueError):
    """A case the test cannot decide; the message says why (for the run's warnings)."""


@dataclass(frozen=True)
class Match:
    """The value a matching case extracted (stored as the result's ``value``)."""

    value: str
    extra: dict[str, str] = field(default_factory=dict)


CaseTest = Callable[[CaseInput, list[str]], Match | None]

CASE_TESTS: dict[str, CaseTest] = {}


def case_test(name: str) -> Callable[[CaseTest], CaseTest]:
    def add(test: CaseTest) -> CaseTest:
        register(CASE_TESTS, "case test", name, test)
        return test

    return add


def is_known_case(name: str) -> bool:
    return name in CASE_TESTS


# A word may have an apostrophe inside ("don't"), as goflow's tokenizer keeps it.
_TOKEN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")


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
    """Run one case test on ``text``; the extracted value, None, or ``ERROR: why``. For examples
    and tests."""
    try:
        outcome = CASE_TESTS[test](CaseInput(text=text.strip(), value=value, **kwargs), list(args))
    except CaseError as error:
        return f"ERROR: {error}"
    return outcome.value if outcome else None
