"""`kb ingest`, `kb add`, `kb list`, `kb remove`, `kb check`."""

from __future__ import annotations

from pathlib import Path

import click

from ingest.ocr import OcrSettings
from kb.catalog import KINDS
from kb.errors import KBError
from kb.factory import open_store
from kb.settings import Settings
from kb_cli.main import cli
from kb_cli.output import echo_json

STATUSES = ("added", "replaced", "updated", "unchanged", "failed")


def _ingestor(settings: Settings):
    from ingest.pipeline import Ingestor
    from kb.factory import make_model_embedder
    from kb.factory import open_originals

    store = open_store(settings, create=True)
    return Ingestor(
        store,
        make_model_embedder(settings, ingest=True),
        settings.files_dir,
        max_bytes=settings.max_upload_bytes,
        ocr=OcrSettings.from_settings(settings),
        originals=open_originals(settings, store),
        late_interaction_up_to=settings.late_interaction_up_to,
    )


def _documents(settings: Settings, ingest: bool = False):
    """The document service (ingest.service) over the settings' store; with `ingest`, with
    the pipeline and the model too (adding files), otherwise without loading the model."""
    from ingest.service import DocumentService

    if ingest:
        ingestor = _ingestor(settings)
        return DocumentService(ingestor.store, ingestor=ingestor)
    return DocumentService(open_store(settings))


def _run(settings: Settings, items: list) -> list:
    """Ingest with a progress bar, then print the summary; exit 1 if any file failed."""
    from tqdm import tqdm

    documents = _documents(settings, ingest=True)
    with tqdm(total=len(items), unit="file", desc="Ingesting", leave=False) as bar:
        outcomes = documents.ingest(items, user=_cli_user(), on_outcome=lambda _: bar.update())
    return _report(settings, documents.store, outcomes, documents.ingestor.embedder)


def _report(settings: Settings, store, outcomes: list, embedder=None) -> list:
    """Print the failures and the summary, build the vector index if anything changed, and
    export the model to ONNX if its export is missing, stale or damaged."""
    for outcome in outcomes:
        if outcome.status == "failed":
            click.echo(f"failed: {outcome.path.name}: {outcome.reason}", err=True)
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in STATUSES}
    click.echo(", ".join(f"{n} {s}" for s, n in counts.items()))
    # Build the indexes now, so the first search does not pay for them (wait: a rebuild of a
    # large store runs on a thread that this process would otherwise leave behind).
    if counts["added"] or counts["replaced"]:
        from kb.index import VectorIndex
        from kb.keyword_index import KeywordIndex

        VectorIndex(store, settings.index_path, settings.approximate_from).ensure_fresh(wait=True)
        if store.count_passages() >= settings.keyword_index_from:
            KeywordIndex(store, settings.keyword_index_path).ensure_fresh(wait=True)
    if embedder is not None:
        _ensure_query_export(settings, embedder)
    return outcomes


def _ensure_query_export(settings: Settings, embedder) -> None:
    """Searching processes embed with the model's ONNX export (no torch): keep it current,
    even when no file changed (a new install of the model makes it stale)."""
    ensure = getattr(embedder, "ensure_export", None)
    if ensure is not None and ensure() == "exported":  # the hashing stand-in has none
        click.echo("Exported the model to ONNX for embedding without torch.")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_obj
