"""Files in, passages stored: load, split, embed, keep the original, write in one transaction.

A failure on one file changes nothing stored for it and does not stop the others. Because each
document is written in a single transaction, a run killed half-way leaves every document either
fully old or fully new; the next run picks up the rest (unchanged files are skipped by their
fingerprint).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from functools import partial
from pathlib import Path

from ingest.blocks import LoadedFile
from ingest.limits import VECTORS
from ingest.limits import Meter
from ingest.loaders import load_file
from ingest.ocr import OcrSettings
from ingest.source_check import source_problems
from ingest.split import SPLITTER_SETTINGS
from ingest.split import split_blocks
from ingest.split import split_sentences
from kb.catalog import CatalogEntry
from kb.catalog import slugify
from kb.embedder import Embedder
from kb.errors import DuplicateDocument
from kb.errors import EmptyDocument
from kb.errors import IngestError
from kb.errors import KBError
from kb.errors import StoreUnavailable
from kb.late_interaction import DEFAULT_LATE_INTERACTION_UP_TO
from kb.late_interaction import kept_at
from kb.models import Chunk
from kb.models import DocumentMeta
from kb.originals import Originals
from kb.store import MAX_SENTENCE_VECTORS
from kb.store import Store

# Called as on_progress(stage, done, total), stage being "read" (pages) or "embed" (passages).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class IngestItem:
    """A file to take in; without metadata, it is derived from the file (id from its name).

    `loaded` is the file already read by its loader (the upload checks read it before anything
    is stored); the pipeline then does not read it a second time. `own` marks one of our own
    documents, refused unless every figure and quotation names its source (source_check.py).
    """

    path: Path
    meta: DocumentMeta | None = None
    loaded: LoadedFile | None = field(default=None, compare=False, repr=False)
    own: bool = False


@dataclass(frozen=True)
class Outcome:
    """What happened to one file: added, replaced, updated (metadata only), unchanged, failed."""

    path: Path
    status: str
    document_id: str = ""
    passages: int = 0
    reason: str = ""


# Called as on_written(outcome, metadata) inside the transaction that writes a document.
Written = Callable[[Outcome, DocumentMeta], None]


def sentence_spans(chunk: Chunk) -> list[tuple[int, int]]:
    """Where in the passage's text the sentence behind each sentence vector is (paragraph by
    paragraph); none for a passage of one sentence (the passage vector is that sentence's)."""
    spans = []
    offset = 0
    for paragraph in chunk.text.split("\n"):
        spans.extend((offset + start, offset + end) for start, end in split_sentences(paragraph))
        offset += len(paragraph) + 1
    return spans[:MAX_SENTENCE_VECTORS] if len(spans) >= 2 else []


def sentence_texts(meta: DocumentMeta, chunk: Chunk) -> list[str]:
    """The passage's sentences, each with a short context, for the sentence-level vectors."""
    section = chunk.section.rsplit(" > ", 1)[-1]
    context = meta.title + (f" - {section}" if section else "")
    return [f"{context}: {chunk.text[start:end]}" for start, end in sentence_spans(chunk)]


def embedding_text(meta: DocumentMeta, chunk: Chunk) -> str:
    """The text that is embedded: the passage with its context (title and section), so that a
    passage that says "it" still sits near queries about what "it" is."""
    context = meta.title + (f" - {chunk.section}" if chunk.section else "")
    return f"{context}: {chunk.text}"


class Ingestor:
    """Takes files into a store.

    Args:
        store: where documents and passages go.
        embedder: embeds passages (recorded in the store; another model is refused).
        files_dir: where originals are kept, named by their sha256 (unless `originals` says).
        max_bytes: refuse files larger than this.
        batch_size: passages embedded per call.
        ocr: OCR limits for PDF pages with no usable text layer (None: refuse them).
        originals: where originals are kept (kb.originals; default: in files_dir).
        late_interaction_up_to: keep each passage's word-piece vectors (kb.late_interaction)
            while the store holds at most this many passages; 0: never.
    """

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        files_dir: Path,
        *,
        max_bytes: int | None = None,
        batch_size: int = 64,
        ocr: OcrSettings | None = None,
        originals: Originals | None = None,
        late_interaction_up_to: int = DEFAULT_LATE_INTERACTION_UP_TO,
    ) -> None:
        self.ocr = ocr
        self.originals = originals or Originals(store, files_dir)
        self.store = store
        self.embedder = embedder
        self.files_dir = Path(files_dir)
        self.max_bytes = max_bytes
        self.batch_size = batch_size
        self.late_interaction_up_to = late_interaction_up_to

    def ingest(
        self, items: Iterable[IngestItem], on_outcome: Callable[[Outcome], None] | None = None
    ) -> list[Outcome]:
        outcomes = []
        for item in items:
            outcome = self.ingest_one(item)
            outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
        return outcomes

    def ingest_one(
        self,
        item: IngestItem,
        on_progress: Progress | None = None,
        on_written: Written | None = None,
    ) -> Outcome:
        """Take in one file; never raises for a bad file, returns a failed Outcome instead.

        Raises:
            StoreUnavailable: the database could not be reached or the connection was lost
                (the transaction rolled back: nothing of the file is stored); the file is not
                at fault, so it is not failed: the same call works once the database is back.

        Args:
            on_progress: told of the reading and embedding as they go.
            on_written: called with the outcome and the metadata inside the transaction that
                writes the document (added, replaced or updated), so that what it writes (the
                audit entry, ingest.service) commits with the document or not at all.
        """
        try:
            return self._ingest(item, on_progress or (lambda *_: None), on_written)
        except StoreUnavailable:
            raise  # the database went away, not the file's fault: the caller tries again
        except KBError as exc:
            document_id = item.meta.id if item.meta else ""
            return Outcome(item.path, "failed", document_id, reason=str(exc))

    def _ingest(
        self, item: IngestItem, on_progress: Progress, on_written: Written | None
    ) -> Outcome:
        path = item.path
        if not path.is_file():
            raise IngestError(f"{path} does not exist or is not a file.")
        data = path.read_bytes() if self.max_bytes is None else _read_capped(path, self.max_bytes)
        sha256 = hashlib.sha256(data).hexdigest()
        document_id = item.meta.id if item.meta else slugify(path.stem)
        loaded = item.loaded
        if item.own:
            # Checked even when unchanged: an unsourced figure must not stay in unnoticed.
            loaded = loaded or load_file(path, max_bytes=self.max_bytes)
            check_sources(loaded, path)
        keep_pieces = self._keeps_pieces()
        stored_fingerprint = self.store.fingerprint(document_id)
        fingerprint = partial(self._fingerprint, sha256, with_pieces=keep_pieces)
        if item.meta is not None and stored_fingerprint == fingerprint(item.meta):
            return self._unchanged_or_updated(item.path, item.meta, on_written)
        if item.meta is None and stored_fingerprint is not None:
            stored = self.store.get_document(document_id)
            if stored.sha256 == sha256:
                return Outcome(path, "unchanged", document_id, stored.passage_count)
        if item.meta is None:
            # A file named differently but with the same bytes as a stored document is that
            # document again, not a new one (the upload page and `kb add` refuse it too).
            existing = self.store.find_by_sha256(sha256)
            if existing is not None and existing.id != document_id:
                raise DuplicateDocument(
                    f"{path.name} is already in the knowledge base as \u201c{existing.meta.title}"
                    f"\u201d (id {existing.id}).",
                    existing.id,
                    existing.meta.title,
                )
        loaded = loaded or load_file(
            path,
            max_bytes=self.max_bytes,
            ocr=self.ocr,
            on_ocr_page=lambda done, total: on_progress("ocr", done, total),
        )
        on_progress("read", loaded.page_count or 1, loaded.page_count or 1)
        meta = item.meta or _derived_meta(path, document_id, loaded)
        text, chunks = split_blocks(loaded.blocks)
        if loaded.ocr_pages:  # passages never cross a page: a page's OCR marks its passages
            chunks = [replace(c, ocr_confidence=loaded.ocr_pages.get(c.page)) for c in chunks]
        if not chunks:
            raise EmptyDocument(f"{path.name} has no text to index.")
        sentences = [sentence_texts(meta, chunk) for chunk in chunks]
        # Refused before the embedding, the costly part, if the file expands out of proportion.
        Meter(path.name, len(data), VECTORS).spend(len(chunks) + sum(map(len, sentences)))
        vectors, sentence_vectors, piece_vectors = self._embed(
            meta, chunks, sentences, on_progress, keep_pieces
        )
        self.store.ensure_model(self.embedder.name, self.embedder.dimension, SPLITTER_SETTINGS)
        kept = self.originals.keep(sha256, path.suffix, data, path.name)
        with self.store.transaction():
            replaced = self.store.put_document(
                meta,
                file_path=kept,
                sha256=sha256,
                # What was stored, not what was asked for: a fallback embedder (the ONNX
                # export missing or stale) gives no pieces, and a fingerprint naming them
                # would keep `kb ingest` from ever adding them.
                fingerprint=self._fingerprint(sha256, meta, with_pieces=piece_vectors is not None),
                text=text,
                chunks=chunks,
                embeddings=vectors,
                sentence_embeddings=sentence_vectors,
                sentence_spans=[sentence_spans(chunk) for chunk in chunks],
                sources=loaded.sources,
                piece_vectors=piece_vectors,
            )
            outcome = Outcome(path, "replaced" if replaced else "added", meta.id, len(chunks))
            if on_written is not None:
                on_written(outcome, meta)
        return outcome

    def _unchanged_or_updated(
        self, path: Path, meta: DocumentMeta, on_written: Written | None
    ) -> Outcome:
        stored = self.store.get_document(meta.id)
        if stored.meta == meta:
            return Outcome(path, "unchanged", meta.id, stored.passage_count)
        outcome = Outcome(path, "updated", meta.id, stored.passage_count)
        with self.store.transaction():
            self.store.update_metadata(meta)
            if on_written is not None:
                on_written(outcome, meta)
        return outcome

    def _keeps_pieces(self) -> bool:
        """Whether this store keeps word-piece vectors (late interaction): the embedder gives
        them and the store holds at most late_interaction_up_to passages."""
        return hasattr(self.embedder, "embed_with_pieces") and kept_at(
            self.store.count_passages(), self.late_interaction_up_to
        )

    def _fingerprint(self, sha256: str, meta: DocumentMeta, with_pieces: bool) -> str:
        """What, if changed, means re-splitting and re-embedding: the file's bytes, the title
        (it is part of each embedded text), the model, the splitter settings and whether
        word-piece vectors are kept (a store from before them, or one that has just passed
        late_interaction_up_to, is re-embedded once by `kb ingest`)."""
        parts = [
            sha256,
            meta.title,
            self.embedder.name,
            json.dumps(SPLITTER_SETTINGS, sort_keys=True),
        ]
        if with_pieces:
            parts.append("word-piece vectors")
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    def _embed(
        self,
        meta: DocumentMeta,
        chunks: list[Chunk],
        sentences: list[list[str]],
        on_progress: Progress,
        keep_pieces: bool,
    ):
        """Vectors for every passage and for each passage's sentences, in batches of texts of
        similar length (short sentences are not padded to a passage's length).

        Each distinct text is embedded once: a passage opens with the previous passage's last
        sentence (the splitter's overlap), so about one sentence text in eight repeats one
        already embedded (149 of 1,184 on the default corpus), and the vector is the same.

        Passage texts go through the embedder's word-piece run when it has one (the passages'
        word-piece vectors for late interaction come out of it; an ingesting ExportedMiniLM
        runs it on the setting ingest_runtime, OpenVINO in bfloat16), sentence texts through
        its plain run (onnxruntime in float32): sentence vectors in bfloat16 moved a near-tie
        of the evaluation, passage vectors did not (docs/performance.md, "Ingest in
        bfloat16")."""
        import numpy as np

        passage_texts = [embedding_text(meta, chunk) for chunk in chunks]
        sentence_list = [text for group in sentences for text in group]
        passage_set = set(passage_texts)
        runs = (
            (list(dict.fromkeys(passage_texts)), getattr(self.embedder, "embed_with_pieces", None)),
            ([text for text in dict.fromkeys(sentence_list) if text not in passage_set], None),
        )
        total = sum(len(texts) for texts, _ in runs)
        vector_of: dict[str, np.ndarray] = {}
        pieces_of: dict[str, np.ndarray] = {}
        done = 0
        on_progress("embed", 0, total)  # the total is known before the first batch
        for texts, with_pieces in runs:
            texts = sorted(texts, key=len)
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start : start + self.batch_size]
                if with_pieces is None:
                    found = self.embedder.embed(batch)
                else:
                    found, per_text = with_pieces(batch)
                    if keep_pieces:
                        pieces_of.update(
                            (text, rows) for text, (_, rows) in zip(batch, per_text, strict=True)
                        )
                vector_of.update(zip(batch, found, strict=True))
                done += len(batch)
                on_progress("embed", done, total)
        passage_vectors = np.array([vector_of[text] for text in passage_texts], dtype=np.float32)
        per_chunk = [
            np.array([vector_of[text] for text in group], dtype=np.float32).reshape(
                len(group), self.embedder.dimension
            )
            for group in sentences
        ]
        # Pieces for every passage or none (the model's fallback gives none).
        pieces = [pieces_of.get(text) for text in passage_texts]
        complete = keep_pieces and all(p is not None and len(p) for p in pieces)
        return passage_vectors, per_chunk, (pieces if complete else None)


