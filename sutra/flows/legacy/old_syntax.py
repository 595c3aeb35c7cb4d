"""Expressions of flows exported before version 8, in the ``@(...)`` syntax of later ones.

Early RapidPro wrote filters after a variable, ``@contact.name|upper_case`` or
``@date.today|time_delta:'1'``, and expressions after an equals sign, ``=(step.value + 1)`` or
``=UPPER(contact.name)``. Version 8 rewrote both as ``@(...)`` expressions; so does
:func:`migrate_v7_syntax`, before :mod:`.expressions` brings them to today's syntax.

>>> migrate_v7_syntax("@date.today|time_delta:'-1' and =UPPER(contact.name)")
'@(date.today - 1) and @(UPPER(contact.name))'
>>> migrate_v7_syntax("=(step.value) and @contact.name|upper_case, but a=b stays")
'@(step.value) and @(UPPER(contact.name)), but a=b stays'
"""

from __future__ import annotations

import re

from sutra.flows.legacy.expressions import IDENTIFIER, TOP_LEVELS, closing_paren

_FILTERS = {
    "lower_case": "LOWER({0})",
    "upper_case": "UPPER({0})",
    "capitalize": "PROPER({0})",
    "title_case": "PROPER({0})",
    "first_word": "FIRST_WORD({0})",
    "remove_first_word": "REMOVE_FIRST_WORD({0})",
    "read_digits": "READ_DIGITS({0})",
    "time_delta": "{0} + {1}",
}
_TOP = "|".join(sorted(TOP_LEVELS))
_FILTERED = re.compile(
    rf"(?<![\w@])@((?:{_TOP})(?:\.\w+)*)((?:\|\w+(?::(?:\"[^\"]*\"|'[^']*'|[^\s|]+))?)+)",
    re.IGNORECASE,
)
_EMBEDDED = re.compile(rf"(\")?@((?:{_TOP})[\w.|]*)(?(1)\")", re.IGNORECASE)


def _apply_filters(variable: str, filters: str) -> str:
    expression = variable
    for item in filters.strip("|").split("|"):
        name, _, parameter = item.partition(":")
        parameter = parameter.strip("\"'")
        template = _FILTERS.get(name.lower())
        if template is not None:
            expression = template.format(expression, parameter)
    return expression.replace("+ -", "- ")


def _filter_style(text: str) -> str:
    return _FILTERED.sub(lambda m: f"@({_apply_filters(m.group(1), m.group(2))})", text)


def _bare_variable(match: re.Match[str]) -> str:
    variable, _, filters = match.group(2).partition("|")
    return _apply_filters(variable, filters)


def _equals_style(text: str) -> str:
    pieces: list[str] = []
    index = 0
    while (equals := text.find("=", index)) >= 0:
        pieces.append(text[index:equals])
        start = equals + 1
        found = IDENTIFIER.match(text, start)
        body_end: int | None = None
        if text[start : start + 1] == "(":
            body_end = closing_paren(text, start)
        elif found is not None and text[found.end() : found.end() + 1] == "(":
            body_end = closing_paren(text, found.end())
        if body_end is not None:
            body = text[start : body_end + 1]
            # Old flows put @-variables inside "=" expressions; the expression reads them bare.
            body = _EMBEDDED.sub(_bare_variable, body)
            pieces.append(f"@{body}" if body.startswith("(") else f"@({body})")
            index = body_end + 1
        elif found is not None and found.group().split(".")[0].lower() in TOP_LEVELS:
            pieces.append(f"@{found.group()}")
            index = found.end()
        else:
            pieces.append("=")
            index = start
    pieces.append(text[index:])
    return "".join(pieces)


def migrate_v7_syntax(text: str) -> str:
    """``text`` with its filters and ``=`` expressions written as ``@(...)`` expressions."""
    if "=" in text:
        text = _equals_style(text)
    if "@" in text and "|" in text:
        text = _filter_style(text)
    return text
