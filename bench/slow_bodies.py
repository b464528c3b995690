"""Slowly sent request bodies against a real `kb serve --production` (waitress).

Run by hand (not in CI): `.venv/bin/python bench/slow_bodies.py [--timeouts 2 5 10]`.

For each KB_BODY_TIMEOUT, starts a server with 2 worker threads over the small test corpus,
opens 20 connections that each promise a 1 MiB upload and send 1 KiB, then (a) times
/api/health while they wait, showing whether they hold worker threads, and (b) times how long
after the last byte the server closes each silent connection.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import requests  # noqa: E402
from test_server_security import make_data  # noqa: E402
from test_server_security import raw_request  # noqa: E402
from test_server_security import read_all  # noqa: E402
from test_server_security import serve  # noqa: E402
from test_server_security import upload_head  # noqa: E402

SLOW_CONNECTIONS = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeouts", type=int, nargs="+", default=[2, 5, 10])
    args = parser.parse_args()
    for timeout in args.timeouts:
        with tempfile.TemporaryDirectory() as folder:
            data = make_data(Path(folder) / "data")
            with serve(data, threads=2, KB_BODY_TIMEOUT=str(timeout)) as base:
                head = upload_head("/admin/upload", 1 << 20)
                slow = [raw_request(base, head, b"x" * 1024) for _ in range(SLOW_CONNECTIONS)]
                started = time.monotonic()
                status = requests.get(base + "/api/health", timeout=30).status_code
                health_ms = (time.monotonic() - started) * 1000
                closed = []
                for sock in slow:
                    read_all(sock)
                    closed.append(time.monotonic() - started)
        print(
            f"KB_BODY_TIMEOUT={timeout}: /api/health {status} in {health_ms:.0f} ms beside "
            f"{SLOW_CONNECTIONS} slow bodies (2 threads); closed after "
            f"{min(closed):.1f}-{max(closed):.1f} s"
        )


if __name__ == "__main__":
    main()
