"""The HTML pages: search, reader, library, about, original files, errors, escaping, headers."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace

import pytest
from click.testing import CliRunner
from conftest import both_backends
from markupsafe import escape

from kb.models import Chunk
from kb.models import DocumentMeta
from kb.models import Span
from kb_cli.main import cli
from web import create_app
from web.render import citation_html
from web.render import highlight_html

pytestmark = both_backends

QUERY = "savings from back office sharing"


def page(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.data[:500]
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def hit_titles(html: str) -> list[str]:
    return re.findall(r'class="hit-title">([^<]*)</h3>', html)


def context_links(html: str) -> list[str]:
    return re.findall(r'class="context-link" href="([^"]+)"', html)


def facet_count(html: str, label: str) -> int:
    """The count shown next to a filter option's label."""
    found = re.search(re.escape(label) + r'\s*<span class="count">\((\d+)\)</span>', html)
    assert found, f"no filter option {label!r}"
    return int(found.group(1))


def add_document(store, embedder, doc_id: str, file_path: str, page: str | None = "3") -> None:
    """A one-passage document whose original is `file_path`."""
    meta = DocumentMeta(doc_id, f"Title of {doc_id}", "Publisher", 2020, "report")
    text = "Original files are served only from the data folder."
    chunk = Chunk(text, page, "Files", 0, len(text), 9)
    store.put_document(
        meta,
        file_path=file_path,
        sha256=doc_id,
        fingerprint=doc_id,
        text=text,
        chunks=[chunk],
        embeddings=embedder.embed([text]),
    )


# -- the search page ----------------------------------------------------------------------------


def test_search_page_has_labelled_box_landmarks_and_skip_link(client):
    html = page(client, "/")
    assert '<label for="q"' in html and 'id="q" name="q"' in html
    for landmark in ("<header", "<nav", '<main id="main"', "<footer"):
        assert landmark in html
    assert '<a class="skip-link" href="#main">' in html
    assert 'aria-current="page"' in html
    assert 'name="viewport"' in html


def test_search_shows_cited_passage_with_highlights(client, kb):
    html = page(client, "/?q=" + QUERY.replace(" ", "+"))
    assert "1.8%" in html
    assert '<dd class="page">p. 4</dd>' in html
    assert '<dd class="section">Executive summary</dd>' in html
    assert "The front line starts here" in html and "APSE for UNISON Scotland" in html
    assert '<mark class="hl-sentence">' in html
    assert '<mark class="hl-term">savings</mark>' in html
    # The citation is shown, with the title in italics, and offered in a readonly field.
    assert "<em>The front line starts here</em>, p. 4, Executive summary" in html
    assert re.search(
        r'value="APSE for UNISON Scotland \(2012\) The front line starts here, p\. 4, '
        r'Executive summary\. http://localhost/documents/report-a#p0" readonly',
        html,
    )
    assert 'class="button copy-button" data-copy-target="cite-' in html


def test_result_links_point_at_the_passage_in_the_reader(client, kb):
    html = page(client, "/?q=" + QUERY.replace(" ", "+"))
    expected = [hit.url for hit in kb.search(QUERY, k=10)]
    assert context_links(html) == expected
    top = next(h for h in kb.search(QUERY, k=10) if "1.8%" in h.passage.text)
    assert top.url == "/documents/report-a#p0"
    path, anchor = top.url.split("#")
    reader = page(client, path)
    assert f'<li id="{anchor}" class="passage">' in reader
    assert "1.8%" in reader


@pytest.mark.parametrize(
    ("query", "expected_titles"),
    [
        ("kind=case-study", {"Southwest One in Somerset", "Tayside Contracts"}),
        ("kind=report", {"The front line starts here"}),
        ("kind=report&kind=case-study", None),
        ("tag=tayside", {"Tayside Contracts"}),
        ("doc=somerset", {"Southwest One in Somerset"}),
        ("doc=somerset&doc=tayside", {"Southwest One in Somerset", "Tayside Contracts"}),
        ("year_to=2015", {"The front line starts here"}),
        ("year_from=2020", {"Southwest One in Somerset", "Tayside Contracts"}),
        ("year_from=2013&year_to=2020", set()),
    ],
)
def test_filters_restrict_results(client, query, expected_titles):
    html = page(client, f"/?q=council+office+payments+savings&{query}")
    titles = set(hit_titles(html))
    if expected_titles is None:  # no restriction in effect: every document can appear
        assert len(titles) == 3
    else:
        assert titles == expected_titles


