"""The OpenAPI 3.1 description of /api, built as a dict so the limits match the config."""

from __future__ import annotations

from kb.search import MODES


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict:
    texts = {
        400: "A parameter is missing or invalid; the message names it.",
        404: "No such document, passage or myth.",
        405: "Only GET (and HEAD) are allowed.",
        429: "Too many searches from this address; Retry-After gives the seconds to wait.",
        503: "The store cannot be used right now.",
    }
    return {str(code): _json(_ref("Error"), texts[code]) for code in codes}


def _repeatable(name: str, description: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "description": description + " Repeat the parameter for several values (any of them).",
        "schema": {"type": "array", "items": {"type": "string", "maxLength": 100}},
        "style": "form",
        "explode": True,
    }


def _search_parameters(max_k: int, max_chars: int) -> list[dict]:
    year = {"type": "integer", "minimum": 1000, "maximum": 9999}
    return [
        {
            "name": "q",
            "in": "query",
            "required": True,
            "description": "The question or words to search for.",
            "schema": {"type": "string", "minLength": 1, "maxLength": max_chars},
        },
        {
            "name": "k",
            "in": "query",
            "description": "How many passages to return.",
            "schema": {"type": "integer", "minimum": 1, "maximum": max_k, "default": 10},
        },
        _repeatable("kind", "Only documents of this kind (report, guidance, case-study, ...)."),
        _repeatable("tag", "Only documents with this tag."),
        _repeatable("doc", "Only this document id."),
        {"name": "year_from", "in": "query", "description": "Earliest year.", "schema": year},
        {"name": "year_to", "in": "query", "description": "Latest year.", "schema": year},
        {
            "name": "mode",
            "in": "query",
            "description": "Ranking: both fused (hybrid), meaning only, or words only.",
            "schema": {"type": "string", "enum": list(MODES), "default": "hybrid"},
        },
    ]


def _schemas() -> dict:
    string_list = {"type": "array", "items": {"type": "string"}}
    nullable_str = {"type": ["string", "null"]}
    return {
        "Error": {
            "type": "object",
            "required": ["error", "status"],
            "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
        },
        "Document": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "title": {"type": "string"},
                "publisher": {"type": "string"},
                "year": {"type": ["integer", "null"]},
                "kind": {"type": "string"},
                "url": {"type": "string"},
                "tags": string_list,
                "passages": {"type": "integer", "description": "Number of passages."},
                "added_at": {"type": "string", "format": "date-time"},
            },
        },
        "Passage": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "document_id": {"type": "string"},
                "ordinal": {"type": "integer"},
                "text": {"type": "string"},
                "page": nullable_str,
                "section": {"type": "string"},
            },
        },
        "Citation": {
            "type": "object",
            "properties": {"short": {"type": "string"}, "harvard": {"type": "string"}},
        },
        "Highlight": {
            "type": "object",
            "description": "Character offsets into the passage text; the client escapes.",
            "properties": {
                "start": {"type": "integer"},
                "end": {"type": "integer"},
                "kind": {"type": "string", "enum": ["sentence", "term", "quote"]},
            },
        },
        "Hit": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "text": {"type": "string"},
                "page": nullable_str,
                "section": {"type": "string"},
                "score": {"type": "number"},
                "ranks": {"type": "object", "additionalProperties": {"type": "integer"}},
                "highlights": {"type": "array", "items": _ref("Highlight")},
                "document": _ref("Document"),
                "citation": _ref("Citation"),
                "url": {"type": "string", "description": "Permalink in the document reader."},
            },
        },
        "SearchResponse": {
            "type": "object",
            "required": ["query", "results", "took_ms"],
            "properties": {
                "query": {"type": "string"},
                "results": {"type": "array", "items": _ref("Hit")},
                "took_ms": {"type": "number"},
                "myth": {
                    "oneOf": [_ref("MythMatch"), {"type": "null"}],
                    "description": "The myth the query is close to, if any (see /api/myths).",
                },
            },
        },
        **_myth_schemas(string_list, nullable_str),
        "PassageDetail": {
            "allOf": [_ref("Passage")],
            "type": "object",
            "properties": {
                "document": _ref("Document"),
                "citation": _ref("Citation"),
                "url": {"type": "string"},
            },
        },
        "Health": {
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": ["ok", "model-mismatch"]},
                "documents": {"type": "integer"},
                "passages": {"type": "integer"},
                "model": {"type": "string"},
                "embedder": {"type": "string"},
            },
        },
    }


