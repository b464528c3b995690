"""The layers point down only: kb imports neither web nor ingest, nor torch at import time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(package: str) -> set[str]:
    return set().union(*(_imported_modules(p) for p in (ROOT / package).rglob("*.py")))


def test_kb_imports_neither_web_nor_ingest():
    assert not _imports("kb") & {"web", "ingest", "kb_cli", "flask"}


def test_ingest_does_not_import_web():
    assert "web" not in _imports("ingest")


def test_commands_that_do_not_embed_do_not_import_torch():
    code = (
        "import sys; from kb_cli.main import cli; from kb.factory import open_store; "
        "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_export_imports_only_kb():
    assert not _imports("export") & {"web", "ingest", "kb_cli", "flask"}


def test_the_web_app_and_query_encoder_import_neither_torch_nor_file_loaders():
    """A server that never takes a file in carries neither torch (queries go through ONNX)
    nor pypdf, BeautifulSoup and python-docx (loaded with the first file of their format, or
    the first Word download of a pack)."""
    code = (
        "import sys; from web import create_app; from kb.onnx_embedder import ExportedMiniLM; "
        "from kb.factory import make_model_embedder; "
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers', 'pypdf', "
        "'bs4', 'docx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# The packages of the application; kb/store/ and kb/migrations/ are the only places that speak
# to a database driver or write SQL only one database understands.
_APPLICATION = ("kb", "ingest", "web", "kb_cli", "export")
_DATABASE_PLACES = (ROOT / "kb" / "store", ROOT / "kb" / "migrations")
_DRIVERS = {"sqlite3", "psycopg", "psycopg_pool", "psycopg2"}
# SQL that SQLite speaks and PostgreSQL does not (or the reverse), see kb/store/base.py.
_ONE_DATABASE_SQL = (
    "INSERT OR ",
    "BEGIN IMMEDIATE",
    "lastrowid",
    "rowid",
    "COLLATE NOCASE",
    "json_each",
    "julianday",
    "sqlite_master",
)


def _application_files():
    for package in _APPLICATION:
        for path in (ROOT / package).rglob("*.py"):
            if not any(path.is_relative_to(place) for place in _DATABASE_PLACES):
                yield path


def _imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_store_and_migrations_import_a_database_driver():
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_modules(path) & _DRIVERS)
        for path in _application_files()
        if _imported_modules(path) & _DRIVERS
    }
    assert offenders == {}


def test_sql_outside_the_store_is_what_both_databases_speak():
    offenders = {
        str(path.relative_to(ROOT)): [word for word in _ONE_DATABASE_SQL if word in text]
        for path in _application_files()
        if any(word in (text := path.read_text()) for word in _ONE_DATABASE_SQL)
    }
    assert offenders == {}
