"""Golden sets from CSV or XLSX files: a question, its expected answer, a category and tags.

The header names the columns (any order, any case): ``question``; ``answer`` (also
``expected``, ``expected_answer``, ``ground_truth``); optional ``category`` and ``tags`` (split on
commas or semicolons). A file with a bad row is refused whole, and the error names the row as a
spreadsheet shows it (the header is row 1) and the column, so it can be fixed where it is.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

MAX_CELL_CHARS = 20_000
ALIASES: dict[str, tuple[str, ...]] = {
    "question": ("question", "questions", "query"),
    "answer": (
        "answer",
        "expected",
        "expected_answer",
        "expected answer",
        "ground_truth",
        "ground truth",
        "ground_truth_answer",
        "golden_answer",
    ),
    "category": ("category", "categories", "topic"),
    "tags": ("tags", "tag", "labels"),
}
XLSX_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class GoldenRow:
    position: int
    question: str
    expected: str
    category: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Problem:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"

    def as_json(self) -> dict[str, object]:
        return {"row": self.row, "column": self.column, "message": self.message}


class GoldenFileError(ValueError):
    """The file is refused; ``problems`` lists what is wrong, first problem first."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(
            str(problems[0]) + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )
        self.problems = problems


def parse_golden_file(
    data: bytes, filename: str = "", *, max_rows: int = 10_000
) -> list[GoldenRow]:
    """The rows of a CSV or XLSX golden set (told apart by content, not by name).

    >>> rows = parse_golden_file(b"Question,Answer,Category\\nWhat is ORS?,Rehydration salts,care")
    >>> rows[0].question, rows[0].expected, rows[0].category
    ('What is ORS?', 'Rehydration salts', 'care')
    >>> parse_golden_file(b"question,answer\\nWhat is ORS?,\\n")
    Traceback (most recent call last):
    ...
    sutra.evals.golden.GoldenFileError: row 2, column answer: is empty
    """
    if data.startswith(XLSX_MAGIC) or filename.lower().endswith((".xlsx", ".xlsm")):
        table = _xlsx_rows(data)
    else:
        table = _csv_rows(data)
    return _rows(table, max_rows=max_rows)


def _csv_rows(data: bytes) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # Spreadsheets save "CSV" in the machine's code page; UTF-8 keeps every script intact.
        line = data[: exc.start].count(b"\n") + 1
        raise GoldenFileError(
            [Problem(line, "-", 'the file is not UTF-8 text (save it as "CSV UTF-8")')]
        ) from None
    head = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(head, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        return [list(row) for row in csv.reader(io.StringIO(text, newline=""), dialect)]
    except csv.Error as exc:
        raise GoldenFileError([Problem(0, "-", f"the CSV cannot be read: {exc}")]) from None


def _xlsx_rows(data: bytes) -> list[list[str]]:
    # openpyxl parses the workbook's XML through defusedxml when it is installed (it is a
    # dependency), so entity tricks in an uploaded file are refused.
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise GoldenFileError([Problem(0, "-", f"the XLSX file cannot be read: {exc}")]) from None
    try:
        sheet = book.worksheets[0]
        return [
            ["" if cell is None else _cell_text(cell) for cell in row]
            for row in sheet.iter_rows(values_only=True)
        ]
    finally:
        book.close()


def _cell_text(value: object) -> str:
    # A whole number typed in a cell comes back as a float; "42.0" is not what was typed.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _rows(table: list[list[str]], *, max_rows: int) -> list[GoldenRow]:
    header_at = next((i for i, row in enumerate(table) if any(c.strip() for c in row)), None)
    if header_at is None:
        raise GoldenFileError([Problem(1, "-", "the file is empty")])
    header = [c.strip().lower() for c in table[header_at]]
    columns: dict[str, int] = {}
    for name, aliases in ALIASES.items():
        for index, title in enumerate(header):
            if title in aliases and name not in columns:
                columns[name] = index
    header_row = header_at + 1
    missing = [name for name in ("question", "answer") if name not in columns]
    if missing:
        shown = ", ".join(repr(c) for c in table[header_at] if c.strip()) or "nothing"
        raise GoldenFileError(
            [
                Problem(header_row, name, f"missing from the header (it has {shown})")
                for name in missing
            ]
        )
    problems: list[Problem] = []
    rows: list[GoldenRow] = []
    for index in range(header_at + 1, len(table)):
        cells = table[index]
        if not any(c.strip() for c in cells):
            continue  # blank lines between groups of questions are common in spreadsheets
        line = index + 1

        def cell(name: str, cells: list[str] = cells) -> str:
            at = columns.get(name)
            return cells[at].strip() if at is not None and at < len(cells) else ""

        question, expected = cell("question"), cell("answer")
        for name, value in (("question", question), ("answer", expected)):
            if not value:
                problems.append(Problem(line, name, "is empty"))
        for name in ALIASES:
            if len(cell(name)) > MAX_CELL_CHARS:
                problems.append(Problem(line, name, f"is longer than {MAX_CELL_CHARS} characters"))
        if len(rows) >= max_rows:
            problems.append(Problem(line, "-", f"more than {max_rows} questions"))
            break
        if problems:
            if len(problems) >= 20:
                break
            continue
        tags = [t.strip() for t in re.split(r"[,;]", cell("tags")) if t.strip()]
        rows.append(
            GoldenRow(
                position=len(rows) + 1,
                question=question,
                expected=expected,
                category=cell("category") or None,
                tags=tags,
            )
        )
    if problems:
        raise GoldenFileError(problems)
    if not rows:
        raise GoldenFileError(
            [Problem(header_row + 1, "question", "no questions below the header")]
        )
    return rows
