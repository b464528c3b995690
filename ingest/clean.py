"""Cleaning extracted page text: what a reader sees, not what the file happens to hold.

- Unicode NFKC, so ligatures ("ﬁlled") and compatibility forms search as plain letters.
- Control and private-use characters removed (a PDF's minus sign can come out as "\\x00").
- Running headers and footers (lines repeated at the top or bottom of most pages, allowing for
  page numbers) recognised per document and left out.
- Words broken by a line-end hyphen joined when the joined word is a word: in the document
  itself, or in an English word list (wordfreq), and the hyphenated form is not used elsewhere.
- A text-quality score, so a PDF whose text layer is garbage (a wrong font map, a shifted
  alphabet) is refused instead of being taken in as if it were fine.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

# Lines this near the top or bottom of a page may be running headers or footers.
_EDGE_LINES = 3
# A line is running when it stands at a page edge on at least this share of pages (and on at
# least _MIN_PAGES pages): alternate left/right headers each reach about half.
_RUNNING_SHARE = 0.4
_MIN_PAGES = 3
_ROMAN = re.compile(r"\b[ivxlcdm]{1,7}\b")
_NUMBER = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
_BROKEN_WORD = re.compile(r"([A-Za-z]{2,})-[ \t]*\n[ \t]*([a-z]{2,})")
_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
_KEEP_CONTROLS = frozenset("\n\t")
# wordfreq's Zipf scale: 1.0 is about once per 100 million words. Below it a "word" is a name,
# a typo or garbage.
_KNOWN_ZIPF = 1.0


def normalise(text: str) -> str:
    """NFKC, then without control (other than newline and tab) and private-use characters."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(
        ch
        for ch in text
        if ch in _KEEP_CONTROLS or unicodedata.category(ch) not in ("Cc", "Co", "Cs")
    )


def _line_key(line: str) -> str:
    """A line with its page numbers (digits, roman numerals) made alike, for comparing pages."""
    key = _SPACE.sub(" ", line.strip().lower())
    return _ROMAN.sub("#", _NUMBER.sub("#", key))


def _edges(lines: list[str]) -> list[int]:
    """Indexes of the first and last few non-empty lines of a page."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return sorted(set(filled[:_EDGE_LINES] + filled[-_EDGE_LINES:]))


def running_lines(pages: list[str]) -> set[str]:
    """The keys of lines that run at the top or bottom of most pages of this document."""
    if len(pages) < _MIN_PAGES:
        return set()
    seen: Counter[str] = Counter()
    for page in pages:
        lines = page.splitlines()
        seen.update({_line_key(lines[i]) for i in _edges(lines)})
    needed = max(_MIN_PAGES, _RUNNING_SHARE * len(pages))
    return {key for key, count in seen.items() if count >= needed and key}


def strip_running_lines(pages: list[str]) -> list[str]:
    """The pages without their running headers and footers (the body keeps any such line)."""
    running = running_lines(pages)
    if not running:
        return pages
    result = []
    for page in pages:
        lines = page.splitlines()
        drop = {i for i in _edges(lines) if _line_key(lines[i]) in running}
        result.append("\n".join(line for i, line in enumerate(lines) if i not in drop))
    return result


def vocabulary(pages: list[str]) -> tuple[set[str], set[str]]:
    """The document's own words, and its hyphenated compounds written on one line."""
    words: set[str] = set()
    compounds: set[str] = set()
    for page in pages:
        words.update(w.lower() for w in _WORD.findall(page))
        compounds.update(m.lower() for m in re.findall(r"\b[A-Za-z]+-[A-Za-z]+\b", page))
    return words, compounds


def join_broken_words(text: str, words: set[str], compounds: set[str]) -> str:
    """Join "algo-\\nrithm" into "algorithm" when that is a word and "algo-rithm" is not used.

    A compound the document writes with a hyphen elsewhere ("co-operation") keeps it; the line
    break is left for the paragraph builder, which joins the halves with the hyphen.
    """

    def decide(match: re.Match) -> str:
        head, tail = match[1], match[2]
        joined = (head + tail).lower()
        if f"{head}-{tail}".lower() not in compounds and (joined in words or is_word(joined)):
            return f"{head}{tail}\n"
        return match[0]

    return _BROKEN_WORD.sub(decide, text)


@lru_cache(maxsize=65536)
def is_word(word: str) -> bool:
    """An English word (British or American spelling), by wordfreq's frequency lists."""
    from wordfreq import zipf_frequency  # a few MB of lists: loaded only when ingesting

    return zipf_frequency(word, "en") >= _KNOWN_ZIPF


@dataclass(frozen=True)
class Quality:
    """How much of a text looks like real text."""

    words: int  # alphabetic words of two or more letters
    known: float  # share of those that are English words
    odd_characters: float  # share of characters that are control, private-use or replacement

    @property
    def garbled(self) -> bool:
        """Mostly not words: a wrong font map or a shifted alphabet, not a real text layer."""
        return self.odd_characters > 0.05 or (self.words >= 20 and self.known < 0.5)


def quality(text: str) -> Quality:
    """Score a page's (or a document's) extracted text; see Quality.garbled."""
    words = [w.lower() for w in _WORD.findall(text) if len(w) >= 2]
    # Sample evenly: a 2,000-page report need not look up every word to be judged.
    sample = words[:: max(1, len(words) // 2000)]
    known = sum(1 for w in sample if is_word(w)) / len(sample) if sample else 1.0
    odd = sum(
        1
        for ch in text
        if ch == "\ufffd"
        or (ch not in _KEEP_CONTROLS and unicodedata.category(ch) in ("Cc", "Co", "Cs"))
    )
    return Quality(len(words), known, odd / len(text) if text else 0.0)


def clean_pages(pages: list[str]) -> list[str]:
    """Normalise, drop running headers and footers, and join hyphen-broken words."""
    pages = strip_running_lines([normalise(page) for page in pages])
    words, compounds = vocabulary(pages)
    return [join_broken_words(page, words, compounds) for page in pages]
