"""The layers point down only: kb imports neither web nor ingest, nor torch at import time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(package: str) -> set[str]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module.split(".")[0])
    return found


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
