"""PDF loader: pypdf, page by page, with printed page labels and the outline as sections."""

from __future__ import annotations

import io
import logging
import re
import time
from collections import Counter
from collections import defaultdict
from collections.abc import Callable

from pypdf import PasswordType
from pypdf import PdfReader
from pypdf.errors import LimitReachedError

from ingest.blocks import Block
from ingest.blocks import LoadedFile
from ingest.clean import clean_pages
from ingest.clean import quality
from ingest.limits import EXTRACTED_TEXT
from ingest.limits import PAGE_CONTENT
from ingest.limits import Meter
from ingest.loaders.common import SECTION_SEPARATOR
from ingest.loaders.common import tidy
from ingest.loaders.pdf_forms import filled_fields
from ingest.loaders.pdf_spacing import better_spaced
from ingest.ocr import OcrSettings
from ingest.ocr import read_pages
from kb.errors import CorruptFile
from kb.errors import EncryptedFile
from kb.errors import FileTooLarge
from kb.errors import IngestError
from kb.errors import NoExtractableText

DEFAULT_MAX_PAGES = 5000
# The work is bounded by what the file expands to (ingest/limits.py): the content-stream bytes
# pypdf will parse, counted before each page and each form it draws (pypdf parses a stream again
# at every use, so six pages sharing one 2 MB stream are 12 MB of parsing), and the characters
# extracted. As a last resort, reading gives up past this many seconds plus this many per page.
BASE_SECONDS = 60.0
SECONDS_PER_PAGE = 0.5
# A line clearly shorter than the page's usual line ends a paragraph (or is a heading).
_SHORT_LINE = 0.75
_MAX_OUTLINE_DEPTH = 8
# Outline titles shorter than this ("1", "A") would match too many paragraphs to place.
_MIN_KEY = 3
_ITEM_START = re.compile(r"^(?:[•▪◦●■\-–*]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s")
_NON_ALNUM = re.compile(r"[\W_]+")
# A line that is only a printed page number: "7", "Page 7", "- 7 -".
_PAGE_NUMBER_LINE = re.compile(r"^(?:page\s+)?[-\u2013]?\s*(\d{1,4})\s*[-\u2013]?$", re.I)

# pypdf logs every recoverable oddity of a real-world PDF; those are not the reader's concern.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def load_pdf(
    data: bytes,
    name: str,
    *,
    max_pages: int = DEFAULT_MAX_PAGES,
    max_seconds: float | None = None,
    ocr: OcrSettings | None = None,
    on_ocr_page: Callable[[int, int], None] | None = None,
) -> LoadedFile:
    """Read a PDF's text layer into paragraph blocks.

    Args:
        data: the file's bytes (already known to start with a PDF header).
        name: the file's name, for error messages.
        max_pages: refuse documents with more pages than this.
        max_seconds: give up reading after this long; by default BASE_SECONDS plus
            SECONDS_PER_PAGE for each page.
        ocr: read pages with no usable text layer (none, or garbled) by OCR within these
            limits; None or disabled: such a document is refused as needing OCR.
        on_ocr_page: called with (pages done, pages to do) as OCR goes.

    Returns:
        The blocks, with printed page labels and sections from the outline when it has one.

    Raises:
        CorruptFile, EncryptedFile, FileTooLarge, NoExtractableText.
    """
    try:
        return _read(data, name, max_pages, max_seconds, ocr, on_ocr_page)
    except IngestError:
        raise
    except LimitReachedError as exc:  # pypdf's guards: decompression bombs, page-tree bombs
        reason = str(exc).split(". ")[0].rstrip(".") or "a safety limit"  # its first sentence
        raise FileTooLarge(
            f"{name} goes beyond what the PDF reader safely handles ({reason}), so it was "
            f"refused; it may be built to exhaust the server."
        ) from exc
    except Exception as exc:  # pypdf raises many kinds of error on damaged files
        raise CorruptFile(f"{name} is damaged and cannot be read as a PDF.") from exc


