"""The JSON API: every endpoint, filters, every error case and its shape, OpenAPI, headers."""

from __future__ import annotations

import re

import pytest
from conftest import both_backends
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from werkzeug.exceptions import Conflict

from kb.embedder import HashingEmbedder
from kb.errors import StoreError
from kb.search import KnowledgeBase
from kb.serialize import hit_to_dict
from web import create_app
from web.openapi import ResponseDrift

pytestmark = both_backends

QUERY = "savings from back office sharing"


def get_json(client, url: str, status: int = 200) -> dict:
    response = client.get(url)
    assert response.status_code == status, response.data[:500]
    assert response.mimetype == "application/json", response.data[:200]
    return response.get_json()


def assert_error(response, status: int) -> str:
    """The one error shape: exactly {"error": str, "status": int}, as JSON."""
    assert response.status_code == status, response.data[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "status"}
    assert body["status"] == status and isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in body["error"]
    return body["error"]


def result_documents(body: dict) -> set[str]:
    return {hit["document"]["id"] for hit in body["results"]}


# -- /api/search --------------------------------------------------------------------------------


def test_search_returns_cited_hits(client, kb):
    body = get_json(client, "/api/search?q=" + QUERY)
    # myth: see test_web_myths; figure: test_figures; match: test_search_says_when_nothing...
    assert set(body) == {"query", "match", "results", "took_ms", "myth", "figure"}
    assert body["query"] == QUERY and isinstance(body["took_ms"], int | float)
    assert body["results"] == [hit_to_dict(h) for h in kb.search(QUERY, k=10)]
    top = next(hit for hit in body["results"] if "1.8%" in hit["text"])
    assert top["page"] == "4" and top["section"] == "Executive summary"
    assert top["url"] == "/documents/report-a#p0"
    assert top["citation"]["short"].endswith("p. 4, Executive summary")
    assert {"sentence", "term"} <= {span["kind"] for span in top["highlights"]}


def test_search_k_and_mode(client):
    assert len(get_json(client, "/api/search?q=office&k=1")["results"]) == 1
    assert len(get_json(client, "/api/search?q=office&k=50")["results"]) == 7
    keyword = get_json(client, "/api/search?q=office&mode=keyword")["results"]
    assert keyword and all(set(hit["ranks"]) == {"keyword"} for hit in keyword)
    semantic = get_json(client, "/api/search?q=office&mode=semantic")["results"]
    assert all(set(hit["ranks"]) == {"semantic"} for hit in semantic)


@pytest.mark.parametrize(
    ("query", "documents"),
    [
        ("kind=report", {"report-a"}),
        ("kind=case-study", {"somerset", "tayside"}),
        ("kind=report&kind=case-study", {"report-a", "somerset", "tayside"}),
        ("kind=article", set()),
        ("tag=tayside", {"tayside"}),
        ("tag=myths&tag=technology", {"report-a", "somerset"}),
        ("doc=somerset", {"somerset"}),
        ("doc=somerset&doc=report-a", {"somerset", "report-a"}),
        ("year_from=2020", {"somerset", "tayside"}),
        ("year_to=2012", {"report-a"}),
        ("year_from=2012&year_to=2012", {"report-a"}),
        ("year_from=2013&year_to=2025", set()),
        ("kind=case-study&tag=tayside", {"tayside"}),
    ],
)
def test_search_filters(client, query, documents):
    body = get_json(client, f"/api/search?q=office+council+payments+savings&k=50&{query}")
    assert result_documents(body) == documents


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("", "'q'"),
        ("q=", "'q'"),
        ("q=%20%20", "'q'"),
        ("q=%E2%80%8B%E2%80%AE%00", "'q'"),  # zero-width space, direction mark, NUL
        ("q=" + "a" * 2001, "'q'"),
        ("q=x&k=abc", "'k'"),
        ("q=x&k=1.5", "'k'"),
        ("q=x&k=0", "'k'"),
        ("q=x&k=-3", "'k'"),
        ("q=x&k=51", "'k'"),
        ("q=x&year_from=abcd", "'year_from'"),
        ("q=x&year_from=20201", "'year_from'"),
        ("q=x&year_to=12", "'year_to'"),
        ("q=x&year_from=2020&year_to=2010", "'year_from'"),
        ("q=x&mode=fuzzy", "'mode'"),
        ("q=x&kind=report&kind=reports", "kind of document called 'reports'"),
        ("q=x&tag=nosuchtag", "No document is tagged 'nosuchtag'"),
        ("q=x&doc=nosuchdoc", "no document with id 'nosuchdoc'"),
        ("q=x" + "&kind=k" * 51, "'kind'"),
        ("q=x&tag=" + "t" * 101, "'tag'"),
    ],
)
def test_search_bad_parameters_are_400_naming_them(client, query, named):
    message = assert_error(client.get(f"/api/search?{query}"), 400)
    assert named in message


