"""Per-format benchmark of taking documents in: what is accepted, what is refused (and whether
rightly), what text is lost against an independent extractor, and how clean the text is.

Usage:
    python bench/formats.py [--json] [--pdf-dir DIR]

No fetched copies of anyone's files: every document is generated here, with the builders the
tests use (tests/test_clean.py's government-style reports, tests/test_ocr.py's scans,
tests/pdf_builders.py's filled form and run-together pages, tests/test_html_main_text.py's
news page), plus our own corpus (corpus/**/*.md). Reported per format:

- accepted, and refused correctly (a file that must be refused, with the error class expected);
- PDF words missing against pdftotext (Debian's poppler-utils): the share of pdftotext's words
  (lower-case, as a multiset) not in our passages, raw and without the running headers and
  footers we leave out on purpose (found in pdftotext's own pages by ingest.clean);
- the share of passages holding header or footer text, on the generated reports (target 0);
- the share of boilerplate words on generated web pages (extracted words not in the article;
  target <= 3% median);
- OCR word accuracy on a generated scan of a known text (target >= 97%), when Tesseract is
  installed;
- word spacing: for pages that draw words apart without space characters, the share of the
  known words each extractor gives as words (pypdf, pypdf's layout mode, PDFium, pdfminer.six
  with its default and with our word margin, and our loader), on those pages and on an
  ordinary report (which must not get worse).

With --pdf-dir, every PDF under DIR (real files fetched for the run, e.g. py-pdf's
sample-files; never copied into this repository) is taken in too, with its outcome, words
missing against pdftotext, pages that looked run together, and the details the upload form
would fill in (title, publisher, year).
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import unicodedata
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pdf_builders import RUN_TOGETHER_WORDS  # noqa: E402
from pdf_builders import filled_form  # noqa: E402
from pdf_builders import run_together  # noqa: E402
from test_clean import BODY  # noqa: E402
from test_clean import TITLE  # noqa: E402
from test_clean import encrypted_report  # noqa: E402
from test_clean import government_pdf  # noqa: E402
from test_clean import shifted  # noqa: E402
from test_html_main_text import ARTICLE  # noqa: E402
from test_html_main_text import PAGE  # noqa: E402

from ingest.clean import running_lines  # noqa: E402
from ingest.loaders import load_bytes  # noqa: E402
from ingest.ocr import OcrSettings  # noqa: E402
from ingest.ocr import available as ocr_available  # noqa: E402
from ingest.service import check_kind  # noqa: E402
from kb.errors import CorruptFile  # noqa: E402
from kb.errors import EncryptedFile  # noqa: E402
from kb.errors import IngestError  # noqa: E402
from kb.errors import NoExtractableText  # noqa: E402
from kb.errors import UnsupportedFormat  # noqa: E402

WORD = re.compile(r"[a-z0-9]+")
# A hyphen between letters, with any line break after it: "co-operation" and "algo-\nrithm"
# count as one word on both sides, however each extractor joined them.
_HYPHEN = re.compile(r"(?<=[A-Za-z])-\s*(?=[A-Za-z])")


def words(text: str) -> Counter:
    """Lower-case words as a multiset, after NFKC (pdftotext keeps ligatures such as "fi")."""
    return Counter(WORD.findall(_HYPHEN.sub("", unicodedata.normalize("NFKC", text)).lower()))


# -- the documents ----------------------------------------------------------------------------


PLAIN_PAGES = [textwrap.wrap(paragraph, 80) for paragraph in ARTICLE]


def plain_report() -> bytes:
    """An ordinary report: a different text on each page, spaces drawn as characters, a page
    number at the foot of each page and no running header."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.set_auto_page_break(False)
    for number, lines in enumerate(PLAIN_PAGES, start=1):
        pdf.add_page()
        for line in lines:
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(-20)
        pdf.cell(0, 6, f"Page {number} of {len(PLAIN_PAGES)}")
    return bytes(pdf.output())


