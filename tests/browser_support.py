"""What the real-browser tests (tests/test_browser_*.py) share: Chromium, a real server, a driver.

Plain functions and one context manager; the `chromium` and `browser` fixtures built on them
are in conftest.py. Each test file keeps its own `server` fixture (its data, environment and
accounts) and its steps.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ROOT
from conftest import build_corpus

CHROMIUM_MISSING = (
    "Chromium or chromedriver is not installed "
    "(apt-get install -y chromium chromium-driver, or `make browser-deps`)."
)
TARGET_BACKGROUND = "rgb(255, 247, 214)"  # --target in web/static/app.css
HEALTH_SECONDS = 90
WINDOW_SIZE = "1280,1800"


def _find(name: str, default: str) -> str | None:
    return default if Path(default).exists() else shutil.which(name)


def find_chromium() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, Debian's first; None when either is missing."""
    binary = _find("chromium", "/usr/bin/chromium")
    driver = _find("chromedriver", "/usr/bin/chromedriver")
    if not binary or not driver:
        return None
    return binary, driver


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kb_command() -> list[str]:
    """The `kb` console script of the running virtualenv."""
    return [str(Path(sys.executable).parent / "kb")]


def build_data(data_dir: Path) -> None:
    """The real corpus through `kb ingest` when the loaders exist, else the test corpus."""
    if importlib.util.find_spec("ingest.loaders") is not None:
        command = [*kb_command(), "--data-dir", str(data_dir), "--corpus-dir"]
        command += [str(ROOT / "corpus"), "--embedder", "hashing", "ingest"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return
    from kb.embedder import HashingEmbedder
    from kb.store import SqliteStore

    store = SqliteStore(data_dir / "kb.sqlite3")
    build_corpus(store, HashingEmbedder())
    store.close()


def wait_for_health(url: str, process: subprocess.Popen, log: Path) -> dict:
    """The JSON of url once the server answers; fails with the log if it exits or never does."""
    deadline = time.monotonic() + HEALTH_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"The server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.load(response)
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"The server did not answer {url} within {HEALTH_SECONDS} s:\n{log.read_text()}")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_server(
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    check_health: bool = True,
) -> Iterator[str]:
    """The base URL of a real `kb serve --production` over data_dir, stopped on the way out.

    env: variables added to this process's environment for the server. extra_args: more
    options for `serve`. check_health: assert that /api/health says "ok" with passages.
    The server's output goes to server.log beside data_dir.
    """
    port = free_port()
    log = data_dir.parent / "server.log"
    command = [*kb_command(), "--data-dir", str(data_dir), "--corpus-dir", str(ROOT / "corpus")]
    command += ["--embedder", "hashing", "serve", "--production", "--port", str(port)]
    command += list(extra_args)
    environment = None if env is None else {**os.environ, **env}
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=environment)
    base = f"http://127.0.0.1:{port}"
    try:
        health = wait_for_health(base + "/api/health", process, log)
        if check_health:
            assert health["status"] == "ok" and health["passages"] > 0, health
        yield base
    finally:
        _stop(process)


def make_driver(binary: str, driver_path: str, profile_dir: Path, window_size: str = WINDOW_SIZE):
    """Headless Chromium through selenium, keeping the browser's console log."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile_dir}",
        f"--window-size={window_size}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    return driver


def severe_errors(driver) -> list[dict]:
    """The SEVERE entries of the browser's console log since it was last read."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot_path(name: str) -> Path:
    """Where a test saves its screenshot: docs/screenshots/ when KB_UPDATE_SCREENSHOTS=1 (to
    refresh the pictures the docs show), else a temporary folder, so a test run leaves the
    working tree as it was."""
    if os.environ.get("KB_UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs" / "screenshots" / name
    return Path(tempfile.gettempdir()) / "kb-screenshots" / name
