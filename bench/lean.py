"""The lean query path, before and after, side by side in one run (issue 16).

Run by hand (not in CI):

    nice -n 19 .venv/bin/python bench/lean.py [--before REF] [--repeat 5] [--searches 1000]

"Before" is the code at REF (default: the merge base with main), unpacked into a temporary
folder with `git archive`; "after" is this checkout. Both run with this checkout's virtualenv,
on one data folder built here by `kb ingest` over the default corpus (so the same passages and
vectors; the older code does not look at the ONNX export beside them). Each measurement
alternates before and after, so a busy machine slows both alike; the figures reported are
medians, and the ratios compare the two medians of the same run.

Measured, per side:
- `kb search` cold wall: a new process, from start to exit, answering one query.
- `kb serve --production`: seconds from start until /api/search first answers; then resident
  memory (VmRSS) after N distinct searches over HTTP; and the p50 of those (uncached: each
  query new) and of 200 repeats (cached query vector).
- in process: KnowledgeBase.search p50, uncached and cached, after warm-up.
- ingest: passages per second on the default corpus (bench/ingest.py of each side).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
QUERY = "savings from back office sharing"


def queries(count: int) -> list[str]:
    """Distinct queries: the evaluation questions, each with a different corpus word added."""
    base = []
    for path in sorted((ROOT / "corpus" / "eval").glob("*.jsonl")):
        base += [json.loads(line)["q"] for line in path.read_text().splitlines() if line.strip()]
    words = sorted(
        {
            w.strip(".,;:()\"'").lower()
            for w in (ROOT / "corpus").rglob("*.md")
            for w in w.read_text().split()
            if w.isalpha() and len(w) > 4
        }
    )
    return [f"{base[i % len(base)]} {words[(i * 37) % len(words)]}" for i in range(count)]


def run_env(tree: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(tree), "KB_SEARCH_RATE_LIMIT": ""}


def kb_command(tree: Path, *args: str) -> list[str]:
    return [PYTHON, "-c", "from kb_cli.main import main; main()", *args]


def cold_search(tree: Path, data: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        kb_command(tree, "--data-dir", str(data), "search", QUERY, "-k", "5"),
        cwd=tree,
        env=run_env(tree),
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) // 1024


def _get(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
    return time.perf_counter() - start


def server(tree: Path, data: Path, searches: list[str]) -> dict:
    port = _free_port()
    base = f"http://127.0.0.1:{port}/api/search?"
    start = time.perf_counter()
    process = subprocess.Popen(
        kb_command(
            tree,
            "--data-dir",
            str(data),
            "serve",
            "--production",
            "--port",
            str(port),
            "--threads",
            "4",
        ),
        cwd=tree,
        env=run_env(tree),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                _get(base + urllib.parse.urlencode({"q": "ready"}))
                break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError("the server exited") from None
                time.sleep(0.02)
        ready = time.perf_counter() - start
        rss_ready = _rss_mb(process.pid)
        uncached = [_get(base + urllib.parse.urlencode({"q": q})) for q in searches]
        rss_after = _rss_mb(process.pid)
        cached = [_get(base + urllib.parse.urlencode({"q": q})) for q in searches[:200]]
    finally:
        process.terminate()
        process.wait(timeout=30)
    return {
        "ready_s": ready,
        "rss_ready_mb": rss_ready,
        "rss_after_mb": rss_after,
        "http_uncached_p50_ms": statistics.median(uncached) * 1000,
        "http_cached_p50_ms": statistics.median(cached) * 1000,
    }


IN_PROCESS = """
import json, statistics, sys, time
from pathlib import Path
from kb.factory import open_knowledge_base
from kb.settings import Settings
queries = json.loads(sys.argv[2])
kb = open_knowledge_base(Settings(data_dir=Path(sys.argv[1]), corpus_dir=Path("corpus")))
kb.warm_up()
def timed(q):
    start = time.perf_counter(); kb.search(q, k=10); return time.perf_counter() - start
uncached = [timed(q) for q in queries]
cached = [timed(q) for q in queries]
print(json.dumps({"inproc_uncached_p50_ms": statistics.median(uncached) * 1000,
                  "inproc_cached_p50_ms": statistics.median(cached) * 1000,
                  "embed_backend": getattr(kb.embedder, "backend", "sentence-transformers")}))
"""


def in_process(tree: Path, data: Path, searches: list[str]) -> dict:
    out = subprocess.run(
        [PYTHON, "-c", textwrap.dedent(IN_PROCESS), str(data), json.dumps(searches)],
        cwd=tree,
        env=run_env(tree),
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def ingest_rate(tree: Path) -> dict:
    out = subprocess.run(
        [PYTHON, str(tree / "bench" / "ingest.py"), "--cases", "default"],
        cwd=tree,
        env=run_env(tree),
        check=True,
        capture_output=True,
        text=True,
    )
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    case = next(row for row in rows if "passages" in row)
    return {
        "ingest_passages_per_s": case["passages_per_second"],
        "ingest_passages": case["passages"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="git ref of the code before (default: merge base)")
    parser.add_argument("--repeat", type=int, default=5, help="cold `kb search` runs per side")
    parser.add_argument("--servers", type=int, default=2, help="server runs per side")
    parser.add_argument("--searches", type=int, default=1000, help="HTTP searches per server")
    parser.add_argument("--ingests", type=int, default=1, help="ingest runs per side")
    args = parser.parse_args()
    before_ref = (
        args.before
        or subprocess.run(
            ["git", "merge-base", "HEAD", "main"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    results: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}

    def record(side: str, figures: dict) -> None:
        print(json.dumps({"side": side, **figures}), flush=True)
        for key, value in figures.items():
            if isinstance(value, int | float):
                results[side].setdefault(key, []).append(value)

    with tempfile.TemporaryDirectory(prefix="kb-lean-") as tmp:
        before = Path(tmp) / "before"
        before.mkdir()
        archive = subprocess.run(
            ["git", "archive", before_ref], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        trees = {"before": before, "after": ROOT}
        data = Path(tmp) / "data"
        subprocess.run(
            kb_command(ROOT, "--data-dir", str(data), "ingest"),
            cwd=ROOT,
            env=run_env(ROOT),
            check=True,
            capture_output=True,
        )
        print(json.dumps({"before": before_ref, "data": str(data)}), flush=True)
        searches = queries(args.searches)
        for _ in range(args.repeat):
            for side, tree in trees.items():
                record(side, {"cold_search_s": cold_search(tree, data)})
        for _ in range(args.servers):
            for side, tree in trees.items():
                record(side, server(tree, data, searches))
        for side, tree in trees.items():
            record(side, in_process(tree, data, searches[:300]))
        for _ in range(args.ingests):
            for side, tree in trees.items():
                record(side, ingest_rate(tree))

    print("\n| measure | before | after | after / before |\n|---|---|---|---|")
    for key in results["after"]:
        if key not in results["before"]:
            continue
        b, a = statistics.median(results["before"][key]), statistics.median(results["after"][key])
        print(f"| {key} | {b:.3g} | {a:.3g} | {a / b:.2f} |")


if __name__ == "__main__":
    main()
