"""How much of a web page's text is the article: main-text extractors compared on real pages.

Usage:
    python bench/html_extraction.py PAGES_DIR [--lang en]

PAGES_DIR holds one folder per page with `source.html` (the page as served) and `expected.html`
(the article alone, as a person marked it up), e.g. the test pages of Mozilla's Readability
(test/test-pages in github.com/mozilla/readability; not copied into this repository). For each
extractor it prints, over the pages, the median and 90th percentile of:

- boilerplate: the share of the extracted words that are not in the article (navigation, share
  buttons, adverts, notices);
- missing: the share of the article's words that the extraction lost.

Words are compared as multisets of lower-case words, so order and markup do not count. Caveat:
Readability's expected pages are Readability.js's own output, which favours readability-lxml
(a port of it) in this comparison. trafilatura is compared only when it is installed
(`pip install trafilatura`); it is not a dependency of the project.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bs4 import BeautifulSoup  # noqa: E402

from ingest.loaders.html import load_html  # noqa: E402
from ingest.loaders.html import main_text_html  # noqa: E402

WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> Counter:
    return Counter(w.lower() for w in WORD.findall(text))


def plain(html: str) -> str:
    return BeautifulSoup(html, "lxml").get_text(" ")


def whole_page(data: bytes) -> str:
    """Every visible block of the page, as the loader read pages before main-text extraction."""
    soup = BeautifulSoup(data, "lxml")
    from ingest.loaders.common import assemble
    from ingest.loaders.html import _items  # the page walk without extraction

    blocks, _ = assemble(list(_items(soup)))
    return " ".join(b.text for b in blocks)


def loaded(data: bytes) -> str:
    return " ".join(b.text for b in load_html(data, "page.html").blocks)


def readability_lxml(data: bytes) -> str:
    from readability import Document

    return plain(Document(data.decode("utf-8", "replace")).summary())


def trafilatura(data: bytes) -> str:
    import trafilatura  # optional: see the module docstring

    return plain(
        trafilatura.extract(
            data, output_format="html", include_tables=True, include_formatting=True
        )
        or ""
    )


def main_text_only(data: bytes) -> str:
    return plain(main_text_html(data) or "")


EXTRACTORS = {
    "whole page (before)": whole_page,
    "readability-lxml": readability_lxml,
    "trafilatura": trafilatura,
    "main_text_html": main_text_only,
    "load_html (now)": loaded,
}


def score(extracted: str, expected: Counter) -> tuple[float, float]:
    got = words(extracted)
    total = sum(got.values()) or 1
    extra = sum((got - expected).values()) / total
    missing = sum((expected - got).values()) / (sum(expected.values()) or 1)
    return extra, missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pages", type=Path)
    parser.add_argument("--lang", default="en", help="only pages whose metadata has this language")
    args = parser.parse_args()
    pages = []
    for folder in sorted(p for p in args.pages.iterdir() if (p / "expected.html").exists()):
        meta = folder / "meta.json"
        lang = json.loads(meta.read_text()).get("lang") if meta.exists() else None
        if args.lang and lang and not str(lang).lower().startswith(args.lang):
            continue
        pages.append(folder)
    print(f"{len(pages)} pages")
    print(f"{'extractor':24} {'boilerplate p50':>16} {'p90':>6} {'missing p50':>12} {'p90':>6}")
    for name, extract in EXTRACTORS.items():
        if name == "trafilatura":
            try:
                import trafilatura  # noqa: F401
            except ImportError:
                print(f"{name:24} (not installed)")
                continue
        extras, missings = [], []
        for folder in pages:
            expected = words(plain((folder / "expected.html").read_text("utf-8", "replace")))
            try:
                extra, missing = score(extract((folder / "source.html").read_bytes()), expected)
            except Exception:  # an extractor that fails on a page loses all of it
                extra, missing = 0.0, 1.0
            extras.append(extra)
            missings.append(missing)
        deciles = statistics.quantiles
        print(
            f"{name:24} {statistics.median(extras):>16.1%} {deciles(extras, n=10)[-1]:>6.1%}"
            f" {statistics.median(missings):>12.1%} {deciles(missings, n=10)[-1]:>6.1%}"
        )


if __name__ == "__main__":
    main()
