"""Several `kb serve --production` processes, `kb worker` processes and one store, on
127.0.0.1: what the multi-server test (tests/test_multiserver.py) and bench
(bench/multiserver.py) both start.

With a PostgreSQL address each server has its own empty data folder (no shared disk: the
documents, the queue and the uploaded originals are all in the database); without one the
processes share one SQLite data folder, as on a single machine.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
KB = [sys.executable, "-c", "from kb_cli.main import main; main()"]
HOST = "127.0.0.1"
USER, PASSWORD = "loadtester", "correct horse battery staple"
STARTUP_SECONDS = 300  # guards against a hang, not speed limits
QUERIES = [
    "savings from back office sharing",
    "what went wrong with Southwest One in Somerset",
    "Tayside Contracts joint committee",
    "what did the Christie Commission say about prevention",
    "Clyde Valley shared services review",
    "staff morale and redundancies",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def make_pdf(path: Path, pages: int, phrase: str, title: str = "Load test report") -> None:
    """A PDF of `pages` pages of varied council prose in chapters of 20 pages, with `phrase`
    once, half way through (bench/load.py and the multi-server bench)."""
    import random

    from fpdf import FPDF

    rng = random.Random(3)
    words = (
        "council shared service payroll finance procurement staff savings review board "
        "partnership transfer cost budget audit contract delivery local authority"
    ).split()
    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_font("Helvetica", size=10)
    for page in range(pages):
        pdf.add_page()
        if page % 20 == 0:
            pdf.start_section(f"Chapter {page // 20 + 1}")
        for paragraph in range(3):
            sentences = [
                " ".join(rng.choice(words) for _ in range(rng.randint(8, 16))).capitalize() + "."
                for _ in range(4)
            ]
            if page == pages // 2 and paragraph == 1:
                sentences.insert(1, f"The {phrase} met on page {page + 1}.")
            pdf.multi_cell(0, 5, " ".join(sentences), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    pdf.output(str(path))


@dataclass
class Process:
    proc: subprocess.Popen
    log: Path
    port: int = 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Cluster:
    """The processes of one deployment.

    Args:
        root: a folder for data folders and logs.
        database_url: a PostgreSQL database (each server then gets its own data folder), or
            None for one shared SQLite data folder.
        embedder: "hashing" (tests) or "minilm".
        lease_seconds: the workers' job lease (KB_JOB_LEASE_SECONDS).
    """

    root: Path
    database_url: str | None = None
    embedder: str = "hashing"
    lease_seconds: float = 3.0
    servers: list[Process] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)

    def data_dir(self, name: str) -> Path:
        return self.root / (name if self.database_url else "data")

    def env(self, name: str, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "KB_DATA_DIR": str(self.data_dir(name)),
            "KB_EMBEDDER": self.embedder,
            "KB_OCR": "off",
            # Every client here is 127.0.0.1: a per-address limit would refuse the load.
            "KB_SEARCH_RATE_LIMIT": "off",
            "KB_UPLOADS": "queue",
            "KB_ORIGINALS": "database" if self.database_url else "folder",
            "KB_JOB_LEASE_SECONDS": str(self.lease_seconds),
            "KB_SESSION_COOKIE_SECURE": "false",  # plain HTTP on 127.0.0.1
            **extra,
        }
        if self.database_url:
            env["KB_DATABASE_URL"] = self.database_url
        else:
            env.pop("KB_DATABASE_URL", None)
        return env

    def kb(self, *args: str, name: str = "setup", stdin: str | None = None) -> str:
        """Run a `kb` command to its end; its output (raises with it on failure)."""
        done = subprocess.run(
            [*KB, *args],
            env=self.env(name),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=STARTUP_SECONDS,
        )
        if done.returncode != 0:
            raise RuntimeError(f"kb {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def prepare(self) -> None:
        """The default corpus and an account, as an operator would set them up."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.kb("ingest")
        self.kb("user", "add", USER, "--password-stdin", stdin=PASSWORD + "\n")

    def start_servers(self, count: int = 3, threads: int = 8) -> None:
        for number in range(count):
            port = free_port()
            log = self.root / f"server{number + 1}.log"
            proc = subprocess.Popen(
                [*KB, "serve", "--production", "--port", str(port), "--threads", str(threads)],
                env=self.env(f"server{number + 1}"),
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
            )
            self.servers.append(Process(proc, log, port))
        for server in self.servers:
            wait_healthy(server)

    def start_worker(self, **extra: str) -> Process:
        number = len(self.workers) + 1
        log = self.root / f"worker{number}.log"
        proc = subprocess.Popen(
            [*KB, "worker", "--poll", "0.2"],
            env=self.env(f"worker{number}", **extra),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        worker = Process(proc, log)
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        for process in [*self.workers, *self.servers]:
            process.stop()

    @property
    def ports(self) -> list[int]:
        return [server.port for server in self.servers]


def wait_healthy(server: Process) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited: {server.log.read_text()[-3000:]}")
        try:
            if requests.get(f"http://{HOST}:{server.port}/api/health", timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server on port {server.port} not ready: {server.log.read_text()[-3000:]}")


class Researcher:
    """A logged-in browser session on one server."""

    def __init__(self, port: int) -> None:
        self.base = f"http://{HOST}:{port}"
        self.session = requests.Session()
        self.session.post(
            f"{self.base}/login",
            data={"name": USER, "password": PASSWORD, "csrf_token": self._csrf("/login")},
            allow_redirects=False,
            timeout=60,
        ).raise_for_status()

    def _csrf(self, path: str) -> str:
        page = self.session.get(self.base + path, timeout=60).text
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def upload(self, path: Path, **meta: str) -> str:
        """Upload a file through the form; the job's id."""
        with path.open("rb") as handle:
            response = self.session.post(
                f"{self.base}/admin/upload",
                data={"csrf_token": self._csrf("/admin/upload"), **meta},
                files={"file": (path.name, handle, "application/pdf")},
                allow_redirects=False,
                timeout=300,
            )
        if response.status_code != 303:
            raise RuntimeError(f"upload answered {response.status_code}: {response.text[:500]}")
        return response.headers["Location"].rsplit("/", 1)[-1]

    def job(self, job_id: str) -> dict:
        return self.session.get(f"{self.base}/admin/jobs/{job_id}", timeout=60).json()


def first_hit(port: int, query: str) -> str | None:
    """The document id of the first result of a search on one server (None: no result)."""
    url = f"http://{HOST}:{port}/api/search?" + urllib.parse.urlencode({"q": query, "k": 3})
    response = requests.get(url, timeout=60)
    results = response.json().get("results", []) if response.status_code == 200 else []
    return results[0]["document"]["id"] if results else None


def health(port: int) -> dict:
    return requests.get(f"http://{HOST}:{port}/api/health", timeout=60).json()


def documents(port: int) -> dict[str, int]:
    """Every document's id and passage count, as one server sees them."""
    body = requests.get(f"http://{HOST}:{port}/api/documents", timeout=60).json()
    return {d["id"]: d["passages"] for d in body["documents"]}


class Load:
    """Clients searching the servers round robin, each on its own keep-alive connection; every
    answer is recorded as (seconds since the start, status, kind) for the phases to judge."""

    def __init__(self, ports: list[int], clients: int) -> None:
        self.ports = ports
        self.clients = clients
        self.lock = threading.Lock()
        # (sent, answered: seconds since the start, status, kind, port)
        self.answers: list[tuple[float, float, int, str, int]] = []
        self.latencies: list[float] = []
        self.stop = threading.Event()
        self.started = 0.0
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self.started = time.monotonic()
        self._threads = [
            threading.Thread(target=self._client, args=(i,), daemon=True)
            for i in range(self.clients)
        ]
        for thread in self._threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(120)

    def now(self) -> float:
        return time.monotonic() - self.started

    def _client(self, number: int) -> None:
        port = self.ports[number % len(self.ports)]
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        count = 0
        while not self.stop.is_set():
            query = QUERIES[(number + count) % len(QUERIES)] + f" {count % 50}"
            count += 1
            path = "/api/search?" + urllib.parse.urlencode({"q": query, "k": 10})
            began = time.perf_counter()
            sent = self.now()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                status, body = response.status, response.read()
            except (OSError, http.client.HTTPException) as exc:
                self._record(sent, port, 0, f"{type(exc).__name__}", None)
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=60)
                time.sleep(0.05)
                continue
            kind = "search"
            try:
                data = json.loads(body)
            except ValueError:
                kind = "not JSON"
            else:
                if status == 503:
                    kind = "unavailable" if _one_sentence(data.get("error", "")) else "bad 503"
                elif status != 200 or "results" not in data:
                    kind = f"HTTP {status}"
            latency = time.perf_counter() - began if kind == "search" else None
            self._record(sent, port, status, kind, latency)
            if status == 503:
                time.sleep(0.05)  # as a client honouring Retry-After would, a little
        conn.close()

    def _record(
        self, sent: float, port: int, status: int, kind: str, latency: float | None
    ) -> None:
        with self.lock:
            self.answers.append((sent, self.now(), status, kind, port))
            if latency is not None:
                self.latencies.append(latency)

    def kinds(
        self, start: float = 0.0, end: float = float("inf"), port: int | None = None
    ) -> dict[str, int]:
        """Answers by kind to the requests sent between two moments (seconds since the
        start), of one server or all."""
        counts: dict[str, int] = {}
        with self.lock:
            for sent, _answered, _status, kind, answered_by in self.answers:
                if start <= sent < end and port in (None, answered_by):
                    counts[kind] = counts.get(kind, 0) + 1
        return counts

    def first(self, kind: str, port: int, sent_from: float) -> float | None:
        """When the first answer of a kind came from a server to a request sent from a moment
        on (seconds since the start), or None."""
        with self.lock:
            times = [
                answered
                for sent, answered, _status, k, by in self.answers
                if k == kind and by == port and sent >= sent_from
            ]
        return min(times) if times else None

    def unavailable_outside(self, down_from: float, back_at: float) -> int:
        """503 answers that no outage explains: answered before the database went down, or to
        a request sent after every server was back."""
        with self.lock:
            return sum(
                1
                for sent, answered, _status, kind, _by in self.answers
                if kind == "unavailable" and (answered < down_from or sent >= back_at)
            )

    def summary(self) -> dict:
        ms = sorted(x * 1000 for x in self.latencies)
        seconds = self.now()
        return {
            "clients": self.clients,
            "seconds": round(seconds, 1),
            "answers": self.kinds(),
            "searches_per_second": round(len(ms) / seconds, 1) if seconds else None,
            "median_ms": round(statistics.median(ms), 1) if ms else None,
            "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 1) if ms else None,
        }


def _one_sentence(text: str) -> bool:
    return bool(text) and text.count(". ") == 0 and text.endswith(".")


def fresh_database(server_url: str) -> str:
    """A new empty database on a PostgreSQL server (tests and benches get one each)."""
    import secrets

    import psycopg

    name = f"kb_cluster_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return urllib.parse.urlunsplit(urllib.parse.urlsplit(server_url)._replace(path=f"/{name}"))


class ThrowawayPostgres:
    """Stopping and starting the scripts/pg-throwaway cluster in `folder` (PG_THROWAWAY_DIR):
    the database restarted under load. Stopped as a crash stops it (immediate), started again
    with the options it was started with (its postmaster.opts)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.data = self.folder / "data"
        opts = shlex.split((self.data / "postmaster.opts").read_text())
        self.bin = Path(opts[0]).parent
        # The server's own options, less the data folder (pg_ctl gives it).
        rest, skip = [], False
        for option in opts[1:]:
            if skip:
                skip = False
            elif option == "-D":
                skip = True
            else:
                rest.append(option)
        self.options = " ".join(shlex.quote(option) for option in rest)

    def _pg_ctl(self, *args: str) -> None:
        command = [str(self.bin / "pg_ctl"), "-D", str(self.data), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=STARTUP_SECONDS)

    def stop(self) -> None:
        self._pg_ctl("-m", "immediate", "-w", "stop")

    def start(self) -> None:
        log = self.folder / "server.log"
        self._pg_ctl("-l", str(log), "-w", "-t", "60", "-o", self.options, "start")


def restart_under(load: Load, postgres: ThrowawayPostgres, down_seconds: float = 5.0) -> dict:
    """Stop PostgreSQL under the load, keep it down until every server has answered 503 (and
    at least `down_seconds`), start it again, and wait until every server answers searches
    again; returns when each of these happened (seconds since the load started)."""
    ports = load.ports
    stopped_at = load.now()
    postgres.stop()
    _wait(
        lambda: all(load.first("unavailable", p, stopped_at) for p in ports),
        "a 503 from every server while the database is down",
    )
    first_503 = {p: round(load.first("unavailable", p, stopped_at) - stopped_at, 2) for p in ports}
    remaining = down_seconds - (load.now() - stopped_at)
    if remaining > 0:
        time.sleep(remaining)
    started_at = load.now()
    postgres.start()
    up_at = load.now()
    _wait(
        lambda: all(load.first("search", p, up_at) for p in ports),
        "every server answering searches again",
    )
    recovered = {p: round(load.first("search", p, up_at) - up_at, 2) for p in ports}
    back_at = load.now()
    return {
        "stopped_at": round(stopped_at, 2),
        "first_503_after_stop": first_503,
        "down_seconds": round(started_at - stopped_at, 2),
        "start_seconds": round(up_at - started_at, 2),
        "first_search_after_start": recovered,
        "back_at": round(back_at, 2),
        "during": load.kinds(stopped_at, back_at),
    }


def _wait(condition, what: str, guard: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + guard  # a guard against a hang, never a speed limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {guard} s")
        time.sleep(0.05)
