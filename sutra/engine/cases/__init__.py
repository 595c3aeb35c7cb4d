"""Router case tests, registered by type name. Importing this package registers them all."""

from sutra.engine.cases import numbers, other, text
from sutra.engine.cases.base import (
    CASE_TESTS,
    UNSUPPORTED_CASE_TESTS,
    CaseInput,
    Match,
    is_known_case,
)

__all__ = [
    "CASE_TESTS",
    "UNSUPPORTED_CASE_TESTS",
    "CaseInput",
    "Match",
    "is_known_case",
    "numbers",
    "other",
    "text",
]