def _myth_schemas(string_list: dict, nullable_str: dict) -> dict:
    pinned = {
        "type": "object",
        "properties": {"document_id": {"type": "string"}, "quote": {"type": "string"}},
    }
    return {
        "MythMatch": {
            "type": "object",
            "required": ["id", "claim", "score"],
            "properties": {
                "id": {"type": "string"},
                "claim": {"type": "string"},
                "score": {"type": "number", "description": "Cosine similarity to the query."},
            },
        },
        "Evidence": {
            "allOf": [_ref("Hit")],
            "type": "object",
            "description": "A passage answering a myth; pinned quotes first, then search hits.",
            "properties": {
                "pinned": {"type": "boolean"},
                "quote": {**nullable_str, "description": "The pinned quote; null if found."},
                "score": {"type": ["number", "null"]},
            },
        },
        "Myth": {
            "type": "object",
            "required": ["id", "claim", "answer", "evidence"],
            "properties": {
                "id": {"type": "string"},
                "claim": {"type": "string"},
                "answer": {"type": "string"},
                "queries": string_list,
                "pinned": {"type": "array", "items": pinned},
                "evidence": {"type": "array", "items": _ref("Evidence")},
            },
        },
    }


def _get(summary: str, ok: dict, *codes: int, parameters: list | None = None) -> dict:
    operation = {"summary": summary, "responses": {"200": ok, **_errors(*codes)}}
    if parameters:
        operation["parameters"] = parameters
    return {"get": operation}


def _path_param(name: str, schema: dict) -> list[dict]:
    return [{"name": name, "in": "path", "required": True, "schema": schema}]


def openapi_document(max_k: int, max_chars: int) -> dict:
    """The description, with the configured limits for k and the query length.

    Args:
        max_k: the largest k accepted.
        max_chars: the longest query accepted.
    """
    documents = {"type": "object", "properties": {"documents": {"type": "array"}}}
    documents["properties"]["documents"]["items"] = _ref("Document")
    detail = {
        "type": "object",
        "properties": {
            "document": _ref("Document"),
            "passages": {"type": "array", "items": _ref("Passage")},
        },
    }
    paths = {
        "/api/search": _get(
            "Search the evidence; passages come best first with highlights and citations.",
            _json(_ref("SearchResponse"), "The passages found."),
            400,
            405,
            429,
            503,
            parameters=_search_parameters(max_k, max_chars),
        ),
        "/api/documents": _get("List the documents.", _json(documents, "All documents."), 405),
        "/api/documents/{id}": _get(
            "One document with its passages in order.",
            _json(detail, "The document."),
            404,
            405,
            parameters=_path_param("id", {"type": "string"}),
        ),
        "/api/passages/{id}": _get(
            "One passage with its document and citation.",
            _json(_ref("PassageDetail"), "The passage."),
            404,
            405,
            parameters=_path_param("id", {"type": "integer"}),
        ),
        "/api/myths": _get(
            "The myths, each with its answer and its two strongest quotes as evidence.",
            _json(
                {
                    "type": "object",
                    "properties": {"myths": {"type": "array", "items": _ref("Myth")}},
                },
                "All myths (an empty list when there are none).",
            ),
            405,
        ),
        "/api/myths/{id}": _get(
            "One myth with all its evidence: pinned quotes first, then passages found by search.",
            _json(_ref("Myth"), "The myth."),
            404,
            405,
            503,
            parameters=_path_param("id", {"type": "string"}),
        ),
        "/api/health": _get("Is the service ready?", _json(_ref("Health"), "Ready."), 503),
        "/api/openapi.json": _get(
            "This description.", _json({"type": "object"}, "OpenAPI 3.1 document.")
        ),
    }
    # Health answers 503 with its own body when the model differs, or an Error when the store fails.
    paths["/api/health"]["get"]["responses"]["503"] = _json(
        {"oneOf": [_ref("Health"), _ref("Error")]}, "Not ready."
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Shared services evidence API",
            "version": "1.0.0",
            "description": "Cited passages on shared back office services in the Scottish "
            'public sector. Errors are always {"error": "...", "status": N}.',
        },
        "paths": paths,
        "components": {"schemas": _schemas()},
    }
