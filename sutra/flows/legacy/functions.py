"""Functions of legacy expressions, called as today's functions are.

Legacy functions were upper case and spreadsheet-like: ``CONCATENATE(a, b)``, ``LEN(x)``,
``WORD(text, 1)`` counting from 1. Most keep their name in lower case; some were renamed
(``LEN`` is ``length``, ``PROPER`` is ``title``), some became an operator (``CONCATENATE`` is
``&``), and those counting words or fields count from 0 now. A function this table does not know
keeps its name, in lower case.

>>> migrate_call("concatenate", ["contact.name", '"!"']), migrate_call("len", ["input"])
(('contact.name & "!"', True), ('length(input)', False))
>>> migrate_call("word", ["input", "2"]), migrate_call("word", ["input", "results.n.value"])
(('word(input, 1)', False), ('word(input, results.n.value - 1)', False))
"""

from __future__ import annotations

from collections.abc import Callable


def _decremented(argument: str) -> str:
    # Legacy functions count words and fields from 1, today's from 0.
    return str(int(argument) - 1) if argument.lstrip("-").isdigit() else f"{argument} - 1"


def migrate_call(name: str, arguments: list[str]) -> tuple[str, bool]:
    """A call of legacy function ``name`` (lower case) on already migrated ``arguments``.

    The flag is true when the call became operands joined by an operator (``a & b``), which
    must be bracketed where it is an operand itself.
    """
    if name in ("concatenate", "sum"):
        if not arguments:
            return ('""' if name == "concatenate" else "0"), False
        joined = (" & " if name == "concatenate" else " + ").join(arguments)
        return joined, len(arguments) > 1
    special = _SPECIAL_CALLS.get(name)
    if special is not None:
        rewritten = special(arguments)
        if rewritten is not None:
            return rewritten, False
    return f"{_RENAMED.get(name, name)}({', '.join(arguments)})", False


def _format(template: str, count: int) -> Callable[[list[str]], str | None]:
    def rewrite(arguments: list[str]) -> str | None:
        if len(arguments) != count:
            return None
        return template.format(*arguments)

    return rewrite


def _counting(name: str, decrement: tuple[int, ...]) -> Callable[[list[str]], str | None]:
    def rewrite(arguments: list[str]) -> str | None:
        # A trailing "by spaces" flag has no equivalent; words split as Sutra splits them.
        kept = arguments[: 1 + len(decrement)]
        texts = [
            _decremented(argument) if index in decrement else argument
            for index, argument in enumerate(kept)
        ]
        return f"{name}({', '.join(texts)})"

    return rewrite


_RENAMED = {
    "average": "mean",
    "datedif": "datetime_diff",
    "datevalue": "datetime",
    "format_date": "format_datetime",
    "int": "round_down",
    "len": "length",
    "proper": "title",
    "randbetween": "rand_between",
    "read_digits": "read_chars",
    "regex_group": "regex_match",
    "rept": "repeat",
    "rounddown": "round_down",
    "roundup": "round_up",
    "substitute": "replace",
    "timevalue": "parse_datetime",
    "trunc": "round_down",
    "unichar": "char",
    "unicode": "code",
}
_SPECIAL_CALLS: dict[str, Callable[[list[str]], str | None]] = {
    "first_word": _format("word({0}, 0)", 1),
    "word": _counting("word", (1,)),
    "word_slice": _counting("word_slice", (1, 2)),
    "field": _counting("field", (1,)),
    "word_count": _counting("word_count", ()),
    "power": _format("{0} ^ {1}", 2),
    "exp": _format("2.718281828459045 ^ {0}", 1),
    "date": _format("date_from_parts({0}, {1}, {2})", 3),
    "time": _format("time_from_parts({0}, {1}, {2})", 3),
    "day": _format('format_date({0}, "D")', 1),
    "month": _format('format_date({0}, "M")', 1),
    "year": _format('format_date({0}, "YYYY")', 1),
    "hour": _format('format_datetime({0}, "h")', 1),
    "minute": _format('format_datetime({0}, "m")', 1),
    "second": _format('format_datetime({0}, "s")', 1),
    "days": _format('datetime_diff({0}, {1}, "D")', 2),
    "edate": _format('datetime_add({0}, {1}, "M")', 2),
    "fixed": lambda arguments: f"format_number({', '.join(arguments[:2])})",
    "true": lambda arguments: "true",
    "false": lambda arguments: "false",
}