def test_selected_filters_stay_checked_and_years_filled(client):
    html = page(client, "/?q=savings&kind=report&tag=myths&year_from=2010&year_to=2013")
    assert re.search(r'name="kind"\s+value="report" checked', html)
    assert re.search(r'name="tag"\s+value="myths" checked', html)
    assert 'name="year_from" inputmode="numeric" min="1000"' in html
    assert 'value="2010"' in html and 'value="2013"' in html


def test_facet_counts_come_from_a_wider_search(client, kb):
    html = page(client, "/?q=back+office&kind=report")
    wider = kb.search("back office", k=50)
    kinds = Counter(hit.document.meta.kind for hit in wider)
    assert facet_count(html, "report") == kinds["report"]
    assert facet_count(html, "case-study") == kinds["case-study"]
    documents = Counter(hit.document.id for hit in wider)
    assert facet_count(html, "Tayside Contracts") == documents["tayside"]
    tags = Counter(tag for hit in wider for tag in hit.document.meta.tags)
    assert facet_count(html, "myths") == tags["myths"]
    assert "best passages" in html


def test_facet_counts_without_query_are_library_passages(client):
    html = page(client, "/")
    assert facet_count(html, "case-study") == 3
    assert facet_count(html, "report") == 4
    assert facet_count(html, "Southwest One in Somerset") == 2
    assert "passages in the whole library" in html


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("q=x&k=abc", "'k'"),
        ("q=x&k=0", "'k'"),
        ("q=x&k=51", "'k'"),
        ("q=x&year_from=20x", "'year_from'"),
        ("q=x&year_to=99", "'year_to'"),
        ("q=x&year_from=2020&year_to=2010", "'year_from'"),
        ("q=x&mode=fuzzy", "'mode'"),
        ("q=" + "a" * 2001, "'q'"),
    ],
)
def test_bad_parameters_on_the_page_are_400_with_the_form(client, query, named):
    html = page(client, f"/?{query}", status=400)
    assert 'role="alert"' in html and str(escape(named)) in html
    assert '<label for="q"' in html  # still the search page, so the person can fix it
    assert "Traceback" not in html


@pytest.mark.parametrize("query", ["+++", "%E2%80%8B%E2%80%AE%00"])
def test_empty_query_shows_the_form_and_examples(client, query):
    html = page(client, f"/?q={query}")  # spaces, or only invisible characters
    assert hit_titles(html) == []
    assert "For example" in html


# -- escaping -----------------------------------------------------------------------------------

ONLY_OUR_SCRIPT = re.compile(r"<script\b")
OUR_SCRIPTS = 2  # app.js and pack.js, nothing else


def test_script_in_a_passage_is_text_on_the_search_page(client):
    html = page(client, "/?q=tag+written+in+a+document+must+show+as+text")
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    assert len(ONLY_OUR_SCRIPT.findall(html)) == OUR_SCRIPTS


def test_script_in_a_passage_is_text_in_the_reader(client):
    html = page(client, "/documents/report-a")
    assert "A &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; tag" in html
    assert "<script>alert" not in html
    assert len(ONLY_OUR_SCRIPT.findall(html)) == OUR_SCRIPTS


def test_pages_have_no_inline_script_style_or_handlers(client):
    for url in ("/", "/?q=savings", "/documents/report-a", "/library", "/about", "/nope"):
        html = client.get(url).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), url
        assert not re.search(r"\sstyle=", html), url
        assert not re.search(r"\son[a-z]+=", html), url


def test_highlight_html_escapes_each_piece():
    text = "a <b>x</b> & 'y' saving"
    word = text.index("saving")
    spans = [Span(0, len(text), "sentence"), Span(2, 5, "term"), Span(word, word + 6, "term")]
    html = str(highlight_html(text, spans))
    assert html == (
        '<mark class="hl-sentence">a <mark class="hl-term">&lt;b&gt;</mark>x&lt;/b&gt; '
        '&amp; &#39;y&#39; <mark class="hl-term">saving</mark></mark>'
    )


def test_highlight_html_ignores_bad_spans_and_closes_marks():
    text = "<i>one</i> two"
    spans = [Span(-5, 3, "sentence"), Span(8, 400, "term"), Span(5, 5, "term")]
    html = str(highlight_html(text, spans))
    assert html == (
        '<mark class="hl-sentence">&lt;i&gt;</mark>one&lt;/<mark class="hl-term">i&gt; two</mark>'
    )
    assert str(highlight_html("<b>", [])) == "&lt;b&gt;"


def test_citation_html_italicises_the_title_and_escapes_the_rest():
    assert str(citation_html("P <x> (2012) *T & <u>*, p. 4")) == (
        "P &lt;x&gt; (2012) <em>T &amp; &lt;u&gt;</em>, p. 4"
    )
    assert str(citation_html("5 * 3 <b>")) == "5 * 3 &lt;b&gt;"


