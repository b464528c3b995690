"""The document service (ingest/service.py): the one path for adding, replacing, editing and
removing a document, each change written with its audit entry in one transaction."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ingest.pipeline import Ingestor
from ingest.service import DocumentService
from ingest.service import build_meta
from ingest.service import prepare
from kb.audit import AuditLog
from kb.errors import DuplicateDocument
from kb.errors import NotFound
from kb.errors import StoreError
from kb.jobs import Jobs

ROOT = Path(__file__).resolve().parent.parent
META = {
    "title": "Quokka payroll study",
    "publisher": "Quokka Council",
    "year": 2021,
    "kind": "report",
}
TEXT = b"# Quokka payroll\n\nThe quokka councils shared a payroll service and saved little.\n"


@pytest.fixture
def documents(store, embedder, settings) -> DocumentService:
    ingestor = Ingestor(store, embedder, settings.files_dir)
    return DocumentService(store, ingestor=ingestor, jobs=Jobs(store))


def _take_in(documents: DocumentService, tmp_path, data: bytes = TEXT, **meta):
    path = tmp_path / "quokka.md"
    path.write_bytes(data)
    built = build_meta(**{**META, **meta})
    submission = prepare(documents.store, data, path.name, built, max_bytes=None)
    return documents.take_in(submission, path, user="ada")


def _entries(store) -> list[tuple[str, str, str]]:
    return [(e.user, e.action, e.document_id) for e in AuditLog(store).entries()]


def test_each_change_is_written_with_its_audit_entry(documents, store, tmp_path):
    assert _take_in(documents, tmp_path).status == "added"
    meta, changed = documents.edit(
        "quokka-payroll-study", {**META, "year": "2022", "tags": "payroll"}, user="bo"
    )
    assert changed == ["year", "tags"] and store.get_document(meta.id).meta.year == 2022
    assert documents.edit(meta.id, {**META, "year": "2022", "tags": "payroll"}, user="bo")[1] == []
    removed = documents.remove(meta.id, user="cy")
    assert removed.id == meta.id
    assert _entries(store) == [
        ("cy", "remove", meta.id),
        ("bo", "edit", meta.id),
        ("ada", "add", meta.id),
    ]
    (add,) = [e for e in AuditLog(store).entries() if e.action == "add"]
    assert add.title == META["title"] and add.detail.startswith("quokka.md, ")


def test_a_failure_after_the_document_is_written_leaves_neither_document_nor_entry(
    documents, store, tmp_path, monkeypatch
):
    """The write and its audit entry are one transaction: the document written, then a
    failure before the commit, and nothing of either is stored."""
    put_document = store.put_document

    def written_then_failing(*args, **kwargs):
        put_document(*args, **kwargs)
        raise RuntimeError("the process failed after the document was written")

    monkeypatch.setattr(store, "put_document", written_then_failing)
    with pytest.raises(RuntimeError):
        _take_in(documents, tmp_path)
    assert store.documents_by_id(["quokka-payroll-study"]) == {}
    assert store.passages_of("quokka-payroll-study") == []
    assert _entries(store) == []


def test_an_audit_failure_rolls_each_change_back(documents, store, tmp_path, monkeypatch):
    assert _take_in(documents, tmp_path).status == "added"
    before = store.get_document("quokka-payroll-study")

    def failing(*args, **kwargs):
        raise StoreError("The disk is full at /data; nothing was written.")

    monkeypatch.setattr(documents.audit, "record", failing)
    replaced = _take_in(documents, tmp_path, TEXT + b"\nA second paragraph, added later.\n")
    assert replaced.status == "failed" and "disk is full" in replaced.reason
    assert store.get_document(before.id).sha256 == before.sha256
    with pytest.raises(StoreError):
        documents.edit(before.id, {**META, "year": "1999"}, user="bo")
    assert store.get_document(before.id).meta.year == META["year"]
    with pytest.raises(StoreError):
        documents.remove(before.id, user="cy")
    assert store.get_document(before.id).passage_count == before.passage_count
    assert _entries(store) == [("ada", "add", before.id)]


def test_a_metadata_only_change_through_an_ingest_is_audited_as_an_edit(documents, store, tmp_path):
    _take_in(documents, tmp_path)
    assert _take_in(documents, tmp_path, kind="briefing").status == "updated"
    assert [action for _, action, _ in _entries(store)] == ["edit", "add"]
    assert _take_in(documents, tmp_path, kind="briefing").status == "unchanged"
    assert len(_entries(store)) == 2


def test_upload_checks_give_a_free_id_and_refuse_a_file_stored_or_being_added(
    documents, store, tmp_path
):
    _take_in(documents, tmp_path)
    stored = store.get_document("quokka-payroll-study")
    other = TEXT + b"\nAnother edition.\n"
    second = documents.check_upload(other, "second.md", build_meta(**META), max_bytes=None)
    assert second.meta.id == "quokka-payroll-study-2"
    with pytest.raises(DuplicateDocument, match="already in the knowledge base"):
        documents.check_upload(TEXT, "copy.md", build_meta(**META), max_bytes=None)
    with pytest.raises(DuplicateDocument, match="the file already stored for"):
        documents.check_upload(TEXT, "q.md", stored.meta, max_bytes=None, replacing=stored)
    documents.jobs.create(
        action="add",
        user="ada",
        file_name="second.md",
        sha256=second.sha256,
        meta=second.meta,
    )
    with pytest.raises(DuplicateDocument, match="being added right now"):
        documents.check_upload(other, "again.md", build_meta(**META), max_bytes=None)
    third = documents.check_upload(
        b"# Third\n\nThird text.\n", "3.md", build_meta(**META), max_bytes=None
    )
    assert third.meta.id == "quokka-payroll-study-3"  # -2 is taken by the upload in progress


def test_removing_a_missing_document_is_not_found_and_audits_nothing(documents, store):
    with pytest.raises(NotFound):
        documents.remove("no-such-document", user="ada")
    assert _entries(store) == []


# What only the document service may do to documents: write them, audit them, pick their ids.
_SERVICE_ONLY = {
    "put_document",
    "update_metadata",
    "remove_document",
    "record",
    "find_by_sha256",
    "unique_id",
    "ingest_one",
}
_CALLERS = ("web/admin.py", "web/uploads.py", "kb_cli/documents.py")


@pytest.mark.parametrize("module", _CALLERS)
def test_the_web_app_and_the_command_line_change_documents_only_through_the_service(module):
    tree = ast.parse((ROOT / module).read_text())
    called = {
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }
    assert called & _SERVICE_ONLY == set()
