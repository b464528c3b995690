"""Ingest throughput and memory: the default corpus, and a generated PDF of 2,000 pages.

Run by hand (not in CI): `.venv/bin/python bench/ingest.py [--pages 2000] [--cases default pdf]
[--runtimes openvino onnxruntime] [--rounds 3]`. With several runtimes (the setting
ingest_runtime) and rounds, the runs alternate runtime by runtime within each round, and the
last line gives each runtime's median passages per second and their ratio, measured side by
side.

Each case runs in a child process of its own, so that its peak resident memory (VmHWM)
belongs to that case alone. The child takes the files in with ingest.pipeline.Ingestor and the
real model (kb.factory.make_model_embedder: its ONNX export, made first) into a temporary data
folder, as `kb ingest` does, then builds the FAISS index. It prints one JSON line per case:
documents, pages, passages, vectors (passages + sentences), seconds, passages per second and
peak memory, with the time split into reading the files, splitting them into passages,
embedding, and writing to SQLite. Loading the model (and, in a new data folder, exporting it)
and building the index are timed separately and are not in `seconds`.

The generated case is one PDF (fpdf2) of the corpus's own sentences shuffled into paragraphs,
with a heading and an outline entry every few pages; building it is not timed. It stresses the
largest single document the loader accepts in one transaction (the PDF page limit is 5,000).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASES = ("default", "pdf")

# Helvetica in fpdf2 is Latin-1 only: the corpus's typographic characters become ASCII.
_LATIN1 = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "–": "-",
        "—": "-",
        "…": "...",
        "·": "-",
        "•": "-",
        "→": "->",
        "≈": "~",
        "−": "-",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
    }
)


def peak_rss_mb() -> int:
    """This process's own peak resident memory (VmHWM). Not ru_maxrss: on Linux a child
    inherits its parent's high-water mark through fork and exec, so ru_maxrss reports at
    least the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


# -- generated corpus ---------------------------------------------------------------------------


def corpus_sentences() -> list[str]:
    """Every sentence of the default corpus's Markdown prose (headings and lists left out)."""
    from ingest.split import split_sentences

    sentences = []
    for path in sorted((ROOT / "corpus").rglob("*.md")):
        for paragraph in path.read_text().split("\n\n"):
            paragraph = " ".join(paragraph.split())
            if not paragraph or paragraph[0] in "#*-|>[0123456789":
                continue
            text = paragraph.translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")
            sentences.extend(text[s:e] for s, e in split_sentences(text))
    return [s for s in sentences if len(s.split()) >= 4]


def make_pdf(path: Path, pages: int, seed: int = 0) -> dict:
    """A PDF of exactly `pages` pages: headings (with an outline) and shuffled paragraphs."""
    from fpdf import FPDF

    rng = random.Random(seed)
    sentences = corpus_sentences()
    words = sorted({w.strip(".,;:()\"'").lower() for s in sentences for w in s.split()} - {""})
    pdf = FPDF(format="A4")
    pdf.set_title("Generated evidence compendium")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    chapter = 0
    paragraphs = 0
    while True:
        if pdf.page_no() >= pages:
            break
        # A new section every 6-12 paragraphs (about every two pages).
        chapter += 1
        title = f"{chapter}. " + " ".join(rng.sample(words, rng.randint(3, 6))).capitalize()
        pdf.set_font("Helvetica", "B", 13)
        pdf.start_section(title, level=0)
        pdf.multi_cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)
        for _ in range(rng.randint(6, 12)):
            text = " ".join(rng.sample(sentences, rng.randint(3, 7)))
            pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
            paragraphs += 1
            if pdf.page_no() >= pages:
                break
    pdf.output(str(path))
    return {
        "pages": pdf.page_no(),
        "sections": chapter,
        "paragraphs": paragraphs,
        "bytes": path.stat().st_size,
        "source_sentences": len(sentences),
    }


# -- the measurement (in a child process) -------------------------------------------------------