def ingest(settings: Settings, paths: tuple[Path, ...]) -> None:
    """Take in the corpus catalog (no PATHS) or the given files and folders."""
    from ingest.pipeline import catalog_items
    from ingest.pipeline import expand_paths
    from kb.catalog import load_catalog

    items = expand_paths(paths) if paths else catalog_items(load_catalog(settings.catalog_path))
    if not items:
        raise KBError("There are no supported files to ingest in the paths given.")
    outcomes = _run(settings, items)
    if any(o.status == "failed" for o in outcomes):
        raise SystemExit(1)
    store = open_store(settings)
    from kb.figures.stored import refresh_figures

    refresh_figures(store)  # figures read by an older extractor (or none yet) are read again
    # The catalog's myths and figure book pin quotes to its documents: a changed document must
    # not break them.
    if paths:
        return
    broken = _myth_problems(settings, store)
    if broken:
        raise KBError(f"{len(broken)} pinned myth quotes no longer match: " + " ".join(broken))
    broken = _figure_problems(settings, store)
    if broken:
        raise KBError(f"{len(broken)} figure book quotes no longer match: " + " ".join(broken))


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--id", "document_id", help="A slug; by default made from the title.")
@click.option("--title", required=True)
@click.option("--publisher", required=True, help="Publisher or author.")
@click.option("--year", type=int, required=True)
@click.option("--kind", required=True, type=click.Choice(KINDS), help="The kind of document.")
@click.option("--url", default="", help="Where the document was published.")
@click.option("--tag", "tags", multiple=True, help="A tag; repeat for several.")
@click.pass_obj
def add(
    settings: Settings,
    file: Path,
    document_id: str | None,
    title: str,
    publisher: str,
    year: int,
    kind: str,
    url: str,
    tags: tuple[str, ...],
) -> None:
    """Add one document with its metadata (the same checks as the upload page)."""
    from ingest.service import build_meta
    from ingest.service import prepare
    from ingest.service import read_file

    meta = build_meta(
        title=title,
        publisher=publisher,
        year=year,
        kind=kind,
        url=url,
        tags=tags,
        document_id=document_id,
    )
    limit = settings.max_upload_bytes
    submission = prepare(
        open_store(settings, create=True),
        read_file(file, limit),
        file.name,
        meta,
        max_bytes=limit,
        ocr=OcrSettings.from_settings(settings),
    )
    documents = _documents(settings, ingest=True)
    outcome = documents.take_in(submission, file, user=_cli_user())
    if _report(settings, documents.store, [outcome], documents.ingestor.embedder)[0].status == (
        "failed"
    ):
        raise SystemExit(1)


@cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_documents(settings: Settings, as_json: bool) -> None:
    """List the documents with their kind, year and passage count."""
    documents = open_store(settings).list_documents()
    if as_json:
        echo_json(
            [
                {
                    "id": d.id,
                    "title": d.meta.title,
                    "publisher": d.meta.publisher,
                    "year": d.meta.year,
                    "kind": d.meta.kind,
                    "tags": list(d.meta.tags),
                    "passages": d.passage_count,
                }
                for d in documents
            ]
        )
        return
    if not documents:
        click.echo("No documents yet: run `kb ingest`.")
    for d in documents:
        click.echo(
            f"{d.id:<36} {d.meta.kind:<11} {d.meta.year or 'n.d.':<5} "
            f"{d.passage_count:>4} passages  {d.meta.title}"
        )


@cli.command()
@click.argument("document_id")
@click.pass_obj
def remove(settings: Settings, document_id: str) -> None:
    """Remove a document and its passages."""
    removed = _documents(settings).remove(document_id, user=_cli_user())
    click.echo(f"Removed {removed.id} ({removed.passage_count} passages).")


def _cli_user() -> str:
    """Who did it, for the audit log: the command line and the login of whoever ran it."""
    import getpass

    try:
        return f"command line ({getpass.getuser()})"
    except (KeyError, OSError):
        return "command line"


@cli.command()
@click.pass_obj
def check(settings: Settings) -> None:
    """Check that the store and the vector index agree, every passage has an embedding, every
    pinned myth quote resolves, and our own catalog documents name a source for every figure
    and quotation (each problem with its file and line)."""
    # Each fault it finds is shown by a test that makes it (tests/test_check.py).
    from kb.index import VectorIndex

    store = open_store(settings)
    problems = store.check()
    index = VectorIndex(store, settings.index_path, settings.approximate_from)
    problems.extend(index.saved_problems())
    problems.extend(_myth_problems(settings, store, missing_ok=True))
    problems.extend(_source_problems(settings, store))
    problems.extend(_figure_problems(settings, store, missing_ok=True))
    export_problems, export_state = _export_state(settings, store)
    problems.extend(export_problems)
    if problems:
        raise KBError("\n".join(problems))
    click.echo(
        f"OK: {len(store.list_documents())} documents, {store.count_passages()} passages, "
        f"index {index.kind} with {len(index)} vectors.{export_state}"
    )


