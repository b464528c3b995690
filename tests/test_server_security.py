"""Issue 12's findings, tried against a real `kb serve --production` (waitress) as an attacker
would: simultaneous logins, oversized and slow request bodies, saved cookies, forged Host
headers and the search limit on every searching route.

The server runs over the small test corpus with one account made by `kb user add` (so its
password hash is the real, slow scrypt one). Each test starts its own server when it needs its
own settings; the rest share one.
"""

from __future__ import annotations

import re
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from browser_support import kb_command
from browser_support import running_server
from conftest import build_corpus

from kb.embedder import HashingEmbedder
from kb.store import Store

pytestmark = pytest.mark.server

ACCOUNT = "ada"
PASSWORD = "correct horse battery staple"


def make_data(data_dir: Path) -> Path:
    """The small test corpus and one account (real scrypt hash) in data_dir."""
    store = Store(data_dir / "kb.sqlite3")
    build_corpus(store, HashingEmbedder())
    store.close()
    add_account(data_dir)
    return data_dir


def add_account(data_dir: Path, name: str = ACCOUNT) -> None:
    command = [*kb_command(), "--data-dir", str(data_dir), "user", "add", name, "--password-stdin"]
    done = subprocess.run(command, input=PASSWORD + "\n", capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def remove_account(data_dir: Path, name: str = ACCOUNT) -> None:
    command = [*kb_command(), "--data-dir", str(data_dir), "user", "remove", name]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def csrf_token(session: requests.Session, url: str) -> str:
    html = session.get(url, timeout=30).text
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, f"no CSRF field on {url}"
    return match.group(1)


def log_in(base: str, password: str = PASSWORD) -> requests.Session:
    session = requests.Session()
    token = csrf_token(session, base + "/login")
    data = {"name": ACCOUNT, "password": password, "csrf_token": token}
    response = session.post(base + "/login", data=data, allow_redirects=False, timeout=30)
    assert response.status_code == 303, response.text[:300]
    return session


def serve(data_dir: Path, **env: str):
    """running_server with cookies a plain-HTTP client sends back (Secure off)."""
    return running_server(data_dir, env={"KB_SESSION_COOKIE_SECURE": "0", **env})


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return make_data(tmp_path_factory.mktemp("server-security") / "data")


# -- finding 1: the login limit holds for simultaneous requests -------------------------------


def test_simultaneous_wrong_logins_check_at_most_the_limit(tmp_path):
    """20 wrong passwords at once for one account: at most 5 are checked (401), the rest are
    refused (429). Before the fix 11 were checked."""
    data = make_data(tmp_path / "data")
    with serve(data) as base:
        sessions = []
        for _ in range(20):
            session = requests.Session()
            sessions.append((session, csrf_token(session, base + "/login")))
        barrier = threading.Barrier(len(sessions))

        def one_login(pair) -> int:
            session, token = pair
            data = {"name": ACCOUNT, "password": "wrong password!", "csrf_token": token}
            barrier.wait()
            response = session.post(base + "/login", data=data, allow_redirects=False, timeout=60)
            return response.status_code

        with ThreadPoolExecutor(len(sessions)) as pool:
            statuses = list(pool.map(one_login, sessions))
    assert statuses.count(401) <= 5, statuses
    assert statuses.count(401) + statuses.count(429) == 20, statuses