def docx_report() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(TITLE, 0)
    for number, line in enumerate(BODY * 3):
        if number % 6 == 0:
            document.add_heading(f"Part {number // 6 + 1}", 1)
        document.add_paragraph(line)
    table = document.add_table(rows=2, cols=2)
    for row, cells in zip(table.rows, [("Service", "Saving"), ("Payroll", "4%")], strict=True):
        for cell, text in zip(row.cells, cells, strict=True):
            cell.text = text
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# Two more page shapes around the same article: a council press release (cookie banner,
# breadcrumbs, "was this page helpful") and a blog (sidebar, tag cloud, comment form).
COUNCIL_PAGE = f"""<!doctype html><html><head><meta charset="utf-8"><title>News</title></head>
<body><div class="cookies"><p>We use cookies to make this site work. Accept all cookies or set
your preferences.</p><button>Accept</button></div>
<div class="breadcrumb"><a href="/">Home</a> &gt; <a href="/news">News</a> &gt; Press releases</div>
<div class="content"><h1>Council quits shared services plan</h1>
<p>{ARTICLE[0]}</p><p>{ARTICLE[1]}</p><h2>Union response</h2><p>{ARTICLE[2]}</p>
<h2>What happens next</h2><p>{ARTICLE[3]}</p></div>
<div class="feedback"><p>Was this page helpful?</p><a href="/yes">Yes</a> <a href="/no">No</a></div>
<div class="footer"><a href="/a">Accessibility</a> <a href="/p">Privacy</a>
<a href="/f">Freedom of information</a></div></body></html>"""
BLOG_PAGE = f"""<!doctype html><html><head><meta charset="utf-8"><title>Blog</title></head>
<body><div id="wrap"><div id="post"><h1>Council quits shared services plan</h1>
<p>{ARTICLE[0]}</p><p>{ARTICLE[1]}</p><h2>Union response</h2><p>{ARTICLE[2]}</p>
<h2>What happens next</h2><p>{ARTICLE[3]}</p></div>
<div id="sidebar"><h3>Archives</h3><a href="/2025">2025</a> <a href="/2024">2024</a>
<h3>Tags</h3><a href="/t/a">austerity</a> <a href="/t/b">outsourcing</a> <a href="/t/c">unions</a>
</div><div id="comments"><h3>Leave a reply</h3><p>Your email address will not be published.
Required fields are marked.</p></div></div></body></html>"""
ARTICLE_WORDS = words(
    " ".join(ARTICLE)
    + " Council quits shared services plan Union response What happens next"
    + " By a staff reporter Payroll stays with the council. Revenues and benefits stay too."
)


