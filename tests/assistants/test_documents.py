"""Documents as staff upload them: every kind read to headings, paragraphs and pages, cut into
passages that keep a question with its answer, and the files Sutra must refuse, refused."""

from __future__ import annotations

import csv
import io
import itertools
import zipfile
from pathlib import Path

import docx
import pytest
from openpyxl import Workbook

from sutra.assistants.chunking import passages
from sutra.assistants.extract import MAX_BYTES, ExtractError, extract
from sutra.testing.documents import markdown_pdf

HERE = Path(__file__).parent
FAQ = (HERE / "health_faq.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def faq_pdf() -> bytes:
    return markdown_pdf(FAQ, title="Community Health FAQ")


def test_a_pdf_keeps_its_pages_and_each_answer_stays_with_its_question(faq_pdf: bytes) -> None:
    extracted = extract("health-faq.pdf", faq_pdf)
    found = list(passages(extracted.blocks))

    assert extracted.media_type == "application/pdf"
    assert extracted.pages is not None and extracted.pages >= 3
    malaria = next(p for p in found if p.section.endswith("How is malaria spread?"))
    assert "female Anopheles mosquitoes" in malaria.text
    assert malaria.text.startswith("Mosquito-borne diseases › How is malaria spread?")
    # The last answers are on a later page than the first ones.
    assert found[1].page == 1
    heat = next(p for p in found if "heat stroke" in p.section)
    assert heat.page == extracted.pages
    assert "40" in heat.text


def test_markdown_headings_make_the_section_path() -> None:
    found = list(passages(extract("faq.md", FAQ.encode()).blocks))

    sections = [p.section for p in found]
    assert "Community Health FAQ › Pregnancy › What are the danger signs in pregnancy?" in sections
    # One passage per question: no passage holds two questions' answers.
    assert sum("?" in p.section for p in found) == FAQ.count("\n### ")


def test_word_headings_paragraphs_and_tables() -> None:
    document = docx.Document()
    document.add_heading("Clinic guide", level=1)
    document.add_heading("Opening hours", level=2)
    document.add_paragraph("The clinic opens at 8 am from Monday to Saturday.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Service", "Day"
    table.cell(1, 0).text, table.cell(1, 1).text = "Vaccination", "Wednesday"
    buffer = io.BytesIO()
    document.save(buffer)

    extracted = extract("guide.docx", buffer.getvalue())
    [passage] = list(passages(extracted.blocks))

    assert passage.section == "Clinic guide › Opening hours"
    assert "opens at 8 am" in passage.text
    assert "Vaccination · Wednesday" in passage.text


def test_each_row_of_a_faq_sheet_is_a_passage_named_by_its_row() -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "FAQ"
    sheet.append(["Question", "Answer"])
    sheet.append(["Is the clinic free?", "Yes, for children under five."])
    sheet.append(["Do I need an appointment?", "No."])
    buffer = io.BytesIO()
    workbook.save(buffer)

    found = list(passages(extract("faq.xlsx", buffer.getvalue()).blocks))

    assert [(p.section, p.text) for p in found] == [
        ("FAQ, row 2", "Question: Is the clinic free?\nAnswer: Yes, for children under five."),
        ("FAQ, row 3", "Question: Do I need an appointment?\nAnswer: No."),
    ]


def test_a_csv_saved_by_a_windows_spreadsheet_is_read() -> None:
    text = io.StringIO()
    csv.writer(text).writerows([["question", "answer"], ["Café open?", "Until 6 pm."]])

    [block] = extract("faq.csv", text.getvalue().encode("cp1252")).blocks

    assert block.text == "question: Café open?\nanswer: Until 6 pm."


def test_html_text_without_scripts_styles_or_navigation() -> None:
    page = (
        "<html><head><title>t</title><style>p{color:red}</style></head><body>"
        "<nav>Home | About</nav><h1>Malaria</h1><p>Spread by <b>female</b> mosquitoes.</p>"
        "<script>var x = '<p>not text</p>';</script><h2>Nets</h2><ul><li>Use one nightly</li>"
        "</ul></body></html>"
    )

    found = list(passages(extract("page.html", page.encode()).blocks))

    assert [(p.section, p.text) for p in found] == [
        ("Malaria", "Malaria\nSpread by female mosquitoes."),
        ("Malaria › Nets", "Malaria › Nets\nUse one nightly"),
    ]


def test_long_sections_are_cut_with_overlap_between_sentences() -> None:
    sentences = [f"Sentence number {i} says something about vaccines." for i in range(60)]
    text = "Vaccines\n\n" + " ".join(sentences)

    found = list(passages(extract("notes.txt", text.encode()).blocks, target=400, overlap=120))

    assert len(found) > 3
    assert all(p.section == "Vaccines" for p in found)
    assert all(len(p.text) <= 400 + 120 + len("Vaccines\n") for p in found)
    for before, after in itertools.pairwise(found):
        last_sentence = before.text.rsplit(". ", 1)[-1]
        assert last_sentence in after.text  # the overlap
    every = " ".join(p.text for p in found)
    assert all(s in every for s in sentences)


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("big.pdf", b"%PDF-1.7" + b"0" * MAX_BYTES, "larger than 20 MB"),
        ("empty.txt", b"", "empty"),
        ("photo.jpg", b"\xff\xd8\xff\xe0", "not a document Sutra reads"),
        ("fake.docx", b"PK\x03\x04broken", "damaged zip"),
        ("blank.txt", b"   \n\n  ", "no text found"),
    ],
)
def test_what_cannot_be_read_is_refused_with_the_reason(
    name: str, data: bytes, problem: str
) -> None:
    with pytest.raises(ExtractError, match=problem):
        extract(name, data)


def test_a_pdf_without_text_is_refused_as_needing_ocr() -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 50, 50)  # a drawing, as a scan is an image: no text to extract

    with pytest.raises(ExtractError, match="scanned PDF"):
        extract("scan.pdf", bytes(pdf.output()))


def test_an_office_file_that_unpacks_to_too_much_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"<w/>")
        archive.writestr("word/padding.bin", b"\0" * (210 * 1024 * 1024))

    assert len(buffer.getvalue()) < 1024 * 1024
    with pytest.raises(ExtractError, match="unpacks to more than 200 MB"):
        extract("bomb.docx", buffer.getvalue())