def test_javascript_url_in_metadata_never_becomes_a_link(client, store):
    meta = store.get_document("report-a").meta
    store.update_metadata(replace(meta, url="javascript:alert(1)"))
    html = page(client, "/documents/report-a")
    assert 'href="javascript:' not in html
    assert "javascript:alert(1)" in html


# -- the reader ---------------------------------------------------------------------------------


def test_reader_shows_metadata_and_passages_in_order(client):
    html = page(client, "/documents/report-a")
    assert "<h1>The front line starts here</h1>" in html
    assert "APSE for UNISON Scotland" in html and "2012" in html
    assert 'href="https://example.org/report-a"' in html
    assert re.findall(r'<li id="(p\d+)" class="passage', html) == ["p0", "p1", "p2", "p3"]
    assert "is-highlighted" not in html
    assert "Exposing the myths &gt; Back office" in html


def test_reader_highlight_parameter_marks_one_passage(client):
    html = page(client, "/documents/report-a?highlight=2")
    assert '<li id="p2" class="passage is-highlighted">' in html
    assert html.count("is-highlighted") == 1
    page(client, "/documents/report-a?highlight=abc")  # ignored, not an error


@pytest.mark.parametrize("value", ["%C2%B2", "%D9%A3", "%EF%BC%92", "1%C2%B2", "+2", "9" * 12])
def test_reader_ignores_a_highlight_that_is_not_an_ascii_ordinal(client, value):
    """Superscript, Arabic-Indic and full-width digits pass str.isdigit() but not int()."""
    html = page(client, f"/documents/report-a?highlight={value}")
    assert "is-highlighted" not in html


def test_reader_unknown_document_is_an_html_404(client):
    html = page(client, "/documents/no-such-doc", status=404)
    assert "no-such-doc" in html and "Traceback" not in html


def test_target_passage_is_styled(client):
    css = client.get("/static/app.css").get_data(as_text=True)
    assert ".passage:target, .passage.is-highlighted" in css
    js = client.get("/static/app.js").get_data(as_text=True)
    assert "scrollIntoView" in js and "clipboard" in js


# -- original files -----------------------------------------------------------------------------


def test_pdf_original_is_served_with_page_links(client, store, embedder, settings):
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    kept = settings.files_dir / "0123abcd.pdf"
    kept.write_bytes(b"%PDF-1.4\n%fake\n")
    add_document(store, embedder, "pdf-doc", str(kept))
    html = page(client, "/documents/pdf-doc")
    assert 'href="/files/pdf-doc"' in html
    assert 'href="/files/pdf-doc#page=3"' in html
    response = client.get("/files/pdf-doc")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data == kept.read_bytes()
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_relative_stored_path_is_found_by_name(client, store, embedder, settings):
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    (settings.files_dir / "feed.md").write_text("# <script>x</script>")
    add_document(store, embedder, "md-doc", "elsewhere/files/feed.md", page=None)
    response = client.get("/files/md-doc")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_html_original_is_sandboxed(client, store, embedder, settings):
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    (settings.files_dir / "page.html").write_text("<script>alert(1)</script>")
    add_document(store, embedder, "html-doc", str(settings.files_dir / "page.html"))
    response = client.get("/files/html-doc")
    assert response.headers["Content-Security-Policy"].startswith("sandbox;")


def test_files_outside_the_data_folder_are_never_served(client, store, embedder, tmp_path):
    secret = tmp_path / "secret.pdf"
    secret.write_bytes(b"%PDF secret")
    add_document(store, embedder, "outside", str(secret))
    add_document(store, embedder, "traversal", "../secret.pdf")
    for doc_id in ("outside", "traversal", "report-a", "no-such-doc"):
        response = client.get(f"/files/{doc_id}")
        assert response.status_code == 404, doc_id
        assert b"secret" not in response.data
    assert "/files/" not in page(client, "/documents/outside")


# -- library, about, errors, headers ------------------------------------------------------------


def test_library_lists_every_document(client):
    html = page(client, "/library")
    rows = re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</tr>", html, re.S)
    assert len(rows) == 3
    report = next(r for r in rows if "The front line starts here" in r)
    assert all(cell in report for cell in ("report", "2012", "APSE for UNISON Scotland", ">4<"))
    assert 'href="/documents/report-a"' in html


def test_about_explains_citing(client):
    html = page(client, "/about")
    assert "How to cite" in html and 'href="/api/openapi.json"' in html


def test_unknown_page_is_html_404_and_wrong_method_html_405(client):
    assert "There is nothing at /nope" in page(client, "/nope", status=404)
    response = client.post("/library")
    assert response.status_code == 405 and response.mimetype == "text/html"
    assert "GET" in response.headers["Allow"]