def cases(ocr: bool) -> list[tuple[str, str, bytes, type | None]]:
    """(format, name, bytes, the error class a right refusal raises, or None to accept)."""
    from test_ocr import scanned_pdf
    from test_upload import PNG
    from test_upload import zip_bomb

    report = government_pdf()
    found = [
        ("pdf", "report, arabic page numbers", report, None),
        ("pdf", "report, roman page numbers", government_pdf(roman=True), None),
        ("pdf", "plain report, page numbers only", plain_report(), None),
        ("pdf", "filled form", filled_form(), None),
        ("pdf", "words 0.12 em apart, no spaces", run_together(-120), None),
        ("pdf", "words 0.08 em apart, no spaces", run_together(-80), None),
        ("pdf", "AES, empty password", encrypted_report(""), None),
        ("pdf", "AES, password", encrypted_report("secret"), EncryptedFile),
        ("pdf", "cut short", report[: len(report) // 2], CorruptFile),
        ("pdf", "PNG named .pdf", PNG, UnsupportedFormat),
    ]
    garbled = government_pdf(body=[shifted(line) for line in BODY * 3], header=False)
    if ocr:
        found.append(("pdf", "scan (OCR)", scanned_pdf(), None))
    else:
        found.append(("pdf", "scan (no OCR)", scanned_pdf(), NoExtractableText))
        found.append(("pdf", "garbled text layer (no OCR)", garbled, NoExtractableText))
    found += [
        ("docx", "report with headings and a table", docx_report(), None),
        ("docx", "zip bomb", zip_bomb(), CorruptFile),
        ("docx", "PDF named .docx", report, UnsupportedFormat),
        ("html", "news page", PAGE.encode(), None),
        ("html", "council press release", COUNCIL_PAGE.encode(), None),
        ("html", "blog post", BLOG_PAGE.encode(), None),
        ("html", "UTF-8 declaring gb2312", PAGE.replace("utf-8", "gb2312").encode(), None),
    ]
    for path in sorted((ROOT / "corpus").rglob("*.md")):
        if path.name != "README.md":
            found.append(("markdown", path.stem, path.read_bytes(), None))
    found.append(("text", "the front line starts here", _seed(), None))
    found.append(("text", "empty", b"  \n", IngestError))
    return found


def _seed() -> bytes:
    seed = Path("/work/shared/seeds/the-front-line-starts-here.txt")
    if seed.exists():
        return seed.read_bytes()
    return (ROOT / "corpus" / "reports" / "the-front-line-starts-here.md").read_bytes()


SUFFIX = {"pdf": ".pdf", "docx": ".docx", "html": ".html", "markdown": ".md", "text": ".txt"}


def take_in(fmt: str, data: bytes, ocr: bool):
    name = check_kind(data, "file" + SUFFIX[fmt], None)
    return load_bytes(data, name, ocr=OcrSettings() if ocr else None)


# -- the measures -----------------------------------------------------------------------------


def pdftotext_pages(data: bytes) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "file.pdf"
        path.write_bytes(data)
        out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, timeout=120)
    return out.stdout.decode("utf-8", errors="replace").split("\f")


def missing_words(data: bytes, ours: str) -> tuple[float, float]:
    """Shares of pdftotext's words not in ours: raw, and without its running lines."""
    pages = pdftotext_pages(data)
    have = words(ours)
    raw = words(" ".join(pages))
    running = running_lines(pages)
    from ingest.clean import _line_key

    kept = " ".join(
        line for page in pages for line in page.splitlines() if _line_key(line) not in running
    )
    shares = []
    for theirs in (raw, words(kept)):
        total = sum(theirs.values())
        lost = sum((theirs - have).values())
        shares.append(lost / total if total else 0.0)
    return shares[0], shares[1]


FURNITURE = re.compile(r"OFFICIAL|" + re.escape(TITLE) + r"|Page \d+ of \d+")


def boilerplate(text: str) -> float:
    got = words(text)
    total = sum(got.values())
    return sum((got - ARTICLE_WORDS).values()) / total if total else 0.0


def word_accuracy(expected: str, got: str) -> float:
    a, b = WORD.findall(expected.lower()), WORD.findall(got.lower())
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / len(a)


# -- word spacing: extractors side by side ----------------------------------------------------


def spacing_extractors() -> dict:
    from pdfminer.high_level import extract_text as pdfminer_text
    from pdfminer.layout import LAParams
    from pypdf import PdfReader

    def pypdf_plain(data):
        return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)

    def pypdf_layout(data):
        pages = PdfReader(io.BytesIO(data)).pages
        return "\n".join(p.extract_text(extraction_mode="layout") for p in pages)

    def pdfium(data):
        import pypdfium2

        document = pypdfium2.PdfDocument(data)
        return "\n".join(page.get_textpage().get_text_range() for page in document)

    def pdfminer(margin):
        return lambda data: pdfminer_text(io.BytesIO(data), laparams=LAParams(word_margin=margin))

    def ours(data):
        return " ".join(block.text for block in load_bytes(data, "file.pdf").blocks)

    return {
        "pypdf": pypdf_plain,
        "pypdf layout": pypdf_layout,
        "PDFium": pdfium,
        "pdfminer 0.1": pdfminer(0.1),
        "pdfminer 0.05": pdfminer(0.05),
        "our loader": ours,
    }


def words_found(expected: list[str], text: str) -> float:
    want = words(" ".join(expected))
    return sum((want & words(text)).values()) / sum(want.values())


def spacing_table() -> dict:
    pages = {f"words {-gap / 1000:.2f} em apart": run_together(gap) for gap in (-120, -100, -80)}
    lines = [line for page in PLAIN_PAGES for line in page]
    ordinary = plain_report()
    table = {}
    for name, extract in spacing_extractors().items():
        row = {page: words_found(RUN_TOGETHER_WORDS, extract(data)) for page, data in pages.items()}
        row["ordinary report"] = words_found(lines, extract(ordinary))
        table[name] = row
    return table