def _export_state(settings: Settings, store) -> tuple[list[str], str]:
    """The query model's ONNX export (kb/onnx_export.py), for a store the real model embedded:
    missing, stale or damaged is a problem (searches then load torch); otherwise a sentence
    for the summary. Hashes the export's 90 MB, as every searching process does at start."""
    from kb.embedder import MINILM_NAME

    if settings.embedder not in ("minilm", MINILM_NAME) or store.model_name() != MINILM_NAME:
        return [], ""
    from kb.onnx_export import ExportUnusable
    from kb.onnx_export import default_model_path
    from kb.onnx_export import load_usable

    try:
        manifest, _ = load_usable(settings.data_dir, MINILM_NAME, default_model_path())
    except ExportUnusable as reason:
        return [
            f"Query model: {reason}. Searches embed with sentence-transformers (torch: slower "
            "start, more memory) until `kb ingest` exports it again."
        ], ""
    return [], f" Query model: ONNX export {manifest.onnx_file}, current, sha256 matches."


def _source_problems(settings: Settings, store) -> list[str]:
    """Figures and quotations in our own catalog documents without a source (by file and line),
    and stored Sources entries that are not the file's (an edit not yet taken in: the stored
    ones are what citations and exports give); nothing to check where there is no catalog."""
    if not settings.catalog_path.exists():
        return []
    from ingest.loaders import load_file
    from ingest.pipeline import display_path
    from ingest.source_check import source_problems
    from kb.catalog import load_catalog

    problems = []
    own = [e for e in load_catalog(settings.catalog_path) if e.own and e.path.exists()]
    stored = store.documents_by_id([entry.meta.id for entry in own])
    for entry in own:
        loaded = load_file(entry.path)
        found = source_problems(loaded, display_path(entry.path))
        problems.extend(found)
        document = stored.get(entry.meta.id)
        if not found and document is not None and document.sources != loaded.sources:
            problems.append(
                f"{display_path(entry.path)}: its Sources entries differ from the stored ones "
                "(the file changed since it was taken in); run `kb ingest` so that citations "
                "and exported references name them as the file does."
            )
    return problems


def _myth_problems(settings: Settings, store, missing_ok: bool = False) -> list[str]:
    """Pinned myth quotes that no longer match a passage (once the myths module exists)."""
    try:
        from kb.myths import check_pinned
        from kb.myths import load_myths
    except ImportError:
        return []
    if not settings.myths_path.exists():
        return []
    return check_pinned(load_myths(settings.myths_path), store, missing_ok=missing_ok)


@cli.command()
@click.pass_obj
def migrate(settings: Settings) -> None:
    """Bring the database's schema up to date (every command that opens it does so too)."""
    from kb import migrations

    store = open_store(settings)
    version = migrations.current_version(store.connection())
    shipped = len(migrations.migrations(store.dialect))
    click.echo(
        f"Schema version {version} of {store.describe()} ({shipped} migrations shipped, "
        f"all applied)."
    )


def _figure_problems(settings: Settings, store, missing_ok: bool = False) -> list[str]:
    """The figure book's problems: a bad entry (raised when it is read, naming the entry) or
    quotes that no longer match a passage; none when there is no book."""
    from kb.figures.book import check_book
    from kb.figures.book import load_figures
    from kb.figures.stored import figures_current

    if not settings.figures_path.exists():
        return []
    problems = check_book(load_figures(settings.figures_path), store, missing_ok=missing_ok)
    if not figures_current(store):
        problems.append("The stored figures were read by an older extractor: run `kb ingest`.")
    return problems