def _read(
    data: bytes,
    name: str,
    max_pages: int,
    max_seconds: float | None,
    ocr: OcrSettings | None = None,
    on_ocr_page: Callable[[int, int], None] | None = None,
) -> LoadedFile:
    started = time.monotonic()
    if b"%%EOF" not in data:
        raise CorruptFile(f"{name} is cut short (it has no end-of-file marker); get a full copy.")
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        decrypt(reader, name)
    count = len(reader.pages)
    if count > max_pages:
        raise FileTooLarge(f"{name} has {count:,} pages, over the limit of {max_pages:,}.")
    budget = BASE_SECONDS + SECONDS_PER_PAGE * count if max_seconds is None else max_seconds
    content = Meter(name, len(data), PAGE_CONTENT)
    characters = Meter(name, len(data), EXTRACTED_TEXT)
    forms: dict = {}

    def in_time() -> None:
        if time.monotonic() - started > budget:
            raise FileTooLarge(
                f"{name} takes more than {budget:g} seconds to read ({count:,} pages), so it "
                f"was refused; it may be built to exhaust the server."
            )

    def before_operator(operator: bytes, operands, *_) -> None:
        # Called before each operator; only drawing a form (Do) makes pypdf parse a stream.
        if operator == b"Do" and operands:
            content.spend(forms.get(operands[0], 0))
            in_time()

    labels = _page_labels(reader, count)
    starts = _outline_starts(reader)
    texts = []
    fields: list[list[str]] = []  # each page's filled form fields, "Label: value"
    seen_fields: set[int] = set()
    for index in range(count):
        in_time()
        page = reader.pages[index]
        content.spend(_content_size(page))
        forms = _form_sizes(page)
        text = page.extract_text(visitor_operand_before=before_operator) or ""
        fields.append(filled_fields(page, seen_fields))
        characters.spend(len(text) + sum(len(line) for line in fields[-1]))
        texts.append(text)
    # Before the garbage check: words run together are not words either, until spaced.
    texts = better_spaced(data, texts)
    in_time()
    ocr_pages: dict[str, float] = {}
    if ocr is not None and ocr.enabled:
        unreadable = [i for i, text in enumerate(texts) if _needs_ocr(text)]
        for index, page in read_pages(data, unreadable, ocr, name, on_ocr_page).items():
            texts[index] = page.text
            ocr_pages[labels[index]] = page.confidence
    else:
        _refuse_garbled(texts, name)
    # After OCR and the garbage check: a scanned form's typed values do not make it a text page.
    texts = [_with_fields(text, lines) for text, lines in zip(texts, fields, strict=True)]
    blocks: list[Block] = []
    section = ""
    pages = printed_pages(texts, labels, _has_page_labels(reader))
    for index, text in enumerate(clean_pages(texts)):
        paragraphs = page_paragraphs(text, pages[index] or "")
        section, placed = _place(paragraphs, section, starts.get(index, []))
        blocks.extend(Block(text, pages[index], where) for where, text in placed)
    if not blocks:
        if ocr_pages:
            raise NoExtractableText(f"{name} has no text, even by OCR.")
        raise NoExtractableText(f"{name} has no extractable text; it needs OCR.")
    return LoadedFile(blocks=blocks, title=_title(reader), page_count=count, ocr_pages=ocr_pages)


def _with_fields(text: str, lines: list[str]) -> str:
    """The page's text and then its filled form fields, each a paragraph of its own."""
    if not lines:
        return text
    return "\n\n".join([text.rstrip("\n"), *lines]) if text.strip() else "\n\n".join(lines)


# A page with fewer characters than this in its text layer is a scan (a page number at most).
_SCANNED_CHARS = 20


def _needs_ocr(text: str) -> bool:
    """No text layer to speak of, or one that is garbage."""
    return len(text.strip()) < _SCANNED_CHARS or quality(text).garbled


def _has_page_labels(reader: PdfReader) -> bool:
    """Whether the PDF says how its pages are numbered in print (a /PageLabels tree)."""
    try:
        return "/PageLabels" in reader.trailer["/Root"]
    except Exception:
        return False


