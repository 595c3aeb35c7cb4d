"""Documents for tests and benchmarks: Markdown rendered as a real PDF (fpdf2, test extra).

Headings in bold and larger, paragraphs wrapped, pages numbered as they fill: what an NGO's
FAQ printed from a word processor looks like to a PDF reader.
"""

from __future__ import annotations

from sutra.assistants.extract import markdown_blocks

_SIZES = {1: 18, 2: 14, 3: 11.5}


def markdown_pdf(markdown: str, *, title: str = "Document") -> bytes:
    """The Markdown's headings and paragraphs as an A4 PDF."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(20, 18, 20)
    pdf.add_page()
    for block in markdown_blocks(markdown):
        # The core fonts are Latin-1; the test documents are English.
        text = block.text.encode("latin-1", errors="replace").decode("latin-1")
        if block.heading:
            pdf.set_font("Helvetica", style="B", size=_SIZES.get(block.heading, 11))
            pdf.ln(3)
            pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        else:
            pdf.set_font("Helvetica", size=10.5)
            pdf.multi_cell(0, 5.5, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    return bytes(pdf.output())
