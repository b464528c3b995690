"""The search widget for other sites: /widget.js, /embed, CORS, frame-ancestors, rate limit.

Flask test-client tests over the small corpus of conftest.py; the real-browser side is in
test_browser_widget.py.
"""

from __future__ import annotations

import multiprocessing
import re
import threading
from concurrent.futures import ProcessPoolExecutor

import flask
import pytest
from conftest import both_backends
from test_web_myths import with_test_myths

from kb.factory import open_store
from kb.models import Span
from kb.ratelimit import Rate
from kb.ratelimit import TokenBuckets
from kb.ratelimit import parse_rate
from kb.settings import Settings
from web import create_app
from web.cors import parse_origins
from web.embed import best_sentence

pytestmark = both_backends

QUERY = "savings from back office sharing"
BRANCH = "https://branch.example.org"
OTHER = "https://elsewhere.example.com"


def make_app(kb, settings, **config):
    return create_app({"TESTING": True, "SETTINGS": settings, **config}, kb=kb)


def frame_ancestors(response) -> str:
    policy = response.headers["Content-Security-Policy"]
    return re.search(r"frame-ancestors ([^;]+)", policy).group(1)


# -- /widget.js ---------------------------------------------------------------------------------


def test_widget_script_is_served_as_javascript_for_any_site(client):
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/javascript; charset=utf-8"
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    cache = response.cache_control
    assert cache.public and cache.max_age == 3600
    assert response.headers["ETag"]
    # A classic <script src> needs no CORS, and non-/api routes never get it.
    assert "Access-Control-Allow-Origin" not in response.headers


