"""Where things live and which model to use: one object, passed in, never a global."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kb.index import DEFAULT_HNSW_THRESHOLD


@dataclass(frozen=True)
class Settings:
    """Paths and choices for one knowledge base.

    Attributes:
        data_dir: the database, the FAISS cache and kept original files.
        corpus_dir: the default corpus (catalog.toml, myths.toml, figures.toml, documents).
        embedder: "minilm" (the real model) or "hashing" (fast stand-in for tests).
        hnsw_threshold: passage count from which FAISS search is approximate.
        max_upload_bytes: the largest file accepted.
        busy_timeout: seconds a write waits for another process's write before failing.
        pause_after_passages: for fault tests only (KB_TEST_PAUSE_AFTER_PASSAGES): a process
            writing a document stops inside its transaction after this many of its passages,
            says so in `<data_dir>/paused` and waits to be killed (kb/pause.py); 0: never.
        ocr: "auto" (OCR pages with no usable text layer when Tesseract is installed) or
            "off" (refuse them, saying they need OCR).
        ocr_max_pages: the most pages of one document that OCR reads.
        ocr_seconds_per_page: the most time OCR spends on one page.
        originals: where uploaded files and documents' originals are kept (kb.originals):
            "folder" (files_dir, one machine) or "database" (servers on several machines).
        uploads: "server" (a server takes uploads in on its own thread, and also runs jobs
            other servers queued: the single-machine default) or "queue" (servers only queue
            them for `kb worker` processes).
        job_lease_seconds: how long a worker's claim on a job holds without a heartbeat; a job
            whose worker died is taken again this long after its last heartbeat.
    """

    data_dir: Path
    corpus_dir: Path
    embedder: str = "minilm"
    hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD
    max_upload_bytes: int = 50 * 1024 * 1024
    busy_timeout: float = 30.0
    pause_after_passages: int = 0
    ocr: str = "auto"
    ocr_max_pages: int = 200
    ocr_seconds_per_page: float = 60.0
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
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Settings from KB_DATA_DIR, KB_CORPUS_DIR, KB_EMBEDDER (defaults: ./data, ./corpus),
        KB_HNSW_THRESHOLD, KB_MAX_UPLOAD_BYTES, KB_BUSY_TIMEOUT (seconds), KB_OCR (auto, off),
        KB_OCR_MAX_PAGES, KB_OCR_SECONDS_PER_PAGE, KB_ORIGINALS (folder, database), KB_UPLOADS
        (server, queue), KB_JOB_LEASE_SECONDS and, for fault tests,
        KB_TEST_PAUSE_AFTER_PASSAGES."""
        env = os.environ if environ is None else environ
        return cls(
            data_dir=Path(env.get("KB_DATA_DIR", "data")),
            corpus_dir=Path(env.get("KB_CORPUS_DIR", "corpus")),
            embedder=env.get("KB_EMBEDDER", "minilm"),
            hnsw_threshold=int(env.get("KB_HNSW_THRESHOLD", DEFAULT_HNSW_THRESHOLD)),
            max_upload_bytes=int(env.get("KB_MAX_UPLOAD_BYTES", 50 * 1024 * 1024)),
            busy_timeout=float(env.get("KB_BUSY_TIMEOUT", 30.0)),
            pause_after_passages=int(env.get("KB_TEST_PAUSE_AFTER_PASSAGES", 0)),
            ocr=env.get("KB_OCR", "auto"),
            ocr_max_pages=int(env.get("KB_OCR_MAX_PAGES", 200)),
            ocr_seconds_per_page=float(env.get("KB_OCR_SECONDS_PER_PAGE", 60.0)),
            originals=env.get("KB_ORIGINALS", "folder"),
            uploads=env.get("KB_UPLOADS", "server"),
            job_lease_seconds=float(env.get("KB_JOB_LEASE_SECONDS", 30.0)),
        )
