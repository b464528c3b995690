"""Words a PDF draws apart without space characters are spaced again from the glyphs'
positions (ingest/loaders/pdf_spacing.py: pdfminer.six, for the pages that need it)."""

from __future__ import annotations

import io

import pytest
from pdf_builders import RUN_TOGETHER_WORDS
from pdf_builders import run_together
from pypdf import PdfReader

from ingest.loaders import load_bytes
from ingest.loaders.pdf_spacing import looks_run_together

SENTENCE = " ".join(RUN_TOGETHER_WORDS)


@pytest.mark.parametrize("gap", [-120, -100, -80])
def test_words_drawn_apart_without_spaces_are_spaced(gap):
    data = run_together(gap)
    pypdf_text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "Sharedbackoffice" in pypdf_text  # the problem: pypdf alone runs them together
    loaded = load_bytes(data, "tight.pdf")
    assert " ".join(block.text for block in loaded.blocks) == SENTENCE
    assert {block.page for block in loaded.blocks} == {"1"}


def test_only_the_run_together_page_is_read_again_and_keeps_its_page():
    first = b"BT /F1 12 Tf 72 720 Td (The joint committee met twice a year in Perth.) Tj ET"
    loaded = load_bytes(run_together(-100, before=first), "two.pdf")
    assert [(block.page, block.text) for block in loaded.blocks] == [
        ("1", "The joint committee met twice a year in Perth."),
        ("2", SENTENCE),
    ]


def test_ordinary_text_is_not_read_again():
    assert not looks_run_together(
        "The responsibilities of the joint committee for internationalisation were "
        "transferred to the shared services partnership in 2011. See www.auditscotland.gov.uk."
    )
    # Long words of another language are not English words run together (a German book of
    # py-pdf's sample files had 15 of 117 pages read again before the split rule).
    assert not looks_run_together(
        "Das Inhaltsverzeichnis der Kommunalverwaltung nennt die Dienstleistungszentren und "
        "Zweckverbände der Verwaltungsgemeinschaft."
    )
    assert looks_run_together("Sharedbackofficeserviceswereintroduced bythetwocouncils")
