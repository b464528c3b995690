"""The myths "The front line starts here" challenges, each with an answer and cited evidence.

`corpus/myths.toml` pins quotes (verbatim phrases) to documents; a pinned quote must sit inside
one stored passage, so a changed document or splitter that breaks it is caught by `kb ingest` and
`kb check`. The evidence for a myth is its pinned passages first, then the best passages its
search queries find. A search query can be matched to the nearest myth by embedding similarity.
"""

from __future__ import annotations

import re
import threading
import tomllib
import weakref
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kb.citations import cite
from kb.citations import last_section
from kb.citations import permalink
from kb.embedder import Embedder
from kb.embedder import normalise
from kb.errors import CatalogError
from kb.errors import NotFound
from kb.models import Citation
from kb.models import Document
from kb.models import Passage
from kb.models import Span
from kb.serialize import document_to_dict

if TYPE_CHECKING:
    from kb.search import KnowledgeBase
    from kb.store import Store

# Cosine similarity (all-MiniLM-L6-v2) from which a query is taken to be about a myth, the myth's
# vector being the mean of its claim's and its queries' embeddings. Measured with
# bench/myth_threshold.py on 40 paraphrases of the ten claims and 30 unrelated queries on the
# same subject: paraphrases scored 0.315-0.850 (median 0.629) against their best myth, unrelated
# queries 0.108-0.506 (median 0.298); the own myth came first for 37 of 40. Thresholds above
# 0.465 and up to 0.483 make the fewest errors (9 of 70); 0.474 is the middle. At 0.474, 32 of 40
# paraphrases get their own myth, 1 a wrong one, 7 none; 29 of 30 unrelated get none.
MATCH_THRESHOLD = 0.474

PER_DOCUMENT = 3  # at most this many retrieved passages from one document, while others exist
QUOTE_SPAN_KIND = "quote"
# Sections that list references rather than say anything quotable (see corpus/README.md).
UNQUOTABLE_SECTIONS = frozenset({"sources", "references", "bibliography"})
_REQUIRED = ("id", "claim", "answer", "queries", "evidence")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
_SENTENCE_END = re.compile(r"\w[.!?][\"'”’)]*(?:\s|$)")
_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"'})


@dataclass(frozen=True)
class PinnedQuote:
    """A verbatim phrase from a document that answers a myth."""

    document_id: str
    quote: str


@dataclass(frozen=True)
class Myth:
    """A claim the report challenges, our answer to it, and where the evidence is."""

    id: str
    claim: str
    answer: str
    queries: tuple[str, ...]
    evidence: tuple[PinnedQuote, ...]


@dataclass
class Evidence:
    """A passage that answers a myth, shaped like a search hit.

    Attributes:
        pinned: True for a passage holding a pinned quote, False for one found by search.
        quote: the pinned quote (the first, if the passage holds several); None when retrieved.
        highlights: spans into `passage.text`; kind "quote" marks each pinned quote, while
            retrieved passages carry the search's "sentence" and "term" spans.
        score: for retrieved passages, the search score from the query that ranked it best.
    """

    passage: Passage
    document: Document
    citation: Citation
    url: str
    pinned: bool
    quote: str | None = None
    highlights: list[Span] = field(default_factory=list)
    score: float | None = None


# -- loading ----------------------------------------------------------------------------------


