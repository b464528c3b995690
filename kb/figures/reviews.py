"""A researcher's decision on a statement the matching found: it does measure the book's
figure (confirmed) or it does not (dismissed).

Kept in `figure_reviews` (migration 0004), keyed by the figure, the document, a hash of the
passage's text and where the value sits in it: a decision follows the passage across re-ingests
while its text is the same, and a changed passage is reviewed afresh. Each decision is also
written to the audit log by the caller.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from typing import TYPE_CHECKING

from kb.figures.matching import FigureEvidence
from kb.figures.matching import Statement

if TYPE_CHECKING:
    from kb.store import Store

DECISIONS = ("confirmed", "dismissed")


@dataclass(frozen=True)
class Review:
    decision: str
    by: str
    at: str


def _key(statement: Statement) -> tuple[str, str, int]:
    sha = hashlib.sha256(statement.passage.text.encode("utf-8")).hexdigest()
    return statement.document.id, sha, statement.figure.start


def record_review(
    store: Store, figure_id: str, statement: Statement, decision: str, user: str
) -> Review:
    """Record (or change) the decision on a found statement of a figure."""
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}")
    review = Review(decision, user, datetime.now(UTC).isoformat(timespec="seconds"))
    document_id, sha, start = _key(statement)
    with store.side_transaction() as conn:
        conn.execute(
            "INSERT INTO figure_reviews (figure_id, document_id, passage_sha, figure_start,"
            " decision, username, decided_at) VALUES (?,?,?,?,?,?,?)"
            " ON CONFLICT (figure_id, document_id, passage_sha, figure_start) DO UPDATE SET"
            " decision = excluded.decision, username = excluded.username,"
            " decided_at = excluded.decided_at",
            (figure_id, document_id, sha, start, decision, user, review.at),
        )
    return review


def with_reviews(store: Store, evidence: FigureEvidence) -> FigureEvidence:
    """The evidence with each found statement's review (copies: the cached one is shared)."""
    rows = store.connection().execute(
        "SELECT document_id, passage_sha, figure_start, decision, username, decided_at"
        " FROM figure_reviews WHERE figure_id = ?",
        (evidence.figure.id,),
    )
    found = {(d, sha, start): Review(decision, by, at) for d, sha, start, decision, by, at in rows}
    if not found:
        return evidence

    def reviewed(statements: list[Statement]) -> list[Statement]:
        return [replace(s, review=found.get(_key(s))) for s in statements]

    return FigureEvidence(
        evidence.figure, evidence.pinned, reviewed(evidence.also), reviewed(evidence.differs)
    )
