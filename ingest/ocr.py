"""OCR for PDF pages with no usable text layer: scanned council papers, garbled font maps.

Pages are rendered with pypdfium2 (PDFium, shipped in its wheel) and read by Tesseract through
pytesseract, which gives each word a confidence. Tesseract is a system program (Debian's
`tesseract-ocr` and `tesseract-ocr-eng`, installed by `make run` and `make test`); where it is
missing, OCR is off and a scan is refused as before, saying it needs OCR.

OCRmyPDF was considered: it wraps the same Tesseract, but it writes a new PDF (so the page text
would be read back through the text layer it adds) and does not report word confidences, which
this knowledge base shows with every OCR'd passage.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import lru_cache

from kb.errors import IngestError
from kb.errors import KBError
from kb.settings import Settings

DPI = 300
DEFAULT_MAX_PAGES = 200
DEFAULT_SECONDS_PER_PAGE = 60.0


class OcrFailed(IngestError):
    """Tesseract could not read a page (it timed out, or failed)."""


@dataclass(frozen=True)
class OcrSettings:
    """How much OCR a document may have: pages, and seconds for each page."""

    enabled: bool = True
    max_pages: int = DEFAULT_MAX_PAGES
    seconds_per_page: float = DEFAULT_SECONDS_PER_PAGE

    @classmethod
    def from_settings(cls, settings: Settings) -> OcrSettings:
        """On when KB_OCR is "auto" and Tesseract is installed; off when it is "off"."""
        if settings.ocr not in ("auto", "off"):
            raise KBError(f'KB_OCR must be "auto" or "off", not {settings.ocr!r}.')
        return cls(
            enabled=settings.ocr == "auto" and available(),
            max_pages=settings.ocr_max_pages,
            seconds_per_page=settings.ocr_seconds_per_page,
        )


@dataclass(frozen=True)
class OcrPage:
    text: str
    confidence: float  # the mean of Tesseract's word confidences, 0 to 1


@lru_cache(maxsize=1)
def available() -> bool:
    """Tesseract and its English data are installed, so pages can be read."""
    if shutil.which("tesseract") is None:
        return False
    try:
        import pytesseract

        return "eng" in pytesseract.get_languages(config="")
    except Exception:
        return False


def read_pages(data: bytes, indexes: list[int], settings: OcrSettings, name: str, on_page=None):
    """OCR the given pages (0-based) of a PDF.

    Args:
        data: the PDF's bytes.
        indexes: which pages to read.
        settings: the limits.
        name: the file's name, for messages.
        on_page: called with (pages done, pages to do) after each page.

    Returns:
        {page index: OcrPage}.
    """
    import pypdfium2
    import pytesseract

    if len(indexes) > settings.max_pages:
        raise OcrFailed(
            f"{name} has {len(indexes):,} pages without a text layer, over the OCR limit of "
            f"{settings.max_pages:,} (KB_OCR_MAX_PAGES)."
        )
    pdf = pypdfium2.PdfDocument(data)
    pages = {}
    try:
        for done, index in enumerate(indexes, start=1):
            image = pdf[index].render(scale=DPI / 72).to_pil()
            try:
                words = pytesseract.image_to_data(
                    image,
                    lang="eng",
                    timeout=settings.seconds_per_page,
                    output_type=pytesseract.Output.DICT,
                )
            except RuntimeError as exc:  # pytesseract's timeout
                raise OcrFailed(
                    f"OCR of page {index + 1} of {name} took more than "
                    f"{settings.seconds_per_page:g} seconds (KB_OCR_SECONDS_PER_PAGE)."
                ) from exc
            pages[index] = _page(words)
            if on_page:
                on_page(done, len(indexes))
    finally:
        pdf.close()
    return pages


def _page(words: dict) -> OcrPage:
    """Rebuild lines from Tesseract's words (block, paragraph, line numbers) and score them."""
    lines: dict[tuple, list[str]] = {}
    confidences = []
    for i, word in enumerate(words["text"]):
        confidence = float(words["conf"][i])
        if not word.strip() or confidence < 0:
            continue
        key = (words["block_num"][i], words["par_num"][i], words["line_num"][i])
        lines.setdefault(key, []).append(word)
        confidences.append(confidence)
    text, last = [], None
    for key, line in lines.items():
        if last is not None and key[:2] != last[:2]:
            text.append("")  # a new paragraph
        text.append(" ".join(line))
        last = key
    mean = sum(confidences) / len(confidences) / 100 if confidences else 0.0
    return OcrPage("\n".join(text), round(mean, 3))