def test_query_limit_follows_config(kb, settings):
    app = create_app({"TESTING": True, "SETTINGS": settings, "MAX_QUERY_CHARS": 10}, kb=kb)
    client = app.test_client()
    assert get_json(client, "/api/search?q=" + "a" * 10)["query"] == "a" * 10
    assert "limit is 10" in assert_error(client.get("/api/search?q=" + "a" * 11), 400)


@pytest.mark.parametrize(
    "query",
    ['"', "AND OR NOT", "NEAR(", "*", "((", "-", "title:x", "<script>", "%00", "ä ö ü", "_"],
)
def test_awkward_queries_never_fail(client, query):
    assert client.get("/api/search", query_string={"q": query}).status_code == 200


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(q=st.text(max_size=600), k=st.text(max_size=4), mode=st.text(max_size=8))
def test_any_input_is_200_or_400_json(client, q, k, mode):
    response = client.get("/api/search", query_string={"q": q, "k": k, "mode": mode})
    assert response.status_code in (200, 400)
    assert response.mimetype == "application/json"


# -- documents, passages, health ----------------------------------------------------------------


def test_documents_list(client):
    documents = get_json(client, "/api/documents")["documents"]
    assert {d["id"]: d["passages"] for d in documents} == {
        "report-a": 4,
        "somerset": 2,
        "tayside": 1,
    }
    report = next(d for d in documents if d["id"] == "report-a")
    assert report["kind"] == "report" and report["year"] == 2012 and "myths" in report["tags"]


def test_document_detail_has_passages_in_order(client):
    body = get_json(client, "/api/documents/report-a")
    assert body["document"]["title"] == "The front line starts here"
    assert [p["ordinal"] for p in body["passages"]] == [0, 1, 2, 3]
    assert body["passages"][3]["text"].startswith("A <script>")  # JSON carries the raw text


def test_passage_detail_has_citation_and_permalink(client, kb):
    passage_id = kb.store.passages_of("report-a")[0].id
    body = get_json(client, f"/api/passages/{passage_id}")
    assert body["id"] == passage_id and body["page"] == "4"
    assert body["document"]["id"] == "report-a"
    assert body["citation"]["short"].endswith("p. 4, Executive summary")
    assert "Available at: https://example.org/report-a" in body["citation"]["harvard"]
    assert body["url"] == "/documents/report-a#p0"


def test_health(client, app):
    body = get_json(client, "/api/health")
    generation = app.extensions["kb"].store.generation()
    assert body == {
        "status": "ok",
        "documents": 3,
        "passages": 7,
        "model": HashingEmbedder.name,
        "embedder": HashingEmbedder.name,
        "generation": generation,
        "index_generation": -1,  # TESTING: no warm-up, and no search yet
        "index_loaded_at": None,
    }
    client.get("/api/search?q=savings")
    body = get_json(client, "/api/health")
    assert body["index_generation"] == generation and body["index_loaded_at"].endswith("+00:00")


def test_health_reports_a_model_mismatch(store, settings, kb):
    class OtherEmbedder(HashingEmbedder):
        name = "another-model"

    other = KnowledgeBase(store, OtherEmbedder(), settings.index_path)
    app = create_app({"TESTING": True, "SETTINGS": settings}, kb=other)
    body = get_json(app.test_client(), "/api/health", status=503)
    assert body["status"] == "model-mismatch"


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/documents/no-such-doc",
        "/api/passages/999999",
        "/api/passages/abc",
        "/api/nope",
        "/api",
        "/api/search/extra",
    ],
)
def test_unknown_ids_and_paths_are_json_404(client, url):
    assert_error(client.get(url), 404)


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
@pytest.mark.parametrize(
    "url", ["/api/search?q=x", "/api/documents", "/api/health", "/api/passages/1"]
)
def test_wrong_method_is_json_405(client, method, url):
    response = getattr(client, method)(url)
    message = assert_error(response, 405)
    assert method.upper() in message
    assert "GET" in response.headers["Allow"]


