"""Load: several production server processes over one data folder, 64 clients, then an ingest.

Run by hand (not in CI), on 127.0.0.1 only:

    nice -n 19 .venv/bin/python bench/load.py [--data-dir DIR] [--servers 2] [--clients 64]
        [--seconds 60] [--pages 200] [--out FILE.json]

1. Copies the data folder (default ./data, built with the real model; SQLite's backup API, so a
   folder in use is copied consistently) into a temporary folder, and starts --servers processes
   of `kb serve --production --threads 8` on free ports of 127.0.0.1, all over that one folder.
   The per-client rate limit of /api/search is turned off (KB_SEARCH_RATE_LIMIT=off): every
   client here has the address 127.0.0.1, so the limit would answer nearly everything with 429.
2. "steady": --clients threads, each with its own keep-alive connection to one server (client i
   talks to server i mod n, so the load is spread round-robin), search /api/search with varied
   queries (the evaluation questions, and fresh variations of them that miss the query-vector
   cache) for --seconds, at most
   MAX_REQUESTS requests. Any answer but 200 with JSON, and any connection error, is an error.
3. "ingesting": the same load while another process runs `kb ingest` on a generated PDF of
   --pages pages into the same folder; the phase lasts --seconds or until the ingest finishes,
   whichever is later (at most MAX_INGEST_SECONDS).
4. Afterwards, a phrase printed only in the new PDF is searched on every server process (no
   restart): each must return the new document first.

Prints a JSON report (requests per second, median and p99 latency, errors by kind, per phase;
the ingest's time; each server's peak memory) and exits 1 if there was any error or a server
did not find the new document.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from http_load import free_port  # bench/ is this script's folder
from http_load import get
from http_load import peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
KB = [sys.executable, "-c", "from kb_cli.main import main; main()"]
HOST = "127.0.0.1"
MAX_REQUESTS = 500_000
MAX_INGEST_SECONDS = 1800
STARTUP_SECONDS = 300
QUERY_FILES = [
    Path("/work/shared/eval/dev-queries.jsonl"),
    *(ROOT / "corpus" / "eval").glob("*.jsonl"),
]
FALLBACK_QUERIES = [
    "savings from back office sharing",
    "what went wrong with Southwest One in Somerset",
    "Tayside Contracts joint committee",
    "what did the Christie Commission say about prevention",
    "Clyde Valley shared services review",
]
EXTRA = ["council", "evidence", "savings", "Scotland", "staff", "costs", "report", "2011"]
PREFIXES = ["what about ", "evidence on ", "why ", ""]
# Printed only in the generated PDF: found afterwards on every server, or the run fails.
PHRASE = "quillwort marmalade consortium"


def queries(count: int = 20_000, seed: int = 11) -> list[str]:
    """The evaluation questions (three in ten requests: popular searches repeat) and fresh
    variations of them (a word added, a prefix, cut short), so most searches miss the
    per-process query-vector cache and are embedded by the model, as real traffic would be."""
    base: dict[str, None] = {}
    for path in QUERY_FILES:
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    base.setdefault(json.loads(line)["q"].strip())
    questions = list(base) or FALLBACK_QUERIES
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        query = rng.choice(questions)
        if rng.random() >= 0.3:
            words = query.split()
            words = words[: rng.randint(max(2, len(words) // 2), len(words))]
            words += rng.sample(EXTRA, rng.randint(1, 2))
            query = rng.choice(PREFIXES) + " ".join(words)
        out.append(query)
    return out


def copy_data(source: Path, target: Path) -> None:
    """The store through SQLite's backup API (consistent even while in use), then the rest."""
    target.mkdir(parents=True)
    src = sqlite3.connect(source / "kb.sqlite3")
    dst = sqlite3.connect(target / "kb.sqlite3")
    src.backup(dst)
    src.close()
    dst.close()
    if (source / "files").is_dir():
        shutil.copytree(source / "files", target / "files")


def make_pdf(path: Path, pages: int) -> None:
    from cluster import make_pdf as make_phrase_pdf  # bench/ is this script's folder

    make_phrase_pdf(path, pages, PHRASE)