def spacing_cost(rounds: int = 25) -> dict:
    """Median seconds to load a 6-page report with and without the run-together check,
    side by side in one run (the check reads every page's text; pdfminer runs on none here)."""
    import time

    from ingest.loaders import pdf as pdf_loader

    data = government_pdf()
    checked = pdf_loader.better_spaced
    timings: dict[str, list[float]] = {"with the check": [], "without": []}
    try:
        variants = [("with the check", checked), ("without", None)]
        for round_number in range(rounds):
            # Each goes first in every other round: the first load of a pair ran slower.
            for label, spacer in variants[:: 1 if round_number % 2 else -1]:
                pdf_loader.better_spaced = spacer or (lambda data, texts: texts)
                started = time.perf_counter()
                load_bytes(data, "report.pdf")
                timings[label].append(time.perf_counter() - started)
    finally:
        pdf_loader.better_spaced = checked
    medians = {label: statistics.median(values) for label, values in timings.items()}
    medians["ratio"] = medians["with the check"] / medians["without"]
    return medians


# -- the run ----------------------------------------------------------------------------------


def run() -> dict:
    ocr = ocr_available()
    results: dict = {"ocr": ocr, "formats": {}, "cases": []}
    header_passages = report_passages = 0
    for fmt, name, data, refusal in cases(ocr):
        row = {"format": fmt, "name": name, "expected": refusal.__name__ if refusal else "accept"}
        try:
            loaded = take_in(fmt, data, ocr)
        except IngestError as exc:
            row["outcome"] = type(exc).__name__
            row["right"] = refusal is not None and isinstance(exc, refusal)
            row["message"] = str(exc)
        else:
            row["outcome"] = "accepted"
            row["right"] = refusal is None
            text = " ".join(block.text for block in loaded.blocks)
            row["passages"] = len(loaded.blocks)
            if fmt == "pdf":
                row["missing_raw"], row["missing"] = missing_words(data, text)
            if fmt == "pdf" and "report" in name:
                report_passages += len(loaded.blocks)
                header_passages += sum(1 for b in loaded.blocks if FURNITURE.search(b.text))
            if fmt == "html":
                row["boilerplate"] = boilerplate(text)
            if name.startswith("scan"):
                from test_ocr import PAGES

                expected = " ".join(line for page in PAGES for line in page)
                row["ocr_word_accuracy"] = word_accuracy(expected, text)
        results["cases"].append(row)
    for fmt in dict.fromkeys(row["format"] for row in results["cases"]):
        rows = [row for row in results["cases"] if row["format"] == fmt]
        summary = {
            "files": len(rows),
            "accepted": sum(1 for r in rows if r["outcome"] == "accepted"),
            "should accept": sum(1 for r in rows if r["expected"] == "accept"),
            "refused correctly": sum(1 for r in rows if r["expected"] != "accept" and r["right"]),
            "should refuse": sum(1 for r in rows if r["expected"] != "accept"),
            "wrong": [r["name"] for r in rows if not r["right"]],
        }
        if fmt == "pdf":
            accepted = [r for r in rows if "missing" in r]
            summary["missing words vs pdftotext, median (raw)"] = statistics.median(
                r["missing_raw"] for r in accepted
            )
            summary["missing words vs pdftotext, median (without running lines)"] = (
                statistics.median(r["missing"] for r in accepted)
            )
        if fmt == "html":
            summary["boilerplate share, median"] = statistics.median(
                r["boilerplate"] for r in rows if "boilerplate" in r
            )
        results["formats"][fmt] = summary
    results["header/footer passages on generated reports"] = (
        f"{header_passages} of {report_passages}"
    )
    scans = [r["ocr_word_accuracy"] for r in results["cases"] if "ocr_word_accuracy" in r]
    results["OCR word accuracy"] = scans[0] if scans else None
    results["word spacing (share of known words found)"] = spacing_table()
    results["word spacing check, cost on an ordinary 6-page report"] = spacing_cost()
    return results


