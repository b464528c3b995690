"""HTML pages for people: search, the document reader, the library and the about page."""

from __future__ import annotations

import re
from time import perf_counter

from flask import Blueprint
from flask import current_app
from flask import render_template
from flask import request
from flask import url_for

from export.formats import REFERENCE_FORMATS
from kb.citations import cite
from kb.citations import permalink
from kb.citations import reference
from kb.errors import QueryError
from kb.matching import MATCH_NOTICES
from kb.models import Document
from kb.models import Hit
from kb.models import SearchFilters
from web import files
from web.extensions import current_kb
from web.facets import facets_from_hits
from web.facets import facets_from_library
from web.figures import evidence_view
from web.figures import match_query as match_figure
from web.links import absolute_url
from web.myths import match_query
from web.params import SearchRequest
from web.params import parse_search
from web.render import citation_text

bp = Blueprint("pages", __name__)
_ORDINAL = re.compile(r"[0-9]{1,9}")
bp.add_url_rule("/files/<document_id>", "original", files.send_original, methods=["GET"])


@bp.get("/")
def search():
    """The search page: the form, filters with counts, and cited results."""
    config = current_app.config
    context = {"q": request.args.get("q", "").strip(), "hits": [], "error": None, "took_ms": None}
    library = current_kb().store.list_documents()
    status = 200
    try:
        wanted = parse_search(
            request.args,
            max_chars=config["MAX_QUERY_CHARS"],
            max_k=config["MAX_K"],
            default_k=config["DEFAULT_K"],
            require_query=False,
        )
        context.update(_results(wanted, library), q=wanted.query)
    except QueryError as exc:
        # Stay on the search page with the message next to the form, not a bare error page.
        status = 400
        context.update(error=str(exc), facets=facets_from_library(library, SearchFilters()))
        context.update(filters=SearchFilters(), facet_basis="library", mode="hybrid")
    return render_template("search.html", active="search", library=library, **context), status


def _results(wanted: SearchRequest, library: list[Document]) -> dict:
    """Hits and facet counts for a validated request (library counts without a query)."""
    base = {"filters": wanted.filters, "mode": wanted.mode}
    if not wanted.query:
        facets = facets_from_library(library, wanted.filters)
        return {**base, "facets": facets, "facet_basis": "library"}
    kb = current_kb()
    started = perf_counter()
    found = kb.find(wanted.query, k=wanted.k, filters=wanted.filters, mode=wanted.mode)
    took_ms = round((perf_counter() - started) * 1000, 1)
    wider = kb.search(wanted.query, k=current_app.config["MAX_K"], mode=wanted.mode)
    return {
        **base,
        "hits": [_hit_view(hit) for hit in found.hits],
        "match": found.match,
        "match_notice": MATCH_NOTICES.get(found.match),
        "took_ms": took_ms,
        "facets": facets_from_hits(wider, library, wanted.filters),
        "facet_basis": "results",
        "myth_match": match_query(wanted.query),
        "figure_match": _figure_card(wanted.query),
    }


def _figure_card(query: str) -> dict | None:
    """The figure a query is about, with its book sources, for the card above the results."""
    found = match_figure(query)
    if found is None:
        return None
    return evidence_view(current_app.extensions["figures"].evidence(found[0]))


def _hit_view(hit: Hit) -> dict:
    """A hit with the absolute permalink and the text a person copies."""
    absolute = absolute_url(hit.url)
    return {
        "hit": hit,
        "absolute_url": absolute,
        "copy_text": citation_text(hit.citation, absolute),
    }


@bp.get("/documents/<document_id>")
def document(document_id: str):
    """The reader: metadata, then every passage in order with its #p<ordinal> anchor."""
    kb = current_kb()
    doc = kb.store.get_document(document_id)
    original = files.original_suffix(doc)
    passages = [_passage_view(doc, passage) for passage in kb.store.passages_of(document_id)]
    return render_template(
        "document.html",
        active="library",
        document=doc,
        passages=passages,
        highlighted=_highlight_param(),
        original_url=url_for("pages.original", document_id=doc.id) if original else None,
        original_is_pdf=files.is_pdf(original),
        reference=reference(doc),
        reference_formats=list(REFERENCE_FORMATS.values()),
    )


def _passage_view(doc: Document, passage) -> dict:
    citation = cite(doc, passage)
    absolute = absolute_url(permalink(passage))
    return {
        "passage": passage,
        "citation": citation,
        "copy_text": citation_text(citation, absolute),
    }


def _highlight_param() -> int | None:
    """?highlight=<ordinal>; anything that is not a whole number is ignored, not an error."""
    raw = request.args.get("highlight", "")
    # ASCII digits only: str.isdigit() also accepts "²" and other digits int() refuses.
    return int(raw) if _ORDINAL.fullmatch(raw) else None


@bp.get("/library")
def library():
    """Every document with its kind, year, publisher and passage count."""
    documents = current_kb().store.list_documents()
    return render_template("library.html", active="library", documents=documents)


@bp.get("/about")
def about():
    """What this is and how to cite it."""
    return render_template("about.html", active="about")
