"""The multi-server bench (issue 14): three `kb serve --production` processes, `kb worker`
processes and one store, 64 clients searching all three for a minute while a 200-page PDF is
uploaded through server 1 and its first worker is killed with SIGKILL mid-document; with
PostgreSQL also the database stopped and started again under the load.

    nice -n 19 .venv/bin/python bench/multiserver.py [--database-url postgresql://...]
        [--embedder hashing|minilm] [--out FILE.json]

Without --database-url the processes share one SQLite data folder. Prints a JSON report: how
many seconds after the job finished servers 2 and 3 found the new document, the answers by
kind (search, unavailable = a 503 with one sentence, anything else is an error), searches per
second and latencies, and the database outage as the servers saw it. The same scenario is the
test tests/test_multiserver.py, which asserts only what cannot flake. Figures: docs/scaling.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from cluster import Cluster
from cluster import Load
from cluster import Researcher
from cluster import ThrowawayPostgres
from cluster import documents
from cluster import first_hit
from cluster import fresh_database
from cluster import health
from cluster import make_pdf
from cluster import restart_under

PHRASE = "quillwort marmalade consortium"
META = {"title": "Two hundred pages", "publisher": "Test Unit", "year": "2025", "kind": "report"}
LOAD_SECONDS = 60  # the duration of the load
PAUSE_AFTER = 40  # passages written before the first worker stops inside the transaction
GUARD_SECONDS = 300  # a guard against a hang, never a speed limit


def wait_until(condition, what: str, guard: float = GUARD_SECONDS, every: float = 0.1):
    deadline = time.monotonic() + guard
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what} did not happen within {guard} s")


def run_scenario(cluster: Cluster, tmp_path: Path, restart_database=None) -> dict:
    """The scenario; returns what it saw, for the assertions and the bench."""
    cluster.prepare()
    cluster.start_servers(3)
    first = cluster.start_worker(KB_TEST_PAUSE_AFTER_PASSAGES=str(PAUSE_AFTER))
    pdf = tmp_path / "two-hundred-pages.pdf"
    make_pdf(pdf, 200, PHRASE)
    load = Load(cluster.ports, clients=64)
    load.start()
    seen: dict = {}
    try:
        researcher = Researcher(cluster.ports[0])
        job_id = researcher.upload(pdf, **META)

        # The first worker stops inside the document's transaction; it is killed there.
        marker = cluster.data_dir("worker1") / "paused"
        paused = wait_until(lambda: marker.exists() and json.loads(marker.read_text()), "pause")
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
        seen["paused"] = paused
        seen["after_kill"] = {port: documents(port) for port in cluster.ports}
        seen["job_after_kill"] = researcher.job(job_id)

        # A worker started afterwards takes the job again once the dead one's lease is out.
        cluster.start_worker()
        job = wait_until(lambda: (j := researcher.job(job_id))["finished"] and j, "the job")
        seen["job"] = job
        # Seconds from the job's finish (as the worker recorded it) to the first answer of each
        # of servers 2 and 3 that has the new document first; both are asked in turn, each
        # answer timed when it arrives (a search under this load takes most of a second).
        finished = datetime.fromisoformat(job["updated_at"]).timestamp()
        found: dict[int, float] = {}

        def all_found() -> bool:
            for port in cluster.ports[1:]:
                if port not in found and first_hit(port, PHRASE) == job["document_id"]:
                    found[port] = round(time.time() - finished, 2)
            return len(found) == len(cluster.ports) - 1

        wait_until(all_found, "the document found through servers 2 and 3", every=0.05)
        seen["found_after"] = found
        # When each of servers 2 and 3 loaded the index holding it, by its own clock (no
        # request's latency in it); negative: before the worker recorded the job finished.
        wanted = health(cluster.ports[0])["generation"]
        seen["index_loaded_after"] = {}
        for port in cluster.ports[1:]:
            state = wait_until(
                lambda p=port: (h := health(p))["index_generation"] >= wanted and h, "reload"
            )
            loaded = datetime.fromisoformat(state["index_loaded_at"]).timestamp()
            seen["index_loaded_after"][port] = round(loaded - finished, 2)
        seen["passages"] = {port: documents(port)[job["document_id"]] for port in cluster.ports}

        if restart_database is not None:
            seen["database"] = restart_database(load)
        remaining = LOAD_SECONDS - load.now()
        if remaining > 0:
            time.sleep(remaining)
    finally:
        load.finish()
        cluster.stop()
    seen["load"] = load.summary()
    seen["answers"] = load.kinds()
    if "database" in seen:
        down = seen["database"]
        down["unexplained_503"] = load.unavailable_outside(down["stopped_at"], down["back_at"])
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("KB_TEST_DATABASE_URL"),
        help="a PostgreSQL server (a fresh database is made on it); default: "
        "KB_TEST_DATABASE_URL, else one shared SQLite folder",
    )
    parser.add_argument("--embedder", default="hashing", choices=["hashing", "minilm"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kb-multiserver-") as folder:
        restart = None
        url = fresh_database(args.database_url) if args.database_url else None
        if url and os.environ.get("PG_THROWAWAY_DIR"):
            postgres = ThrowawayPostgres(Path(os.environ["PG_THROWAWAY_DIR"]))
            restart = lambda load: restart_under(load, postgres)  # noqa: E731
        cluster = Cluster(Path(folder) / "cluster", url, args.embedder)
        seen = run_scenario(cluster, Path(folder), restart_database=restart)
    report = {
        "store": "postgresql" if args.database_url else "sqlite (one shared folder)",
        "embedder": args.embedder,
        "found_seconds_after_job_finished": seen["found_after"],
        "index_loaded_seconds_after_job_finished": seen["index_loaded_after"],
        "passages": seen["job"]["passages"],
        "attempts": seen["job"]["attempts"],
        "killed_after_passages": seen["paused"]["written"],
        "load": seen["load"],
        "database": seen.get("database"),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    errors = {k: n for k, n in seen["answers"].items() if k not in ("search", "unavailable")}
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
