"""Shared fixtures: a small built-in corpus, a fast fake embedder, a knowledge base on it."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from kb.embedder import HashingEmbedder
from kb.factory import open_store
from kb.models import Chunk
from kb.models import DocumentMeta
from kb.search import KnowledgeBase
from kb.settings import Settings
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
def background_threads_stop_with_their_test(monkeypatch):
    """A web app starts threads that would outlive its test: the index reload thread
    (kb/reload.py, built without TESTING) and the upload thread (web/uploads.py). Stop them
    when the test ends, so they do not go on reading a store the test has closed or dropped
    and log tracebacks beside the next test's work (Python 3.11 formats those with `ast`,
    which then fails now and then in whatever else parses at that moment)."""
    from kb.reload import IndexReloader
    from web.uploads import UploadWorker

    started: list[IndexReloader | UploadWorker] = []
    for cls, method in ((IndexReloader, "start"), (UploadWorker, "_ensure_thread")):
        original = getattr(cls, method)

        def kept(self, _original=original):
            started.append(self)
            return _original(self)

        monkeypatch.setattr(cls, method, kept)
    yield
    for thread_owner in started:
        thread_owner.stop(timeout=10)


@pytest.fixture(autouse=True)
def no_ocr_unless_asked(monkeypatch):
    """OCR off (KB_OCR=off) so a test's outcome does not depend on whether Tesseract is
    installed; tests/test_ocr.py turns it on."""
    monkeypatch.setenv("KB_OCR", "off")


@pytest.fixture
def settings(tmp_path, request) -> Settings:
    """The test's settings; on the PostgreSQL half of a test run on both backends (see
    `backend`), database_url (and KB_DATABASE_URL) names the test's own fresh database."""
    database_url = None
    if "backend" in request.fixturenames:
        database_url = request.getfixturevalue("database_url")
    if database_url:
        # `kb` commands the test runs (in this process or another) use that database too.
        request.getfixturevalue("monkeypatch").setenv("KB_DATABASE_URL", database_url)
    return Settings(
        data_dir=tmp_path / "data",
        corpus_dir=ROOT / "corpus",
        embedder="hashing",
        ocr="off",
        database_url=database_url,
    )


@pytest.fixture
def backend_settings(settings, backend) -> Settings:
    """The test's settings, for a test that runs `kb` commands without opening a store first:
    in a module marked `both_backends` it runs on each backend (on PostgreSQL KB_DATABASE_URL
    names the test's fresh database, so the commands use it; on SQLite nothing is made)."""
    return settings


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


# -- both backends -------------------------------------------------------------------------------

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
#: `pytestmark = both_backends` in a module (or on a test) runs each of its tests that uses the
#: store (or the knowledge base, app or client built on it) once on SQLite and once on
#: PostgreSQL; its other tests run once.
both_backends = pytest.mark.both_backends


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_backends"
    ):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


_TEMPLATE = f"kb_template_{os.getpid()}"
_numbers = itertools.count(1)


@pytest.fixture
def backend(request) -> str:
    """ "sqlite" (the default), or "postgres" in modules marked `both_backends`."""
    return getattr(request, "param", "sqlite")


def _database_address(server: str, name: str) -> str:
    """The server's address (postgresql://...) with another database name."""
    return urlsplit(server)._replace(path=f"/{name}").geturl()


@pytest.fixture(scope="session")
def postgres_template(postgres_server) -> str:
    """A database with every migration applied, copied for each test (CREATE DATABASE ...
    TEMPLATE: a file copy, much faster than migrating each new database). It takes no
    connections once made, so autovacuum never holds it while a copy starts."""
    import psycopg

    from kb.store.postgres import PostgresStore

    with psycopg.connect(postgres_server, autocommit=True) as admin:
        _drop_database(admin, _TEMPLATE)
        admin.execute(f"CREATE DATABASE {_TEMPLATE}")
    PostgresStore(_database_address(postgres_server, _TEMPLATE)).close()
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {_TEMPLATE} IS_TEMPLATE true ALLOW_CONNECTIONS false")
    yield _TEMPLATE
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        _drop_database(admin, _TEMPLATE)


def _drop_database(admin, name: str) -> None:
    exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if exists:
        admin.execute(f"ALTER DATABASE {name} IS_TEMPLATE false")
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def postgres_database(postgres_server, postgres_template) -> str:
    """The address of a fresh PostgreSQL database with every migration applied, dropped after
    the test."""
    import psycopg

    name = f"kb_test_{os.getpid()}_{next(_numbers)}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {postgres_template}")
    yield _database_address(postgres_server, name)
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        _drop_database(admin, name)


@pytest.fixture
def database_url(backend, request) -> str | None:
    """The test's own fresh PostgreSQL database on the PostgreSQL half of a test run on both
    backends; None on SQLite."""
    if backend == "sqlite":
        return None
    return request.getfixturevalue("postgres_database")


@pytest.fixture
def store(settings, backend):
    """An empty store of the test's backend (kb.factory.open_store, as the app opens it)."""
    store = open_store(settings, create=True)
    yield store
    store.close()


class RawDatabase:
    """The test's database reached past the store, with foreign keys not enforced: to damage it
    as a bug, a crash outside a transaction or a restored backup would (and as another process
    would write behind the store's back). SQL with `?` placeholders; each statement commits."""

    def __init__(self, settings: Settings) -> None:
        if settings.database_url:
            import psycopg

            self._conn = psycopg.connect(settings.database_url, autocommit=True)
            # Foreign keys (and their ON DELETE CASCADE) are triggers: replication mode skips them.
            self._conn.execute("SET session_replication_role = replica")
        else:
            import sqlite3

            self._conn = sqlite3.connect(settings.db_path, isolation_level=None)
            self._conn.execute("PRAGMA foreign_keys = OFF")
        self.postgres = bool(settings.database_url)

    def execute(self, sql: str, params: tuple = ()):
        if self.postgres:
            from kb.store.postgres import adapt_placeholders

            return self._conn.execute(adapt_placeholders(sql) if params else sql, params or None)
        return self._conn.execute(sql, params)

    def close(self) -> None:
        self._conn.close()


@pytest.fixture
def raw_database(settings, store):
    """The test's database (of its backend) past the store: see RawDatabase."""
    raw = RawDatabase(settings)
    yield raw
    raw.close()


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


# -- the real model (tests marked `model`) ------------------------------------------------------

#: The evaluation query files: the shared dev set (beside the project) and the corpus's own.
EVAL_QUERY_FILES = [
    ROOT.parent / "shared" / "eval" / "dev-queries.jsonl",
    *sorted((ROOT / "corpus" / "eval").glob("*.jsonl")),
]


@pytest.fixture(scope="session")
def minilm():
    """The model of record (all-MiniLM-L6-v2, sentence-transformers), loaded once."""
    from kb.embedder import MiniLMEmbedder

    embedder = MiniLMEmbedder()
    embedder.load()
    return embedder


def ingest_catalog(store: Store, embedder, files_dir: Path) -> None:
    """The default corpus (corpus/catalog.toml) through the ingest pipeline into an empty
    store: every document added."""
    from ingest.pipeline import Ingestor
    from ingest.pipeline import catalog_items
    from kb.catalog import load_catalog

    outcomes = Ingestor(store, embedder, files_dir).ingest(
        catalog_items(load_catalog(ROOT / "corpus" / "catalog.toml"))
    )
    assert all(o.status == "added" for o in outcomes), [(o.status, o.reason) for o in outcomes]


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