def test_widget_script_revalidates_cheaply(client):
    etag = client.get("/widget.js").headers["ETag"]
    again = client.get("/widget.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.data


def test_widget_script_is_small_and_never_parses_html(client):
    source = client.get("/widget.js").get_data(as_text=True)
    assert len(source.encode()) < 20 * 1024
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, sink
    # What the issue asks of it, in its own words.
    for needed in (
        "attachShadow",
        "document.currentScript",
        "/api/search?q=",
        "textContent",
        '"mark"',
        'setAttribute("aria-live", "polite")',
        "ArrowDown",
        "Escape",
        "DELAY_MS = 300",
        "MIN_CHARS = 3",
    ):
        assert needed in source, needed


def test_widget_script_options_are_the_documented_ones(client):
    source = client.get("/widget.js").get_data(as_text=True)
    used = set(re.findall(r"data\.(\w+)", source))
    assert used == {"base", "label", "placeholder", "k", "kind", "tag", "theme", "newTab"}


# -- /embed -------------------------------------------------------------------------------------


def test_embed_without_a_query_is_just_the_form(client):
    response = client.get("/embed")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<label for="q">Search the evidence</label>' in html
    assert 'action="/embed"' in html and "<ol" not in html
    assert "<script" not in html  # works without JavaScript


def test_embed_renders_cited_results_opening_the_passage_in_a_new_tab(client):
    html = client.get("/embed", query_string={"q": QUERY}).get_data(as_text=True)
    assert "1.8%" in html and "<mark" in html
    assert "APSE for UNISON Scotland (2012) <em>The front line starts here</em>, p. 4" in html
    links = re.findall(r'<a class="passage-link" href="([^"]+)" ([^>]+)>', html)
    assert links, html
    for href, attributes in links:
        assert href.startswith("http://localhost/documents/")
        assert attributes == 'target="_blank" rel="noopener"'
    assert 'href="http://localhost/documents/report-a#p0"' in html
    more = re.search(r'<p class="more"><a href="([^"]+)" target="_blank" rel="noopener">', html)
    assert more and more.group(1) == "http://localhost/?q=savings+from+back+office+sharing"
    assert "<script" not in html


def test_embed_escapes_document_text_and_options(client):
    html = client.get(
        "/embed",
        query_string={
            "q": "script alert tag written in a document",
            "placeholder": '"><img src=x onerror=alert(1)>',
            "label": "<b>Find</b>",
        },
    ).get_data(as_text=True)
    unmarked = re.sub(r"</?mark[^>]*>", "", html)
    assert "A &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; tag written" in unmarked
    assert "<script" not in html
    assert "<img" not in html and "<b>Find</b>" not in html
    assert 'placeholder="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"' in html
    assert "&lt;b&gt;Find&lt;/b&gt;</label>" in html


def test_embed_options_k_kind_tag_theme_are_applied_and_kept(client):
    args = {"q": "council", "k": "2", "kind": "case-study", "theme": "dark"}
    html = client.get("/embed", query_string=args).get_data(as_text=True)
    assert html.count('class="result"') <= 2 and 'class="result"' in html
    assert "APSE for UNISON" not in html  # the report is not a case study
    assert '<html lang="en-GB" class="theme-dark">' in html
    for name, value in [("k", "2"), ("kind", "case-study"), ("theme", "dark")]:
        assert f'<input type="hidden" name="{name}" value="{value}">' in html
    assert "kind=case-study" in re.search(r'<p class="more"><a href="([^"]+)"', html).group(1)
    tagged = client.get("/embed", query_string={"q": QUERY, "tag": "tayside"}).get_data(
        as_text=True
    )
    assert "1.8%" not in tagged


def test_embed_unknown_theme_falls_back_to_light(client):
    html = client.get("/embed?theme=neon").get_data(as_text=True)
    assert 'class="theme-light"' in html and "neon" not in html


def test_embed_bad_parameter_is_a_message_in_the_frame(client):
    response = client.get("/embed?q=savings&k=nope")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert 'role="alert"' in html and "Parameter &#39;k&#39;" in html
    assert '<label for="q">' in html  # the form is still there to try again


def test_best_sentence_shifts_the_term_spans():
    text = "First one. The saving was 1.8% here. Last one."
    spans = (Span(11, 36, "sentence"), Span(15, 21, "term"), Span(0, 5, "term"))
    part = best_sentence(text, spans)
    assert part["text"] == "The saving was 1.8% here."
    assert [(s.start, s.end) for s in part["spans"]] == [(4, 10)]
    assert part["text"][4:10] == "saving" and part["before"] and part["after"]
    opening = best_sentence("word " * 100, ())
    assert len(opening["text"]) <= 240 and opening["after"] and not opening["before"]


# -- CORS ---------------------------------------------------------------------------------------


def test_cors_by_default_lets_any_origin_read_the_api(client):
    response = client.get("/api/search?q=savings", headers={"Origin": OTHER})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]
    # Errors under /api are readable too, so the widget can show their message.
    bad = client.get("/api/search?q=", headers={"Origin": OTHER})
    assert bad.status_code == 400 and bad.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_for_configured_origins_only(kb, settings):
    client = make_app(kb, settings, CORS_ORIGINS=[BRANCH, "http://127.0.0.1:8001"]).test_client()
    allowed = client.get("/api/search?q=savings", headers={"Origin": BRANCH})
    assert allowed.headers["Access-Control-Allow-Origin"] == BRANCH
    assert "Origin" in allowed.headers["Vary"]
    refused = client.get("/api/search?q=savings", headers={"Origin": OTHER})
    assert refused.status_code == 200  # the browser, not the server, withholds the body
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert "Origin" in refused.headers["Vary"]
    health = client.get("/api/health", headers={"Origin": "http://127.0.0.1:8001"})
    assert health.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8001"


def test_cors_origins_as_a_string_from_the_environment(kb, settings, monkeypatch):
    monkeypatch.setenv("KB_CORS_ORIGINS", f"{BRANCH}, http://localhost:8080/")
    app = make_app(kb, Settings.load(data_dir=settings.data_dir, embedder="hashing"))
    assert app.config["CORS_ORIGINS"] == (BRANCH, "http://localhost:8080")
    response = app.test_client().get("/api/health", headers={"Origin": "http://localhost:8080"})
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:8080"


def test_cors_can_be_turned_off(kb, settings):
    client = make_app(kb, settings, CORS_ORIGINS="").test_client()
    response = client.get("/api/health", headers={"Origin": BRANCH})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("value", ["branch.example.org", "ftp://x.example", "https://x.ex/path"])
