"""Bad input, fuzzed: every loader answers random, mutated and hostile files with our own error.

`ingest.loaders.load_bytes` is what an upload goes through. Whatever the bytes, it must return
blocks or raise an `IngestError` (one sentence naming the file) - never another exception, never
parsing more PDF content than the file's allowance (ingest/limits.py), never hanging, and never
growing without bound in memory.

- Mutation fuzz: small valid files made here (fpdf2 for PDF, python-docx for DOCX, HTML,
  Markdown, text) with bytes flipped, truncated, spliced, repeated and deleted, and for DOCX the
  XML inside the zip mutated too. The default run tries FAST_EXAMPLES files; the run marked slow
  tries SLOW_EXAMPLES.
- Hostile files, built to exhaust a reader: a page tree that really holds 32,768 or a million
  pages in 1 KB, a PDF claiming a million pages, 10,000 nested arrays, a FlateDecode stream that
  inflates to 200 MB, a form drawn again and again, XML entity and depth bombs, and the inputs
  that were quadratic before (unclosed HTML tags and Markdown marks). They run in a child
  process with its address space capped (RLIMIT_AS), so a bomb that got through would fail with
  MemoryError there instead of taking the machine down.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from pdf_builders import SHOW
from pdf_builders import deflated
from pdf_builders import form_drawn_again_and_again
from pdf_builders import one_page_pdf
from pdf_builders import page_tree_pdf

from ingest.details import read_details
from ingest.limits import PAGE_CONTENT
from ingest.loaders import FORMATS
from ingest.loaders import load_bytes
from ingest.service import check_kind
from kb.errors import IngestError

FAST_EXAMPLES = 150
SLOW_EXAMPLES = 3000
# Not a speed limit (speeds are measured in bench/, not asserted here): only a guard that turns
# a hang, such as the quadratic parsers these files once met (hours), into a failure.
HANG_SECONDS = 120
MEMORY_CAP = 1 << 30  # bytes of address space for the hostile-file worker


# --- seeds: small valid files of every format ------------------------------------------------


def _pdf(compress: bool) -> bytes:
    pdf = FPDF()
    pdf.set_compression(compress)
    pdf.set_title("Shared services")
    pdf.set_font("Helvetica", size=11)
    for number, title in enumerate(("Savings", "Staff")):
        pdf.add_page()
        pdf.start_section(title, level=0)
        pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
        for _ in range(2):
            pdf.multi_cell(
                0,
                6,
                f"Page {number + 1}: sharing back office services saved 1.8%.",
                new_x="LMARGIN",
                new_y="NEXT",
            )
    return bytes(pdf.output())


def _docx() -> bytes:
    document = docx.Document()
    document.add_heading("Shared services", 1)
    document.add_heading("Savings", 2)
    document.add_paragraph("Sharing back office services saved little.")
    table = document.add_table(rows=2, cols=2)
    for row, texts in zip(table.rows, (("Council", "Saving"), ("Fife", "1.8%")), strict=True):
        for cell, text in zip(row.cells, texts, strict=True):
            cell.text = text
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


HTML = (
    b"<!doctype html><html><head><title>Shared</title><script>if (a < b) {}</script></head>"
    b"<body><nav>Home</nav><h1>Shared services</h1><p>Intro <b>bold</b> &amp; <a href=x>link"
    b"</a>.</p><h2>Costs</h2><ul><li>One</li></ul><table><tr><td>A</td></tr></table>"
    b"<pre>code</pre><!-- note --></body></html>"
)
MARKDOWN = (
    b"---\ntitle: x\n---\n# Shared services\n\n<!-- page 4 -->\n## Savings ##\n\n"
    b'Intro with **bold**, _stress_, `code` and a [link](https://x.org/a_(b) "t").\n\n'
    b"- item one\n- item two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\nfenced\n```\n"
    b"Setext\n------\n\n> quoted <b>tag</b> <https://x.org>\n"
)
TEXT = "Plain text, café.\n\nA second paragraph\r\nover two lines.\n".encode("cp1252")
DOCX = _docx()
SEEDS = {
    "pdf": _pdf(compress=True),
    "pdf-plain": _pdf(compress=False),
    "docx": DOCX,
    "docx-xml": zipfile.ZipFile(io.BytesIO(DOCX)).read("word/document.xml"),
    "html": HTML,
    "markdown": MARKDOWN,
    "text": TEXT,
}
NAMES = {
    "pdf": "x.pdf",
    "pdf-plain": "x.pdf",
    "docx": "x.docx",
    "docx-xml": "x.docx",
    "html": "x.html",
    "markdown": "x.md",
    "text": "x.txt",
}
# Pieces that mean something to one parser or another, repeated to stress it.
TOKENS = [
    b"[",
    b"]",
    b"(",
    b"<<",
    b">>",
    b"<",
    b"<a ",
    b"<!--",
    b"**a ",
    b"_a ",
    b"![",
    b"<http:a",
    b"# ",
    b"|",
    b"\x00",
    b"\xff\xfe",
    b"\r",
    b"%%EOF",
    b" 0 obj ",
    b"endstream",
    b" 1 0 R ",
    b"/Count 99999 ",
    b"BT (x) Tj ET ",
    b"<w:p>",
    b"<w:tbl><w:tr><w:tc>",
    b"&lol;",
    b"PK\x03\x04",
]


def _rezip(xml: bytes) -> bytes:
    """The seed DOCX with its document.xml replaced."""
    source = zipfile.ZipFile(io.BytesIO(DOCX))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in source.infolist():
            data = xml if member.filename == "word/document.xml" else source.read(member)
            archive.writestr(member.filename, data)
    return out.getvalue()


@st.composite
def mutated_files(draw) -> tuple[bytes, str]:
    """A seed file with one to six mutations; mostly under its own extension, sometimes not."""
    kind = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[kind])
    for _ in range(draw(st.integers(1, 6))):
        operation = draw(st.sampled_from(["flip", "set", "truncate", "splice", "repeat", "cut"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        end = draw(st.integers(at, min(len(data), at + 4000)))
        if operation == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif operation == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif operation == "truncate":
            del data[at:]
        elif operation == "splice":
            donor = SEEDS[draw(st.sampled_from(sorted(SEEDS)))]
            start = draw(st.integers(0, len(donor)))
            data[at:at] = donor[start : start + draw(st.integers(0, 3000))]
        elif operation == "repeat":
            piece = draw(st.sampled_from(TOKENS)) if draw(st.booleans()) else data[at:end][:50]
            data[at:at] = bytes(piece) * draw(st.integers(1, 2000))
        elif operation == "cut":
            del data[at:end]
    if kind == "docx-xml":
        data = bytearray(_rezip(bytes(data)))
    name = NAMES[kind] if draw(st.integers(0, 9)) else draw(st.sampled_from(sorted(NAMES.values())))
    return bytes(data), name


@contextlib.contextmanager
def time_limit(seconds: float):
    """Fail instead of hanging (SIGALRM: only where pytest runs us, in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(*_):
        raise TimeoutError(f"reading took more than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_loads_or_refuses(data: bytes, name: str) -> None:
    with time_limit(HANG_SECONDS):
        try:
            loaded = load_bytes(data, name)
        except IngestError as exc:
            message = str(exc)
            assert name in message and "\n" not in message and message.endswith("."), message
        else:
            assert loaded.blocks and all(block.text.strip() for block in loaded.blocks)


def test_every_seed_loads():
    for kind, data in SEEDS.items():
        if kind != "docx-xml":
            assert load_bytes(data, NAMES[kind]).blocks, kind


@settings(
    max_examples=FAST_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_files())
def test_mutated_files_load_or_fail_with_an_ingest_error(case):
    check_loads_or_refuses(*case)


@settings(
    max_examples=FAST_EXAMPLES // 3,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_files())
def test_mutated_files_give_their_details_or_one_sentence(case):
    """The upload form's prefill (POST /admin/upload/details) never fails but in a sentence."""
    data, name = case
    with time_limit(HANG_SECONDS):
        try:
            name = check_kind(data, name, None)
            read_details(data, name, FORMATS[Path(name).suffix.lower()])
        except IngestError as exc:
            message = str(exc)
            assert name in message and "\n" not in message and message.endswith("."), message


@pytest.mark.slow
@settings(
    max_examples=SLOW_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_files())
def test_mutated_files_long_run(case):
    check_loads_or_refuses(*case)


@settings(max_examples=FAST_EXAMPLES // 3, deadline=None, database=None)
@given(
    name=st.sampled_from(sorted(set(NAMES.values()))),
    data=st.one_of(st.binary(max_size=3000), st.text(max_size=2000).map(str.encode)),
)
def test_random_bytes_load_or_fail_with_an_ingest_error(name, data):
    check_loads_or_refuses(data, name)


# --- hostile files ---------------------------------------------------------------------------


def docx_with_xml(xml: bytes) -> bytes:
    return _rezip(xml)


W = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
LAUGHS = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY lol "lol">' + b"".join(
    b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
    for i in range(1, 10)
)


def hostile_files() -> list[dict]:
    """Each case: name, bytes, the error class expected (None: may load), a message part."""
    nested = b"[" * 10_000 + b"]" * 10_000
    return [
        dict(
            name="claims-a-million-pages.pdf",
            data=one_page_pdf(SHOW, count=1_000_000),
            # pypdf counts the page tree itself: the claim is ignored, the one page is read.
            expect=None,
            pages=1,
        ),
        dict(
            name="32768-pages.pdf",
            data=page_tree_pdf(depth=5, fan=8),
            expect="FileTooLarge",
            says="has 32,768 pages, over the limit of 5,000.",
        ),
        dict(
            name="a-million-pages.pdf",
            data=page_tree_pdf(depth=6, fan=10),
            expect="FileTooLarge",
            says="goes beyond what the PDF reader safely handles",
        ),
        dict(
            name="nested-arrays.pdf",
            data=one_page_pdf(SHOW).replace(b"/MediaBox", b"/Nest " + nested + b" /MediaBox"),
            expect="CorruptFile",
        ),
        dict(
            name="nested-arrays-in-content.pdf",
            data=one_page_pdf(b"BT /F1 12 Tf " + nested[:10_000] + b"(x)" + nested[10_000:]),
            expect="CorruptFile",
        ),
        dict(
            name="nested-dictionaries.pdf",
            data=one_page_pdf(SHOW, more=[b"<< /A " * 10_000 + b"1" + b" >>" * 10_000]),
            expect="any",
        ),
        dict(
            name="flate-bomb.pdf",
            data=one_page_pdf(deflated(SHOW, 200), extra=b"/Filter /FlateDecode"),
            expect="FileTooLarge",
            says="Limit reached while decompressing",
        ),
        dict(
            name="form-drawn-200-times.pdf",
            data=form_drawn_again_and_again(times=200, megabytes=4),
            expect="FileTooLarge",
            says="of page content from",
        ),
        dict(
            name="cyclic-page-tree.pdf",
            data=one_page_pdf(SHOW).replace(b"/Kids [3 0 R]", b"/Kids [3 0 R 2 0 R]"),
            expect="CorruptFile",
        ),
        dict(
            name="billion-laughs.docx",
            data=docx_with_xml(
                LAUGHS + b"]><w:document " + W + b"><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r>"
                b"</w:p></w:body></w:document>"
            ),
            expect="CorruptFile",
        ),
        dict(
            name="deep-xml.docx",
            data=docx_with_xml(
                b"<w:document "
                + W
                + b"><w:body>"
                + b"<w:p>" * 10_000
                + b"</w:p>" * 10_000
                + b"</w:body></w:document>"
            ),
            expect="CorruptFile",
        ),
        dict(
            name="external-entity.docx",
            data=docx_with_xml(
                b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b"<w:document " + W + b"><w:body><w:p><w:r><w:t>&x;</w:t></w:r></w:p>"
                b"</w:body></w:document>"
            ),
            expect="any",
            never="root:",
        ),
        # Quadratic before (html.parser rescanned to the end for every unclosed "<"; the
        # Markdown marks rescanned to the end of the paragraph): now a fraction of a second.
        dict(name="unclosed-tags.html", data=b"<html>" + b"<a " * 100_000, expect="any"),
        dict(name="unclosed-comments.html", data=b"<html>" + b"<!--" * 100_000, expect="any"),
        dict(
            name="nested-divs.html",
            data=b"<html>" + b"<div>" * 20_000 + b"Deep text." + b"</div>" * 20_000,
            expect=None,
        ),
        dict(name="unclosed-bold.md", data=b"**a " * 100_000, expect=None),
        dict(name="unclosed-italic.md", data=b"_a " * 100_000, expect=None),
        dict(name="unclosed-brackets.md", data=b"x " + b"![" * 100_000, expect=None),
        dict(name="unclosed-autolinks.md", data=b"<http:a" * 100_000, expect=None),
        dict(name="unclosed-tag.md", data=b"<a " * 100_000, expect="any"),
        dict(name="heading-of-spaces.md", data=b"## a" + b" \t" * 100_000 + b"x\n\nb", expect=None),
        dict(name="table-of-spaces.md", data=b"|" + b" " * 200_000 + b"x", expect=None),
        dict(name="spaces-before-a-footnote.md", data=b"a" + b" " * 200_000 + b"[^k]", expect=None),
        dict(name="unclosed-footnotes.md", data=b"text [^" * 50_000, expect=None),
        dict(name="long-definition.md", data=b'[^a]: x (2011) "' * 30_000, expect=None),
        dict(name="one-long-line.txt", data=b"word " * 200_000, expect=None),
    ]


WORKER = r"""
import json, resource, sys, time
cap = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
from pypdf.generic import ContentStream
from ingest.loaders import load_bytes
parsed = [0]
parse = ContentStream._parse_content_stream
def counting(self, stream):
    parsed[0] += len(stream.getbuffer())
    return parse(self, stream)
ContentStream._parse_content_stream = counting
for line in sys.stdin:
    case = json.loads(line)
    data = open(case["path"], "rb").read()
    parsed[0] = 0
    started = time.perf_counter()
    result = {"name": case["name"], "error": None, "message": "", "pages": None, "text": ""}
    try:
        loaded = load_bytes(data, case["name"])
        result["pages"] = loaded.page_count
        result["text"] = " ".join(block.text for block in loaded.blocks)[:2000]
    except Exception as exc:
        result["error"] = type(exc).__name__
        result["message"] = str(exc)
        result["ours"] = type(exc).__module__ == "kb.errors"
    result["parsed"] = parsed[0]  # bytes of PDF content stream parsed
    result["seconds"] = round(time.perf_counter() - started, 3)  # shown, never asserted
    # VmHWM is this program's own peak; ru_maxrss is not: Linux carries it over from the
    # process that started this one, so a test run that loaded the model would show ~1 GB.
    with open("/proc/self/status") as status:
        hwm = next(line for line in status if line.startswith("VmHWM:"))
    result["peak_mb"] = int(hwm.split()[1]) // 1024
    print(json.dumps(result), flush=True)
"""


def run_hostile(tmp_path, cases: list[dict]) -> dict[str, dict]:
    """Load each case in one child process whose address space is capped at MEMORY_CAP."""
    lines = []
    for case in cases:
        path = tmp_path / case["name"]
        path.write_bytes(case["data"])
        lines.append(
            json.dumps({**{k: v for k, v in case.items() if k != "data"}, "path": str(path)})
        )
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(MEMORY_CAP)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=HANG_SECONDS * len(cases),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return {result["name"]: result for result in map(json.loads, done.stdout.splitlines())}


def test_hostile_files_are_refused_within_their_work_allowance_and_memory(tmp_path):
    cases = hostile_files()
    results = run_hostile(tmp_path, cases)
    assert set(results) == {case["name"] for case in cases}
    for case in cases:
        result = results[case["name"]]
        label = f"{case['name']}: {result}"
        if case["name"].endswith(".pdf"):  # the work done: bounded by what the file may expand to
            assert result["parsed"] <= PAGE_CONTENT.limit(len(case["data"])), label
        if result["error"] is not None:
            assert result["ours"], label  # IngestError subclasses only (kb.errors)
            assert case["expect"] is not None, label  # this one should have loaded
            message = result["message"]
            assert case["name"] in message and "\n" not in message, label
        if case["expect"] not in (None, "any"):
            assert result["error"] == case["expect"], label
            assert case.get("says", "") in result["message"], label
        if "pages" in case:
            assert result["pages"] == case["pages"], label
        if "never" in case:
            assert case["never"] not in result["text"], label
    # The bomb inflates to 200 MB; it must have been stopped long before.
    assert results["flate-bomb.pdf"]["peak_mb"] < 600
    assert results["nested-divs.html"]["text"] == "Deep text."
