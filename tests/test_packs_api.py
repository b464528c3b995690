"""POST /api/packs/render, the /pack page, and "cite this document" on the document page."""

from __future__ import annotations

import io
import json

import docx
import pytest
import rispy
from conftest import both_backends
from conftest import log_in

from kb.citations import csl_item
from kb.citations import reference
from web.render import citation_html

pytestmark = both_backends

RENDER = "/api/packs/render"


def _ids(app, document_id):
    return [p.id for p in app.extensions["kb"].store.passages_of(document_id)]


def _body(app, fmt="json", **extra):
    report = _ids(app, "report-a")
    items = [{"heading": "Costs"}, {"passage": report[0], "note": "Key."}, {"passage": report[1]}]
    return {"title": "Briefing", "items": items, "format": fmt, **extra}


def test_json_preview_gives_stored_text_and_citations(app, client):
    response = client.post(RENDER, json=_body(app))
    assert response.status_code == 200
    body = response.get_json()
    assert body["title"] == "Briefing" and body["missing"] == []
    heading, first, second = body["items"]
    assert heading == {"position": 1, "heading": "Costs"}
    store = app.extensions["kb"].store
    stored = store.get_passage(first["passage"]["id"])
    assert first["passage"]["text"] == stored.text and first["note"] == "Key."
    assert first["citation"]["short"].startswith("APSE for UNISON Scotland (2012)")
    assert first["url"] == f"/documents/report-a#p{stored.ordinal}"
    assert second["position"] == 3


@pytest.mark.parametrize(
    ("fmt", "media_type", "name"),
    [
        ("docx", "application/vnd.openxmlformats", "briefing.docx"),
        ("md", "text/markdown; charset=utf-8", "briefing.md"),
        ("txt", "text/plain; charset=utf-8", "briefing.txt"),
        ("ris", "application/x-research-info-systems", "briefing.ris"),
        ("bib", "application/x-bibtex; charset=utf-8", "briefing.bib"),
        ("csl", "application/vnd.citationstyles.csl+json", "briefing.json"),
    ],
)
def test_every_format_downloads_as_an_attachment(app, client, fmt, media_type, name):
    response = client.post(RENDER, json=_body(app, fmt))
    assert response.status_code == 200, response.get_json()
    assert response.headers["Content-Type"].startswith(media_type)
    assert response.headers["Content-Disposition"] == f'attachment; filename="{name}"'
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    assert response.data


def test_gone_passages_are_named_and_the_rest_downloads(app, client):
    body = _body(app, "docx")
    body["items"].insert(1, {"passage": 987654})
    response = client.post(RENDER, json=body)
    assert response.status_code == 200
    texts = [p.text for p in docx.Document(io.BytesIO(response.data)).paragraphs]
    assert any("item 2 (passage 987654)" in text for text in texts)
    body["format"] = "json"
    preview = client.post(RENDER, json=body).get_json()
    assert preview["missing"] == [{"position": 2, "passage_id": 987654}]
    assert preview["items"][1] == {"position": 2, "missing": True, "passage_id": 987654}
    assert "item 2 (passage 987654)" in preview["missing_sentence"]


def test_a_removed_document_makes_its_passages_gone_not_a_500(app, client):
    body = _body(app, "md")
    body["items"].append({"passage": _ids(app, "somerset")[0]})
    app.extensions["kb"].store.remove_document("somerset")
    response = client.post(RENDER, json=body)
    assert response.status_code == 200
    assert "item 4 (passage" in response.get_data(as_text=True)
    only_gone = {"items": [{"passage": body["items"][-1]["passage"]}], "format": "txt"}
    assert client.post(RENDER, json=only_gone).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"items": [{"passage": 1}], "format": "pdf"}, 400, "'format' must be one of"),
        ({"items": [{"passage": 1}]}, 400, "not missing"),
        ({"items": [{"passage": "1"}], "format": "md"}, 400, "Item 1 needs 'passage'"),
        ({"items": [{"passage": 1, "note": "x" * 2001}], "format": "md"}, 400, "limit is 2,000"),
        ({"items": [{"passage": 1}] * 201, "format": "md"}, 400, "limit is 200"),
        ([1, 2], 400, "JSON object"),
    ],
)
def test_bad_requests_are_400_with_a_sentence(client, body, status, message):
    response = client.post(RENDER, json=body)
    assert response.status_code == status
    error = response.get_json()
    assert error["status"] == status and message in error["error"]