def wait_healthy(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            status, body = get(conn, "/api/health")
            conn.close()
            if status == 200:
                return
            raise RuntimeError(f"/api/health on port {port} answered {status}: {body[:200]!r}")
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the server on port {port} was not ready in {STARTUP_SECONDS} s")


class Load:
    """Clients over a shared query list, a shared request cap and a stop flag."""

    def __init__(self, ports: list[int], queries: list[str]) -> None:
        self.ports = ports
        self.queries = queries
        self.lock = threading.Lock()
        self.issued = 0
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.stop = threading.Event()

    def _take(self) -> str | None:
        with self.lock:
            if self.stop.is_set() or self.issued >= MAX_REQUESTS:
                return None
            self.issued += 1
            return self.queries[self.issued % len(self.queries)]

    def _error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def client(self, number: int) -> None:
        port = self.ports[number % len(self.ports)]
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        while (query := self._take()) is not None:
            path = "/api/search?" + urllib.parse.urlencode({"q": query, "k": 10})
            started = time.perf_counter()
            try:
                status, body = get(conn, path)
            except (OSError, http.client.HTTPException) as exc:
                self._error(f"{type(exc).__name__} on port {port}")
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=60)
                continue
            elapsed = time.perf_counter() - started
            if status != 200:
                self._error(f"HTTP {status}")
                continue
            try:
                is_search = "results" in json.loads(body)
            except ValueError:
                is_search = False
            if not is_search:
                self._error("not the JSON of a search")
                continue
            with self.lock:
                self.latencies.append(elapsed)
        conn.close()

    def run(self, clients: int, until) -> dict:
        threads = [threading.Thread(target=self.client, args=(i,)) for i in range(clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        while not until(time.monotonic() - started):
            time.sleep(0.2)
        self.stop.set()
        for thread in threads:
            thread.join()
        return self.summary(time.monotonic() - started)

    def summary(self, seconds: float) -> dict:
        ms = sorted(x * 1000 for x in self.latencies)
        p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))] if ms else None
        return {
            "seconds": round(seconds, 1),
            "requests": len(ms) + sum(self.errors.values()),
            "ok": len(ms),
            "errors": sum(self.errors.values()),
            "errors_by_kind": self.errors,
            "requests_per_second": round(len(ms) / seconds, 1),
            "median_ms": round(statistics.median(ms), 1) if ms else None,
            "p99_ms": round(p99, 1) if p99 is not None else None,
            "max_ms": round(ms[-1], 1) if ms else None,
        }


def passages_of(port: int, document_id: str) -> int | None:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    status, body = get(conn, f"/api/documents/{document_id}")
    conn.close()
    return len(json.loads(body)["passages"]) if status == 200 else None


def found_on_every_server(ports: list[int], document_id: str) -> dict[int, bool]:
    found = {}
    for port in ports:
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        status, body = get(conn, "/api/search?" + urllib.parse.urlencode({"q": PHRASE, "k": 5}))
        conn.close()
        results = json.loads(body)["results"] if status == 200 else []
        found[port] = bool(results) and results[0]["document"]["id"] == document_id
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not (args.data_dir / "kb.sqlite3").exists():
        sys.exit(f"No store in {args.data_dir}: run `kb ingest` first (with the real model).")

    work = Path(tempfile.mkdtemp(prefix="kb-load-"))
    data = work / "data"
    copy_data(args.data_dir, data)
    env = {**os.environ, "KB_DATA_DIR": str(data), "KB_SEARCH_RATE_LIMIT": "off"}
    env.pop("KB_EMBEDDER", None)  # the real model, as the folder was built with
    ports = [free_port() for _ in range(args.servers)]
    servers = []
    logs = []
    report: dict = {"servers": args.servers, "threads": args.threads, "clients": args.clients}
    report["load_average_before"] = [round(x, 1) for x in os.getloadavg()]
    try:
        for port in ports:
            log = open(work / f"server-{port}.log", "w")  # closed in `finally`
            logs.append(log)
            command = [*KB, "serve", "--production", "--host", HOST, "--port", str(port)]
            servers.append(
                subprocess.Popen(
                    [*command, "--threads", str(args.threads)],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        for port, proc in zip(ports, servers, strict=True):
            wait_healthy(port, proc)
        query_list = queries()
        report["queries"] = {"listed": len(query_list), "distinct": len(set(query_list))}
        print(f"{len(servers)} servers ready on {ports}; steady load ...", file=sys.stderr)
        report["steady"] = Load(ports, query_list).run(args.clients, lambda t: t >= args.seconds)

        pdf = work / "load-test-report.pdf"
        make_pdf(pdf, args.pages)
        print(f"load while ingesting {pdf.name} ({args.pages} pages) ...", file=sys.stderr)
        ingest_log = open(work / "ingest.log", "w")  # closed in `finally`
        logs.append(ingest_log)
        started = time.monotonic()
        ingest = subprocess.Popen(
            [*KB, "ingest", str(pdf)], cwd=ROOT, env=env, stdout=ingest_log, stderr=ingest_log
        )
        finished: list[float] = []

        def until(elapsed: float) -> bool:
            if ingest.poll() is not None and not finished:
                finished.append(time.monotonic() - started)
            return bool(finished) and elapsed >= args.seconds or elapsed >= MAX_INGEST_SECONDS

        report["ingesting"] = Load(ports, query_list).run(args.clients, until)
        if ingest.poll() is None:
            ingest.kill()
        ingest.wait()
        report["ingest"] = {
            "pages": args.pages,
            "exit_code": ingest.returncode,
            "seconds": round(finished[0], 1) if finished else None,
            "passages": passages_of(ports[0], "load-test-report"),
        }
        found = found_on_every_server(ports, "load-test-report")
        report["new_document_found"] = {str(port): ok for port, ok in found.items()}
        report["server_peak_rss_mb"] = [peak_rss_mb(proc.pid) for proc in servers]
        report["load_average_after"] = [round(x, 1) for x in os.getloadavg()]
    finally:
        for proc in servers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in servers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for log in logs:
            log.close()
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    failed = (
        report["steady"]["errors"]
        or report["ingesting"]["errors"]
        or report["ingest"]["exit_code"] != 0
        or not all(report["new_document_found"].values())
    )
    if not failed:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"Logs kept in {work}.", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