def test_cors_origins_must_be_origins(value):
    with pytest.raises(ValueError, match="CORS_ORIGINS"):
        parse_origins([value])


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_no_cors_on_other_methods(client, method):
    response = getattr(client, method)("/api/search?q=savings", headers={"Origin": OTHER})
    assert response.status_code == 405
    assert not [h for h in response.headers.keys() if h.startswith("Access-Control-")]


@pytest.mark.parametrize("url", ["/", "/?q=savings", "/embed?q=savings", "/widget.js", "/about"])
def test_no_cors_outside_the_api(client, url):
    response = client.get(url, headers={"Origin": OTHER})
    assert response.status_code == 200
    assert not [h for h in response.headers.keys() if h.startswith("Access-Control-")]


def test_preflight_for_a_get_is_answered(client):
    response = client.options(
        "/api/search?q=savings",
        headers={
            "Origin": OTHER,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "accept",
        },
    )
    assert response.status_code == 204 and not response.data
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Methods"] == "GET, HEAD"
    assert "Accept" in response.headers["Access-Control-Allow-Headers"]
    assert int(response.headers["Access-Control-Max-Age"]) > 0


@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT"])
def test_preflight_for_anything_but_get_is_refused(client, method):
    response = client.options(
        "/api/search", headers={"Origin": OTHER, "Access-Control-Request-Method": method}
    )
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Methods" not in response.headers


def test_preflight_from_a_refused_origin_or_outside_the_api(kb, settings):
    client = make_app(kb, settings, CORS_ORIGINS=BRANCH).test_client()
    ask = {"Access-Control-Request-Method": "GET"}
    ok = client.options("/api/search", headers={"Origin": BRANCH, **ask})
    assert ok.status_code == 204 and ok.headers["Access-Control-Allow-Origin"] == BRANCH
    refused = client.options("/api/search", headers={"Origin": OTHER, **ask})
    assert "Access-Control-Allow-Origin" not in refused.headers
    page = client.options("/embed", headers={"Origin": BRANCH, **ask})
    assert "Access-Control-Allow-Origin" not in page.headers


# -- frame-ancestors ----------------------------------------------------------------------------


def test_embed_may_be_framed_by_any_site_by_default(client):
    response = client.get("/embed?q=savings")
    assert frame_ancestors(response) == "*"
    assert "X-Frame-Options" not in response.headers
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_embed_framing_follows_configuration(kb, settings):
    client = make_app(
        kb, settings, EMBED_FRAME_ANCESTORS=[BRANCH, "https://*.branch.example.org"]
    ).test_client()
    assert frame_ancestors(client.get("/embed")) == f"{BRANCH} https://*.branch.example.org"
    assert frame_ancestors(client.get("/embed?k=bad")) == f"{BRANCH} https://*.branch.example.org"
    strict = make_app(kb, settings, EMBED_FRAME_ANCESTORS="'self'").test_client()
    response = strict.get("/embed")
    assert frame_ancestors(response) == "'self'"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"


@pytest.mark.parametrize(
    "url", ["/", "/?q=savings", "/documents/report-a", "/library", "/api/health", "/widget.js"]
)
def test_every_other_page_keeps_frame_ancestors_self(client, url):
    response = client.get(url)
    assert frame_ancestors(response) == "'self'"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"


@pytest.mark.parametrize("value", ["*; script-src *", "a.example, b.example", ""])
def test_embed_frame_ancestors_cannot_inject_directives(kb, settings, value):
    with pytest.raises(ValueError, match="EMBED_FRAME_ANCESTORS"):
        make_app(kb, settings, EMBED_FRAME_ANCESTORS=value)


# -- rate limit ---------------------------------------------------------------------------------


