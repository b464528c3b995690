"""Finding 9: absolute links come from KB_PUBLIC_URL, never from a forged Host header, and
pages of search results are not stored by caches."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_web_myths import with_test_myths

from kb.settings import Settings
from web import create_app

PUBLIC = "https://evidence.example.org"
FORGED = {"Host": "evil.example"}
# Every page that prints absolute links, with a query that gives it some.
LINKING_PAGES = [
    "/?q=savings",
    "/embed?q=savings",
    "/documents/report-a",
    "/myths/sharing-saves-big",
]


@pytest.fixture
def public_app(kb, settings, tmp_path):
    myths = with_test_myths(settings, tmp_path)
    config = {"TESTING": True, "SETTINGS": myths, "PUBLIC_URL": PUBLIC + "/"}
    return create_app(config, kb=kb)


def absolute_links(html: str) -> set[str]:
    return set(re.findall(r"https?://[^\s\"'<>]+", html))


@pytest.mark.parametrize("path", LINKING_PAGES)
def test_a_forged_host_never_reaches_a_link(public_app, path):
    response = public_app.test_client().get(path, headers=FORGED)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    ours = {link for link in absolute_links(html) if link.startswith(PUBLIC + "/")}
    assert ours, f"no absolute link to the site on {path}"
    assert "evil.example" not in html


def test_citations_copy_the_public_permalink(public_app):
    html = public_app.test_client().get("/?q=savings", headers=FORGED).get_data(as_text=True)
    assert f"{PUBLIC}/documents/report-a#p0" in html


def test_without_a_public_url_links_follow_the_request(client):
    html = client.get("/?q=savings").get_data(as_text=True)
    assert "http://localhost/documents/report-a#p0" in html


@pytest.mark.parametrize(
    "value",
    ["evidence.example.org", "ftp://evidence.example.org", "https://x.org/?a=1", "https://"],
)
def test_a_bad_public_url_stops_the_start_in_one_sentence(kb, settings, value):
    with pytest.raises(ValueError, match="must be the site's address"):
        create_app({"TESTING": True, "SETTINGS": settings, "PUBLIC_URL": value}, kb=kb)


def test_the_public_url_comes_from_the_environment(kb, settings, monkeypatch):
    monkeypatch.setenv("KB_PUBLIC_URL", PUBLIC)
    settings = Settings.load(data_dir=settings.data_dir, embedder="hashing")
    app = create_app({"TESTING": True, "SETTINGS": settings}, kb=kb)
    assert app.config["PUBLIC_URL"] == PUBLIC


@pytest.mark.parametrize("path", ["/", "/?q=savings", "/embed", "/embed?q=savings"])
def test_search_pages_are_not_stored_by_caches(client, path):
    assert client.get(path).headers["Cache-Control"] == "no-store"


def test_other_pages_keep_their_caching(client):
    assert "Cache-Control" not in client.get("/documents/report-a").headers


def test_no_absolute_link_is_built_from_the_request_outside_web_links():
    """So a new page cannot bring the Host header back into a link."""
    web = Path(__file__).resolve().parent.parent / "web"
    sources = [*web.glob("*.py"), *web.glob("templates/*.html")]
    offenders = [
        f"{path.name}: {word}"
        for path in sources
        if path.name != "links.py"
        for word in ("url_root", "_external", "host_url", "request.host")
        if word in path.read_text(encoding="utf-8")
    ]
    assert not offenders