class Timer:
    """Seconds spent inside wrapped calls, by name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, function):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

        return timed


def items_for(case: str, pdf_path: str | None) -> list:
    from ingest.pipeline import IngestItem
    from ingest.pipeline import catalog_items
    from kb.catalog import load_catalog
    from kb.models import DocumentMeta

    if case == "default":
        return catalog_items(load_catalog(ROOT / "corpus" / "catalog.toml"))
    meta = DocumentMeta(
        "generated-compendium", "Generated evidence compendium", "Bench", 2026, "report"
    )
    return [IngestItem(Path(pdf_path), meta)]


def measure(case: str, pdf_path: str | None, runtime: str) -> dict:
    import ingest.pipeline as pipeline
    from kb.factory import make_model_embedder
    from kb.index import VectorIndex
    from kb.settings import Settings
    from kb.store import SqliteStore

    timer = Timer()
    # The pipeline calls these by their names in its own module: time them there.
    pipeline.load_file = timer.wrap("read", pipeline.load_file)
    pipeline.split_blocks = timer.wrap("split", pipeline.split_blocks)
    items = items_for(case, pdf_path)
    pages = 0

    def count_pages(stage: str, done: int, total: int) -> None:
        nonlocal pages
        if stage == "read":
            pages += total

    with tempfile.TemporaryDirectory(prefix="kb-bench-ingest-") as tmp:
        # The embedder `kb ingest` uses; in a new data folder, loading it exports the model to
        # ONNX first (timed in model_load_s, as on a first build).
        settings = Settings(Path(tmp), ROOT / "corpus", ingest_runtime=runtime)
        embedder = make_model_embedder(settings, ingest=True)
        t0 = time.perf_counter()
        getattr(embedder, "load", lambda: None)()
        embedder.embed(["warm up"])
        model_s = time.perf_counter() - t0
        embedder.embed = timer.wrap("embed", embedder.embed)
        # Passages whose word-piece vectors are kept (late interaction) go through this one.
        if hasattr(embedder, "embed_with_pieces"):
            embedder.embed_with_pieces = timer.wrap("embed", embedder.embed_with_pieces)
        store = SqliteStore(Path(tmp) / "kb.sqlite3")
        store.put_document = timer.wrap("write", store.put_document)
        ingestor = pipeline.Ingestor(store, embedder, Path(tmp) / "files")
        t0 = time.perf_counter()
        outcomes = [ingestor.ingest_one(item, on_progress=count_pages) for item in items]
        seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        index = VectorIndex(store, Path(tmp) / "index.faiss")
        index.ensure_fresh()
        index_s = time.perf_counter() - t0
        passages = store.count_passages()
        vectors = store.count_vectors()
        failed = [f"{o.path.name}: {o.reason}" for o in outcomes if o.status == "failed"]
        db_mb = sum(p.stat().st_size for p in Path(tmp).glob("kb.sqlite3*")) / 2**20
        kind = index.kind
        store.close()
    split = {
        f"{name}_s": round(timer.seconds.get(name, 0.0), 1)
        for name in ("read", "split", "embed", "write")
    }
    split["other_s"] = round(seconds - sum(timer.seconds.values()), 1)
    return {
        "case": case,
        "documents": len(outcomes) - len(failed),
        "failed": failed,
        "pages": pages,
        "passages": passages,
        "vectors": vectors,
        "vectors_per_passage": round(vectors / max(passages, 1), 2),
        "seconds": round(seconds, 1),
        "passages_per_second": round(passages / seconds, 1),
        "vectors_per_second": round(vectors / seconds, 1),
        **split,
        "model_load_s": round(model_s, 1),
        "embedder": getattr(embedder, "backend", "") or "sentence-transformers",
        # What embedded the passages (ingest_runtime) and in what precision.
        **passage_runtime(embedder),
        "index_s": round(index_s, 1),
        "index": kind,
        "db_mb": round(db_mb),
        "peak_rss_mb": peak_rss_mb(),
    }


def passage_runtime(embedder) -> dict:
    impl = getattr(embedder, "_piece_impl", None) or getattr(embedder, "_impl", None)
    model = getattr(impl, "_model", None)
    return {
        "runtime": getattr(impl, "runtime", "sentence-transformers"),
        "precision": getattr(model, "precision", "f32"),
    }


def machine() -> dict:
    import faiss
    import torch

    return {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "faiss": faiss.__version__,
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", choices=CASES, default=list(CASES))
    parser.add_argument("--pages", type=int, default=2000, help="pages of the generated PDF")
    parser.add_argument(
        "--runtimes", nargs="*", choices=("openvino", "onnxruntime"), default=["openvino"]
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--runtime", default="openvino", help=argparse.SUPPRESS)
    parser.add_argument("--pdf", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.pdf, args.runtime)), flush=True)
        return
    print(json.dumps(machine()), flush=True)
    rates: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="kb-bench-pdf-") as tmp:
        pdf_path = Path(tmp) / "generated-compendium.pdf"
        if "pdf" in args.cases:
            t0 = time.perf_counter()
            made = make_pdf(pdf_path, args.pages)
            made["generate_s"] = round(time.perf_counter() - t0, 1)
            print(json.dumps({"generated_pdf": made}), flush=True)
        for _ in range(args.rounds):
            for case in args.cases:
                for runtime in args.runtimes:
                    command = [sys.executable, __file__, "--child", case, "--runtime", runtime]
                    if case == "pdf":
                        command += ["--pdf", str(pdf_path)]
                    # A child each, so that peak memory belongs to one case.
                    out = subprocess.run(command, capture_output=True, text=True)
                    if out.returncode:
                        sys.exit(f"{case} on {runtime} failed:\n{out.stderr}")
                    line = out.stdout.strip().splitlines()[-1]
                    print(line, flush=True)
                    rate = json.loads(line)["passages_per_second"]
                    rates.setdefault((case, runtime), []).append(rate)
    if args.rounds > 1 or len(args.runtimes) > 1:
        summary = {
            f"{case} {runtime}": statistics.median(found)
            for (case, runtime), found in rates.items()
        }
        for case in args.cases:
            if len(args.runtimes) == 2:
                first, second = (summary[f"{case} {r}"] for r in args.runtimes)
                summary[f"{case} ratio {args.runtimes[0]}/{args.runtimes[1]}"] = round(
                    first / second, 2
                )
        print(json.dumps({"median_passages_per_second": summary}), flush=True)


if __name__ == "__main__":
    main()
