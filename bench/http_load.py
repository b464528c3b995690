"""Throughput and latency of /api/search through the production server, under concurrent load.

Run by hand (not in CI): `.venv/bin/python bench/http_load.py [--data-dir DIR] [--clients 16]`.
(Not named http.py: a bench/http.py would shadow the standard library's `http` package for
every script run from bench/, breaking anything that imports urllib.request or requests.)

Starts `kb --data-dir DIR serve --production` (waitress) on a free port of 127.0.0.1 as a
subprocess, waits for /api/health, then runs concurrent clients (threads, one keep-alive
connection each) against /api/search for a fixed time or a fixed number of requests, whichever
comes first, and stops the server. Prints one JSON line: requests per second, median and p99
latency as the clients saw it, the server's own `took_ms` (search time without queueing), errors
by kind, and the server's peak memory.

Queries are the "q" values of /work/shared/eval/dev-queries.jsonl and corpus/eval/*.jsonl, each
also with one of eight words added and with one of three prefixes (about 950 distinct texts),
shuffled; each client takes the next one from a shared list, so the query-embedding cache
(kb.embedder.QueryCache, 2,048 entries) misses on a query's first use and hits on any repeat.
Latency is also reported separately for first uses and repeats.

The per-client rate limit of /api/search (SEARCH_RATE_LIMIT, "60/minute" by default) would turn
nearly all of these requests into 429s, since every client is 127.0.0.1: the server is started
with KB_SEARCH_RATE_LIMIT=off in its environment (kb/settings.py ENVIRONMENT).

Without --data-dir, the default corpus is first ingested with the real model into a temporary
folder (`kb ingest`), which takes a few minutes and is not timed.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KB = Path(sys.executable).parent / "kb"
HOST = "127.0.0.1"
QUERY_FILES = [
    Path("/work/shared/eval/dev-queries.jsonl"),
    *sorted((ROOT / "corpus" / "eval").glob("*.jsonl")),
]
EXTRA_WORDS = ["council", "evidence", "savings", "scotland", "staff", "costs", "report", "2011"]
PREFIXES = ["what about ", "evidence on ", "why "]


def base_queries() -> list[str]:
    queries: dict[str, None] = {}
    for path in QUERY_FILES:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            if line.strip():
                queries.setdefault(json.loads(line)["q"].strip())
    return list(queries)


def query_list(seed: int = 5) -> list[str]:
    """The base queries, each also with every extra word added and every prefix, shuffled:
    about 12 distinct texts per base query, so a 30 s run sees a mix of first uses and
    repeats."""
    queries: dict[str, None] = {}
    for q in base_queries():
        queries.setdefault(q)
        for word in EXTRA_WORDS:
            queries.setdefault(f"{q} {word}")
        for prefix in PREFIXES:
            queries.setdefault(f"{prefix}{q}")
    out = list(queries)
    random.Random(seed).shuffle(out)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()


def wait_healthy(port: int, server: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            status, body = get(conn, "/api/health")
            conn.close()
            if status == 200:
                return json.loads(body)
            raise RuntimeError(f"/api/health answered {status}: {body[:200]!r}")
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the server did not answer /api/health within {timeout:g} s")


def peak_rss_mb(pid: int) -> int | None:
    """The process's peak resident memory (VmHWM), while it still runs."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return None


