"""The figure book on the web: every figure with its values and sources side by side.

Pages: /figures (every figure: values, sources, citations, disagreements explained) and
/figures/<id> (one figure: the book's sources, then the passages that also state it and the
possible disagreements matching found, which a logged-in researcher confirms or dismisses).
API: /api/figures and /api/figures/<id>. The FigureBook (kb.figures) is built once per app in
`init_app` and kept in `app.extensions["figures"]`; when the book is missing or broken the
pages say there are no figures and `kb check` names the fault. `match_query` names the figure
a search is about, for the card above search results and the `figure` field of /api/search.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Flask
from flask import current_app
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from kb.errors import CatalogError
from kb.errors import NotFound
from kb.errors import QueryError
from kb.figures.book import BookFigure
from kb.figures.figurebook import MATCH_THRESHOLD
from kb.figures.figurebook import FigureBook
from kb.figures.matching import FigureEvidence
from kb.figures.matching import Statement
from kb.figures.reviews import DECISIONS
from kb.figures.reviews import record_review
from kb.figures.reviews import with_reviews
from kb.figures.serialize import figure_to_dict
from web import api_models as models
from web.auth import current_user
from web.links import absolute_url
from web.openapi import describe
from web.render import citation_text

bp = Blueprint("figures", __name__)
api_bp = Blueprint("figures_api", __name__, url_prefix="/api")


def init_app(app: Flask) -> None:
    """Build the app's FigureBook and register the page and API blueprints.

    Config: FIGURE_MATCH_THRESHOLD (default kb.figures.figurebook.MATCH_THRESHOLD) is the
    similarity from which a search shows a figure's card.
    """
    app.config.setdefault("FIGURE_MATCH_THRESHOLD", MATCH_THRESHOLD)
    app.extensions["figures"] = _load_book(app)
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)


def _load_book(app: Flask) -> FigureBook:
    path = app.config["SETTINGS"].figures_path
    kb = app.extensions["kb"]
    if not path.exists():
        app.logger.info("No figure book at %s: the figure pages will be empty.", path)
        return FigureBook(kb, [])
    try:
        return FigureBook.from_file(kb, path)
    except CatalogError as exc:
        # A broken book must not take the search down with it; `kb check` names the fault.
        app.logger.error("The figures are not shown: %s", exc)
        return FigureBook(kb, [])


def current_figures() -> FigureBook:
    return current_app.extensions["figures"]


def match_query(query: str) -> tuple[BookFigure, float] | None:
    """The figure a query is about, with its similarity, or None (also for no figures)."""
    book = current_app.extensions.get("figures")
    if not book or not query:
        return None
    return book.match(query, float(current_app.config["FIGURE_MATCH_THRESHOLD"]))


def match_to_dict(found: tuple[BookFigure, float] | None) -> dict | None:
    """The `figure` field of /api/search: id, what it measures, its values, similarity."""
    if found is None:
        return None
    figure, score = found
    return {
        "id": figure.id,
        "measures": figure.measures,
        "values": [value.label for value in figure.values],
        "differs": figure.differs,
        "score": score,
    }


def statement_view(statement: Statement) -> dict:
    absolute = absolute_url(statement.url)
    return {
        "statement": statement,
        "absolute_url": absolute,
        "copy_text": citation_text(statement.citation, absolute),
    }


def evidence_view(evidence: FigureEvidence) -> dict:
    return {
        "figure": evidence.figure,
        "pinned": [statement_view(s) for s in evidence.pinned],
        "also": [statement_view(s) for s in evidence.also],
        "differs": [statement_view(s) for s in evidence.differs],
    }


# -- pages ------------------------------------------------------------------------------------


@bp.get("/figures")
def figures():
    """Every figure: what it measures, each source's value side by side, and why they differ."""
    items = [evidence_view(e) for e in current_figures().all_evidence()]
    return render_template("figures.html", active="figures", items=items)


@bp.get("/figures/<figure_id>")
def figure(figure_id: str):
    """One figure: the book's sources, then the passages that also state it and the possible
    disagreements, each with its passage, citation and link (and a researcher's decision)."""
    return render_template(
        "figure.html", active="figures", item=evidence_view(_evidence(figure_id))
    )


@bp.post("/figures/<figure_id>/review")
def review(figure_id: str):
    """A researcher confirms or dismisses a found statement (the login guard and CSRF check in
    web.auth cover every POST); the decision is kept and written to the audit log."""
    evidence = _evidence(figure_id)
    decision = request.form.get("decision", "")
    if decision not in DECISIONS:
        raise QueryError("Choose to confirm or to dismiss the statement.")
    try:
        passage_id = int(request.form.get("passage", ""))
        start = int(request.form.get("start", ""))
    except ValueError:
        raise QueryError("The form does not say which statement to review.") from None
    statement = next(
        (
            s
            for s in evidence.also + evidence.differs
            if s.passage.id == passage_id and s.figure.start == start
        ),
        None,
    )
    if statement is None:
        raise NotFound("That statement is no longer found under this figure; reload the page.")
    store = current_app.extensions["kb"].store
    user = current_user()
    action = "confirm-figure" if decision == "confirmed" else "dismiss-figure"
    detail = f"{figure_id}: {statement.value} ({statement.role})"
    with store.side_transaction():  # the decision and its audit entry, or neither
        record_review(store, figure_id, statement, decision, user)
        current_app.extensions["audit"].record(
            user, action, statement.document.id, statement.document.meta.title, detail
        )
    return redirect(url_for("figures.figure", figure_id=figure_id) + "#found", code=303)


def _evidence(figure_id: str) -> FigureEvidence:
    """A figure's evidence with the researchers' decisions; NotFound for an unknown id."""
    book = current_figures()
    found = book.evidence(book.get(figure_id))  # NotFound -> the 404 page (web.errors)
    return with_reviews(current_app.extensions["kb"].store, found)


# -- API --------------------------------------------------------------------------------------


@api_bp.get("/figures")
@describe(
    "The figure book: every figure with each source's value, citation and passage link, the "
    "passages that also state it and the possible disagreements.",
    ok=models.FigureList,
    errors=(503,),
)
def api_figures():
    """GET /api/figures: every figure with all its statements."""
    store = current_app.extensions["kb"].store
    evidence = current_figures().all_evidence()
    return {"figures": [figure_to_dict(with_reviews(store, e)) for e in evidence]}


@api_bp.get("/figures/<figure_id>")
@describe("One figure with all its statements.", ok=models.Figure, errors=(404, 503))
def api_figure(figure_id: str):
    """GET /api/figures/<id>: one figure with all its statements."""
    return figure_to_dict(_evidence(figure_id))