def test_store_failure_is_json_503(client, kb, monkeypatch):
    def locked():
        raise StoreError("The database is busy with another writer.")

    monkeypatch.setattr(kb.store, "list_documents", locked)
    assert "busy" in assert_error(client.get("/api/documents"), 503)


def test_unexpected_error_is_json_500_without_details(client, kb, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(kb, "find", broken)
    message = assert_error(client.get("/api/search?q=x"), 500)
    assert "secret" not in message


# -- OpenAPI and headers ------------------------------------------------------------------------


def _refs(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_openapi_describes_every_api_route(app, client):
    spec = get_json(client, "/api/openapi.json")
    assert spec["openapi"] == "3.1.0"
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
    }
    assert routes == set(spec["paths"])
    search = spec["paths"]["/api/search"]["get"]
    names = {p["name"] for p in search["parameters"]}
    assert names == {"q", "k", "kind", "tag", "doc", "year_from", "year_to", "mode"}
    k = next(p for p in search["parameters"] if p["name"] == "k")
    assert k["schema"]["maximum"] == 50
    assert search["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    passage = spec["paths"]["/api/passages/{passage_id}"]["get"]
    assert passage["parameters"][0]["schema"] == {"type": "integer"}
    schemas = spec["components"]["schemas"]
    assert schemas["Error"]["required"] == ["error", "status"]
    assert schemas["Hit"]["additionalProperties"] is False  # an undescribed field is drift
    for ref in _refs(spec):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_a_response_field_missing_from_its_model_fails_in_tests(client, monkeypatch):
    """The guard every API test runs under: an answer its description does not allow raises."""
    import web.api

    original = web.api.hit_to_dict
    monkeypatch.setattr(web.api, "hit_to_dict", lambda hit: {**original(hit), "extra": 1})
    with pytest.raises(ResponseDrift, match="extra"):
        client.get("/api/search?q=" + QUERY)
    monkeypatch.setattr(web.api, "hit_to_dict", lambda hit: {**original(hit), "score": "high"})
    with pytest.raises(ResponseDrift, match="score"):
        client.get("/api/search?q=" + QUERY)


def test_a_status_missing_from_the_description_fails_in_tests(client, kb, monkeypatch):
    def conflict(*args, **kwargs):
        raise Conflict("Already there.")

    monkeypatch.setattr(kb, "find", conflict)
    with pytest.raises(ResponseDrift, match="409"):
        client.get("/api/search?q=x")


def test_an_undescribed_api_route_is_refused(app, caplog):
    app.add_url_rule("/api/undescribed", "undescribed", lambda: {"x": 1})
    with pytest.raises(ResponseDrift, match="no @describe"):
        app.test_client().get("/api/undescribed")
    assert_error(app.test_client().get("/api/openapi.json"), 500)
    assert "/api/undescribed has no @describe" in caplog.text


def test_answers_are_not_checked_outside_tests(settings, kb, monkeypatch):
    import web.api

    app = create_app({"TESTING": False, "WARM_UP": False, "SETTINGS": settings}, kb=kb)
    original = web.api.hit_to_dict
    monkeypatch.setattr(web.api, "hit_to_dict", lambda hit: {**original(hit), "extra": 1})
    assert app.test_client().get("/api/search?q=office").status_code == 200


@pytest.mark.parametrize(
    "url", ["/api/search?q=x", "/api/health", "/api/nope", "/api/search?k=x", "/static/app.js"]
)
def test_security_headers_on_api(client, url):
    headers = client.get(url).headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_search_says_when_nothing_matches_closely(client):
    off_topic = get_json(client, "/api/search?q=recipe for chicken curry&k=3")
    assert off_topic["match"] == "none" and off_topic["results"]  # the nearest, still shown
    answered = get_json(client, "/api/search?q=Tayside joint committee of councillors")
    assert answered["match"] == "good"