def test_unexpected_error_is_a_plain_500_page(client, kb, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(kb, "find", broken)
    html = page(client, "/?q=savings", status=500)
    assert "secret internals" not in html and "Traceback" not in html


@pytest.mark.parametrize(
    "url", ["/", "/?q=savings", "/documents/report-a", "/library", "/about", "/nope", "/?k=x"]
)
def test_security_headers_on_pages(client, url):
    headers = client.get(url).headers
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'self'" in policy and "object-src 'none'" in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_frame_ancestors_can_be_widened(kb, settings):
    app = create_app(
        {"TESTING": True, "SETTINGS": settings, "FRAME_ANCESTORS": "https://branch.example"}, kb
    )
    headers = app.test_client().get("/").headers
    assert "frame-ancestors https://branch.example" in headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in headers


# -- the app factory and `kb serve` -------------------------------------------------------------


def test_factory_stores_the_kb_and_warms_up_outside_testing(kb, settings, monkeypatch):
    calls = []
    monkeypatch.setattr(kb, "warm_up", lambda: calls.append(1))
    app = create_app({"TESTING": True, "SETTINGS": settings}, kb=kb)
    assert app.extensions["kb"] is kb and calls == []
    assert app.config["MAX_K"] == 50 and not app.debug
    create_app({"SETTINGS": settings}, kb=kb)
    assert calls == [1]


def test_debug_is_never_taken_from_the_environment(kb, settings, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    assert not create_app({"TESTING": True, "SETTINGS": settings}, kb=kb).debug


def test_factory_opens_the_kb_from_settings(kb, settings):
    app = create_app({"TESTING": True, "SETTINGS": settings})
    assert app.extensions["kb"] is not kb
    assert "1.8%" in page(app.test_client(), "/?q=savings+best+case")


def test_wsgi_module_builds_the_app_from_the_environment(kb, settings, monkeypatch):
    import importlib
    import sys

    monkeypatch.setenv("KB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("KB_EMBEDDER", "hashing")
    sys.modules.pop("web.wsgi", None)
    wsgi = importlib.import_module("web.wsgi")
    assert wsgi.app.config["SETTINGS"].data_dir == settings.data_dir
    assert wsgi.app.test_client().get("/api/health").json["passages"] == 7
    sys.modules.pop("web.wsgi", None)


def test_kb_serve_production_uses_waitress_with_body_limits(kb, settings, monkeypatch):
    import web.production

    served = {}

    class FakeServer:
        channel_class = None

        def run(self):
            served["channel"] = self.channel_class

    def fake_create_server(app, **kw):
        served.update(app=app, **kw)
        return FakeServer()

    monkeypatch.setattr(web.production, "create_server", fake_create_server)
    monkeypatch.setenv("KB_MAX_UPLOAD_BYTES", str(3 << 20))
    args = ["--data-dir", str(settings.data_dir), "--embedder", "hashing"]
    result = CliRunner().invoke(cli, [*args, "serve", "--production", "--port", "5999"])
    assert result.exit_code == 0, result.output
    assert served["port"] == 5999 and served["threads"] == 8 and served["host"] == "127.0.0.1"
    assert served["max_request_body_size"] == (3 << 20) + (1 << 20)  # the file and its form
    assert served["channel_timeout"] == 30 and served["channel"].parser_class is not None
    assert not served["app"].debug
    timed = [*args, "serve", "--production", "--body-timeout", "5"]
    assert CliRunner().invoke(cli, timed).exit_code == 0
    assert served["channel_timeout"] == 5 and served["cleanup_interval"] == 1


def test_kb_serve_dev_server_and_debug_flag(kb, settings, monkeypatch):
    import flask

    runs = []
    monkeypatch.setattr(flask.Flask, "run", lambda self, **kw: runs.append(kw))
    args = ["--data-dir", str(settings.data_dir), "--embedder", "hashing", "serve"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert runs[-1]["debug"] is False and runs[-1]["port"] == 5000
    assert CliRunner().invoke(cli, [*args, "--debug"]).exit_code == 0
    assert runs[-1]["debug"] is True
    result = CliRunner().invoke(cli, [*args, "--debug", "--production"])
    assert result.exit_code == 2 and "cannot be used together" in result.output


def test_the_page_says_no_close_match_above_the_nearest_passages(client):
    html = client.get("/?q=recipe+for+chicken+curry").get_data(as_text=True)
    notice = html.index('id="match-notice"')
    assert "No close match." in html[notice : notice + 300]
    assert notice < html.index("The nearest") < html.index('class="hit"')
    answered = client.get("/?q=Tayside+joint+committee+of+councillors").get_data(as_text=True)
    assert "No close match" not in answered
