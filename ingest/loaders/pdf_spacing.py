"""Words run together in a PDF page's text, spaced again from where the glyphs are drawn.

Some PDFs draw words without space characters, leaving the gap to the glyphs' positions (a
small offset in a TJ array, or each word placed on its own). pypdf gave a space for a gap of
0.15 em but none for 0.12 em (measured on generated pages), so "Sharedbackofficeservices" came
out, and such words are never found by a search. A page whose text is mostly long non-words
is read again with pdfminer.six, which places a space wherever the gap between two glyphs is
wider than WORD_MARGIN of a glyph's width, and the new text is kept when it has fewer
run-together words. pdfminer is not used for every page: its layout analysis can put lines out
of the reading order pypdf keeps.
pypdf's layout mode and PDFium (pypdfium2) were measured too and fixed fewer of the generated
cases (bench/formats.py; figures in docs/ingestion.md).
"""

from __future__ import annotations

import io
import re
from functools import lru_cache

from ingest.clean import is_word

# pdfminer's default, 0.1 of a glyph's width, still ran together words 0.08-0.1 em apart on
# the generated pages; 0.05 spaced them all (bench/formats.py).
WORD_MARGIN = 0.05
# An alphabetic run this long that is not a word, but splits into English words, is most likely
# several words run together.
_LONG_LETTERS = 15
# A page whose letters stand this much in such runs is read again.
_RUN_TOGETHER_SHARE = 0.2
# The words a run splits into must average this many letters: German compounds
# ("Inhaltsverzeichnis", "Grundbegriffe") either do not split into English words or only into
# scraps ("gr und be gr if fe", 2.2 letters); words run together average 4 or more.
_MIN_PIECE_LETTERS = 3.5
_MAX_PIECE = 20
_LETTERS = re.compile(r"[A-Za-z]+")


def run_together_share(text: str) -> float:
    """The share of the text's letters that stand in long runs of English words run together."""
    runs = _LETTERS.findall(text)
    letters = sum(len(run) for run in runs)
    long = sum(len(run) for run in runs if len(run) >= _LONG_LETTERS and _run_together(run))
    return long / letters if letters else 0.0


@lru_cache(maxsize=65536)
def _run_together(run: str) -> bool:
    run = run.lower()
    if is_word(run):
        return False
    pieces = _fewest_words(run)
    return pieces is not None and len(run) / pieces >= _MIN_PIECE_LETTERS


def _fewest_words(run: str) -> int | None:
    """The fewest English words the run splits into, or None if it does not split into words."""
    fewest: list[int | None] = [0] + [None] * len(run)
    for end in range(1, len(run) + 1):
        for start in range(max(0, end - _MAX_PIECE), end):
            before = fewest[start]
            if before is not None and _piece(run[start:end]):
                if fewest[end] is None or before + 1 < fewest[end]:
                    fewest[end] = before + 1
    return fewest[-1]


# Zipf 3.5 and 2.5 (wordfreq's scale: log10 of occurrences per billion words) as frequencies.
_SHORT_WORD_FREQUENCY = 10 ** (3.5 - 9)
_WORD_FREQUENCY = 10 ** (2.5 - 9)


def _piece(word: str) -> bool:
    """A word that can stand in a run: "a" and "i", short words only when common."""
    if len(word) == 1:
        return word in "ai"
    frequency = _frequencies().get(word, 0.0)
    return frequency >= (_SHORT_WORD_FREQUENCY if len(word) <= 3 else _WORD_FREQUENCY)


@lru_cache(maxsize=1)
def _frequencies() -> dict[str, float]:
    """wordfreq's English frequencies (the dictionary zipf_frequency reads, loaded once): a
    split tries hundreds of pieces, and a dictionary lookup is far cheaper than a call."""
    from wordfreq import get_frequency_dict

    return get_frequency_dict("en")


def looks_run_together(text: str) -> bool:
    return run_together_share(text) >= _RUN_TOGETHER_SHARE


def respaced(data: bytes, indexes: list[int]) -> dict[int, str]:
    """The pages' text read by pdfminer.six with spaces from the glyphs' positions, in one pass
    over the file; {} when that reading fails (the pages then keep pypdf's text). A text box
    (pdfminer's paragraph) ends with a blank line, as the paragraph builder expects."""
    from pdfminer.high_level import extract_pages  # only for the rare page that needs it
    from pdfminer.layout import LAParams
    from pdfminer.layout import LTTextContainer

    wanted = sorted(set(indexes))
    try:
        layouts = extract_pages(
            io.BytesIO(data), page_numbers=wanted, laparams=LAParams(word_margin=WORD_MARGIN)
        )
        return {
            index: "\n\n".join(box.get_text() for box in page if isinstance(box, LTTextContainer))
            for index, page in zip(wanted, layouts, strict=False)
        }
    except Exception:
        return {}


def better_spaced(data: bytes, texts: list[str]) -> list[str]:
    """The pages' texts, those that look run together read again with spaces from positions
    (kept where the new reading has fewer run-together words)."""
    suspects = [index for index, text in enumerate(texts) if looks_run_together(text)]
    if not suspects:
        return texts
    again = respaced(data, suspects)
    result = list(texts)
    for index, text in again.items():
        if run_together_share(text) < run_together_share(texts[index]):
            result[index] = text
    return result
