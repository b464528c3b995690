"""Shared fixtures: a small built-in corpus, a fast fake embedder, a knowledge base on it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from kb.embedder import HashingEmbedder
from kb.models import Chunk
from kb.models import DocumentMeta
from kb.search import KnowledgeBase
from kb.settings import Settings
from kb.store import SqliteStore
from kb.store import Store

ROOT = Path(__file__).resolve().parent.parent

# A tiny corpus built in code. Each document is (metadata, [(text, page, section), ...]).
# The texts are written so that semantic and keyword search each miss something the other finds
# (see test_search.py), and so that filters have something to separate.
SMALL_CORPUS = [
    (
        DocumentMeta(
            "report-a",
            "The front line starts here",
            "APSE for UNISON Scotland",
            2012,
            "report",
            "https://example.org/report-a",
            ("savings", "myths"),
        ),
        [
            (
                "Sharing back office services will yield only savings of 1.8% even in the best "
                "case scenario.",
                "4",
                "Executive summary",
            ),
            (
                "There is no simple distinction between back office and front office work.",
                "9",
                "Exposing the myths > Back office",
            ),
            (
                "Failure demand is demand caused by a failure to do something right for the "
                "customer.",
                "12",
                "Understanding the basics",
            ),
            (
                "A <script>alert('x')</script> tag written in a document must show as text.",
                "16",
                "Conclusion",
            ),
        ],
    ),
    (
        DocumentMeta(
            "somerset",
            "Southwest One in Somerset",
            "Shared Services Evidence Base",
            2026,
            "case-study",
            "",
            ("southwest-one", "technology"),
        ),
        [
            (
                "An invoice scanning system paid some suppliers twice: duplicate payments "
                "reached £4.6m.",
                None,
                "The duplicate payments",
            ),
            ("The council left the joint venture with IBM early, in 2015.", None, "The exit"),
        ],
    ),
    (
        DocumentMeta(
            "tayside",
            "Tayside Contracts",
            "Shared Services Evidence Base",
            2026,
            "case-study",
            "",
            ("tayside", "joint-committee"),
        ),
        [
            (
                "Tayside Contracts is governed by a joint committee of councillors from three "
                "councils.",
                None,
                "Governance",
            ),
        ],
    ),
]


def build_corpus(store: Store, embedder, corpus=SMALL_CORPUS) -> None:
    """Write documents straight into the store (no loaders), as the pipeline would."""
    store.ensure_model(embedder.name, embedder.dimension, {"name": "test"})
    for meta, rows in corpus:
        text = ""
        chunks = []
        for passage_text, page, section in rows:
            start = len(text)
            text += passage_text + "\n\n"
            chunks.append(
                Chunk(
                    passage_text,
                    page,
                    section,
                    start,
                    start + len(passage_text),
                    len(passage_text.split()),
                )
            )
        vectors = embedder.embed([f"{meta.title} - {c.section}: {c.text}" for c in chunks])
        store.put_document(
            meta,
            file_path="",
            sha256=meta.id,
            fingerprint=meta.id,
            text=text,
            chunks=chunks,
            embeddings=vectors,
        )


@pytest.fixture
def embedder():
    return HashingEmbedder()


@pytest.fixture(autouse=True)
def no_ocr_unless_asked(monkeypatch):
    """OCR off (KB_OCR=off) so a test's outcome does not depend on whether Tesseract is
    installed; tests/test_ocr.py turns it on."""
    monkeypatch.setenv("KB_OCR", "off")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", corpus_dir=ROOT / "corpus", embedder="hashing", ocr="off"
    )


# -- PostgreSQL (tests marked `postgres`) ------------------------------------------------------

NO_POSTGRES = (
    "no PostgreSQL server: set KB_TEST_DATABASE_URL, or run the tests under "
    "`scripts/pg-throwaway run -- ...` (`make test` does)"
)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The address of a PostgreSQL server on which tests may create and drop databases
    (KB_TEST_DATABASE_URL). Without one the test is skipped, except in CI (CI=true), where a
    missing server is a failure: CI must run the PostgreSQL half of the suite."""
    url = os.environ.get("KB_TEST_DATABASE_URL")
    if not url:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(NO_POSTGRES)
        pytest.skip(NO_POSTGRES)
    return url


@pytest.fixture
def store(settings):
    store = SqliteStore(settings.db_path)
    yield store
    store.close()


@pytest.fixture
def kb(store, embedder, settings) -> KnowledgeBase:
    """A knowledge base over SMALL_CORPUS with the fake embedder."""
    build_corpus(store, embedder)
    return KnowledgeBase(store, embedder, settings.index_path)


@pytest.fixture
def app(kb, settings):
    """The web app over the small corpus (no warm-up: TESTING)."""
    from web import create_app

    return create_app({"TESTING": True, "SETTINGS": settings}, kb=kb)


@pytest.fixture
def client(app):
    return app.test_client()


# -- researcher accounts (tests/test_accounts.py, tests/test_upload.py) -----------------------

RESEARCHER = "ada"
PASSWORD = "correct horse battery staple"
# scrypt (the default) costs ~0.1 s a hash; tests' accounts use a cheap method instead.
CHEAP_HASH = "pbkdf2:sha256:1000"


def csrf_token(client, path: str = "/login") -> str:
    """The CSRF token in the form on a page (its pair stays in the client's session)."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def log_in(client, name: str = RESEARCHER, password: str = PASSWORD):
    token = csrf_token(client)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token})


@pytest.fixture
def researcher(app) -> str:
    """An account in the app's database; returns its name."""
    from kb.users import Users

    Users(app.extensions["kb"].store, hash_method=CHEAP_HASH).add(RESEARCHER, PASSWORD)
    return RESEARCHER


@pytest.fixture
def logged_in(client, researcher):
    """The test client, logged in as the researcher."""
    response = log_in(client)
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


# -- real browser (tests/test_browser_*.py; the helpers are in tests/browser_support.py) ------


@pytest.fixture(scope="module")
def chromium() -> tuple[str, str]:
    """(chromium, chromedriver) paths; skips the test when either is not installed."""
    from browser_support import CHROMIUM_MISSING
    from browser_support import find_chromium

    found = find_chromium()
    if found is None:
        pytest.skip(CHROMIUM_MISSING)
    return found


@pytest.fixture
def browser(chromium, tmp_path):
    """A fresh headless Chromium (selenium driver) for each test, with its own profile."""
    from browser_support import make_driver

    binary, driver_path = chromium
    driver = make_driver(binary, driver_path, tmp_path / "chromium-profile")
    yield driver
    driver.quit()
