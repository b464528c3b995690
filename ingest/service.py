"""The document service: the one path for adding, replacing, editing and removing documents
(DocumentService), and the checks before a file is stored, shared by `kb add` and the upload
page so that both refuse the same input with the same sentence.

`prepare` runs every check before anything is stored: the metadata (required fields, year,
kind, source url, tags), the size, the type by content rather than by name, and whether the very
same file is already in the knowledge base; with `read=True` (`kb add`) also a readable text
layer (the loader reads the whole file, so a scan, a corrupt DOCX or a zip bomb is refused
there). The upload page passes `read=False`: reading can take a while, so it happens on the
upload worker, where the same loader refuses the same files with the same sentences, as the
job's outcome. `DocumentService.take_in` then takes the checked file in through the pipeline,
writing the document and its audit entry in one transaction.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from dataclasses import replace
from functools import partial
from pathlib import Path

from ingest.blocks import LoadedFile
from ingest.limits import human_size
from ingest.loaders import SUPPORTED_EXTENSIONS
from ingest.loaders import check_bytes
from ingest.loaders import load_bytes
from ingest.loaders import sniff_kind
from ingest.loaders.sniff import describe_content
from ingest.ocr import OcrSettings
from ingest.pipeline import IngestItem
from ingest.pipeline import Ingestor
from ingest.pipeline import Outcome
from ingest.pipeline import Progress
from ingest.pipeline import Written
from kb.audit import AuditLog
from kb.catalog import slugify
from kb.catalog import validate_meta
from kb.errors import CatalogError
from kb.errors import DuplicateDocument
from kb.errors import EmptyDocument
from kb.errors import FileTooLarge
from kb.errors import IngestError
from kb.errors import KBError
from kb.errors import UnsupportedFormat
from kb.jobs import Job
from kb.jobs import Jobs
from kb.models import Document
from kb.models import DocumentMeta
from kb.originals import Originals
from kb.store import Store

REQUIRED_FIELDS = ("title", "publisher", "year", "kind")
# The metadata a person can edit (a form's fields, `build_meta`'s arguments).
EDITABLE = ("title", "publisher", "year", "kind", "url", "tags")
MAX_TEXT_CHARS = 300  # a title or a publisher
MAX_URL_CHARS = 2000
MAX_TAGS = 20
MAX_TAG_CHARS = 50
SUPPORTED_KINDS = "a PDF, Word (.docx), HTML, Markdown or text file"
# The extension a file is given when its name does not say what its content is.
SUFFIX_FOR_CONTENT = {"pdf": ".pdf", "docx": ".docx", "html": ".html", "text": ".txt"}
_YEAR = re.compile(r"^-?\d{1,6}$")


@dataclass(frozen=True)
class Submission:
    """A file that passed every check, with its metadata, ready for `ingest_submission`.

    Attributes:
        meta: the checked metadata.
        name: the file name with the extension its content has (used in messages and for
            the kept original's suffix).
        sha256: the file's hash.
        loaded: the file as its loader read it; None when it is to be read by the pipeline.
        size: bytes.
    """

    meta: DocumentMeta
    name: str
    sha256: str
    loaded: LoadedFile | None
    size: int


def build_meta(
    *,
    title: str | None,
    publisher: str | None,
    year: int | str | None,
    kind: str | None,
    url: str | None = "",
    tags: str | Iterable[str] = (),
    document_id: str | None = None,
) -> DocumentMeta:
    """Metadata a person gave (a form or command-line options), checked.

    Args:
        title, publisher, year, kind: required; year as a number or its digits.
        url: where the document was published (http or https), optional.
        tags: a comma-separated string or a list of tags.
        document_id: the id; by default a slug of the title.

    Raises:
        CatalogError: one sentence naming what to fix.
    """
    values = {
        "title": (title or "").strip(),
        "publisher": (publisher or "").strip(),
        "year": str(year if year is not None else "").strip(),
        "kind": (kind or "").strip(),
    }
    missing = [name for name in REQUIRED_FIELDS if not values[name]]
    if missing:
        verb = "it is" if len(missing) == 1 else "they are"
        raise CatalogError(f"Fill in the {_and(missing)}: {verb} required.")
    if not _YEAR.match(values["year"]):
        raise CatalogError(f"The year must be a number such as 2024, not {values['year']!r}.")
    for name in ("title", "publisher"):
        if len(values[name]) > MAX_TEXT_CHARS:
            raise CatalogError(
                f"The {name} is too long; keep it under {MAX_TEXT_CHARS} characters."
            )
    url = (url or "").strip()
    if url and (not url.lower().startswith(("http://", "https://")) or len(url) > MAX_URL_CHARS):
        raise CatalogError(
            "The source URL must be a web address starting with https:// or http://."
        )
    meta = DocumentMeta(
        id=document_id or slugify(values["title"]),
        title=values["title"],
        publisher=values["publisher"],
        year=int(values["year"]),
        kind=values["kind"],
        url=url,
        tags=parse_tags(tags),
    )
    validate_meta(meta)
    return meta


def parse_tags(tags: str | Iterable[str]) -> tuple[str, ...]:
    """Tags from "a, b" or ["a", "b,c"]: stripped, without empties or repeats, in order."""
    pieces = [tags] if isinstance(tags, str) else list(tags)
    found: list[str] = []
    for piece in pieces:
        for tag in str(piece).split(","):
            tag = " ".join(tag.split())
            if tag and tag not in found:
                found.append(tag)
    if len(found) > MAX_TAGS:
        raise CatalogError(f"Give at most {MAX_TAGS} tags, not {len(found)}.")
    if any(len(tag) > MAX_TAG_CHARS for tag in found):
        raise CatalogError(f"Each tag must be at most {MAX_TAG_CHARS} characters long.")
    return tuple(found)


def unique_id(base: str, taken: Callable[[str], bool]) -> str:
    """`base`, or `base-2`, `base-3`... the first that is not taken (at most 80 characters)."""
    candidate, number = base, 1
    while taken(candidate):
        number += 1
        suffix = f"-{number}"
        candidate = base[: 80 - len(suffix)].rstrip("-") + suffix
    return candidate


def read_file(path: Path, max_bytes: int | None) -> bytes:
    """A file's bytes for `prepare`, refusing a missing or oversized one before reading it."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path.name} not found (looked for {path}).")
    if not path.is_file():
        raise IngestError(f"{path.name} is a folder, not a file.")
    check_size(path.name, path.stat().st_size, max_bytes)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path.name} could not be read ({exc.strerror or exc}).") from exc


