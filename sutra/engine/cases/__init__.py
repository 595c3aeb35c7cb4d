"""Router case tests, registered by type name. Importing this package registers them all."""

from sutra.engine.cases import contacts, dates, numbers, other, places, text
from sutra.engine.cases.base import (
    CASE_TESTS,
    CaseError,
    CaseInput,
    Match,
    is_known_case,
)

__all__ = [
    "CASE_TESTS",
    "CaseError",
    "CaseInput",
    "Match",
    "contacts",
    "dates",
    "is_known_case",
    "numbers",
    "other",
    "places",
    "text",
]
