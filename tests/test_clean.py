"""Cleaning extracted text: headers and footers, ligatures, broken words, garbage, encryption.

The PDFs are generated here in the shape of council and government reports: a classification
marking and the report's title at the top of every page, "Page N" or a roman numeral at the
bottom, text set in a font with ligatures, and words hyphenated at line ends.
"""

import io

import pytest
from fpdf import FPDF
from pypdf import PdfReader
from pypdf import PdfWriter

from ingest.clean import join_broken_words
from ingest.clean import normalise
from ingest.clean import quality
from ingest.clean import running_lines
from ingest.clean import strip_running_lines
from ingest.loaders import load_bytes
from kb.errors import EncryptedFile
from kb.errors import NoExtractableText

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
TITLE = "Review of Shared Support Services 2026"
BODY = [
    "The councils agreed to share payroll and finance from April.",
    "Every form was \ufb01lled in by the service managers in March.",
    "Staff said the new system needed a better algo-",
    "rithm for matching invoices, and the co-operation of suppliers.",
    "Throughout the review the service managers sought the co-",
    "operation of the trade unions at every stage.",
]
ROMAN = ["i", "ii", "iii", "iv", "v", "vi"]
CLOSING = ["Payroll", "Finance", "Revenues", "Benefits", "Procurement", "Fleet"]


def government_pdf(pages: int = 6, body=BODY, header=True, roman=False) -> bytes:
    pdf = FPDF()
    pdf.add_font("DejaVu", fname=FONT)
    pdf.set_font("DejaVu", size=11)
    pdf.set_auto_page_break(False)  # the footer sits in the bottom margin, as printed
    for number in range(1, pages + 1):
        pdf.add_page()
        if header:
            pdf.cell(0, 6, "OFFICIAL", new_x="LMARGIN", new_y="NEXT")
            pdf.cell(0, 6, TITLE, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        # Each page's own first and last lines: body text at a page's edges is not furniture.
        pdf.cell(0, 6, f"{CLOSING[number - 1]} opens this part.", new_x="LMARGIN", new_y="NEXT")
        for line in body:
            pdf.cell(0, 6, f"{line}", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        pdf.cell(0, 6, f"{CLOSING[number - 1]} closes this part.", new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 6, f"The {CLOSING[number - 1].lower()} team agreed.", new_x="LMARGIN")
        pdf.set_y(-20)
        footer = ROMAN[number - 1] if roman else f"Page {number} of {pages}"
        pdf.cell(0, 6, f"OFFICIAL {footer}" if roman else footer, new_x="LMARGIN")
    return bytes(pdf.output())


def text_of(data: bytes, name="report.pdf") -> str:
    return "\n".join(b.text for b in load_bytes(data, name).blocks)


@pytest.mark.parametrize("roman", [False, True])
def test_running_headers_and_footers_are_in_no_passage(roman):
    blocks = load_bytes(government_pdf(roman=roman), "report.pdf").blocks
    assert blocks
    for block in blocks:
        assert "OFFICIAL" not in block.text, block
        assert TITLE not in block.text, block
        assert "Page " not in block.text, block
    # The body stays, page by page.
    assert sum("Revenues closes this part." in b.text for b in blocks) == 1


def test_ligatures_and_line_end_hyphens_are_joined_so_search_finds_the_words():
    text = text_of(government_pdf(pages=3))
    assert "filled" in text and "\ufb01" not in text
    assert "algorithm" in text and "algo-rithm" not in text
    # A compound the document writes with its hyphen elsewhere keeps it when broken at a line.
    assert "co-operation of the trade unions" in text


def test_a_short_document_keeps_lines_that_merely_repeat_twice():
    assert running_lines(["Title\nOne.", "Title\nTwo."]) == set()


def test_running_lines_allow_for_page_numbers_and_keep_the_body():
    pages = [
        f"Annual report {n}\n{word} is here.\nSo is {word}.\n- {n} -"
        for n, word in enumerate(CLOSING)
    ]
    stripped = strip_running_lines(pages)
    assert stripped[1] == "Finance is here.\nSo is Finance."


def test_normalise_makes_ligatures_plain_and_drops_control_and_private_use_characters():
    assert normalise("\ufb01nance \ufb02ow\x00 \x07x\ue000y\nz\tw") == "finance flow xy\nz\tw"


def test_broken_words_are_joined_only_into_words():
    words, compounds = {"algorithm"}, set()
    assert join_broken_words("algo-\nrithm", words, compounds) == "algorithm\n"
    assert join_broken_words("well-\nknown", set(), {"well-known"}) == "well-\nknown"
    # "Glas-" + "gowx" is no word anywhere: left for the paragraph builder as written.
    assert join_broken_words("Glas-\ngowx", set(), set()) == "Glas-\ngowx"


def shifted(text: str) -> str:
    """A one-letter Caesar shift: what a PDF with a wrong font map can extract as."""
    return "".join(chr((ord(c) - 97 + 1) % 26 + 97) if c.islower() else c for c in text)


def test_a_pdf_whose_text_layer_is_garbled_is_refused_in_one_sentence():
    data = government_pdf(body=[shifted(line) for line in BODY * 3], header=False)
    with pytest.raises(NoExtractableText) as caught:
        load_bytes(data, "garbled.pdf")
    message = str(caught.value)
    assert message.startswith("garbled.pdf's text layer is garbled")
    assert message.endswith("it needs OCR.")


def test_quality_tells_real_text_from_garbage():
    real = " ".join(BODY) * 3
    assert not quality(real).garbled
    assert quality(shifted(real)).garbled
    assert quality("\ue000\ue001\ue002 words " * 20).garbled


def encrypted_report(user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(government_pdf(pages=3))))
    writer.encrypt(user_password, "owner-secret", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_an_aes_pdf_with_an_empty_password_is_read():
    assert "algorithm" in text_of(encrypted_report(""), "aes.pdf")


def test_an_aes_pdf_with_a_password_is_refused_as_password_protected():
    with pytest.raises(EncryptedFile) as caught:
        load_bytes(encrypted_report("open-sesame"), "locked.pdf")
    assert str(caught.value) == (
        "locked.pdf is protected by a password; save a copy without it and try again."
    )