class Load:
    """Clients sharing one list of queries, a deadline and a request cap."""

    def __init__(self, port: int, queries: list[str], duration: float, cap: int) -> None:
        self.port = port
        self._queries = itertools.cycle(queries)
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._issued = 0
        self.cap = cap
        self.deadline = 0.0
        self.duration = duration
        # (latency ms, first use of the query?, server took_ms) of each successful request
        self.ok: list[tuple[float, bool, float]] = []
        self.errors: dict[str, int] = {}

    def _next(self) -> tuple[str, bool] | None:
        with self._lock:
            if self._issued >= self.cap or time.monotonic() >= self.deadline:
                return None
            self._issued += 1
            query = next(self._queries)
            first = query not in self._seen
            self._seen.add(query)
            return query, first

    def _error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def client(self) -> None:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        while (job := self._next()) is not None:
            query, first = job
            path = "/api/search?" + urllib.parse.urlencode({"q": query})
            t0 = time.perf_counter()
            try:
                status, body = get(conn, path)
            except (OSError, http.client.HTTPException) as exc:
                self._error(type(exc).__name__)
                conn.close()
                conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
                continue
            ms = (time.perf_counter() - t0) * 1000
            if status != 200:
                self._error(f"HTTP {status}")
                continue
            try:
                took = float(json.loads(body)["took_ms"])
            except (ValueError, KeyError):
                self._error("bad JSON")
                continue
            with self._lock:
                self.ok.append((ms, first, took))
        conn.close()

    def run(self, clients: int) -> float:
        threads = [threading.Thread(target=self.client, daemon=True) for _ in range(clients)]
        started = time.monotonic()
        self.deadline = started + self.duration
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.monotonic() - started


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[int(fraction * (len(sorted_values) - 1))] if sorted_values else 0.0


def summary(load: Load, elapsed: float) -> dict:
    all_ms = sorted(ms for ms, _, _ in load.ok)
    first = [ms for ms, is_first, _ in load.ok if is_first]
    repeat = [ms for ms, is_first, _ in load.ok if not is_first]
    took = sorted(t for _, _, t in load.ok)
    errors = sum(load.errors.values())
    return {
        "requests": len(load.ok) + errors,
        "ok": len(load.ok),
        "errors": errors,
        "errors_by_kind": load.errors,
        "seconds": round(elapsed, 1),
        "requests_per_second": round(len(load.ok) / elapsed, 1),
        "median_ms": round(statistics.median(all_ms), 1) if all_ms else None,
        "p90_ms": round(percentile(all_ms, 0.90), 1),
        "p99_ms": round(percentile(all_ms, 0.99), 1),
        "max_ms": round(all_ms[-1], 1) if all_ms else None,
        "first_use": len(first),
        "first_use_median_ms": round(statistics.median(first), 1) if first else None,
        "repeat_median_ms": round(statistics.median(repeat), 1) if repeat else None,
        "server_took_median_ms": round(statistics.median(took), 1) if took else None,
        "server_took_p99_ms": round(percentile(took, 0.99), 1),
    }


def ingest_default_corpus(data_dir: Path) -> None:
    print(f"Ingesting the default corpus into {data_dir} (not timed)...", file=sys.stderr)
    subprocess.run([str(KB), "--data-dir", str(data_dir), "ingest"], cwd=ROOT, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="a data folder with the corpus ingested")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (kb serve's)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--max-requests", type=int, default=10_000)
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kb-bench-http-") as tmp:
        data_dir = args.data_dir
        if data_dir is None:
            data_dir = Path(tmp) / "data"
            ingest_default_corpus(data_dir)
        port = args.port or free_port()
        env = {**os.environ, "KB_SEARCH_RATE_LIMIT": "off"}
        command = [
            str(KB),
            "--data-dir",
            str(data_dir),
            "serve",
            "--production",
            "--host",
            HOST,
            "--port",
            str(port),
            "--threads",
            str(args.threads),
        ]
        log = open(Path(tmp) / "server.log", "w+")
        t0 = time.monotonic()
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            health = wait_healthy(port, server, timeout=180)
            startup_s = time.monotonic() - t0
            queries = query_list()
            load = Load(port, queries, args.duration, args.max_requests)
            elapsed = load.run(args.clients)
            result = {
                "clients": args.clients,
                "server_threads": args.threads,
                "rate_limit": "off (KB_SEARCH_RATE_LIMIT=off)",
                "passages": health.get("passages"),
                "distinct_queries": len(queries),
                "duration_cap_s": args.duration,
                "request_cap": args.max_requests,
                **summary(load, elapsed),
                "server_startup_s": round(startup_s, 1),
                "server_peak_rss_mb": peak_rss_mb(server.pid),
            }
            print(json.dumps(result), flush=True)
        except Exception:
            log.seek(0)
            sys.stderr.write(log.read()[-4000:])
            raise
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log.close()


if __name__ == "__main__":
    main()
