"""The API fuzzed from its own OpenAPI description: no request may get a 5xx.

Schemathesis reads /api/openapi.json from the app (WSGI, no server, no network) and generates
requests for every operation: valid ones ("positive") and ones that break the description
("negative": wrong types, out-of-range numbers, missing parameters). A second fuzz builds raw
query strings itself - any bytes percent-encoded, huge numbers, repeated and unknown parameters -
for every GET path. Every answer must be below 500, match the description's status codes and
schemas, and every 4xx under /api must have the one error shape {"error": "...", "status": N}.
"""

from __future__ import annotations

import urllib.parse

import pytest
import schemathesis
from conftest import ROOT
from conftest import build_corpus
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from kb.embedder import HashingEmbedder
from kb.search import KnowledgeBase
from kb.settings import Settings
from kb.store import SqliteStore

CONFORMANCE = [
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
]
EXAMPLES = 50  # per operation and mode
RAW_EXAMPLES = 200


@pytest.fixture(scope="module")
def api_app(tmp_path_factory):
    """The app over the small corpus, without the per-client search limit (every request here
    comes from one address, so the limit would turn most searches into 429s)."""
    from web import create_app

    data = tmp_path_factory.mktemp("api") / "data"
    settings_ = Settings(data_dir=data, corpus_dir=ROOT / "corpus", embedder="hashing")
    store = SqliteStore(settings_.db_path)
    embedder = HashingEmbedder()
    build_corpus(store, embedder)
    kb = KnowledgeBase(store, embedder, settings_.index_path)
    config = {"TESTING": True, "SETTINGS": settings_, "SEARCH_RATE_LIMIT": "off"}
    yield create_app(config, kb=kb)
    store.close()


def check_answer(status: int, body: bytes, content_type: str, label: str) -> None:
    import json

    assert status < 500, f"{label} -> {status}: {body[:300]!r}"
    if status >= 400:
        assert content_type.startswith("application/json"), f"{label} -> {content_type}"
        error = json.loads(body)
        assert set(error) == {"error", "status"} and error["status"] == status, label
        assert error["error"] and "Traceback" not in error["error"], label


def breakable(parameter) -> bool:
    """Whether some value breaks the parameter's description (not so for a bare string)."""
    return parameter.definition.get("schema") != {"type": "string"}


def fuzz(operation, mode: GenerationMode) -> list[int]:
    """Send EXAMPLES generated requests for one operation; the statuses seen."""
    statuses: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        response = case.call()
        statuses.append(response.status_code)
        content_type = (response.headers.get("content-type") or [""])[0]
        label = f"{case.method} {case.formatted_path} {case.query}"
        check_answer(response.status_code, response.content, content_type, label)
        # The answer matches the published description (status, content type, body schema).
        case.validate_response(response, checks=CONFORMANCE)

    try:
        run()
    except Unsatisfiable:
        # Only in negative mode: no value can break the description (any string is an id).
        assert mode is GenerationMode.NEGATIVE and not statuses
    return statuses


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_without_a_server_error(api_app, mode):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", api_app)
    tried = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and not any(map(breakable, operation.iter_parameters())):
            continue  # nothing to get wrong: any string is a valid id
        tried[operation.label] = sorted(set(fuzz(operation, mode)))
    assert "GET /api/search" in tried and "GET /api/passages/{passage_id}" in tried, tried
    assert mode is GenerationMode.NEGATIVE or len(tried) >= 7, tried  # every GET of /api


PARAMETERS = ["q", "k", "kind", "tag", "doc", "year_from", "year_to", "mode", "page", "x"]
HOSTILE_VALUES = st.one_of(
    st.text(max_size=60),
    st.binary(max_size=60).map(lambda b: urllib.parse.quote_from_bytes(b, safe="")),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(
        [
            "",
            " ",
            "9" * 400,
            "-1",
            "0",
            "1e9",
            "NaN",
            "%00",
            "%ff%fe",
            "%ed%a0%80",  # a lone surrogate in UTF-8
            "\u202e",
            '"',
            "'; DROP TABLE passages; --",
            "NEAR(a b)",
            "*",
            "x" * 5000,
            "hybrid",
            "semantic",
            "keyword",
        ]
    ),
)


def _get_paths(app) -> list[str]:
    document = app.test_client().get("/api/openapi.json").get_json()
    return [path for path, item in document["paths"].items() if "get" in item]


@settings(max_examples=RAW_EXAMPLES, deadline=None, database=None)
@given(
    data=st.data(),
    pairs=st.lists(st.tuples(st.sampled_from(PARAMETERS), HOSTILE_VALUES), max_size=8),
    path_value=HOSTILE_VALUES,
)
def test_raw_query_strings_never_get_a_server_error(api_app, data, pairs, path_value):
    path = data.draw(st.sampled_from(_get_paths(api_app)))
    if "{" in path:
        filled = urllib.parse.quote(path_value, safe="%") or "x"
        path = path.split("{")[0] + filled
    query = "&".join(
        f"{name}={value if '%' in value else urllib.parse.quote(value, safe='')}"
        for name, value in pairs
    )
    response = api_app.test_client().get(f"{path}?{query}" if query else path)
    check_answer(response.status_code, response.data, response.content_type, f"GET {path}?{query}")


def test_a_file_answer_is_described_as_a_file(api_app):
    """A CSL-JSON download (a +json media type) once failed the fuzz: it was described as a
    "binary string", so its parsed body was checked against that."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", api_app)
    operation = schema["/api/packs/render"]["POST"]
    store = api_app.extensions["kb"].store
    first = store.passages_of(store.list_documents()[0].id)[0].id
    case = operation.Case(
        body={"title": "A pack", "items": [{"passage": first}], "format": "csl"},
        media_type="application/json",
    )
    response = case.call()
    assert response.status_code == 200, response.content[:300]
    assert response.headers["content-type"][0].startswith("application/vnd.citationstyles")
    case.validate_response(response, checks=CONFORMANCE)


def test_a_doubled_slash_is_routing_s_redirect_not_a_described_answer(api_app):
    """The raw-query fuzz once drew /api/documents/%2F0: routing answers a doubled slash with a
    redirect to the single-slash address (as for any page), which the answer check took for
    an undescribed HTML answer."""
    response = api_app.test_client().get("/api/documents//0")
    assert response.status_code == 308
    assert response.headers["Location"].endswith("/api/documents/0")
