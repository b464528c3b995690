"""Scanned PDFs through OCR (Tesseract): found by search, marked as OCR everywhere.

The scan is made here: known text drawn onto page images (no text layer at all), saved as a
PDF. Tesseract is a system program (`make test` installs it); without it these tests are skipped
on a developer's machine and fail under CI, so a missing install cannot pass unnoticed.
"""

import io
import json
import os
import re

import pytest
from click.testing import CliRunner
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

from ingest.loaders import load_bytes
from ingest.ocr import OcrFailed
from ingest.ocr import OcrSettings
from ingest.ocr import available
from kb.errors import NoExtractableText
from kb_cli.main import cli

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
PAGES = [
    [
        "The councils agreed to share payroll and finance services",
        "from April, after a review of the costs of each service.",
        "Savings were estimated at one point eight per cent of spending.",
    ],
    [
        "Trade union representatives asked for the business case",
        "and for an assessment of the effect on front line staff.",
        "The joint committee will meet again in the autumn.",
    ],
]


@pytest.fixture(autouse=True)
def tesseract(monkeypatch):
    monkeypatch.setenv("KB_OCR", "auto")
    if not available():
        if os.environ.get("CI"):
            pytest.fail("Tesseract (tesseract-ocr, tesseract-ocr-eng) is not installed.")
        pytest.skip("Tesseract is not installed (make test installs it).")


def scanned_pdf(pages=PAGES) -> bytes:
    """Image-only pages at 200 dpi, as a scanner makes them."""
    font = ImageFont.truetype(FONT, 34)
    images = []
    for lines in pages:
        image = Image.new("L", (1654, 2339), 255)  # A4 at 200 dpi
        draw = ImageDraw.Draw(image)
        for number, line in enumerate(lines):
            draw.text((150, 200 + number * 70), line, fill=0, font=font)
        images.append(image.convert("RGB"))
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=200, save_all=True, append_images=images[1:])
    return out.getvalue()


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def test_a_scan_is_read_by_ocr_with_its_pages_and_confidence():
    loaded = load_bytes(scanned_pdf(), "scan.pdf", ocr=OcrSettings())
    assert set(loaded.ocr_pages) == {"1", "2"}
    assert all(0.5 < c <= 1 for c in loaded.ocr_pages.values())
    assert {b.page for b in loaded.blocks} == {"1", "2"}
    expected = words(" ".join(line for page in PAGES for line in page))
    got = words(" ".join(b.text for b in loaded.blocks))
    right = sum(1 for a, b in zip(expected, got, strict=False) if a == b)
    assert right / len(expected) >= 0.97, (expected, got)


def test_without_ocr_a_scan_is_refused_as_needing_it():
    with pytest.raises(NoExtractableText, match="needs OCR"):
        load_bytes(scanned_pdf(), "scan.pdf", ocr=OcrSettings(enabled=False))


def test_ocr_is_limited_in_pages():
    with pytest.raises(OcrFailed, match="over the OCR limit of 1"):
        load_bytes(scanned_pdf(), "scan.pdf", ocr=OcrSettings(max_pages=1))


def test_kb_add_takes_a_scan_in_marked_as_ocr_and_search_finds_it(tmp_path):
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(scanned_pdf())
    run = CliRunner()
    base = ["--data-dir", str(tmp_path / "data"), "--embedder", "hashing"]
    added = run.invoke(
        cli,
        [
            *base,
            "add",
            str(scan),
            "--title",
            "Joint committee minutes",
            "--publisher",
            "Tayside Councils",
            "--year",
            "1998",
            "--kind",
            "report",
        ],
    )
    assert added.exit_code == 0, added.output
    found = run.invoke(cli, [*base, "search", "assessment of the effect on front line", "--json"])
    assert found.exit_code == 0, found.output
    hit = json.loads(found.output)["results"][0]
    assert "front line staff" in hit["text"]
    assert hit["page"] == "2"
    assert 0.5 < hit["ocr_confidence"] <= 1
    assert hit["citation"]["short"].endswith("(text from OCR: check against the original)")
