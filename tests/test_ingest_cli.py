"""`kb ingest`, `kb add`, `kb list`, `kb remove`, `kb check` end to end, with the fake embedder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from conftest import ROOT
from conftest import both_backends

from kb.factory import open_store
from kb_cli.main import cli

pytestmark = both_backends


def _runner(data):
    """Run `kb` in-process against a data folder; the runner's `data` is that folder."""

    def run(*args: str):
        runner = CliRunner()
        result = runner.invoke(
            cli, ["--data-dir", str(data), "--embedder", "hashing", *args], catch_exceptions=False
        )
        return result

    run.data = data
    return run


@pytest.fixture
def kb_run(backend_settings):
    """Run `kb` in-process against a fresh knowledge base of the test's backend (a data folder,
    and on PostgreSQL the test's database); `kb_run.store()` opens that store."""
    run = _runner(backend_settings.data_dir)
    opened = []
    run.store = lambda: opened.append(open_store(backend_settings)) or opened[-1]
    yield run
    for store in opened:
        store.close()


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def _markdown(tmp_path, name="note.md", body="Shared services save little money."):
    return _write(tmp_path / name, f"# A note\n\n<!-- page 2 -->\n\n## Findings\n\n{body}\n")


def test_catalog_ingest_is_idempotent_and_complete(kb_run):
    first = kb_run("ingest")
    assert first.exit_code == 0, first.output
    assert "12 added" in first.output
    second = kb_run("ingest")
    assert "0 added" in second.output and "12 unchanged" in second.output
    listing = kb_run("list")
    assert "front-line-starts-here" in listing.output and "report" in listing.output
    check = kb_run("check")
    assert check.exit_code == 0 and check.output.startswith("OK: 12 documents")
    store = kb_run.store()
    report = store.passages_of("front-line-starts-here")
    assert report and all(p.section for p in report)
    # Every passage has its printed page, except the cover and back cover, which have none.
    unpaged = [p.text for p in report if not p.page]
    assert len(unpaged) == 2 and unpaged[0].startswith("Report by APSE"), unpaged
    assert unpaged[1].startswith("Join UNISON")


def test_changed_file_replaces_its_passages(kb_run, tmp_path):
    path = _markdown(tmp_path)
    assert "1 added" in kb_run("ingest", str(path)).output
    _markdown(tmp_path, body="Tayside Contracts is a joint committee.")
    result = kb_run("ingest", str(path))
    assert "1 replaced" in result.output
    store = kb_run.store()
    texts = " ".join(p.text for p in store.passages_of("note"))
    assert "Tayside" in texts and "save little" not in texts
    assert kb_run("check").exit_code == 0


def test_remove(kb_run, tmp_path):
    kb_run("ingest", str(_markdown(tmp_path)))
    result = kb_run("remove", "note")
    assert result.exit_code == 0 and "Removed note" in result.output
    missing = kb_run("remove", "note")
    assert missing.exit_code == 1
    assert "There is no document with id 'note'." in missing.output
    assert "Traceback" not in missing.output