def _read_capped(path: Path, max_bytes: int) -> bytes:
    from kb.errors import FileTooLarge

    size = path.stat().st_size
    if size > max_bytes:
        raise FileTooLarge(
            f"{path.name} is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB."
        )
    return path.read_bytes()


def _derived_meta(path: Path, document_id: str, loaded: LoadedFile) -> DocumentMeta:
    return DocumentMeta(
        id=document_id,
        title=(loaded.title or path.stem).strip()[:300],
        publisher="Unknown",
        year=None,
        kind="document",
    )


def catalog_items(entries: Iterable[CatalogEntry]) -> list[IngestItem]:
    return [IngestItem(entry.path, entry.meta, own=entry.own) for entry in entries]


def check_sources(loaded: LoadedFile, path: Path) -> None:
    """Raise IngestError listing every figure or quotation of ours without a source, by line."""
    problems = source_problems(loaded, display_path(path))
    if problems:
        raise IngestError(
            f"{path.name} breaks the source rule in {len(problems)} places:\n  "
            + "\n  ".join(problems)
        )


def display_path(path: Path) -> str:
    """The path as a person at this folder would type it (relative when it is below it)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


SUPPORTED_SUFFIXES = (".pdf", ".md", ".markdown", ".txt", ".text", ".html", ".htm", ".docx")


def expand_paths(paths: Iterable[Path]) -> list[IngestItem]:
    """Files as given, and the supported files inside folders (sorted, recursively)."""
    items = []
    for path in paths:
        if path.is_dir():
            items.extend(
                IngestItem(p)
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
            )
        else:
            items.append(IngestItem(path))
    return items