def test_search_rate_limit_per_client_address(kb, settings):
    client = make_app(kb, settings, SEARCH_RATE_LIMIT="3/minute").test_client()
    first = {"REMOTE_ADDR": "203.0.113.7"}
    for _ in range(3):
        assert client.get("/api/search?q=savings", environ_base=first).status_code == 200
    response = client.get("/api/search?q=savings", environ_base=first, headers={"Origin": OTHER})
    assert response.status_code == 429 and response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "status"} and body["status"] == 429
    assert "3/minute" in body["error"]
    assert 1 <= int(response.headers["Retry-After"]) <= 20  # a token every 20 s
    # The widget on another site can read the message and the wait.
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]
    other = {"REMOTE_ADDR": "198.51.100.9"}
    assert client.get("/api/search?q=savings", environ_base=other).status_code == 200
    # Only the search is limited.
    assert client.get("/api/health", environ_base=first).status_code == 200
    assert client.get("/api/documents", environ_base=first).status_code == 200


def test_search_rate_limit_from_the_environment_and_off(kb, settings, monkeypatch):
    monkeypatch.setenv("KB_SEARCH_RATE_LIMIT", "1 per 10 seconds")
    client = make_app(kb, Settings.load(data_dir=settings.data_dir)).test_client()
    assert client.get("/api/search?q=savings").status_code == 200
    assert client.get("/api/search?q=savings").status_code == 429
    unlimited = make_app(kb, settings, SEARCH_RATE_LIMIT=None).test_client()
    assert all(unlimited.get("/api/search?q=x").status_code == 200 for _ in range(70))


def test_rate_limit_is_on_by_default(app):
    assert app.config["SEARCH_RATE_LIMIT"] == "60/minute"
    assert app.extensions["search_rate_limiter"].rate == Rate(60, 60, "60/minute")


@pytest.mark.parametrize(
    "text, rate",
    [
        ("60/minute", (60, 60)),
        ("10 per 30 seconds", (10, 30)),
        ("1000/day", (1000, 86400)),
        ("5/Hour", (5, 3600)),
        ("2/second", (2, 1)),
    ],
)
def test_parse_rate(text, rate):
    parsed = parse_rate(text)
    assert (parsed.limit, parsed.period) == rate


@pytest.mark.parametrize("text", [None, "", "off", "0"])
def test_parse_rate_off(text):
    assert parse_rate(text) is None


@pytest.mark.parametrize("text", ["sixty a minute", "60/fortnight", "0/minute", "-1/minute"])
def test_parse_rate_rejects_nonsense(text):
    with pytest.raises(ValueError, match="SEARCH_RATE_LIMIT"):
        parse_rate(text)


def test_token_bucket_refills_over_time(store):
    now = [100.0]
    limiter = TokenBuckets(store, Rate(2, 10), clock=lambda: now[0])
    assert limiter.hit("a") == 0 and limiter.hit("a") == 0
    assert limiter.hit("a") == pytest.approx(5.0)  # one token per 5 s
    now[0] += 2.5
    assert limiter.hit("a") == pytest.approx(2.5)
    now[0] += 2.5
    assert limiter.hit("a") == 0
    assert limiter.hit("b") == 0  # another client has its own bucket


def test_token_bucket_forgets_clients_whose_bucket_refilled(store, monkeypatch):
    import kb.ratelimit

    monkeypatch.setattr(kb.ratelimit, "_SWEEP_EVERY", 5)
    now = [0.0]
    limiter = TokenBuckets(store, Rate(1, 10), clock=lambda: now[0])
    other = TokenBuckets(store, Rate(1, 3600), namespace="other", clock=lambda: now[0])
    other.hit("x")
    for key in "abc":
        limiter.hit(key)
    now[0] += 11  # a, b and c have their token back
    limiter.hit("d")
    limiter.hit("e")  # the fifth hit: the full buckets are dropped, not d's and e's
    assert len(limiter) == 2 and len(other) == 1
    assert limiter.hit("e") > 0


def test_token_bucket_is_thread_safe(store):
    limiter = TokenBuckets(store, Rate(100, 3600))
    allowed = []

    def worker():
        allowed.extend(1 for _ in range(50) if limiter.hit("same") == 0)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 100


def _hits_in_a_process(settings) -> int:
    store = open_store(settings)
    try:
        limiter = TokenBuckets(store, Rate(100, 3600))
        return sum(1 for _ in range(40) if limiter.hit("same") == 0)
    finally:
        store.close()


