"""Text out of an uploaded document, as headings and paragraphs with their page.

PDF (pypdf), Word (python-docx), spreadsheets (openpyxl; CSV), HTML (selectolax's Lexbor
parser: measured 20x faster than inscriptis and html2text on a 670 KB page, with its own small
walk that keeps headings and joins inline text), Markdown and plain text. The kind is told by
the bytes where they say it (``%PDF``, a zip's members), else by the file name.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePath

MAX_BYTES = 20 * 1024 * 1024
# An office file is a zip: what it unpacks to is bounded too, so that a small upload cannot
# expand to gigabytes in the parser.
MAX_UNPACKED_BYTES = 200 * 1024 * 1024

KINDS = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
    "html": "text/html",
    "md": "text/markdown",
    "txt": "text/plain",
}
_SUFFIXES = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".csv": "csv",
    ".html": "html",
    ".htm": "html",
    ".md": "md",
    ".markdown": "md",
    ".txt": "txt",
    ".text": "txt",
}


class ExtractError(ValueError):
    """The document cannot be read; the message says why, for the person who uploaded it."""


@dataclass(frozen=True)
class Block:
    text: str
    # 1-6 for a heading of that level, 0 for a paragraph.
    heading: int = 0
    page: int | None = None
    # A row of a sheet is a passage of its own, named by where it is ("FAQ, row 4").
    alone: str | None = None


@dataclass(frozen=True)
class Extracted:
    kind: str
    blocks: list[Block]
    pages: int | None = None

    @property
    def media_type(self) -> str:
        return KINDS[self.kind]


def kind_of(name: str, data: bytes) -> str:
    """The document's kind, from its first bytes when they tell, else its name.

    >>> kind_of("faq.bin", b"%PDF-1.7 ..."), kind_of("notes.MD", b"# Notes")
    ('pdf', 'md')
    """
    if data.startswith(b"%PDF-"):
        return "pdf"
    suffix = PurePath(name).suffix.lower()
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile:
            raise ExtractError(f"{name} is a damaged zip file") from None
        if "word/document.xml" in names:
            return "docx"
        if "xl/workbook.xml" in names:
            return "xlsx"
        raise ExtractError(f"{name} is a zip file but not a Word or Excel document")
    kind = _SUFFIXES.get(suffix)
    if kind in (None, "pdf", "docx", "xlsx"):
        known = ", ".join(sorted(_SUFFIXES))
        raise ExtractError(f"{name}: not a document Sutra reads (use {known})")
    assert kind is not None
    return kind


def extract(name: str, data: bytes) -> Extracted:
    """The text of ``data`` (a file called ``name``); :class:`ExtractError` when unreadable."""
    if len(data) > MAX_BYTES:
        raise ExtractError(f"{name} is larger than {MAX_BYTES // (1024 * 1024)} MB")
    if not data:
        raise ExtractError(f"{name} is empty")
    kind = kind_of(name, data)
    if kind in ("docx", "xlsx"):
        _check_unpacked(name, data)
    readers: dict[str, Callable[[bytes], tuple[list[Block], int | None]]] = {
        "pdf": _pdf,
        "docx": _docx,
        "xlsx": _xlsx,
        "csv": lambda raw: (_rows([("", list(csv.reader(io.StringIO(_decode(raw)))))]), None),
        "html": lambda raw: (list(html_blocks(_decode(raw))), None),
        "md": lambda raw: (list(markdown_blocks(_decode(raw))), None),
        "txt": lambda raw: (list(text_blocks(_decode(raw))), None),
    }
    try:
        blocks, pages = readers[kind](data)
    except ExtractError:
        raise
    except Exception as exc:  # each library has its own errors for a damaged file
        raise ExtractError(f"could not read {name}: {type(exc).__name__}: {exc}") from exc
    blocks = [b for b in blocks if b.text.strip()]
    if not any(b.heading == 0 for b in blocks):
        hint = " (a scanned PDF has no text: OCR is not done here)" if kind == "pdf" else ""
        raise ExtractError(f"no text found in {name}{hint}")
    return Extracted(kind, blocks, pages)


def _check_unpacked(name: str, data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > MAX_UNPACKED_BYTES:
        raise ExtractError(f"{name} unpacks to more than {MAX_UNPACKED_BYTES // 2**20} MB")


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # What a spreadsheet or editor on Windows saves when it does not save UTF-8.
        return data.decode("cp1252", errors="replace")


# --- plain text, PDF pages ---------------------------------------------------------------------

_BULLET = re.compile(r"^\s*(?:[-*•‣◦▪]|\d{1,3}[.)])\s+")
_SENTENCE_END = (".", "!", ":", ";", ",", ")", '"', "”")


def text_blocks(text: str, page: int | None = None) -> Iterator[Block]:
    """Paragraphs of plain text: separated by blank lines; lines inside one are joined.

    A line ending in "?" is a heading (the question of a FAQ), and so is a short line without
    closing punctuation that starts a paragraph (PDF text has no blank lines to go by).

    >>> [(b.heading, b.text) for b in text_blocks("Malaria\\n\\nHow is it spread?\\nBy mosqui-\\n"
    ...     "toes.\\n- Sleep under a net")]
    [(2, 'Malaria'), (3, 'How is it spread?'), (0, 'By mosquitoes.'), (0, '- Sleep under a net')]
    """
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    paragraph: list[str] = []

    def flush() -> Iterator[Block]:
        if paragraph:
            yield Block(_join_lines(paragraph), page=page)
            paragraph.clear()

    for line in lines:
        if not line:
            yield from flush()
            continue
        if line.endswith("?") and len(line) <= 200:
            yield from flush()
            yield Block(line, heading=3, page=page)
            continue
        if (
            (not paragraph or paragraph[-1].endswith((".", "!", "?", ":")))
            and len(line) <= 80
            and not line.endswith((*_SENTENCE_END, "-"))
            and not _BULLET.match(line)
        ):
            # A wrapped paragraph's first line is longer, and a heading has no full stop.
            yield from flush()
            yield Block(line, heading=2, page=page)
            continue
        if _BULLET.match(line):
            yield from flush()
        paragraph.append(line)
    yield from flush()


def _join_lines(lines: list[str]) -> str:
    joined = ""
    for line in lines:
        if not joined:
            joined = line
        elif joined.endswith("-") and line[:1].islower():
            # A word hyphenated across a line break in a PDF.
            joined = joined[:-1] + line
        else:
            joined += " " + line
    return joined


def _pdf(data: bytes) -> tuple[list[Block], int | None]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        try:
            reader.decrypt("")
        except Exception:
            raise ExtractError("the PDF is protected by a password") from None
    blocks: list[Block] = []
    for number, page in enumerate(reader.pages, start=1):
        blocks += text_blocks(page.extract_text() or "", page=number)
    return blocks, len(reader.pages)


# --- Markdown ----------------------------------------------------------------------------------

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")


def markdown_blocks(text: str) -> Iterator[Block]:
    """Headings (``#``) and paragraphs of Markdown, links and emphasis reduced to their text.

    >>> [(b.heading, b.text) for b in markdown_blocks("# FAQ\\n\\nUse **soap** [now](x).\\n\\n"
    ...     "- one\\n- two")]
    [(1, 'FAQ'), (0, 'Use soap now.'), (0, '- one'), (0, '- two')]
    """
    paragraph: list[str] = []
    fenced = False

    def flush() -> Iterator[Block]:
        if paragraph:
            yield Block(_md_inline(" ".join(paragraph)))
            paragraph.clear()

    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if line.startswith("```"):
            fenced = not fenced
            continue
        heading = None if fenced else _MD_HEADING.match(line)
        if heading:
            yield from flush()
            yield Block(_md_inline(heading.group(2)), heading=len(heading.group(1)))
        elif not line or line in ("---", "***") or (line.startswith("|") and "---" in line):
            yield from flush()
        elif _BULLET.match(line) or line.startswith("|"):
            yield from flush()
            paragraph.append(line.strip("|").replace(" | ", " · ") if line[0] == "|" else line)
            yield from flush()
        else:
            paragraph.append(line.lstrip("> "))
    yield from flush()


def _md_inline(text: str) -> str:
    text = _MD_LINK.sub(r"\1", text)
    for _ in range(2):  # **_nested_** emphasis
        text = _MD_EMPHASIS.sub(r"\2", text)
    return text.strip()


# --- HTML --------------------------------------------------------------------------------------

_SKIP = {"script", "style", "noscript", "template", "head", "nav", "footer", "svg", "form"}
_BLOCKS = {
    "p", "div", "section", "article", "main", "li", "tr", "blockquote", "pre", "dd", "dt",
    "table", "ul", "ol", "dl", "figure", "figcaption", "header", "aside", "br", "hr", "body",
}  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_SPACES = re.compile(r"\s+")


def html_blocks(html: str) -> Iterator[Block]:
    """Headings and paragraphs of an HTML page; scripts, styles and navigation left out.

    >>> [(b.heading, b.text) for b in html_blocks("<nav>Home</nav><h2>Malaria</h2>"
    ...     "<p>Spread by <b>mosquitoes</b>.</p><ul><li>Use a net</li></ul><script>x</script>")]
    [(2, 'Malaria'), (0, 'Spread by mosquitoes.'), (0, 'Use a net')]
    """
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    root = tree.body or tree.root
    if root is None:
        return
    parts: list[str] = []

    def flush(heading: int = 0) -> Iterator[Block]:
        text = _SPACES.sub(" ", "".join(parts)).strip()
        parts.clear()
        if text:
            yield Block(text, heading=heading)

    def walk(node: object) -> Iterator[Block]:
        child = getattr(node, "child", None)
        while child is not None:
            tag = child.tag
            if tag == "-text":
                parts.append(child.text_content or "")
            elif tag in _HEADINGS:
                yield from flush()
                parts.append(child.text(separator=" "))
                yield from flush(_HEADINGS[tag])
            elif tag in ("td", "th"):
                yield from walk(child)
                parts.append(" · ")
            elif tag in _BLOCKS:
                yield from flush()
                yield from walk(child)
                yield from flush()
            elif tag not in _SKIP and not tag.startswith("-"):
                yield from walk(child)
            child = child.next

    yield from walk(root)
    yield from flush()


# --- Word --------------------------------------------------------------------------------------


def _docx(data: bytes) -> tuple[list[Block], int | None]:
    import docx
    from docx.table import Table

    document = docx.Document(io.BytesIO(data))
    blocks: list[Block] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                cells = _unique(cell.text.strip() for cell in row.cells)
                if any(cells):
                    blocks.append(Block(" · ".join(c for c in cells if c)))
            continue
        text = item.text.strip()
        style = (item.style.name if item.style is not None else "") or ""
        level = _heading_level(style)
        blocks.append(Block(text, heading=level))
    return blocks, None


def _heading_level(style: str) -> int:
    """A Word paragraph style's heading level (0: not a heading).

    >>> _heading_level("Heading 2"), _heading_level("Title"), _heading_level("Normal")
    (2, 1, 0)
    """
    if style == "Title":
        return 1
    match = re.fullmatch(r"Heading (\d)", style)
    return min(6, int(match.group(1))) if match else 0


def _unique(cells: Iterable[str]) -> list[str]:
    # Merged cells come back once per grid column they span.
    seen: list[str] = []
    for cell in cells:
        if not seen or seen[-1] != cell:
            seen.append(cell)
    return seen


# --- spreadsheets ------------------------------------------------------------------------------


def _xlsx(data: bytes) -> tuple[list[Block], int | None]:
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheets = [
            (
                sheet.title,
                [
                    ["" if value is None else str(value) for value in row]
                    for row in sheet.iter_rows(values_only=True)
                ],
            )
            for sheet in workbook.worksheets
        ]
    finally:
        workbook.close()
    return _rows(sheets), None


def _rows(sheets: list[tuple[str, list[list[str]]]]) -> list[Block]:
    """Each row of a sheet with a header row is one passage: "Question: … / Answer: …".

    >>> [b.text for b in _rows([("FAQ", [["Question", "Answer"], ["Why?", "Because."]])])]
    ['Question: Why?\\nAnswer: Because.']
    """
    blocks: list[Block] = []
    for title, rows in sheets:
        rows = [[cell.strip() for cell in row] for row in rows if any(c.strip() for c in row)]
        if not rows:
            continue
        header, body = rows[0], rows[1:]
        if not body:
            header, body = [], rows
        for number, row in enumerate(body, start=2 if header else 1):
            lines = [
                f"{header[i]}: {cell}" if i < len(header) and header[i] else cell
                for i, cell in enumerate(row)
                if cell
            ]
            where = f"{title}, row {number}" if title else f"row {number}"
            blocks.append(Block("\n".join(lines), alone=where))
    return blocks