def load_myths(path: Path) -> list[Myth]:
    """Read and check `myths.toml`.

    Args:
        path: the myths file.

    Returns:
        The myths in file order.

    Raises:
        CatalogError: the file is missing or not TOML, a myth lacks a field or has one of the
            wrong type, or two myths share an id.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CatalogError(f"The myths file {path} does not exist.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"The myths file {path} is not valid TOML: {exc}.") from exc
    raw_myths = data.get("myth")
    if not isinstance(raw_myths, list) or not raw_myths:
        raise CatalogError(f"The myths file {path} holds no [[myth]] entries.")
    myths: list[Myth] = []
    seen: set[str] = set()
    for number, raw in enumerate(raw_myths, start=1):
        myth = _parse_myth(raw, f"Myth {number} ({raw.get('id', 'no id')}) in {path}")
        if myth.id in seen:
            raise CatalogError(f"The myths file {path} uses the id {myth.id!r} twice.")
        seen.add(myth.id)
        myths.append(myth)
    return myths


def _parse_myth(raw: dict, where: str) -> Myth:
    missing = [name for name in _REQUIRED if name not in raw]
    if missing:
        raise CatalogError(f"{where} lacks {', '.join(missing)}.")
    for name in ("id", "claim", "answer"):
        if not isinstance(raw[name], str) or not raw[name].strip():
            raise CatalogError(f"{where} needs {name} to be non-empty text.")
    if not _SLUG.match(raw["id"]):
        raise CatalogError(f"{where} needs an id of lower-case letters, digits and hyphens.")
    queries = raw["queries"]
    if not isinstance(queries, list) or not queries or not all(_is_text(q) for q in queries):
        raise CatalogError(f"{where} needs queries to be a non-empty list of text.")
    evidence = raw["evidence"]
    if not isinstance(evidence, list) or not evidence:
        raise CatalogError(f"{where} needs at least one [[myth.evidence]] entry.")
    pinned = []
    for entry in evidence:
        if not isinstance(entry, dict) or not (
            _is_text(entry.get("document")) and _is_text(entry.get("quote"))
        ):
            raise CatalogError(f"{where} has an evidence entry without a document and a quote.")
        pinned.append(PinnedQuote(entry["document"].strip(), entry["quote"].strip()))
    return Myth(
        id=raw["id"],
        claim=raw["claim"].strip(),
        answer=raw["answer"].strip(),
        queries=tuple(q.strip() for q in queries),
        evidence=tuple(pinned),
    )


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


# -- pinned quotes ----------------------------------------------------------------------------


def _fold(text: str) -> tuple[str, list[int]]:
    """Text lower-cased, curly quotes straightened and whitespace runs made one space, with the
    index in the original text of each folded character."""
    chars: list[str] = []
    where: list[int] = []
    for index, char in enumerate(text):
        if char.isspace():
            if chars and chars[-1] != " ":
                chars.append(" ")
                where.append(index)
            continue
        for folded in char.translate(_QUOTES).lower():
            chars.append(folded)
            where.append(index)
    return "".join(chars), where


def _folded(text: str) -> str:
    """The folded text alone, quickly (string methods in C), for containment tests."""
    return " ".join(text.translate(_QUOTES).lower().split())


def contains_quote(text: str, quote: str) -> bool:
    """Whether the quote is in the text, ignoring case, whitespace and curly quotation marks."""
    needle = _folded(quote)
    return bool(needle) and needle in _folded(text)


def quote_span(text: str, quote: str) -> tuple[int, int] | None:
    """Where a quote sits in a text, ignoring case and whitespace differences, as (start, end)
    offsets into the text; None when it is not there."""
    needle, _ = _fold(quote)
    needle = needle.strip()
    if not needle:
        return None
    haystack, where = _fold(text)
    start = haystack.find(needle)
    if start < 0:
        return None
    return where[start], where[start + len(needle) - 1] + 1


def resolve_quote(store: Store, pinned: PinnedQuote) -> Passage | None:
    """The first passage of the quote's document that contains the whole quote.

    The quote must lie inside one passage: a quote that only spans two consecutive passages
    does not resolve, so that the passage shown always holds the words quoted.
    """
    return _first_holding(store.passages_of(pinned.document_id), pinned.quote)


def _first_holding(passages: Sequence[Passage], quote: str) -> Passage | None:
    return next((p for p in passages if contains_quote(p.text, quote)), None)


def check_pinned(myths: Sequence[Myth], store: Store, *, missing_ok: bool = False) -> list[str]:
    """One sentence per pinned quote that no longer matches a passage (empty when all do).

    A quote whose document is not in the store counts as broken, unless missing_ok (a data
    folder holding other documents than the corpus, where only present documents are checked).
    """
    problems = []
    passages: dict[str, list[Passage]] = {}
    for myth in myths:
        for pinned in myth.evidence:
            if pinned.document_id not in passages:
                passages[pinned.document_id] = store.passages_of(pinned.document_id)
            found = passages[pinned.document_id]
            words = _first_words(pinned.quote)
            if not found and not missing_ok:
                problems.append(
                    f'Myth {myth.id!r} pins the quote "{words}" to {pinned.document_id!r}, '
                    f"which is not in the store."
                )
            elif found and _first_holding(found, pinned.quote) is None:
                problems.append(
                    f'Myth {myth.id!r} pins the quote "{words}" to {pinned.document_id!r}, '
                    f"but no passage of that document contains it."
                )
    return problems


def _first_words(quote: str, count: int = 8) -> str:
    words = quote.split()
    return " ".join(words[:count]) + ("…" if len(words) > count else "")


# -- evidence ---------------------------------------------------------------------------------


def myth_evidence(kb: KnowledgeBase, myth: Myth, k: int = 8) -> list[Evidence]:
    """The evidence for a myth: its pinned passages, then up to k passages found by search.

    Args:
        kb: the knowledge base to read and search.
        myth: the myth.
        k: how many retrieved passages to add after the pinned ones (pinned are always all
            shown; a quote that no longer resolves is left out, as `kb check` reports it).

    Returns:
        Pinned evidence in file order (quotes sharing a passage are merged into one entry),
        then retrieved evidence best first: no duplicate or mostly overlapping passages, none
        without a full sentence (tag lines, lists of sources), and at most PER_DOCUMENT from
        one document unless too few others exist.
    """
    pinned = pinned_evidence(kb.store, myth)
    return pinned + retrieved_evidence(kb, myth, k, pinned)


def pinned_evidence(store: Store, myth: Myth) -> list[Evidence]:
    """The passages holding the myth's pinned quotes, each with its quote highlighted."""
    found: dict[int, Evidence] = {}
    documents: dict[str, Document] = {}
    passages: dict[str, list[Passage]] = {}
    for pinned in myth.evidence:
        if pinned.document_id not in passages:
            passages[pinned.document_id] = store.passages_of(pinned.document_id)
        passage = _first_holding(passages[pinned.document_id], pinned.quote)
        if passage is None:
            continue
        start, end = quote_span(passage.text, pinned.quote) or (0, 0)
        span = Span(start, end, QUOTE_SPAN_KIND)
        if passage.id in found:
            found[passage.id].highlights.append(span)
            continue
        if passage.document_id not in documents:
            documents[passage.document_id] = store.get_document(passage.document_id)
        document = documents[passage.document_id]
        found[passage.id] = Evidence(
            passage=passage,
            document=document,
            citation=cite(document, passage),
            url=permalink(passage),
            pinned=True,
            quote=pinned.quote,
            highlights=[span],
        )
    for evidence in found.values():
        evidence.highlights.sort(key=lambda s: s.start)
    return list(found.values())


