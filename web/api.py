"""The JSON API under /api: search, documents, passages, health and its OpenAPI description.

Shapes come from kb.serialize, so `kb search --json` and the API agree; each route's `@describe`
names the typed model of its answer (web/api_models.py), from which web/openapi.py builds the
description. Errors are handled app-wide (web.errors) and are always `{"error": "...",
"status": N}` here.
"""

from __future__ import annotations

from time import perf_counter

from flask import Blueprint
from flask import current_app
from flask import request

from kb.citations import cite
from kb.citations import permalink
from kb.serialize import citation_fields
from kb.serialize import document_to_dict
from kb.serialize import hit_to_dict
from kb.serialize import passage_to_dict
from kb.sources import source_to_dict
from web import api_models as models
from web.extensions import current_kb
from web.figures import match_query as match_figure
from web.figures import match_to_dict as figure_match_to_dict
from web.myths import match_query
from web.myths import match_to_dict
from web.openapi import describe
from web.openapi import openapi_document
from web.params import parse_search
from web.params import search_parameters

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/search")
@describe(
    "Search the evidence; passages come best first with highlights and citations.",
    ok=models.SearchResponse,
    errors=(400, 429, 503),
    parameters=search_parameters,
)
def search():
    """GET /api/search?q=&k=&kind=&tag=&doc=&year_from=&year_to=&mode="""
    config = current_app.config
    wanted = parse_search(
        request.args,
        max_chars=config["MAX_QUERY_CHARS"],
        max_k=config["MAX_K"],
        default_k=config["DEFAULT_K"],
    )
    started = perf_counter()
    found = current_kb().find(wanted.query, k=wanted.k, filters=wanted.filters, mode=wanted.mode)
    took_ms = round((perf_counter() - started) * 1000, 1)
    results = [hit_to_dict(h) for h in found.hits]
    myth = match_to_dict(match_query(wanted.query))  # the myth the query is close to, or None
    figure = figure_match_to_dict(match_figure(wanted.query))  # the figure it is about, or None
    return {
        "query": wanted.query,
        "match": found.match,
        "results": results,
        "took_ms": took_ms,
        "myth": myth,
        "figure": figure,
    }


@bp.get("/documents")
@describe("List the documents.", ok=models.DocumentList, errors=(503,))
def documents():
    """GET /api/documents: every document's metadata and passage count."""
    return {"documents": [document_to_dict(d) for d in current_kb().store.list_documents()]}


@bp.get("/documents/<document_id>")
@describe("One document with its passages in order.", ok=models.DocumentDetail, errors=(404, 503))
def document(document_id: str):
    """GET /api/documents/<id>: metadata and the passages in order."""
    store = current_kb().store
    doc = store.get_document(document_id)
    return {
        "document": document_to_dict(doc),
        "sources": [source_to_dict(source) for source in doc.sources],
        "passages": [passage_to_dict(p) for p in store.passages_of(document_id)],
    }


@bp.get("/passages/<int:passage_id>")
@describe("One passage with its document and citation.", ok=models.PassageDetail, errors=(404, 503))
def passage(passage_id: int):
    """GET /api/passages/<id>: one passage with its document, citation and permalink."""
    store = current_kb().store
    found = store.get_passage(passage_id)
    doc = store.get_document(found.document_id)
    return {
        **passage_to_dict(found),
        "document": document_to_dict(doc),
        **citation_fields(cite(doc, found)),
        "url": permalink(found),
    }


@bp.get("/health")
@describe(
    "Is the service ready? 503 with this body when the stored vectors are another model's.",
    ok=models.Health,
    responses={503: (models.Health, models.Error)},
)
def health():
    """GET /api/health: 200 when searchable; 503 (via StoreError) when the store is not."""
    kb = current_kb()
    stored_model = kb.store.model_name()
    matches = stored_model in (None, kb.embedder.name)
    body = {
        "status": "ok" if matches else "model-mismatch",
        "documents": len(kb.store.list_documents()),
        "passages": kb.store.count_passages(),
        "model": stored_model or kb.embedder.name,
        "embedder": kb.embedder.name,
        "generation": kb.store.generation(),
        "index_generation": kb.index.generation,
        "index_loaded_at": kb.index.loaded_at,
    }
    return body, 200 if matches else 503


@bp.get("/openapi.json")
@describe("This description.", ok=models.OpenApiDocument)
def openapi():
    """GET /api/openapi.json: the OpenAPI 3.1 description of this API."""
    return openapi_document(current_app)
