"""What the security checks cost per request: the shared search limit and the login throttle.

Run by hand (not in CI): `.venv/bin/python bench/security.py [--repeat 2000]`.

In a temporary store (SQLite, WAL, as `kb serve` uses it), times one call of each, single
threaded, and reports the median and p99 in microseconds:

- `TokenBuckets.hit` (the search limit: one write transaction per searching request), over 50
  client addresses;
- `LoginThrottle.attempt` followed by `succeeded` (a login: two write transactions);
- `Sessions.find` (the session check on every logged-in request: one indexed read);
- for scale, an in-process hybrid search over the small test corpus with the fake embedder
  (`KnowledgeBase.search`, k=10): the cheapest search there is, without the model.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import build_corpus  # noqa: E402

from kb.embedder import HashingEmbedder  # noqa: E402
from kb.ratelimit import Rate  # noqa: E402
from kb.ratelimit import TokenBuckets  # noqa: E402
from kb.search import KnowledgeBase  # noqa: E402
from kb.sessions import Sessions  # noqa: E402
from kb.store import SqliteStore  # noqa: E402
from kb.users import LoginThrottle  # noqa: E402
from kb.users import Users  # noqa: E402


def timed(call, repeat: int) -> dict:
    samples = []
    for number in range(repeat):
        started = time.perf_counter()
        call(number)
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    return {
        "median_us": round(statistics.median(samples), 1),
        "p99_us": round(samples[int(len(samples) * 0.99) - 1], 1),
        "calls": repeat,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "kb.sqlite3")
        embedder = HashingEmbedder()
        build_corpus(store, embedder)
        kb = KnowledgeBase(store, embedder, Path(folder) / "index.faiss")
        buckets = TokenBuckets(store, Rate(10**9, 60))
        throttle = LoginThrottle(store, 10**9, 900)
        user = Users(store, hash_method="pbkdf2:sha256:1000").add("ada", "x" * 12)
        sessions = Sessions(store)
        token = sessions.start(user.id, 3600)

        def login(number: int) -> None:
            throttle.succeeded(throttle.attempt(f"192.0.2.{number % 50}", "ada"))

        kb.search("warm up")
        results = {
            "search_limit_hit": timed(lambda n: buckets.hit(f"192.0.2.{n % 50}"), args.repeat),
            "login_attempt_and_success": timed(login, args.repeat),
            "session_find": timed(lambda n: sessions.find(token), args.repeat),
            "hybrid_search_fake_embedder": timed(
                lambda n: kb.search("savings back office"), args.repeat
            ),
        }
        store.close()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