def printed_pages(texts: list[str], labels: list[str], labelled: bool) -> list[str | None]:
    """The printed page of each page of a PDF, None where it is not known.

    A PDF with page labels says its printed numbers. Without them, the numbers printed on the
    pages (a bare number as the first or last line) are read: when at least two agree on how
    printed numbers follow the pages, every page from the first to the last so numbered is known
    (including one whose number was not read); pages before and after (a cover, a back page)
    have no printed number we know, so none is given. With no printed numbers found at all, the
    pages are numbered from one, as a PDF viewer does.
    """
    if labelled:
        return list(labels)
    found = {i: n for i, text in enumerate(texts) if (n := _printed_number(text)) is not None}
    offsets = Counter(n - i for i, n in found.items())
    if not offsets or offsets.most_common(1)[0][1] < 2:
        return list(labels)
    offset = offsets.most_common(1)[0][0]
    numbered = [i for i, n in found.items() if n - i == offset]
    first, last = min(numbered), max(numbered)
    return [str(i + offset) if first <= i <= last else None for i in range(len(texts))]


def _printed_number(text: str) -> int | None:
    """The page number printed as the page's first or last line ("7", "Page 7", "- 7 -")."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in (lines[-1], lines[0]) if lines else ():
        if match := _PAGE_NUMBER_LINE.match(line):
            return int(match.group(1))
    return None


def _refuse_garbled(texts: list[str], name: str) -> None:
    """Refuse a PDF whose text layer is mostly not words (a wrong font map, a shifted alphabet).

    Taken in as it is, such text is never found by a search and misquotes the document.
    """
    scored = [(len(text), quality(text)) for text in texts]
    garbled = [(size, q) for size, q in scored if q.garbled]
    if sum(size for size, _ in garbled) > sum(size for size, _ in scored) / 2:
        known = sum(q.known for _, q in garbled) / len(garbled)
        raise NoExtractableText(
            f"{name}'s text layer is garbled (only {known:.0%} of its words are words), so it "
            f"was refused; it needs OCR."
        )


def _stream_size(stream) -> int:
    """The decoded length of a stream (pypdf keeps the decoded data, so it is not decoded again
    when parsed); 0 for anything that is not a stream."""
    try:
        return len(stream.get_object().get_data())
    except AttributeError:
        return 0


def _content_size(page) -> int:
    """The bytes of content stream that extracting the page's text will parse."""
    contents = page.get("/Contents")
    if contents is None:
        return 0
    contents = contents.get_object()
    if isinstance(contents, list):
        return sum(_stream_size(part) for part in contents)
    return _stream_size(contents)


def _form_sizes(page, max_depth: int = 8) -> dict:
    """Name -> decoded size of each form XObject the page's content may draw, forms inside forms
    included (a name used at two levels counts as the larger); images cost no parse."""
    sizes: dict = {}
    seen: set[int] = set()

    def walk(resources, depth: int) -> None:
        xobjects = resources.get("/XObject") if resources is not None else None
        if xobjects is None or depth > max_depth:
            return
        for name, ref in xobjects.get_object().items():
            form = ref.get_object()
            if id(form) in seen or form.get("/Subtype") != "/Form":
                continue
            seen.add(id(form))
            sizes[name] = max(sizes.get(name, 0), _stream_size(form))
            inner = form.get("/Resources")
            walk(inner.get_object() if inner is not None else None, depth + 1)

    try:
        resources = page.get("/Resources")
        walk(resources.get_object() if resources is not None else None, 0)
    except LimitReachedError:
        raise
    except Exception:
        pass  # damaged resources: pypdf draws nothing from them (the time limit still holds)
    return sizes


def decrypt(reader: PdfReader, name: str) -> None:
    """Open a PDF locked only against editing (empty user password); refuse any other.

    AES-encrypted files need pypdf's "crypto" extra (the cryptography package), a dependency.
    """
    try:
        opened = reader.decrypt("") != PasswordType.NOT_DECRYPTED
    except Exception as exc:  # an encryption method that even cryptography cannot undo
        raise EncryptedFile(
            f"{name} is encrypted in a way this installation cannot open; "
            "remove the encryption and try again."
        ) from exc
    if not opened:
        raise EncryptedFile(
            f"{name} is protected by a password; save a copy without it and try again."
        )


def _page_labels(reader: PdfReader, count: int) -> list[str]:
    """The printed labels ("iv", "12"), or 1-based numbers where the labels cannot be read."""
    try:
        labels = [str(label) for label in reader.page_labels]
    except Exception:
        labels = []
    return labels if len(labels) == count else [str(i + 1) for i in range(count)]