def test_not_json_is_415_and_broken_json_400(client):
    form = client.post(RENDER, data={"items": "1"})
    assert form.status_code == 415 and "Content-Type: application/json" in form.get_json()["error"]
    broken = client.post(RENDER, data="{", content_type="application/json")
    assert broken.status_code == 400 and "not valid JSON" in broken.get_json()["error"]


def test_an_oversized_body_is_413(client):
    huge = json.dumps({"items": [{"passage": 1}], "format": "md", "x": "y" * (1024 * 1024)})
    response = client.post(RENDER, data=huge, content_type="application/json")
    assert response.status_code == 413 and "at most 1 MiB" in response.get_json()["error"]


def test_render_needs_no_login_nor_token_and_sets_no_cookie(app, client, researcher):
    anonymous = client.post(RENDER, json=_body(app, "md"))
    assert anonymous.status_code == 200 and "Set-Cookie" not in anonymous.headers
    member = app.test_client()
    assert log_in(member).status_code == 303
    assert member.post(RENDER, json=_body(app, "md")).status_code == 200  # no CSRF token


def test_other_sites_get_no_cors_for_render(client):
    preflight = client.options(
        RENDER,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
    response = client.post(RENDER, json={"items": [{"passage": 1}], "format": "md"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_the_pack_page_works_under_the_csp(client):
    response = client.get("/pack")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert 'id="pack-app"' in html and "/static/pack.js" in html
    assert 'data-pack-format="docx"' in html and 'data-pack-format="csl"' in html
    assert "<script>" not in html and " on" + "click=" not in html


def test_add_to_pack_buttons_on_results_reader_and_myths(app, client):
    report = app.extensions["kb"].store.passages_of("report-a")
    search = client.get("/?q=savings+back+office").get_data(as_text=True)
    assert f'data-pack-passage="{report[0].id}"' in search
    reader = client.get("/documents/report-a").get_data(as_text=True)
    assert all(f'data-pack-passage="{p.id}"' in reader for p in report)


def test_document_page_offers_its_reference_in_three_formats(app, client):
    html = client.get("/documents/report-a").get_data(as_text=True)
    document = app.extensions["kb"].store.get_document("report-a")
    assert str(citation_html(reference(document))) in html
    for fmt in ("ris", "bib", "csl"):
        assert f'href="/documents/report-a/cite.{fmt}"' in html
    ris = client.get("/documents/report-a/cite.ris")
    assert ris.headers["Content-Disposition"] == 'attachment; filename="report-a.ris"'
    assert rispy.loads(ris.get_data(as_text=True))[0]["title"] == document.meta.title
    csl = client.get("/documents/report-a/cite.csl")
    assert json.loads(csl.data) == [csl_item(document)]
    assert b"@techreport{report-a," in client.get("/documents/report-a/cite.bib").data
    assert client.get("/documents/report-a/cite.pdf").status_code == 404
    assert client.get("/documents/nope/cite.ris").status_code == 404


def test_render_is_in_the_api_description(client):
    description = client.get("/api/openapi.json").get_json()
    render = description["paths"]["/api/packs/render"]["post"]
    assert render["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/PackRenderRequest"
    )
    answers = render["responses"]["200"]["content"]
    assert {"application/json", "text/markdown", "application/x-bibtex"} <= set(answers)
    assert {"400", "413", "415"} <= set(render["responses"])


def test_the_described_formats_are_the_served_ones():
    from typing import get_args

    from export.formats import PACK_FORMATS
    from web.api_models import PackFormat

    assert set(get_args(PackFormat)) == {*PACK_FORMATS, "json"}


def test_widget_and_embed_results_link_to_the_pack_page(app, client):
    html = client.get("/embed?q=savings+back+office").get_data(as_text=True)
    report = _ids(app, "report-a")
    assert f'href="http://localhost/pack#add={report[0]}"' in html
    widget = client.get("/widget.js").get_data(as_text=True)
    assert '"/pack#add=" + hit.id' in widget


def test_a_pack_at_every_limit_renders(app, client):
    passage = _ids(app, "report-a")[0]
    items = [{"passage": passage, "note": "n" * 2000, "myth": "m" * 100}] * 199
    body = {"title": "t" * 200, "items": [{"heading": "h" * 200}, *items], "format": "docx"}
    assert len(json.dumps(body)) < 1024 * 1024
    response = client.post(RENDER, json=body)
    assert response.status_code == 200
    quotes = [
        p for p in docx.Document(io.BytesIO(response.data)).paragraphs if p.style.name == "Quote"
    ]
    assert len(quotes) == 199
