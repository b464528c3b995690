"""Filled form-field values of a PDF are taken in (ingest/loaders/pdf_forms.py): a filled
consultation response's answers were lost, since pypdf's text extraction does not read them."""

from __future__ import annotations

from pdf_builders import filled_form

from ingest.loaders import load_bytes


def test_filled_fields_are_read_top_to_bottom_on_their_page():
    loaded = load_bytes(filled_form(), "response.pdf")
    assert [(block.page, block.text) for block in loaded.blocks] == [
        ("1", "Consultation response on shared services"),
        ("1", "Reference: CV-2010-7"),
        ("1", "Organisation name: Angus Council"),
        ("1", "We agree to publication: Yes"),
        ("1", "Your view on a shared payroll office: It saved money in its first year"),
        ("1", "Preferred model: Joint"),
        ("2", "Thank you for responding to the review."),
    ]


def test_empty_fields_unticked_boxes_and_the_unchosen_radio_give_nothing():
    text = " ".join(block.text for block in load_bytes(filled_form(), "r.pdf").blocks)
    assert "phone" not in text and "anonymously" not in text and "Off" not in text
    assert text.count("CV-2010-7") == 1  # a field with a widget on both pages, given once