def _title(reader: PdfReader) -> str | None:
    try:
        title = tidy(str(reader.metadata.title or "")) if reader.metadata else ""
    except Exception:
        title = ""
    return title or None


def _outline_starts(reader: PdfReader) -> dict[int, list[str]]:
    """Map page index -> section paths of the outline entries that start on that page."""
    starts: dict[int, list[str]] = defaultdict(list)

    def walk(items: list, parents: list[str]) -> None:
        last = None
        for item in items:
            if isinstance(item, list):
                if len(parents) < _MAX_OUTLINE_DEPTH:
                    walk(item, parents + [last] if last else parents)
                continue
            last = tidy(str(item.title or ""))
            page = reader.get_destination_page_number(item)
            if last and page is not None and page >= 0:
                starts[page].append(SECTION_SEPARATOR.join(parents + [last]))

    try:
        walk(reader.outline, [])
    except Exception:
        return {}  # a broken outline costs us sections, not the document
    return starts


def _key(text: str) -> str:
    return _NON_ALNUM.sub("", text.lower())


def _place(paragraphs: list[str], section: str, heads: list[str]) -> tuple[str, list]:
    """Give each paragraph of a page its section, switching where an outline heading appears.

    Returns the section in force at the end of the page and (section, paragraph) pairs. A heading
    whose text is nowhere on the page takes effect from the top of the page.
    """
    keyed = [(key, head) for head in heads if len(key := _key(_leaf(head))) >= _MIN_KEY]
    if not any(_key(p).startswith(key) for p in paragraphs for key, _ in keyed):
        section = heads[-1] if heads else section
        return section, [(section, paragraph) for paragraph in paragraphs]
    placed = []
    for paragraph in paragraphs:
        text_key = _key(paragraph)
        match = next((i for i, (key, _) in enumerate(keyed) if text_key.startswith(key)), None)
        if match is not None:
            section = keyed[match][1]
            keyed = keyed[match + 1 :]
            paragraph = _without_heading(paragraph, _leaf(section))
        if paragraph:
            placed.append((section, paragraph))
    return heads[-1], placed


def _without_heading(paragraph: str, heading: str) -> str:
    """Drop a heading printed at the start of a paragraph: it is the section now, not content."""
    rest = paragraph[len(heading) :]
    if paragraph.lower().startswith(heading.lower()) and not rest[:1].isalnum():
        return rest.strip()
    return paragraph


def _leaf(path: str) -> str:
    return path.rsplit(SECTION_SEPARATOR, 1)[-1]


def page_paragraphs(text: str, label: str) -> list[str]:
    """Rebuild paragraphs from a page's extracted lines.

    pypdf gives one line per printed line and rarely blank lines, so a paragraph ends at a blank
    line, before a list item, or after a line clearly shorter than the page's usual line.

    Args:
        text: the page's extracted text.
        label: the page's printed label, so a bare page number in a header or footer is dropped.

    Returns:
        The paragraphs, whitespace tidied.
    """
    lines = [line.strip() for line in text.splitlines()]
    lines = _drop_page_number(lines, label)
    lengths = sorted(len(line) for line in lines if line)
    usual = lengths[int(len(lengths) * 0.8)] if lengths else 0
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if current and (not line or _ITEM_START.match(line)):
            paragraphs.append(_join(current))
            current = []
        if line:
            current.append(line)
        if current and len(line) < usual * _SHORT_LINE:
            paragraphs.append(_join(current))
            current = []
    if current:
        paragraphs.append(_join(current))
    return [p for p in paragraphs if p]


def _drop_page_number(lines: list[str], label: str) -> list[str]:
    """Drop a first or last line that is only the page number: it is furniture, not content."""
    filled = [i for i, line in enumerate(lines) if line]
    furniture = {label.lower(), f"page {label.lower()}", f"- {label.lower()} -"}
    for i in sorted({filled[0], filled[-1]} if filled else (), reverse=True):
        if lines[i].lower() in furniture:
            del lines[i]
    return lines


def _join(lines: list[str]) -> str:
    """Join printed lines; a word broken with a hyphen at a line end is joined without a space."""
    text = lines[0]
    for line in lines[1:]:
        glue = "" if text.endswith("-") and text[-2:-1].isalpha() and line[:1].islower() else " "
        text += glue + line
    return tidy(text)
