"""Myth buster on the website: /myths, /myths/<id>, /api/myths, and the card above search results.

The small test corpus lacks the real documents that corpus/myths.toml pins quotes to, so these
tests write their own myths.toml, quoting SMALL_CORPUS (tests/conftest.py), into a corpus folder
of their own.
"""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import quote_plus

import pytest
from conftest import both_backends
from markupsafe import escape

from kb.myths import MATCH_THRESHOLD
from kb.myths import evidence_to_dict
from kb.myths import myth_to_dict
from kb.myths import other_side_to_dict
from web import create_app
from web.render import citation_html

pytestmark = both_backends

MYTHS_TOML = """
[[myth]]
id = "sharing-saves-big"
claim = "Sharing back office services saves big money through economies of scale."
answer = "Savings from sharing back office services are small: 1.8% in the best case."
queries = ["savings from sharing back office services", "economies of scale savings"]

[[myth.evidence]]
document = "report-a"
quote = "will yield only savings of 1.8% even in the best case scenario"

[[myth.evidence]]
document = "report-a"
quote = "There is no simple distinction between back office and front office work."

[[myth.evidence]]
document = "somerset"
quote = "duplicate payments reached £4.6m"

[[myth.other_side]]
document = "tayside"
quote = "governed by a joint committee of councillors from three councils"
note = "A shared service that has lasted: expect to hear it."


[[myth]]
id = "markup-is-safe"
claim = "Documents with <b>markup</b> & scripts are <script>alert(1)</script> harmless."
answer = "Text from documents is <em>data</em>, shown & never run."
queries = ["script tag written in a document"]

[[myth.evidence]]
document = "report-a"
quote = "A <script>alert('x')</script> tag written in a document must show as text."
"""

MYTH_QUERY = "does sharing back office services save big money through economies of scale"
UNRELATED_QUERY = "Tayside Contracts joint committee of councillors"


def with_test_myths(settings, tmp_path):
    """The settings with a corpus folder holding MYTHS_TOML (other test files use it too)."""
    corpus = tmp_path / "myth-corpus"
    corpus.mkdir()
    (corpus / "myths.toml").write_text(MYTHS_TOML, encoding="utf-8")
    return replace(settings, corpus_dir=corpus)


@pytest.fixture
def myth_settings(settings, tmp_path):
    return with_test_myths(settings, tmp_path)


@pytest.fixture
def myth_app(kb, myth_settings):
    return create_app({"TESTING": True, "SETTINGS": myth_settings}, kb=kb)


@pytest.fixture
def myth_client(myth_app):
    return myth_app.test_client()


@pytest.fixture
def book(myth_app):
    return myth_app.extensions["myths"]