def retrieved_evidence(
    kb: KnowledgeBase, myth: Myth, k: int, pinned: Sequence[Evidence] = ()
) -> list[Evidence]:
    """Up to k passages for the myth's queries, fused by best rank, pinned ones left out."""
    if k <= 0:
        return []
    from kb.search import MAX_K

    per_query = min(MAX_K, 3 * k + len(pinned))
    # passage id -> [best rank over the queries, how many queries found it, hit at best rank]
    found: dict[int, list] = {}
    for query in myth.queries or (myth.claim,):
        for rank, hit in enumerate(kb.search(query, k=per_query), start=1):
            seen = found.get(hit.passage.id)
            if seen is None:
                found[hit.passage.id] = [rank, 1, hit]
                continue
            seen[1] += 1
            if rank < seen[0]:
                seen[0], seen[2] = rank, hit
    ranked = sorted(found.values(), key=lambda s: (s[0], -s[1], -s[2].score, s[2].passage.id))
    chosen = _spread(
        [hit for _, _, hit in ranked],
        k,
        [e.passage for e in pinned],
        [_folded(p.quote) for p in myth.evidence if _folded(p.quote)],
    )
    return [
        Evidence(
            passage=hit.passage,
            document=hit.document,
            citation=hit.citation,
            url=hit.url,
            pinned=False,
            highlights=list(hit.highlights),
            score=hit.score,
        )
        for hit in chosen
    ]


