"""PDFs written byte by byte, for the tests of hostile and oversized files.

Each builder returns a complete file with a correct cross-reference table, so pypdf reads it
without repairs: what it does with the file is what the file asks for.
"""

from __future__ import annotations

import zlib


def build_pdf(objects: list[bytes]) -> bytes:
    """A PDF from raw object bodies (object 1 is the catalog), with a correct xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def pdf_stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s >>\nstream\n%s\nendstream" % (len(data), extra, data)


FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
SHOW = b"BT /F1 12 Tf 72 720 Td (Shared services save little.) Tj ET"
RESOURCES = b"/Resources << /Font << /F1 5 0 R >> /XObject << /X 6 0 R >> >>"


def one_page_pdf(content: bytes, *, count: int = 1, extra: bytes = b"", more=()) -> bytes:
    return build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count %d >>" % count,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R %s >>"
            % RESOURCES,
            pdf_stream(content, extra),
            FONT,
            *more,
        ]
    )


def page_tree_pdf(depth: int, fan: int) -> bytes:
    """Each /Pages node lists the next one `fan` times: fan**depth real pages in 1 KB."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    for level in range(depth):
        kids = b" ".join([b"%d 0 R" % (level + 3)] * fan)
        objects.append(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, fan ** (depth - level)))
    leaf = depth + 2
    objects.append(
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R"
        b" /Resources << /Font << /F1 %d 0 R >> >> >>" % (leaf - 1, leaf + 1, leaf + 2)
    )
    objects += [pdf_stream(SHOW), FONT]
    return build_pdf(objects)


def deflated(head: bytes, megabytes: int) -> bytes:
    packer = zlib.compressobj(1)  # fast; 200 MB of spaces still packs into 1 MB
    spaces = b" " * (1 << 20)
    parts = [packer.compress(head + b"\n")]
    parts += [packer.compress(spaces) for _ in range(megabytes)]
    return b"".join(parts) + packer.flush()


def form_drawn_again_and_again(times: int, megabytes: int) -> bytes:
    """A 10 KB page that draws one large form (an XObject) again and again."""
    form = pdf_stream(
        deflated(SHOW, megabytes),
        b"/Filter /FlateDecode /Type /XObject /Subtype /Form /BBox [0 0 10 10] "
        b"/Resources << /Font << /F1 5 0 R >> >>",
    )
    return one_page_pdf(SHOW + b" /X Do" * times, more=[form])


def text_lines(count: int, *, period: int = 1) -> bytes:
    """A content stream of `count` lines of shown text, repeating every `period` lines (a
    longer period compresses less)."""
    line = b"(Shared services saved %d.) Tj T*\n"
    lines = (line % (i % period * 7919 % 10007) for i in range(count))
    return b"BT /F1 12 Tf 72 720 Td\n" + b"".join(lines) + b"ET"


def pages_sharing_one_stream(pages: int, content: bytes) -> bytes:
    """`pages` pages whose /Contents are all the same compressed stream."""
    packed = zlib.compress(content, 9)
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R"
        b" /Resources << /Font << /F1 4 0 R >> >> >>"
    )
    return build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
            pdf_stream(packed, b"/Filter /FlateDecode"),
            FONT,
            *[page] * pages,
        ]
    )


def filled_form() -> bytes:
    """A two-page consultation response form, filled in: two text fields, an empty one, a
    ticked and an unticked box, a radio group, and one field with a widget on both pages.
    The values live only in the fields (no appearance streams), as many form fillers save them.
    """
    widget = b"/Type /Annot /Subtype /Widget"
    page = (
        b"/Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >>"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [8 0 R 9 0 R 10 0 R 11 0 R"
        b" 12 0 R 13 0 R 16 0 R] >> >>",
        b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
        b"<< %s /Contents 6 0 R /Annots [8 0 R 9 0 R 10 0 R 11 0 R 12 0 R 14 0 R 15 0 R"
        b" 17 0 R] >>" % page,
        b"<< %s /Contents 7 0 R /Annots [18 0 R] >>" % page,
        FONT,
        pdf_stream(b"BT /F1 14 Tf 72 720 Td (Consultation response on shared services) Tj ET"),
        pdf_stream(b"BT /F1 12 Tf 72 720 Td (Thank you for responding to the review.) Tj ET"),
        # 8-12: fields that are their own widgets, on page 1.
        b"<< %s /FT /Tx /T (org) /TU (Organisation name) /V (Angus Council)"
        b" /Rect [72 640 400 660] >>" % widget,
        b"<< %s /FT /Tx /T (view) /TU (Your view on a shared payroll office)"
        b" /V (It saved money in its first year) /Rect [72 500 400 520] >>" % widget,
        b"<< %s /FT /Tx /T (phone) /V () /Rect [72 480 400 495] >>" % widget,
        b"<< %s /FT /Btn /T (publish) /TU (We agree to publication) /V /Yes /AS /Yes"
        b" /Rect [72 600 90 618] >>" % widget,
        b"<< %s /FT /Btn /T (anonymous) /TU (Respond anonymously) /V /Off /AS /Off"
        b" /Rect [72 580 90 598] >>" % widget,
        # 13: a radio group (a field whose kids are its widgets, 14 and 15), on page 1.
        b"<< /FT /Btn /Ff 49152 /T (model) /TU (Preferred model) /V /Joint"
        b" /Kids [14 0 R 15 0 R] >>",
        b"<< %s /Parent 13 0 R /AS /Joint /Rect [72 440 90 458] >>" % widget,
        b"<< %s /Parent 13 0 R /AS /Off /Rect [72 420 90 438] >>" % widget,
        # 16: one field with a widget on each page (17 and 18).
        b"<< /FT /Tx /T (ref) /TU (Reference) /V (CV-2010-7) /Kids [17 0 R 18 0 R] >>",
        b"<< %s /Parent 16 0 R /Rect [400 740 560 760] >>" % widget,
        b"<< %s /Parent 16 0 R /Rect [400 740 560 760] >>" % widget,
    ]
    return build_pdf(objects)


RUN_TOGETHER_WORDS = (
    "Shared back office services were introduced by the two councils in order to reduce the "
    "cost of payroll and procurement while keeping local jobs in the area"
).split()


def run_together(gap: int = -100, per_line: int = 8, before: bytes | None = None) -> bytes:
    """A page whose words are drawn apart by a TJ offset (gap thousandths of an em) and no
    space characters, as some typesetters write them; with `before`, the content of an ordinary
    page ahead of it."""
    lines = [
        RUN_TOGETHER_WORDS[i : i + per_line] for i in range(0, len(RUN_TOGETHER_WORDS), per_line)
    ]
    shown = b" ".join(
        b"[%s] TJ T*" % (b" %d " % gap).join(b"(%s)" % w.encode() for w in line) for line in lines
    )
    content = b"BT /F1 12 Tf 72 720 Td 14 TL " + shown + b" ET"
    if before is None:
        return one_page_pdf(content)
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R"
        b" /Resources << /Font << /F1 7 0 R >> >> >>"
    )
    return build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
            page % 5,
            page % 6,
            pdf_stream(before),
            pdf_stream(content),
            FONT,
        ]
    )