def report(results: dict) -> None:
    print(f"OCR: {'Tesseract found' if results['ocr'] else 'off (Tesseract not installed)'}")
    print()
    print(f"{'format':<9} {'name':<34} {'expected':<18} {'outcome':<18} details")
    for row in results["cases"]:
        details = []
        if "missing_raw" in row:
            details.append(f"missing {row['missing_raw']:.1%} (w/o running {row['missing']:.1%})")
        if "boilerplate" in row:
            details.append(f"boilerplate {row['boilerplate']:.1%}")
        if "ocr_word_accuracy" in row:
            details.append(f"OCR words {row['ocr_word_accuracy']:.1%}")
        mark = "" if row["right"] else "  << WRONG"
        print(
            f"{row['format']:<9} {row['name'][:34]:<34} {row['expected']:<18} "
            f"{row['outcome']:<18} {'; '.join(details)}{mark}"
        )
    print()
    for fmt, summary in results["formats"].items():
        parts = [
            f"accepted {summary['accepted']}/{summary['should accept']}",
            f"refused correctly {summary['refused correctly']}/{summary['should refuse']}",
        ]
        for key, value in summary.items():
            if "median" in key:
                parts.append(f"{key} {value:.1%}")
        print(f"{fmt}: " + "; ".join(parts))
    key = "header/footer passages on generated reports"
    print(f"{key}: {results[key]}")
    accuracy = results["OCR word accuracy"]
    print(f"OCR word accuracy: {'n/a' if accuracy is None else f'{accuracy:.1%}'}")
    print()
    table = results["word spacing (share of known words found)"]
    columns = list(next(iter(table.values())))
    print(f"{'extractor':<14} " + " ".join(f"{c:>24}" for c in columns))
    for name, row in table.items():
        print(f"{name:<14} " + " ".join(f"{row[c]:>24.0%}" for c in columns))
    cost = results["word spacing check, cost on an ordinary 6-page report"]
    print(
        f"loading a 6-page report: {cost['with the check'] * 1000:.1f} ms with the run-together "
        f"check, {cost['without'] * 1000:.1f} ms without (ratio {cost['ratio']:.2f}, medians)"
    )


def real_pdfs(folder: Path) -> list[dict]:
    """PDFs someone else made (a folder you fetched; nothing is kept): each one's outcome, words
    missing against pdftotext, pages that looked run together, and the details the upload form
    would fill in."""
    from pypdf import PdfReader

    from ingest.details import read_details
    from ingest.loaders.pdf_spacing import looks_run_together

    rows = []
    for path in sorted(folder.rglob("*.pdf")):
        data = path.read_bytes()
        row: dict = {"name": path.name}
        try:
            details = read_details(data, path.name, "pdf")
            row["details"] = [f for f in ("title", "publisher", "year") if getattr(details, f)]
        except IngestError as exc:
            row["details"] = type(exc).__name__
        try:
            loaded = take_in("pdf", data, ocr=False)
        except IngestError as exc:
            row["outcome"] = f"{type(exc).__name__}: {exc}"
            rows.append(row)
            continue
        row["outcome"] = "accepted"
        text = " ".join(block.text for block in loaded.blocks)
        row["missing_raw"], row["missing"] = missing_words(data, text)
        try:
            pages = PdfReader(io.BytesIO(data)).pages
            row["run_together_pages"] = sum(
                1 for page in pages if looks_run_together(page.extract_text() or "")
            )
        except Exception:
            row["run_together_pages"] = None
        rows.append(row)
    return rows


def report_real(rows: list[dict]) -> None:
    print(f"{'file':<48} {'missing':>8} {'w/o run':>8} {'spaced':>6}  details / outcome")
    for row in rows:
        if row["outcome"] != "accepted":
            print(f"{row['name'][:48]:<48} {'':>8} {'':>8} {'':>6}  {row['outcome'][:90]}")
            continue
        print(
            f"{row['name'][:48]:<48} {row['missing_raw']:>8.1%} {row['missing']:>8.1%} "
            f"{row['run_together_pages'] or 0:>6}  {', '.join(row['details']) or '-'}"
        )
    accepted = [row for row in rows if row["outcome"] == "accepted"]
    if accepted:
        print(
            f"{len(accepted)} of {len(rows)} accepted; words missing against pdftotext, median: "
            f"{statistics.median(r['missing_raw'] for r in accepted):.1%} raw, "
            f"{statistics.median(r['missing'] for r in accepted):.1%} without running lines; "
            f"details found: title in {sum('title' in r['details'] for r in rows)}, "
            f"publisher in {sum('publisher' in r['details'] for r in rows)}, "
            f"year in {sum('year' in r['details'] for r in rows)} of {len(rows)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--pdf-dir",
        type=Path,
        help="also take in every PDF under this folder (real files you fetched; not kept)",
    )
    args = parser.parse_args()
    if shutil.which("pdftotext") is None:
        sys.exit("pdftotext is not installed (apt-get install poppler-utils).")
    results = run()
    if args.pdf_dir:
        results["real PDFs"] = real_pdfs(args.pdf_dir)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    report(results)
    if args.pdf_dir:
        print()
        report_real(results["real PDFs"])


if __name__ == "__main__":
    main()
