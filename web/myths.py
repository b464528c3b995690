"""Myth buster: the claims "The front line starts here" challenges, with their cited evidence.

Pages: /myths (every myth with its two strongest quotes) and /myths/<id> (one myth with all its
evidence). API: /api/myths and /api/myths/<id>. The MythBook (kb.myths) is built once per app
in `init_app` and kept in `app.extensions["myths"]`; when the myths file is missing the book is
empty and the pages say so. `match_query` names the myth a search is close to, for the card
above search results and the `myth` field of /api/search.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Flask
from flask import current_app
from flask import render_template

from kb.errors import CatalogError
from kb.myths import MATCH_THRESHOLD
from kb.myths import Evidence
from kb.myths import Myth
from kb.myths import MythBook
from kb.myths import evidence_to_dict
from kb.myths import load_myths
from kb.myths import myth_to_dict
from kb.myths import other_side_to_dict
from web import api_models as models
from web.links import absolute_url
from web.openapi import describe
from web.render import citation_text

bp = Blueprint("myths", __name__)
api_bp = Blueprint("myths_api", __name__, url_prefix="/api")

STRONGEST = 2  # pinned quotes shown per myth on /myths and in /api/myths
RETRIEVED_K = 8  # retrieved passages after the pinned ones on /myths/<id>


def init_app(app: Flask) -> None:
    """Build the app's MythBook and register the page and API blueprints.

    Config: MYTH_MATCH_THRESHOLD (default kb.myths.MATCH_THRESHOLD) is the similarity from
    which a search shows a myth's card.
    """
    app.config.setdefault("MYTH_MATCH_THRESHOLD", MATCH_THRESHOLD)
    app.extensions["myths"] = _load_book(app)
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)


def _load_book(app: Flask) -> MythBook:
    path = app.config["SETTINGS"].myths_path
    kb = app.extensions["kb"]
    if not path.exists():
        app.logger.info("No myths file at %s: the myth pages will be empty.", path)
        return MythBook(kb, [])
    try:
        return MythBook(kb, load_myths(path))
    except CatalogError as exc:
        # A broken myths file must not take the search down with it; `kb check` names the fault.
        app.logger.error("The myths are not shown: %s", exc)
        return MythBook(kb, [])


def current_myths() -> MythBook:
    """The app's MythBook."""
    return current_app.extensions["myths"]


def match_query(query: str) -> tuple[Myth, float] | None:
    """The myth a query is close to, with its similarity, or None (also for no myths)."""
    book = current_app.extensions.get("myths")
    if not book or not query:
        return None
    return book.match(query, float(current_app.config["MYTH_MATCH_THRESHOLD"]))


def match_to_dict(found: tuple[Myth, float] | None) -> dict | None:
    """The `myth` field of /api/search: id, claim and similarity, or None."""
    if found is None:
        return None
    myth, score = found
    return {"id": myth.id, "claim": myth.claim, "score": score}


def strongest(book: MythBook, myth: Myth) -> list[Evidence]:
    """The myth's first pinned quotes, in file order (the strongest by construction)."""
    return book.evidence(myth, k=0)[:STRONGEST]


def quoted_words(evidence: Evidence) -> str:
    """The words of the passage that the (first) pinned quote covers; the passage otherwise."""
    for span in evidence.highlights:
        if span.kind == "quote" and span.start < span.end:
            return evidence.passage.text[span.start : span.end]
    return evidence.quote or evidence.passage.text


def _evidence_view(evidence: Evidence) -> dict:
    absolute = absolute_url(evidence.url)
    return {
        "evidence": evidence,
        "quoted": quoted_words(evidence),
        "absolute_url": absolute,
        "copy_text": citation_text(evidence.citation, absolute),
    }


# -- pages ------------------------------------------------------------------------------------


@bp.get("/myths")
def myths():
    """Every myth: the claim, the answer and its two strongest quotes, cited."""
    book = current_myths()
    items = [
        {"myth": myth, "quotes": [_evidence_view(e) for e in strongest(book, myth)]}
        for myth in book
    ]
    return render_template("myths.html", active="myths", items=items)


@bp.get("/myths/<myth_id>")
def myth(myth_id: str):
    """One myth: the claim, the answer, then all evidence (pinned first) with citations."""
    book = current_myths()
    found = book.get(myth_id)  # NotFound -> the 404 page (web.errors)
    found_evidence = book.evidence(found, k=RETRIEVED_K)
    evidence = [_evidence_view(e) for e in found_evidence]
    other_side = [_evidence_view(e) for e in book.other_side(found)]
    figures = current_app.extensions.get("figures")
    stated = figures.stated_in(e.passage.id for e in found_evidence) if figures else []
    return render_template(
        "myth.html",
        active="myths",
        myth=found,
        evidence=evidence,
        figures=stated,
        other_side=other_side,
    )


# -- API --------------------------------------------------------------------------------------


@api_bp.get("/myths")
@describe(
    "The myths, each with its answer, its two strongest quotes as evidence, and what the "
    "other side will say.",
    ok=models.MythList,
    errors=(503,),
)
def api_myths():
    """GET /api/myths: every myth with its two strongest quotes as evidence."""
    book = current_myths()
    return {
        "myths": [
            {
                **myth_to_dict(m),
                "evidence": [evidence_to_dict(e) for e in strongest(book, m)],
                "other_side": [other_side_to_dict(e) for e in book.other_side(m)],
            }
            for m in book
        ]
    }


@api_bp.get("/myths/<myth_id>")
@describe(
    "One myth with all its evidence (pinned quotes first, then passages found by search) and "
    "what the other side will say.",
    ok=models.Myth,
    errors=(404, 429, 503),
)
def api_myth(myth_id: str):
    """GET /api/myths/<id>: the myth with all its evidence, pinned first."""
    book = current_myths()
    found = book.get(myth_id)  # NotFound -> {"error", "status": 404}
    evidence = book.evidence(found, k=RETRIEVED_K)
    return {
        **myth_to_dict(found),
        "evidence": [evidence_to_dict(e) for e in evidence],
        "other_side": [other_side_to_dict(e) for e in book.other_side(found)],
    }