def test_token_buckets_are_shared_by_processes(store, settings):
    """Finding 6: the buckets were in each process's memory; four processes got 4 x the limit."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(4, mp_context=context) as pool:
        allowed = sum(pool.map(_hits_in_a_process, [settings] * 4))
    assert allowed == 100


# -- the search limit covers every route that searches (finding 6) ----------------------------


URL_VALUES = {
    "document_id": "report-a",
    "job_id": "0000",
    "myth_id": "sharing-saves-big",
    "passage_id": 1,
}
# Routes known to search (the test below finds them by watching; this keeps it honest).
SEARCHING = {"api.search", "pages.search", "embed.embed", "myths.myth", "myths_api.api_myth"}


def test_every_route_that_runs_a_search_is_limited(kb, settings, tmp_path, monkeypatch):
    """From an address whose searches are used up, no route runs a search: each GET route is
    requested with ?q=, and every one that calls KnowledgeBase.search must answer 429. Before,
    only /api/search was limited: the search page and /embed answered 100 of 100."""
    app = make_app(kb, with_test_myths(settings, tmp_path), SEARCH_RATE_LIMIT="1/hour")
    client = app.test_client()
    searched: list[str] = []
    real_find = kb.find  # KnowledgeBase.search runs find too

    def watched_find(*args, **kwargs):
        searched.append("x")
        return real_find(*args, **kwargs)

    monkeypatch.setattr(kb, "find", watched_find)
    assert client.get("/api/search?q=savings").status_code == 200  # the one search allowed
    found = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        values = {name: URL_VALUES.get(name, "x") for name in rule.arguments}
        with app.test_request_context():
            path = flask.url_for(rule.endpoint, **values)
        searched.clear()
        response = client.get(path, query_string={"q": "savings back office"})
        if searched:
            found.add(rule.endpoint)
            assert response.status_code == 429, (rule.endpoint, response.status_code)
            assert int(response.headers["Retry-After"]) > 0
    assert found >= SEARCHING, found


def test_a_page_that_runs_two_searches_counts_once(kb, settings):
    client = make_app(kb, settings, SEARCH_RATE_LIMIT="2/hour").test_client()
    assert client.get("/?q=savings").status_code == 200  # results and facet counts: two searches
    assert client.get("/embed?q=savings").status_code == 200
    refused = client.get("/?q=savings")
    assert refused.status_code == 429 and refused.mimetype == "text/html"
    assert "Too many searches from your address" in refused.get_data(as_text=True)
    assert client.get("/").status_code == 200  # no query, no search: not counted


def test_two_apps_over_one_data_folder_share_the_limit(kb, settings):
    first = make_app(kb, settings, SEARCH_RATE_LIMIT="2/hour").test_client()
    second = make_app(kb, settings, SEARCH_RATE_LIMIT="2/hour").test_client()
    assert first.get("/api/search?q=savings").status_code == 200
    assert second.get("/embed?q=savings").status_code == 200
    assert first.get("/?q=savings").status_code == 429


def test_a_search_goes_ahead_uncounted_while_a_writer_holds_the_database(kb, settings):
    client = make_app(kb, settings, SEARCH_RATE_LIMIT="1/hour").test_client()
    holding, release = threading.Event(), threading.Event()

    def writer():  # another process's long write to the side tables, held open
        with kb.store.side_transaction():
            holding.set()
            release.wait(60)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(30)
        assert client.get("/api/search?q=savings").status_code == 200
        assert client.get("/api/search?q=savings").status_code == 200
    finally:
        release.set()
        thread.join()
    assert client.get("/api/search?q=savings").status_code == 200
    assert client.get("/api/search?q=savings").status_code == 429


def test_embed_says_no_close_match_above_the_results(client):
    html = client.get("/embed?q=recipe+for+chicken+curry").get_data(as_text=True)
    assert "No close match." in html
    assert html.index("No close match.") < html.index('class="results"')
    answered = client.get("/embed?q=Tayside+joint+committee+of+councillors")
    assert "No close match" not in answered.get_data(as_text=True)


def test_widget_script_shows_the_match_notice_with_text_nodes(client):
    script = client.get("/widget.js").get_data(as_text=True)
    assert "body.match" in script and '"No close match"' in script
