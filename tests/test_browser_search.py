"""A rep's search in a real browser against a real server process.

Starts `kb serve --production` (waitress) on a free port over a data folder made for the test,
drives Debian's headless Chromium through selenium: search, read the cited result, follow it
to the reader and check the passage is highlighted there. Skips only when Chromium or its
driver is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT
from conftest import build_corpus

pytestmark = [pytest.mark.browser, pytest.mark.server]

QUERY = "savings from back office sharing"
SCREENSHOT = ROOT / "docs" / "screenshots" / "search-results.png"
TARGET_BACKGROUND = "rgb(255, 247, 214)"  # --target in web/static/app.css


def _find(name: str, default: str) -> str | None:
    return default if Path(default).exists() else shutil.which(name)


@pytest.fixture(scope="module")
def chromium() -> tuple[str, str]:
    binary = _find("chromium", "/usr/bin/chromium")
    driver = _find("chromedriver", "/usr/bin/chromedriver")
    if not binary or not driver:
        pytest.skip(
            "Chromium or chromedriver is not installed "
            "(apt-get install -y chromium chromium-driver, or `make browser-deps`)."
        )
    return binary, driver


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kb_command() -> list[str]:
    return [str(Path(sys.executable).parent / "kb")]


def _build_data(data_dir: Path) -> None:
    """The real corpus through `kb ingest` when the loaders exist, else the test corpus."""
    if importlib.util.find_spec("ingest.loaders") is not None:
        command = [*_kb_command(), "--data-dir", str(data_dir), "--corpus-dir"]
        command += [str(ROOT / "corpus"), "--embedder", "hashing", "ingest"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return
    from kb.embedder import HashingEmbedder
    from kb.store import Store

    store = Store(data_dir / "kb.sqlite3")
    build_corpus(store, HashingEmbedder())
    store.close()


def _wait_for_health(url: str, process: subprocess.Popen, log: Path) -> dict:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"The server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.load(response)
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"The server did not answer {url} within 90 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> str:
    """The base URL of a real `kb serve --production` process."""
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    _build_data(data_dir)
    port = _free_port()
    log = data_dir.parent / "server.log"
    command = [*_kb_command(), "--data-dir", str(data_dir), "--corpus-dir", str(ROOT / "corpus")]
    command += ["--embedder", "hashing", "serve", "--production", "--port", str(port)]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        health = _wait_for_health(base + "/api/health", process, log)
        assert health["status"] == "ok" and health["passages"] > 0, health
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def browser(chromium, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,1800",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _cited_result_with_page(driver):
    """The first result whose passage holds 1.8% and that shows its page."""
    from selenium.webdriver.common.by import By

    for article in driver.find_elements(By.CSS_SELECTOR, ".hit article"):
        text = article.find_element(By.CSS_SELECTOR, ".passage-text").text
        pages = article.find_elements(By.CSS_SELECTOR, "dd.page")
        if "1.8%" in text and pages:
            return article, pages[0].text
    return None, None


def test_rep_finds_the_cited_passage_and_reads_it_in_context(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 20)
    browser.get(server + "/")
    box = browser.find_element(By.ID, "q")
    label = browser.find_element(By.CSS_SELECTOR, "label[for='q']")
    assert label.is_displayed() and label.text
    box.send_keys(QUERY, Keys.RETURN)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".hit article")))

    article, page = _cited_result_with_page(browser)
    assert article is not None, "no result quotes 1.8% with its page"
    assert page.startswith("p. ")
    assert article.find_element(By.CSS_SELECTOR, ".cite-line").text
    citation = article.find_element(By.CSS_SELECTOR, ".citation-field").get_attribute("value")
    assert page in citation and "/documents/" in citation
    # app.js ran under the CSP: it reveals the copy buttons.
    assert article.find_element(By.CSS_SELECTOR, ".copy-button").is_displayed()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))

    link = article.find_element(By.CSS_SELECTOR, "a.context-link")
    href = link.get_attribute("href")
    anchor = href.split("#", 1)[1]
    assert anchor.startswith("p")
    link.send_keys(Keys.RETURN)  # by keyboard, as a screen-reader or keyboard user would
    wait.until(ec.url_contains(f"#{anchor}"))
    wait.until(ec.presence_of_element_located((By.ID, anchor)))

    target_id = browser.execute_script("return document.querySelector(':target').id")
    assert target_id == anchor
    passage = browser.find_element(By.ID, anchor)
    assert "1.8%" in passage.text
    background = browser.execute_script(
        "return getComputedStyle(arguments[0]).backgroundColor", passage
    )
    assert background == TARGET_BACKGROUND
    active = browser.execute_script("return document.activeElement.id")
    assert active == anchor  # app.js moved focus to the cited passage

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