def _spread(ranked: list, k: int, pinned: list[Passage], quotes: list[str]) -> list:
    """The best k quotable hits that repeat no pinned passage or (folded) quote and no hit
    already kept, taking at most PER_DOCUMENT from one document before falling back to the
    rest in rank order."""
    kept: list = []
    held_back: list = []
    per_document: dict[str, int] = {}
    for hit in ranked:
        passage = hit.passage
        if not _quotable(passage):
            continue
        if any(_near_duplicate(passage, other) for other in pinned):
            continue
        folded = _folded(passage.text)
        if any(quote in folded for quote in quotes):
            continue
        if any(_near_duplicate(passage, other.passage) for other in kept + held_back):
            continue
        if per_document.get(passage.document_id, 0) >= PER_DOCUMENT:
            held_back.append(hit)
            continue
        per_document[passage.document_id] = per_document.get(passage.document_id, 0) + 1
        kept.append(hit)
        if len(kept) == k:
            return kept
    order = {id(hit): n for n, hit in enumerate(ranked)}
    kept.extend(held_back[: k - len(kept)])
    return sorted(kept, key=lambda hit: order[id(hit)])


def _quotable(passage: Passage) -> bool:
    """Holds at least one full sentence and is not in a list of sources (a tag line or a list
    of links answers nothing)."""
    if last_section(passage.section).strip().lower() in UNQUOTABLE_SECTIONS:
        return False
    return _SENTENCE_END.search(passage.text) is not None


def _near_duplicate(a: Passage, b: Passage, min_overlap: float = 0.5) -> bool:
    """The same passage, the same text, or mostly the same characters of one document."""
    if a.id == b.id or " ".join(a.text.lower().split()) == " ".join(b.text.lower().split()):
        return True
    if a.document_id != b.document_id:
        return False
    shared = min(a.char_end, b.char_end) - max(a.char_start, b.char_start)
    shorter = min(a.char_end - a.char_start, b.char_end - b.char_start)
    return shorter > 0 and shared / shorter >= min_overlap


# -- matching a query to a myth ---------------------------------------------------------------


def myth_texts(myth: Myth) -> list[str]:
    """The texts whose embeddings make a myth's vector: the claim, then each search query."""
    return [myth.claim, *myth.queries]


