"""@-variables in text and the safe expression subset."""

from sutra.expressions.evaluate import (
    ExpressionError,
    evaluate_expression,
    evaluate_template,
    evaluate_value,
)
from sutra.expressions.values import ErrorValue, render, snakify

__all__ = [
    "ErrorValue",
    "ExpressionError",
    "evaluate_expression",
    "evaluate_template",
    "evaluate_value",
    "render",
    "snakify",
]