BAD_FILES = {
    "missing.pdf": None,
    "empty.txt": b"",
    "notes.xyz": b"some text",
    "fake.pdf": b"just text, not a PDF at all",
    "corrupt.pdf": b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\ngarbage",
    "junk.docx": b"PK\x03\x04 not really a zip",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_input_is_one_sentence_and_changes_nothing(kb_run, tmp_path, name):
    good = _markdown(tmp_path)
    kb_run("ingest", str(good))
    before = kb_run.store().generation()
    bad = tmp_path / name
    if BAD_FILES[name] is not None:
        bad.write_bytes(BAD_FILES[name])
    alone = kb_run("ingest", str(bad))
    assert alone.exit_code == 1, alone.output
    failed = [line for line in alone.output.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and name in failed[0]
    assert "Traceback" not in alone.output
    assert kb_run.store().generation() == before
    # With a good file in the same run, the good one still goes in.
    other = _markdown(tmp_path, "other.md", "Christie said prevention matters.")
    mixed = kb_run("ingest", str(bad), str(other))
    assert "1 added" in mixed.output and "1 failed" in mixed.output
    assert kb_run("check").exit_code == 0


def test_add_with_metadata_and_bad_metadata(kb_run, tmp_path):
    path = _markdown(tmp_path)
    ok = kb_run(
        "add",
        str(path),
        "--title",
        "A note",
        "--publisher",
        "Us",
        "--year",
        "2024",
        "--kind",
        "briefing",
        "--tag",
        "savings",
    )
    assert ok.exit_code == 0, ok.output
    assert "a-note" in kb_run("list").output
    bad = kb_run(
        "add",
        str(path),
        "--title",
        "A note",
        "--publisher",
        "Us",
        "--year",
        "20245",
        "--kind",
        "briefing",
    )
    assert bad.exit_code == 1 and "has year 20245; give the year it was published" in bad.output


def test_search_json_shape(kb_run):
    kb_run("ingest")
    result = kb_run("search", "savings from back office sharing", "--json", "-k", "3")
    import json

    data = json.loads(result.output)
    first = data["results"][0]
    assert set(first) >= {
        "text",
        "page",
        "section",
        "score",
        "highlights",
        "document",
        "citation",
        "url",
    }
    assert set(first["citation"]) == {"short", "harvard"}
    empty = kb_run("search", "   ")
    assert empty.exit_code == 1 and "empty" in empty.output
    unknown = kb_run("search", "savings", "--kind", "reports")
    assert unknown.exit_code == 1
    assert unknown.output.strip() == (
        "Error: There is no kind of document called 'reports'; use one of report, guidance, "
        "case-study, article, briefing, document."
    )
    untagged = kb_run("search", "savings", "--tag", "nosuchtag")
    assert untagged.exit_code == 1 and "No document is tagged 'nosuchtag'" in untagged.output


def _paused(marker, proc, hang_seconds: float = 300) -> dict:
    """Wait until `proc` says it has paused mid-document (kb/pause.py); what it said."""
    deadline = time.monotonic() + hang_seconds  # a guard against a hang, not a speed limit
    while not marker.exists():
        assert proc.poll() is None, f"kb ingest ended ({proc.returncode}) without pausing"
        assert time.monotonic() < deadline, "kb ingest never reached the pause"
        time.sleep(0.05)
    return json.loads(marker.read_text())


def _ingest_killed_mid_document(kb: list[str], env: dict, data, after: int) -> dict:
    """Run `kb ingest`, kill it once it has written `after` passages of a document inside that
    document's transaction; where it was (kb/pause.py)."""
    marker = data / "paused"
    marker.unlink(missing_ok=True)
    pausing = {**env, "KB_TEST_PAUSE_AFTER_PASSAGES": str(after)}
    proc = subprocess.Popen(
        [*kb, "ingest"], cwd=ROOT, env=pausing, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        paused = _paused(marker, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert paused["pid"] == proc.pid and paused["written"] == after < paused["total"], paused
    return paused


@pytest.mark.slow
def test_sigkill_mid_document_leaves_a_consistent_store(tmp_path, backend_settings):
    """Kill `kb ingest` inside a document's transaction, at a point it reported: `kb check`
    passes and the document is absent (new) or whole in its old version (replaced); the next
    run completes."""
    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    data = backend_settings.data_dir
    # On PostgreSQL, KB_DATABASE_URL (set for the test) names its database.
    env = {**os.environ, "KB_EMBEDDER": "hashing", "KB_DATA_DIR": str(data)}
    env["KB_CORPUS_DIR"] = str(corpus)
    kb = [sys.executable, "-c", "from kb_cli.main import main; main()"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*kb, *args], cwd=ROOT, env=env, capture_output=True, text=True)

    def stored() -> dict[str, list[str]]:
        store = open_store(backend_settings)
        try:
            return {d.id: [p.text for p in store.passages_of(d.id)] for d in store.list_documents()}
        finally:
            store.close()

    # A new document, killed early and then deep into it: it is absent, not half there.
    for after in (2, 30):
        paused = _ingest_killed_mid_document(kb, env, data, after)
        check = run("check")
        assert check.returncode == 0, check.stdout + check.stderr
        assert paused["document"] not in stored(), paused
    done = run("ingest")
    assert done.returncode == 0 and "0 failed" in done.stdout, done.stdout + done.stderr
    before = stored()

    # A changed document, killed while its new version replaces the old: the old one is whole.
    report = next(corpus.rglob("the-front-line-starts-here.md"))
    report.write_text(report.read_text() + "\n\nA paragraph added for a new version.\n")
    paused = _ingest_killed_mid_document(kb, env, data, 5)
    check = run("check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert stored() == before, paused

    done = run("ingest")
    assert done.returncode == 0 and "0 failed" in done.stdout, done.stdout + done.stderr
    final = run("check")
    assert final.stdout.startswith(f"OK: {len(before)} documents"), final.stdout + final.stderr
    assert stored()[paused["document"]] != before[paused["document"]]


@pytest.mark.parametrize("command", [("list",), ("check",), ("search", "savings"), ("remove", "x")])
def test_reading_a_folder_with_no_knowledge_base_is_an_error(tmp_path, command):
    # SQLite's alone: a PostgreSQL database is made by its administrator, its tables on use.
    kb_run = _runner(tmp_path / "data")
    result = kb_run(*command)
    assert result.exit_code == 1
    assert "There is no knowledge base in" in result.output
    assert not (kb_run.data / "kb.sqlite3").exists()  # and nothing was made there


def test_the_same_file_under_another_name_is_reported_not_added(kb_run, tmp_path):
    first = _markdown(tmp_path)
    kb_run("ingest", str(first))
    copy = tmp_path / "copy-of-note.md"
    copy.write_bytes(first.read_bytes())
    result = kb_run("ingest", str(copy))
    assert result.exit_code == 1
    assert (
        "copy-of-note.md is already in the knowledge base as “A note” (id note)." in result.output
    )
    assert "copy-of-note" not in kb_run("list").output


def test_add_and_remove_from_the_command_line_are_audited(kb_run, tmp_path):
    from kb.audit import AuditLog

    path = _markdown(tmp_path)
    kb_run(
        "add",
        str(path),
        "--title",
        "A note",
        "--publisher",
        "Us",
        "--year",
        "2024",
        "--kind",
        "briefing",
    )
    kb_run("remove", "a-note")
    entries = AuditLog(kb_run.store()).entries()
    assert [(e.action, e.document_id) for e in entries] == [("remove", "a-note"), ("add", "a-note")]
    assert all(e.user.startswith("command line") for e in entries)


def test_search_says_when_nothing_matches_closely(kb_run):
    import json

    kb_run("ingest")
    printed = kb_run("search", "recipe for chicken curry", "-k", "2").output
    assert printed.startswith("No close match.")
    assert "1." in printed  # the nearest passages follow
    data = json.loads(kb_run("search", "recipe for chicken curry", "--json").output)
    assert data["match"] == "none" and data["results"]