class MythBook:
    """The myths for one knowledge base, with their embeddings computed once, on first use.

    A web app keeps one in `app.extensions`; it is safe to share between threads.

    Args:
        kb: the knowledge base whose embedder and passages are used.
        myths: the myths, as `load_myths` returns them.
    """

    def __init__(self, kb: KnowledgeBase, myths: Sequence[Myth]) -> None:
        self.kb = kb
        self.myths = list(myths)
        self._by_id = {myth.id: myth for myth in self.myths}
        self._vectors: np.ndarray | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, kb: KnowledgeBase, path: Path) -> MythBook:
        return cls(kb, load_myths(path))

    def __iter__(self) -> Iterator[Myth]:
        return iter(self.myths)

    def __len__(self) -> int:
        return len(self.myths)

    def get(self, myth_id: str) -> Myth:
        """The myth with that id; raises NotFound."""
        try:
            return self._by_id[myth_id]
        except KeyError:
            raise NotFound(f"There is no myth with id {myth_id!r}.") from None

    def evidence(self, myth: Myth | str, k: int = 8) -> list[Evidence]:
        """`myth_evidence` for a myth or its id."""
        return myth_evidence(self.kb, self.get(myth) if isinstance(myth, str) else myth, k)

    def similarities(self, query: str) -> list[tuple[Myth, float]]:
        """Every myth with its cosine similarity to the query, closest first."""
        query = (query or "").strip()
        if not query or not self.myths:
            return []
        scores = self._embeddings() @ self.kb.queries.embed_query(query)
        order = np.argsort(-scores, kind="stable")
        return [(self.myths[i], round(float(scores[i]), 4)) for i in order]

    def match(self, query: str, threshold: float = MATCH_THRESHOLD) -> tuple[Myth, float] | None:
        """The myth closest to the query and its similarity, or None below the threshold."""
        ranked = self.similarities(query)
        if ranked and ranked[0][1] >= threshold:
            return ranked[0]
        return None

    def _embeddings(self) -> np.ndarray:
        """One unit vector per myth: the mean of its claim's and its queries' embeddings."""
        with self._lock:
            if self._vectors is None:
                self._vectors = myth_vectors(self.kb.embedder, self.myths)
            return self._vectors


def myth_vectors(embedder: Embedder, myths: Sequence[Myth]) -> np.ndarray:
    """Each myth as the normalised mean of the embeddings of its claim and its queries.

    The mean scored better than the claim alone or the best single text (docs/myths.md): a
    single search query such as "Clyde Valley shared services project collapsed" is close to
    factual questions no myth answers, while the mean keeps the myth's overall sense.
    """
    texts = [myth_texts(myth) for myth in myths]
    flat = np.asarray(embedder.embed([t for group in texts for t in group]), dtype=np.float32)
    vectors = []
    start = 0
    for group in texts:
        vectors.append(flat[start : start + len(group)].mean(axis=0))
        start += len(group)
    return normalise(np.stack(vectors))


_books: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_books_lock = threading.Lock()


def match_myth(
    kb: KnowledgeBase,
    query: str,
    threshold: float = MATCH_THRESHOLD,
    *,
    myths: Sequence[Myth],
) -> tuple[Myth, float] | None:
    """The myth closest to a query, with its cosine similarity, or None below the threshold.

    The myths' embeddings are cached per knowledge base and list of myths; a long-lived caller
    can hold a MythBook instead.
    """
    key = tuple(myths)
    with _books_lock:
        books = _books.setdefault(kb, {})
        book = books.get(key)
        if book is None:
            book = books[key] = MythBook(kb, key)
    return book.match(query, threshold)


# -- JSON shapes ------------------------------------------------------------------------------


def myth_to_dict(myth: Myth) -> dict:
    """A myth without its evidence passages: id, claim, answer, queries and pinned quotes."""
    return {
        "id": myth.id,
        "claim": myth.claim,
        "answer": myth.answer,
        "queries": list(myth.queries),
        "pinned": [{"document_id": p.document_id, "quote": p.quote} for p in myth.evidence],
    }


def evidence_to_dict(evidence: Evidence) -> dict:
    """One piece of evidence, in the shape of a search result plus `pinned` and `quote`."""
    return {
        "id": evidence.passage.id,
        "text": evidence.passage.text,
        "page": evidence.passage.page,
        "section": evidence.passage.section,
        "pinned": evidence.pinned,
        "quote": evidence.quote,
        "score": evidence.score,
        "highlights": [
            {"start": s.start, "end": s.end, "kind": s.kind} for s in evidence.highlights
        ],
        "document": document_to_dict(evidence.document),
        "citation": {"short": evidence.citation.short, "harvard": evidence.citation.harvard},
        "url": evidence.url,
    }