def check_size(name: str, size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise FileTooLarge(
            f"{name} is {human_size(size)}, over the {human_size(max_bytes)} limit for one file."
        )


def check_kind(data: bytes, name: str, max_bytes: int | None) -> str:
    """Check a file's size and kind (by content) without reading it.

    A name with a supported extension must match the content (a PNG named .pdf is refused,
    saying what it is); a name without one (or with another) takes the extension of what the
    content is.

    Returns:
        The name, with the content's extension.

    Raises:
        IngestError: a subclass saying why, in one sentence naming the file.
    """
    check_size(name, len(data), max_bytes)
    if not data.strip():
        raise EmptyDocument(f"{name} is empty; there is no text to take in.")
    if Path(name).suffix.lower() not in SUPPORTED_EXTENSIONS:
        kind = sniff_kind(data)
        if kind is None:
            raise UnsupportedFormat(f"{name} is {describe_content(data)}, not {SUPPORTED_KINDS}.")
        name += SUFFIX_FOR_CONTENT[kind]
    check_bytes(data, name, max_bytes=max_bytes)
    return name


def check_content(
    data: bytes, name: str, max_bytes: int | None, ocr: OcrSettings | None = None
) -> tuple[str, LoadedFile]:
    """`check_kind`, then the file read with its loader (its text, within its allowances).

    Returns:
        The name (with the content's extension) and the loaded file.

    Raises:
        IngestError: a subclass saying why, in one sentence naming the file.
    """
    name = check_kind(data, name, max_bytes)
    return name, load_bytes(data, name, max_bytes=max_bytes, ocr=ocr)


def prepare(
    store: Store,
    data: bytes,
    name: str,
    meta: DocumentMeta,
    *,
    max_bytes: int | None,
    read: bool = True,
    ocr: OcrSettings | None = None,
) -> Submission:
    """Every check on a file and its (already built) metadata, before anything is stored.

    Args:
        store: to look for the same file already stored.
        data: the file's bytes.
        name: a safe file name for messages (never used as a path by this function).
        meta: from `build_meta`; a file already stored under this very id is not a duplicate
            (the pipeline reports it unchanged, or updates its metadata).
        max_bytes: the size limit.
        read: read the file now (`check_content`); False leaves it to the pipeline, which
            refuses a bad file with the same sentence as its outcome.
        ocr: OCR limits for scanned PDF pages when reading now (None: no OCR).

    Raises:
        DuplicateDocument: the same bytes are stored as another document.
        IngestError: the file is refused (see `check_content`).
    """
    check_size(name, len(data), max_bytes)
    sha256 = refuse_stored(store, data, name, meta.id)
    if read:
        name, loaded = check_content(data, name, max_bytes, ocr)
    else:
        name, loaded = check_kind(data, name, max_bytes), None
    return Submission(meta, name, sha256, loaded, len(data))


def refuse_stored(store: Store, data: bytes, name: str, document_id: str | None = None) -> str:
    """The file's sha256, unless the very same file is stored as a document (other than
    `document_id`, whose file it may be).

    Raises:
        DuplicateDocument: saying which document holds it.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    refuse_stored_sha256(store, sha256, name, document_id)
    return sha256


def refuse_stored_sha256(
    store: Store, sha256: str, name: str, document_id: str | None = None
) -> None:
    """`refuse_stored` for a file whose sha256 is known."""
    existing = store.find_by_sha256(sha256)
    if existing is not None and existing.id != document_id:
        raise DuplicateDocument(
            f"{name} is already in the knowledge base as \u201c{existing.meta.title}\u201d "
            f"(id {existing.id}).",
            existing.id,
            existing.meta.title,
        )


def _id_taken(conn, document_id: str) -> bool:
    """A document has that id, or an upload in progress is about to take it."""
    row = conn.execute(
        "SELECT 1 FROM documents WHERE id = ? UNION ALL"
        " SELECT 1 FROM jobs WHERE document_id = ? AND status IN ('queued', 'running')",
        (document_id, document_id),
    ).fetchone()
    return row is not None


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


# -- the document service ---------------------------------------------------------------------

# The audit action for what an ingest did to a document.
AUDIT_ACTIONS = {"added": "add", "replaced": "replace", "updated": "edit"}


class DocumentService:
    """The one path by which documents are added, replaced, edited and removed.

    The web app's pages and upload worker, `kb add`, `kb ingest` and `kb remove` all call it,
    and nothing else writes documents: the rules (a free id, no file stored twice, nothing
    stored for a bad file) and the audit record live here once. Each change and its audit
    entry are written in ONE transaction (the store's transactions nest), so there is never a
    change without its entry, nor an entry for a change that did not happen.

    Args:
        store: where the documents are.
        ingestor: the pipeline over that store, for taking files in (editing and removing
            need none, so `kb remove` does not load the model).
        audit: the audit log (default: the store's).
        jobs: uploads in progress, whose ids and files count as taken (the web app's).
        originals: where an upload's file is kept for the worker (`queue_upload`).
    """

    def __init__(
        self,
        store: Store,
        *,
        ingestor: Ingestor | None = None,
        audit: AuditLog | None = None,
        jobs: Jobs | None = None,
        originals: Originals | None = None,
    ) -> None:
        self.store = store
        self._ingestor = ingestor
        self.audit = audit or AuditLog(store)
        self.jobs = jobs
        self.originals = originals

    @property
    def ingestor(self) -> Ingestor:
        if self._ingestor is None:
            raise RuntimeError("this DocumentService was made without an ingestor")
        return self._ingestor

    # -- checks before anything is stored ----------------------------------------------------

    def check_upload(
        self,
        data: bytes,
        name: str,
        meta: DocumentMeta,
        *,
        max_bytes: int | None,
        replacing: Document | None = None,
    ) -> Submission:
        """Every check on an uploaded file before it is queued (its reading follows on the
        upload worker): a new document gets a free id (`base`, `base-2`...: not stored, not
        being uploaded); the file must not be stored as another document, be the very file
        it replaces, or be in an upload in progress. `queue_upload` makes the same checks and
        queues the job in the same transaction; this one only looks.

        Raises:
            DuplicateDocument: the file is already stored, or being added right now.
            IngestError: the file is refused (size, kind).
        """
        submission = self._check_file(data, name, meta, max_bytes, replacing)
        # One snapshot for every read: an upload finishing between two of them (its document
        # committed after the first, its job no longer pending at the second) would otherwise
        # leave its id looking free.
        with self.store.snapshot():
            return self._claim_place(submission, replacing)

    def queue_upload(
        self,
        data: bytes,
        name: str,
        meta: DocumentMeta,
        *,
        action: str,
        user: str,
        max_bytes: int | None,
        replacing: Document | None = None,
    ) -> Job:
        """Check an uploaded file (as `check_upload`), keep it and queue its job for a worker.

        The checks that depend on what else is stored or being uploaded (a free id; the same
        file neither stored as another document nor being added right now) and the job's
        creation are ONE write transaction, so two uploads at the same moment cannot both pass
        them: of two with the same title the second gets `base-2`, of two of the same file the
        second is refused. The file is kept first (writing it may take a moment other writers
        need not wait for) and forgotten again if the upload is refused, unless a document or
        another upload uses it.

        Raises:
            DuplicateDocument: the file is already stored, or being added right now.
            IngestError: the file is refused (size, kind), or could not be kept; nothing is
                stored or queued.
        """
        if self.jobs is None or self.originals is None:
            raise RuntimeError("this DocumentService was made without jobs and originals")
        submission = self._check_file(data, name, meta, max_bytes, replacing)
        suffix = Path(submission.name).suffix
        kept = self.originals.keep(submission.sha256, suffix, data, submission.name)
        try:
            with self.store.side_transaction():
                submission = self._claim_place(submission, replacing)
                # Until its job exists no job uses the file, so a failed upload of the same
                # file may have forgotten it since; kept again here, under the write lock that
                # forgetting takes too, it is there when the job is queued.
                if not self.originals.has(submission.sha256, kept):
                    self.originals.keep(submission.sha256, suffix, data, submission.name)
                return self.jobs.create(
                    action=action,
                    user=user,
                    file_name=submission.name,
                    sha256=submission.sha256,
                    meta=submission.meta,
                )
        except BaseException:
            with suppress(KBError):  # a file left kept is harmless; the refusal is what counts
                self.originals.discard(submission.sha256)
            raise

    def _check_file(
        self,
        data: bytes,
        name: str,
        meta: DocumentMeta,
        max_bytes: int | None,
        replacing: Document | None,
    ) -> Submission:
        """The checks on the file itself: size, kind, not stored already, not the very file
        it replaces."""
        submission = prepare(self.store, data, name, meta, max_bytes=max_bytes, read=False)
        if replacing is not None and submission.sha256 == replacing.sha256:
            raise DuplicateDocument(
                f"{submission.name} is the file already stored for "
                f"\u201c{replacing.meta.title}\u201d; nothing changed.",
                replacing.id,
                replacing.meta.title,
            )
        return submission

    def _claim_place(self, submission: Submission, replacing: Document | None) -> Submission:
        """The checks against what else is stored or being uploaded, read in the caller's
        transaction or snapshot: a new document's free id, the file not stored as another
        document (read again: it may have been added since `_check_file`) nor being added."""
        conn = self.store.connection()
        meta = submission.meta
        if replacing is None:
            meta = replace(meta, id=unique_id(meta.id, partial(_id_taken, conn)))
        refuse_stored_sha256(self.store, submission.sha256, submission.name, meta.id)
        adding = conn.execute(
            "SELECT title FROM jobs WHERE sha256 = ? AND status IN ('queued', 'running')"
            " ORDER BY created_at LIMIT 1",
            (submission.sha256,),
        ).fetchone()
        if adding is not None:
            raise DuplicateDocument(
                f"{submission.name} is being added right now as \u201c{adding[0]}\u201d.",
                "",  # not stored yet: nothing to link to
                adding[0],
            )
        return replace(submission, meta=meta)

    # -- changes ------------------------------------------------------------------------------

    def take_in(
        self,
        submission: Submission,
        path: Path,
        *,
        user: str,
        on_progress: Progress | None = None,
        on_written: Written | None = None,
    ) -> Outcome:
        """Take a checked file in (path holds its bytes); never raises for the file's content.

        The document and its audit entry (add, replace or edit, with the file's name and
        passage count) are written in one transaction.

        Args:
            on_written: called too in that transaction, after the audit entry (the upload
                worker records its job done there, so a worker killed after the commit
                leaves no job that says otherwise).

        Returns:
            The pipeline's outcome: added, replaced, updated, unchanged or failed (a reason).
        """
        item = IngestItem(Path(path), submission.meta, submission.loaded)
        audit = self._auditor(user, submission.name)

        def written(outcome: Outcome, meta: DocumentMeta) -> None:
            audit(outcome, meta)
            if on_written is not None:
                on_written(outcome, meta)

        return self.ingestor.ingest_one(item, on_progress, on_written=written)

    def ingest(
        self,
        items: Iterable[IngestItem],
        *,
        user: str,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> list[Outcome]:
        """Take in files (the catalog, or files and folders), each audited with its change."""
        outcomes = []
        for item in items:
            outcome = self.ingestor.ingest_one(item, on_written=self._auditor(user, item.path.name))
            outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
        return outcomes

    def _auditor(self, user: str, file_name: str) -> Callable[[Outcome, DocumentMeta], None]:
        def record(outcome: Outcome, meta: DocumentMeta) -> None:
            detail = f"{file_name}, {outcome.passages} passages"
            self.audit.record(user, AUDIT_ACTIONS[outcome.status], meta.id, meta.title, detail)

        return record

    def edit(self, document_id: str, values: dict, *, user: str) -> tuple[DocumentMeta, list[str]]:
        """Change a document's metadata (its passages and vectors stay as they are).

        Args:
            values: the fields of `build_meta` as a person gave them.

        Returns:
            The checked metadata and the names of the fields that changed (none: nothing was
            written).

        Raises:
            NotFound: no document has that id.
            CatalogError: a value is not usable (one sentence).
        """
        document = self.store.get_document(document_id)
        meta = build_meta(**values, document_id=document.id)
        changed = [name for name in EDITABLE if getattr(meta, name) != getattr(document.meta, name)]
        if changed:
            with self.store.transaction():
                self.store.update_metadata(meta)
                detail = "changed " + ", ".join(changed)
                self.audit.record(user, "edit", meta.id, meta.title, detail)
        return meta, changed

    def remove(self, document_id: str, *, user: str) -> Document:
        """Remove a document and its passages; returns what was removed.

        Raises:
            NotFound: no document has that id.
        """
        with self.store.transaction():
            removed = self.store.remove_document(document_id)
            detail = f"{removed.passage_count} passages"
            self.audit.record(user, "remove", removed.id, removed.meta.title, detail)
        return removed
