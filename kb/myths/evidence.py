"""A myth's evidence: its pinned passages first, then the best passages its queries find."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from kb.citations import cite
from kb.citations import permalink
from kb.models import Document
from kb.models import Passage
from kb.models import Span
from kb.myths.models import _SENTENCE_END
from kb.myths.models import PER_DOCUMENT
from kb.myths.models import QUOTE_SPAN_KIND
from kb.myths.models import Evidence
from kb.myths.models import Myth
from kb.myths.models import PinnedQuote
from kb.myths.quotes import _first_holding
from kb.myths.quotes import _folded
from kb.myths.quotes import quote_span
from kb.search import near_duplicate
from kb.serialize import citation_fields
from kb.serialize import document_to_dict
from kb.sources import is_reference_section

if TYPE_CHECKING:
    from kb.search import KnowledgeBase
    from kb.store import Store


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
    # The other side's passages are not evidence for the answer: never offered as such.
    excluded = pinned + other_side_evidence(kb.store, myth)
    return pinned + retrieved_evidence(kb, myth, k, excluded)


def pinned_evidence(store: Store, myth: Myth) -> list[Evidence]:
    """The passages holding the myth's pinned quotes, each with its quote highlighted."""
    return _quoted_passages(store, myth.evidence)


def other_side_evidence(store: Store, myth: Myth) -> list[Evidence]:
    """What the other side will say: the passages holding the myth's other_side quotes, each
    with its quote highlighted and our note, resolved as pinned quotes are (`kb check` fails
    when one is lost)."""
    return _quoted_passages(store, myth.other_side)


def _quoted_passages(store: Store, quotes: Sequence[PinnedQuote]) -> list[Evidence]:
    found: dict[int, Evidence] = {}
    documents: dict[str, Document] = {}
    passages: dict[str, list[Passage]] = {}
    for pinned in quotes:
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
            note=pinned.note or None,
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
        [_folded(p.quote) for p in (*myth.evidence, *myth.other_side) if _folded(p.quote)],
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
        if any(near_duplicate(passage, other) for other in pinned):
            continue
        folded = _folded(passage.text)
        if any(quote in folded for quote in quotes):
            continue
        if any(near_duplicate(passage, other.passage) for other in kept + held_back):
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
    if is_reference_section(passage.section):
        return False
    return _SENTENCE_END.search(passage.text) is not None


# -- matching a query to a myth ---------------------------------------------------------------


def myth_to_dict(myth: Myth) -> dict:
    """A myth without its evidence passages: id, claim, answer, queries and pinned quotes."""
    return {
        "id": myth.id,
        "claim": myth.claim,
        "answer": myth.answer,
        "queries": list(myth.queries),
        "pinned": [{"document_id": p.document_id, "quote": p.quote} for p in myth.evidence],
    }


def other_side_to_dict(evidence: Evidence) -> dict:
    """One passage of "What the other side will say": evidence's shape plus our `note`."""
    return {**evidence_to_dict(evidence), "note": evidence.note}


def evidence_to_dict(evidence: Evidence) -> dict:
    """One piece of evidence, in the shape of a search result plus `pinned` and `quote`."""
    return {
        "id": evidence.passage.id,
        "text": evidence.passage.text,
        "page": evidence.passage.page,
        "page_end": evidence.passage.page_end,
        "section": evidence.passage.section,
        "pinned": evidence.pinned,
        "quote": evidence.quote,
        "score": evidence.score,
        "highlights": [
            {"start": s.start, "end": s.end, "kind": s.kind} for s in evidence.highlights
        ],
        "document": document_to_dict(evidence.document),
        **citation_fields(evidence.citation),
        "url": evidence.url,
    }