def page(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.data[:500]
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def get_json(client, url: str, status: int = 200) -> dict:
    response = client.get(url)
    assert response.status_code == status, response.data[:500]
    assert response.mimetype == "application/json"
    return response.get_json()


def context_links(html: str) -> list[str]:
    return re.findall(r'class="context-link" href="([^"]+)"', html)


# -- the book ---------------------------------------------------------------------------------


def test_app_builds_one_book_from_the_corpus_myths(myth_app, book):
    assert [m.id for m in book] == ["sharing-saves-big", "markup-is-safe"]
    assert myth_app.extensions["myths"] is book
    assert myth_app.config["MYTH_MATCH_THRESHOLD"] == MATCH_THRESHOLD


def test_the_test_queries_sit_clearly_either_side_of_the_threshold(book):
    # The fake embedder shares words, not meaning: the test relies on these margins.
    (best, score), *_ = book.similarities(MYTH_QUERY)
    assert best.id == "sharing-saves-big" and score >= MATCH_THRESHOLD + 0.15
    assert book.similarities(UNRELATED_QUERY)[0][1] <= MATCH_THRESHOLD - 0.15


# -- /myths -----------------------------------------------------------------------------------


def test_myths_page_lists_claims_answers_and_two_strongest_quotes(myth_client, book):
    html = page(myth_client, "/myths")
    assert 'href="/myths" aria-current="page"' in html  # the nav link
    myth = book.get("sharing-saves-big")
    assert str(escape(myth.claim)) in html and str(escape(myth.answer)) in html
    item = html.split('id="sharing-saves-big"', 1)[1].split('class="myth"', 1)[0]
    pinned = book.evidence(myth, k=0)
    assert len(pinned) == 3
    for evidence in pinned[:2]:
        assert str(citation_html(evidence.citation.short)) in item
        assert f'class="context-link" href="{evidence.url}"' in item
    assert "1.8% even in the best case" in item and "no simple distinction" in item
    assert "£4.6m" not in item  # the third quote waits for the myth's own page
    assert context_links(item) == [e.url for e in pinned[:2]]
    assert 'href="/myths/sharing-saves-big"' in item


def test_myths_page_escapes_claims_answers_and_quotes(myth_client):
    html = page(myth_client, "/myths")
    assert "<script>alert" not in html and "<b>markup</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;markup&lt;/b&gt; &amp; scripts" in html
    assert "&lt;em&gt;data&lt;/em&gt;, shown &amp; never run." in html
    assert "A &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; tag" in html


def test_without_a_myths_file_the_pages_say_there_are_none(kb, settings, tmp_path):
    empty = tmp_path / "empty-corpus"
    empty.mkdir()
    app = create_app({"TESTING": True, "SETTINGS": replace(settings, corpus_dir=empty)}, kb=kb)
    client = app.test_client()
    assert len(app.extensions["myths"]) == 0
    assert "There are no myths yet" in page(client, "/myths")
    assert get_json(client, "/api/myths") == {"myths": []}
    page(client, "/myths/sharing-saves-big", 404)
    html = page(client, "/?q=" + quote_plus(MYTH_QUERY))
    assert 'class="myth-card"' not in html


def test_a_broken_myths_file_does_not_take_the_site_down(kb, settings, tmp_path):
    broken = tmp_path / "broken-corpus"
    broken.mkdir()
    (broken / "myths.toml").write_text("[[myth]]\nid = 'x'\n", encoding="utf-8")
    app = create_app({"TESTING": True, "SETTINGS": replace(settings, corpus_dir=broken)}, kb=kb)
    assert "There are no myths yet" in page(app.test_client(), "/myths")


# -- /myths/<id> ------------------------------------------------------------------------------


def test_myth_page_shows_all_evidence_pinned_first_with_citations(myth_client, book):
    html = page(myth_client, "/myths/sharing-saves-big")
    myth = book.get("sharing-saves-big")
    evidence = book.evidence(myth, k=8)
    pinned = [e for e in evidence if e.pinned]
    assert len(pinned) == 3 and len(evidence) > len(pinned)
    assert evidence[: len(pinned)] == pinned  # pinned first
    assert f'<h1 class="myth-claim">{escape(myth.claim)}</h1>' in html
    assert str(escape(myth.answer)) in html
    own_side = html[: html.index("What the other side will say")]
    assert context_links(own_side) == [e.url for e in evidence]
    for number, item in enumerate(evidence, start=1):
        assert str(citation_html(item.citation.short)) in html
        copy_text = f"{item.citation.short.replace('*', '')}. http://localhost{item.url}"
        assert f'id="cite-{number}" class="citation-field" value="{escape(copy_text)}"' in html
        assert f'data-copy-target="cite-{number}"' in html
    assert html.count('class="evidence-kind">Quoted<') == 3
    # The pinned quote is marked in its passage.
    assert '<mark class="hl-quote">will yield only savings of 1.8%' in html
    assert '<mark class="hl-quote">duplicate payments reached £4.6m</mark>' in html
    search = f'href="/?q={quote_plus(myth.queries[0])}"'
    assert search in html


def test_myth_page_escapes_the_quote_it_marks(myth_client):
    html = page(myth_client, "/myths/markup-is-safe")
    assert "<script>" not in html and "<b>markup" not in html
    assert '<mark class="hl-quote">A &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; tag' in html
    assert "<title>Myth: Documents with &lt;b&gt;markup&lt;/b&gt; &amp; scripts" in html


@pytest.mark.parametrize("url", ["/myths/no-such-myth", "/myths/%3Cscript%3E", "/myths/a/b"])
def test_unknown_myth_is_the_404_page(myth_client, url):
    html = page(myth_client, url, 404)
    assert "Not found" in html and "<script>" not in html


# -- the API ----------------------------------------------------------------------------------


def test_api_myths_lists_myths_with_their_two_strongest_quotes(myth_client, book):
    body = get_json(myth_client, "/api/myths")
    assert [m["id"] for m in body["myths"]] == ["sharing-saves-big", "markup-is-safe"]
    first = body["myths"][0]
    myth = book.get("sharing-saves-big")
    pinned = book.evidence(myth, k=0)[:2]
    assert first == {
        **myth_to_dict(myth),
        "evidence": [evidence_to_dict(e) for e in pinned],
        "other_side": [other_side_to_dict(e) for e in book.other_side(myth)],
    }
    quote = first["evidence"][0]
    assert quote["pinned"] is True and quote["quote"].startswith("will yield only savings")
    assert quote["citation"]["short"] == (
        "APSE for UNISON Scotland (2012) *The front line starts here*, p. 4, Executive summary"
    )
    assert quote["citation"]["harvard"] and quote["url"].startswith("/documents/report-a#p")
    span = quote["highlights"][0]
    assert span["kind"] == "quote"
    assert quote["text"][span["start"] : span["end"]] == myth.evidence[0].quote
    # Text is data in JSON: returned as is, for the client to escape.
    assert body["myths"][1]["claim"].startswith("Documents with <b>markup</b>")


def test_api_myth_has_all_evidence_pinned_first(myth_client, book):
    body = get_json(myth_client, "/api/myths/sharing-saves-big")
    evidence = book.evidence("sharing-saves-big", k=8)
    assert body == {
        **myth_to_dict(book.get("sharing-saves-big")),
        "evidence": [evidence_to_dict(e) for e in evidence],
        "other_side": [other_side_to_dict(e) for e in book.other_side("sharing-saves-big")],
    }
    flags = [e["pinned"] for e in body["evidence"]]
    assert flags[:3] == [True, True, True] and not any(flags[3:]) and len(flags) > 3
    assert all(e["citation"]["short"] and e["url"] for e in body["evidence"])


def test_api_unknown_myth_is_the_json_404(myth_client):
    body = get_json(myth_client, "/api/myths/no-such-myth", 404)
    assert body == {"error": "There is no myth with id 'no-such-myth'.", "status": 404}


def test_openapi_describes_the_myth_routes(myth_client):
    spec = get_json(myth_client, "/api/openapi.json")
    assert {"/api/myths", "/api/myths/{myth_id}"} <= set(spec["paths"])
    detail = spec["paths"]["/api/myths/{myth_id}"]["get"]
    assert "404" in detail["responses"]
    assert "Myth" in spec["components"]["schemas"] and "Evidence" in spec["components"]["schemas"]


# -- the card above search results ------------------------------------------------------------


def test_a_myth_like_search_shows_the_myths_card_above_the_results(myth_client, book):
    html = page(myth_client, "/?q=" + quote_plus(MYTH_QUERY))
    myth = book.get("sharing-saves-big")
    card = html.split('<aside class="myth-card"', 1)[1].split("</aside>", 1)[0]
    assert f'This sounds like the claim “<span class="myth-card-claim">{myth.claim}' in card
    assert f"The evidence says: {escape(myth.answer)}" in card
    assert 'href="/myths/sharing-saves-big"' in card
    assert html.index('class="myth-card"') < html.index('class="hits"')


def test_an_unrelated_search_shows_no_myths_card(myth_client):
    html = page(myth_client, "/?q=" + quote_plus(UNRELATED_QUERY))
    assert "Tayside Contracts" in html  # results, but no card
    assert 'class="myth-card"' not in html and "This sounds like the claim" not in html


def test_the_card_threshold_is_configurable(kb, myth_settings):
    config = {"TESTING": True, "SETTINGS": myth_settings, "MYTH_MATCH_THRESHOLD": 1.01}
    client = create_app(config, kb=kb).test_client()
    assert 'class="myth-card"' not in page(client, "/?q=" + quote_plus(MYTH_QUERY))


def test_the_card_escapes_the_claim(myth_client):
    html = page(myth_client, "/?q=" + quote_plus("documents with markup and scripts harmless"))
    card = html.split('<aside class="myth-card"', 1)[1].split("</aside>", 1)[0]
    assert "&lt;b&gt;markup&lt;/b&gt; &amp; scripts are &lt;script&gt;" in card
    assert "<script>" not in card


def test_search_api_names_the_myth_or_null(myth_client, book):
    body = get_json(myth_client, "/api/search?q=" + quote_plus(MYTH_QUERY))
    score = book.match(MYTH_QUERY)[1]
    claim = book.get("sharing-saves-big").claim
    assert body["myth"] == {"id": "sharing-saves-big", "claim": claim, "score": score}
    assert get_json(myth_client, "/api/search?q=" + quote_plus(UNRELATED_QUERY))["myth"] is None


# -- what the other side will say ---------------------------------------------------------------


def test_the_myth_page_says_what_the_other_side_will_say(myth_client):
    html = page(myth_client, "/myths/sharing-saves-big")
    assert "What the other side will say" in html
    other = html[html.index("What the other side will say") :]
    assert "A shared service that has lasted: expect to hear it." in other
    assert '<mark class="hl-quote">governed by a joint committee of councillors' in other
    assert "Shared Services Evidence Base (2026) <em>Tayside Contracts</em>, Governance" in other
    assert "/documents/tayside#p" in other
    # Not offered as evidence for the answer as well.
    evidence = html[: html.index("What the other side will say")]
    assert "Tayside Contracts</h3>" not in evidence
    assert "What the other side will say" not in page(myth_client, "/myths/markup-is-safe")


def test_the_api_gives_the_other_side_with_its_note(myth_client):
    body = get_json(myth_client, "/api/myths/sharing-saves-big")
    [other] = body["other_side"]
    assert other["note"] == "A shared service that has lasted: expect to hear it."
    assert other["document"]["id"] == "tayside" and other["pinned"] is True
    assert other["citation"]["short"].startswith("Shared Services Evidence Base (2026)")
    assert other["sources"] == []
    listed = get_json(myth_client, "/api/myths")["myths"][0]["other_side"]
    assert listed == body["other_side"]


def test_a_lost_other_side_quote_fails_the_check(kb, book):
    from kb.myths import check_pinned

    myth = book.get("sharing-saves-big")
    assert check_pinned([myth], kb.store) == []
    lost = replace(myth, other_side=(replace(myth.other_side[0], quote="words no one wrote"),))
    [problem] = check_pinned([lost], kb.store)
    assert "the other side's quote" in problem and "no passage of that document" in problem
