"""Every setting of a knowledge base and its servers: one object, built in one place, passed in.

`Settings.load` builds it from the defaults below, then the environment (the KB_* variables in
ENVIRONMENT), then command-line flags, each overriding the one before. Nothing else reads KB_*
variables or holds a default of its own: the `kb` command passes its flags to `load`, the web
app takes the object (web.create_app), and `web.wsgi` loads it from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import fields
from pathlib import Path
from typing import Any

from kb.errors import SettingsError
from kb.index import DEFAULT_APPROXIMATE_FROM
from kb.keyword_index import DEFAULT_KEYWORD_INDEX_FROM
from kb.keyword_index import keyword_index_path
from kb.late_interaction import DEFAULT_LATE_INTERACTION_UP_TO


@dataclass(frozen=True)
class Settings:
    """Paths, choices and limits for one knowledge base and the servers over it.

    Attributes:
        data_dir: the database, the FAISS cache and kept original files.
        corpus_dir: the default corpus (catalog.toml, myths.toml, figures.toml, documents).
        embedder: "minilm" (the real model) or "hashing" (fast stand-in for tests).
        database_url: a PostgreSQL address (`postgresql://user:password@host:port/dbname`)
            for a store shared by servers on several machines; None: the SQLite file in
            data_dir.
        ingest_runtime: what embeds passage texts in `kb ingest`, `kb add` and `kb worker`:
            "openvino" (bfloat16 where the CPU has it, vectors within a cosine of 0.9999 of the
            model of record's) or "onnxruntime" (float32). Sentence texts, queries, and uploads
            a server takes in itself (on its one-thread search embedder) always use
            onnxruntime (kb.onnx_embedder).
        approximate_from: vectors (passages plus their sentences, about 5 a passage) from
            which FAISS search is approximate (IVF) instead of exact.
        keyword_index_from: passages from which keyword search uses the tantivy index
            (kb.keyword_index) instead of the store's own (FTS5 / tsvector).
        late_interaction_up_to: the most passages a store holds and still keeps each
            passage's word-piece vectors for the late-interaction stage of search
            (kb.late_interaction: about 50 KB a passage); past it, or at 0, search goes without
            that stage and `kb ingest` stores none.
        max_upload_bytes: the largest file accepted.
        busy_timeout: seconds a write waits for another process's write before failing.
        pause_after_passages: for fault tests only (KB_TEST_PAUSE_AFTER_PASSAGES): a process
            writing a document stops inside its transaction after this many of its passages,
            says so in `<data_dir>/paused` and waits to be killed (kb/pause.py); 0: never.
        ocr: "auto" (OCR pages with no usable text layer when Tesseract is installed) or
            "off" (refuse them, saying they need OCR).
        ocr_max_pages: the most pages of one document that OCR reads.
        ocr_seconds_per_page: the most time OCR spends on one page.
        public_url: the site's public address; every absolute link starts with it ("": from
            the request, for a development server; web/links.py).
        cors_origins: origins whose pages may read the API ("*": any; "": none; web/cors.py).
        frame_ancestors: who may frame the site's pages (CSP sources; web/security.py).
        embed_frame_ancestors: who may frame /embed.
        search_rate_limit: searches per client address, shared by all processes
            ("60/minute"; "off": none; kb/ratelimit.py).
        login_rate_limit: failed logins per address and per account (web/auth.py).
        secret_key: signs session cookies; None: a key made once in the data folder.
        session_hours: how long a login lasts.
        session_cookie_secure: the cookie's Secure flag; None: on, except in tests and under
            the development server (`kb serve` without --production).
        body_timeout: seconds `kb serve --production` lets a connection stay silent.
        originals: where uploaded files and documents' originals are kept (kb.originals):
            "folder" (files_dir, one machine) or "database" (servers on several machines).
        uploads: "server" (a server takes uploads in on its own thread, and also runs jobs
            other servers queued: the single-machine default) or "queue" (servers only queue
            them for `kb worker` processes).
        job_lease_seconds: how long a worker's claim on a job holds without a heartbeat; a job
            whose worker died is taken again this long after its last heartbeat.
    """

    data_dir: Path = Path("data")
    corpus_dir: Path = Path("corpus")
    embedder: str = "minilm"
    database_url: str | None = None
    ingest_runtime: str = "openvino"
    approximate_from: int = DEFAULT_APPROXIMATE_FROM
    keyword_index_from: int = DEFAULT_KEYWORD_INDEX_FROM
    late_interaction_up_to: int = DEFAULT_LATE_INTERACTION_UP_TO
    max_upload_bytes: int = 50 * 1024 * 1024
    busy_timeout: float = 30.0
    pause_after_passages: int = 0
    ocr: str = "auto"
    ocr_max_pages: int = 200
    ocr_seconds_per_page: float = 60.0
    public_url: str = ""
    cors_origins: str = "*"
    frame_ancestors: str = "'self'"
    embed_frame_ancestors: str = "*"
    search_rate_limit: str = "60/minute"
    login_rate_limit: str = "5 per 15 minutes"
    secret_key: str | None = None
    session_hours: float = 8.0
    session_cookie_secure: bool | None = None
    body_timeout: int = 30
    originals: str = "folder"
    uploads: str = "server"
    job_lease_seconds: float = 30.0

    @property
    def db_path(self) -> Path:
        return self.data_dir / "kb.sqlite3"

    @property
    def index_path(self) -> Path:
        return self.data_dir / "index.faiss"

    @property
    def keyword_index_path(self) -> Path:
        """The tantivy keyword index's folder (kb.keyword_index), beside the FAISS file."""
        return keyword_index_path(self.index_path)

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def catalog_path(self) -> Path:
        return self.corpus_dir / "catalog.toml"

    @property
    def myths_path(self) -> Path:
        return self.corpus_dir / "myths.toml"

    @property
    def figures_path(self) -> Path:
        return self.corpus_dir / "figures.toml"

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **flags: Any) -> Settings:
        """The defaults, overridden by the environment, overridden by command-line flags.

        Args:
            environ: the KB_* variables (ENVIRONMENT); default os.environ.
            flags: field values given on the command line; None means "not given".

        Raises:
            SettingsError: a variable's value is not of its kind (one sentence naming it).
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, (variable, parse) in ENVIRONMENT.items():
            if variable in env:
                values[name] = _parse(variable, env[variable], parse)
        known = {f.name for f in fields(cls)}
        for name, value in flags.items():
            if name not in known:
                raise TypeError(f"Settings has no field {name!r}")
            if value is not None:
                values[name] = value
        return cls(**values)


def _one_of(*choices: str) -> Callable[[str], str]:
    """A variable that takes one of a few words."""

    def parse(text: str) -> str:
        word = text.strip().lower()
        if word not in choices:
            raise ValueError(f"must be {' or '.join(choices)}")
        return word

    return parse


def _flag(text: str) -> bool | None:
    """A yes/no variable: 1/0, true/false, yes/no, on/off; "" is "not set"."""
    word = text.strip().lower()
    if word == "":
        return None
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be 1 or 0 (true/false, yes/no, on/off)")


def _optional(text: str) -> str | None:
    return text or None


def _parse(variable: str, text: str, parse: Callable[[str], Any]) -> Any:
    try:
        return parse(text)
    except ValueError as exc:
        kind = {int: "a whole number", float: "a number"}.get(parse)
        said = f"must be {kind}" if kind else str(exc)
        raise SettingsError(f"{variable} {said}, not {text!r}.") from None


# Each field an operator may set in the environment: its variable and how its text is read.
ENVIRONMENT: dict[str, tuple[str, Callable[[str], Any]]] = {
    "data_dir": ("KB_DATA_DIR", Path),
    "corpus_dir": ("KB_CORPUS_DIR", Path),
    "embedder": ("KB_EMBEDDER", str),
    "database_url": ("KB_DATABASE_URL", _optional),
    "ingest_runtime": ("KB_INGEST_RUNTIME", _one_of("openvino", "onnxruntime")),
    "approximate_from": ("KB_APPROXIMATE_FROM", int),
    "keyword_index_from": ("KB_KEYWORD_INDEX_FROM", int),
    "late_interaction_up_to": ("KB_LATE_INTERACTION_UP_TO", int),
    "max_upload_bytes": ("KB_MAX_UPLOAD_BYTES", int),
    "busy_timeout": ("KB_BUSY_TIMEOUT", float),
    "pause_after_passages": ("KB_TEST_PAUSE_AFTER_PASSAGES", int),
    "ocr": ("KB_OCR", str),
    "ocr_max_pages": ("KB_OCR_MAX_PAGES", int),
    "ocr_seconds_per_page": ("KB_OCR_SECONDS_PER_PAGE", float),
    "public_url": ("KB_PUBLIC_URL", str),
    "cors_origins": ("KB_CORS_ORIGINS", str),
    "frame_ancestors": ("KB_FRAME_ANCESTORS", str),
    "embed_frame_ancestors": ("KB_EMBED_FRAME_ANCESTORS", str),
    "search_rate_limit": ("KB_SEARCH_RATE_LIMIT", str),
    "login_rate_limit": ("KB_LOGIN_RATE_LIMIT", str),
    "secret_key": ("KB_SECRET_KEY", _optional),
    "session_hours": ("KB_SESSION_HOURS", float),
    "session_cookie_secure": ("KB_SESSION_COOKIE_SECURE", _flag),
    "body_timeout": ("KB_BODY_TIMEOUT", int),
    "originals": ("KB_ORIGINALS", _one_of("folder", "database")),
    "uploads": ("KB_UPLOADS", _one_of("server", "queue")),
    "job_lease_seconds": ("KB_JOB_LEASE_SECONDS", float),
}
