"""Issue 12's findings, tried against a real `kb serve --production` (waitress) as an attacker
would: simultaneous logins, oversized and slow request bodies, saved cookies, forged Host
headers and the search limit on every searching route.

The server runs over the small test corpus with one account made by `kb user add` (so its
password hash is the real, slow scrypt one). Each test starts its own server when it needs its
own settings; the rest share one.
"""

from __future__ import annotations

import re
import socket
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
from kb.store import SqliteStore

pytestmark = pytest.mark.server

PUBLIC_URL = "https://evidence.example.org"
ACCOUNT = "ada"
PASSWORD = "correct horse battery staple"


def make_data(data_dir: Path) -> Path:
    """The small test corpus and one account (real scrypt hash) in data_dir."""
    store = SqliteStore(data_dir / "kb.sqlite3")
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


def serve(data_dir: Path, threads: int = 8, **env: str):
    """running_server with cookies a plain-HTTP client sends back (Secure off)."""
    env = {"KB_SESSION_COOKIE_SECURE": "0", **env}
    return running_server(data_dir, env=env, extra_args=["--threads", str(threads)])


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
        barrier = threading.Barrier(len(sessions), timeout=120)

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


# -- finding 2: request bodies are bounded before they are read ------------------------------


def raw_request(base: str, head: str, body: bytes = b"", timeout: float = 60) -> socket.socket:
    """A socket to the server that has sent `head` (request line and headers) and `body`."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass  # closed while we still had unread data on the way: what came first counts
    sock.close()
    return b"".join(chunks)


def upload_head(path: str, length: int, cookie: str = "") -> str:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: multipart/form-data; boundary=x",
        f"Content-Length: {length}",
    ]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def server(data_dir):
    env = {"KB_MAX_UPLOAD_BYTES": str(2 << 20), "KB_PUBLIC_URL": PUBLIC_URL}
    with serve(data_dir, **env) as base:
        yield base


@pytest.mark.parametrize(
    ("path", "length", "says"),
    [
        ("/admin/upload", 200 << 20, "larger than the 2 MB limit for one file"),
        ("/admin/documents/report-a/replace", 60 << 20, "larger than the 2 MB limit"),
        ("/login", 200 << 20, "larger than the 1 MB this address accepts"),
        ("/login", 2 << 20, "larger than the 1 MB this address accepts"),
    ],
)
def test_an_oversized_body_is_refused_before_it_is_read(server, path, length, says):
    """Only the headers are sent: the 413 comes without waiting for the body. Before, waitress
    waited for all of it (up to its 1 GiB default) before the app could answer."""
    answer = read_all(raw_request(server, upload_head(path, length))).decode()
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert says in answer and "nothing was read" in answer, answer


def test_a_logged_in_upload_over_the_limit_is_refused_unread(server):
    session = log_in(server)
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    answer = read_all(raw_request(server, upload_head("/admin/upload", 60 << 20, cookie)))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_an_upload_within_the_limit_still_reaches_the_app(server):
    """Under the limit the body is read and the app answers (here: not logged in, 303)."""
    body = b"--x\r\nContent-Disposition: form-data; name=title\r\n\r\nT\r\n--x--\r\n"
    answer = read_all(raw_request(server, upload_head("/admin/upload", len(body)), body))
    assert answer.startswith(b"HTTP/1.1 303"), answer[:200]


def test_a_silent_body_is_cut_off_and_holds_no_worker_thread(tmp_path):
    """A request that promises 1 MB and sends 1 KB is closed after KB_BODY_TIMEOUT seconds of
    silence; while 6 such requests wait, a server with 2 threads still answers."""
    data = make_data(tmp_path / "data")
    with serve(data, threads=2, KB_BODY_TIMEOUT="2") as base:
        slow = [
            raw_request(base, upload_head("/admin/upload", 1 << 20), b"x" * 1024) for _ in range(6)
        ]
        for sock in slow:
            sock.settimeout(60)
        assert requests.get(base + "/api/health", timeout=30).status_code == 200
        for sock in slow:
            assert read_all(sock) == b""  # closed by the server, no answer


def test_a_chunked_body_to_a_form_is_cut_off_at_the_form_allowance(server):
    head = "POST /login HTTP/1.1\nHost: 127.0.0.1\nTransfer-Encoding: chunked\n"
    sock = raw_request(server, head)
    chunk = b"%x\r\n%s\r\n" % (64 << 10, b"x" * (64 << 10))
    try:
        for _ in range(64):  # 4 MiB offered; the answer comes after about 1 MiB
            sock.sendall(chunk)
    except OSError:
        pass  # the server answered and closed while we were still sending
    answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 413") and b"1 MB this address" in answer, answer[:300]


# -- findings 3 and 4: sessions end on the server ---------------------------------------------


def saved_cookie(session: requests.Session) -> dict[str, str]:
    return {cookie.name: cookie.value for cookie in session.cookies}


def opens_admin(base: str, cookies: dict[str, str]) -> bool:
    response = requests.get(base + "/admin", cookies=cookies, allow_redirects=False, timeout=30)
    return response.status_code == 200


def test_saved_cookies_open_nothing_after_logout_restart_or_a_re_created_account(tmp_path):
    data = make_data(tmp_path / "data")
    with serve(data) as base:
        before_logout = log_in(base)
        kept = saved_cookie(before_logout)
        assert opens_admin(base, kept)
        token = csrf_token(before_logout, base + "/admin")
        before_logout.post(base + "/logout", data={"csrf_token": token}, timeout=30)
        assert not opens_admin(base, kept)  # finding 3
        survivor = saved_cookie(log_in(base))
    with serve(data) as base:  # a restart: the same data folder, a new process
        assert not opens_admin(base, kept)
        assert opens_admin(base, survivor)  # a login not ended survives the restart
        remove_account(data)
        add_account(data)  # the same name and password: a new account
        assert not opens_admin(base, survivor)  # finding 4
        assert opens_admin(base, saved_cookie(log_in(base)))


# -- finding 9: links from KB_PUBLIC_URL, never from the Host header -------------------------


@pytest.mark.parametrize("path", ["/?q=savings", "/embed?q=savings", "/documents/report-a"])
def test_a_forged_host_header_never_reaches_a_link(server, path):
    head = f"GET {path} HTTP/1.1\nHost: evil.example\nConnection: close\n"
    answer = read_all(raw_request(server, head)).decode()
    assert answer.startswith("HTTP/1.1 200"), answer[:300]
    assert f"{PUBLIC_URL}/documents/report-a#p" in answer
    assert "evil.example" not in answer
    if "q=" in path:
        assert "\r\nCache-Control: no-store\r\n" in answer


# -- finding 6: one search limit for every searching route, shared by processes --------------


def test_two_server_processes_share_one_search_limit_on_every_route(tmp_path):
    """Before, the limit was per process and only on /api/search: from an address refused
    there, /?q= and /embed?q= answered 100 of 100."""
    data = make_data(tmp_path / "data")
    limit = {"KB_SEARCH_RATE_LIMIT": "3/hour"}
    with serve(data, **limit) as first, serve_again(data, tmp_path, **limit) as second:
        assert requests.get(first + "/api/search?q=savings", timeout=30).status_code == 200
        assert requests.get(second + "/?q=savings&k=50", timeout=30).status_code == 200
        assert requests.get(first + "/embed?q=savings", timeout=30).status_code == 200
        for base in (first, second):
            for path in ("/api/search?q=savings", "/?q=savings&k=50", "/embed?q=savings"):
                response = requests.get(base + path, timeout=30)
                assert response.status_code == 429, (base, path)
                assert int(response.headers["Retry-After"]) > 0
        assert requests.get(second + "/library", timeout=30).status_code == 200


def serve_again(data_dir: Path, tmp_path: Path, **env: str):
    """A second server process on the same data folder (its own log file)."""
    log_dir = tmp_path / "second"
    log_dir.mkdir()
    link = log_dir / "data"
    link.symlink_to(data_dir)
    return serve(link, **env)
