"""A researcher adds a PDF in a real browser, finds it by search, then removes it.

Starts `kb serve --production` (waitress, production cookie settings: Secure, which Chromium
accepts from http://127.0.0.1) over a data folder built with `kb --embedder hashing ingest`,
with an account made by `kb user add --password-stdin`. Drives headless Chromium: log in,
upload a PDF made here (fpdf2) holding a phrase found nowhere else, watch the progress page
(static/admin.js polling /admin/jobs/<id>) reach the end, search the phrase and find the new
document, remove it through the confirmation page, and search again in vain.
"""

from __future__ import annotations

import subprocess
import time

import pytest
from browser_support import build_data
from browser_support import kb_command
from browser_support import running_server
from browser_support import severe_errors

pytestmark = [pytest.mark.browser, pytest.mark.server]

ACCOUNT = "ada"
PASSWORD = "correct horse battery staple"
PHRASE = "The marmoset ledger cooperative trimmed invoice costs by nineteen percent"
QUERY = "marmoset ledger cooperative"
TITLE = "Marmoset ledger cooperative review"
WAIT_SECONDS = 30
# About two seconds of work for the upload worker, so the page is seen updating itself.
FILLER_PAGES = 300


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The base URL of a real `kb serve --production` with one researcher account."""
    data_dir = tmp_path_factory.mktemp("browser-upload") / "data"
    build_data(data_dir)
    account = subprocess.run(
        [*kb_command(), "--data-dir", str(data_dir), "user", "add", ACCOUNT, "--password-stdin"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert account.returncode == 0, account.stdout + account.stderr
    with running_server(data_dir, check_health=False) as base:
        yield base


def _make_pdf(path, pages: int = FILLER_PAGES) -> None:
    """The phrase on page 1, then enough pages that the progress page sees the job running."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    pdf.add_page()
    pdf.multi_cell(0, 6, f"{PHRASE}. It shared one finance team between two councils.")
    filler = (
        "The payroll system was moved to one office and its suppliers were paid on a new "
        "schedule agreed by the joint committee of the councils. "
    ) * 4
    for _ in range(pages):
        pdf.add_page()
        for _ in range(5):
            pdf.multi_cell(0, 5, filler)
            pdf.ln(2)
    pdf.output(str(path))


def _search_titles(driver, base: str) -> list[str]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base + "/")
    driver.find_element(By.ID, "q").send_keys(QUERY, Keys.RETURN)
    WebDriverWait(driver, WAIT_SECONDS).until(ec.url_contains("q="))
    WebDriverWait(driver, WAIT_SECONDS).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".hit-title")]


def test_researcher_uploads_finds_and_removes_a_pdf(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT_SECONDS)
    pdf = tmp_path / "marmoset review.pdf"
    _make_pdf(pdf)
    assert not any(TITLE in title for title in _search_titles(browser, server))

    # Logging in: /admin sends us to the login page, which sends us back.
    def element(css: str):
        return wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))

    browser.get(server + "/admin/upload")
    element(".login-form #name").send_keys(ACCOUNT)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, ".login-form button[type=submit]").click()
    element(".admin-form #file")
    assert browser.current_url == server + "/admin/upload"

    # Uploading with metadata.
    browser.find_element(By.ID, "file").send_keys(str(pdf))
    browser.find_element(By.ID, "title").send_keys(TITLE)
    browser.find_element(By.ID, "publisher").send_keys("Browser Test Unit")
    browser.find_element(By.ID, "year").send_keys("2025")
    Select(browser.find_element(By.ID, "kind")).select_by_value("briefing")
    browser.find_element(By.ID, "tags").send_keys("payroll, test")
    browser.find_element(By.CSS_SELECTOR, ".admin-form button[type=submit]").click()

    # The progress page, kept up to date by admin.js (no reload), reaches the end.
    element("#job-summary")
    assert "/admin/progress/" in browser.current_url
    browser.execute_script("window.notReloaded = true;")
    seen = []
    for _ in range(WAIT_SECONDS * 20):
        seen.append(browser.find_element(By.ID, "job-summary").text)
        if "searchable now" in seen[-1]:
            break
        time.sleep(0.05)
    summary = seen[-1]
    assert browser.execute_script("return window.notReloaded === true;")
    assert any("embedded" in text or "Read" in text for text in seen[:-1]), seen
    assert summary.startswith(f"Added \u201c{TITLE}\u201d: "), summary
    assert browser.find_element(By.ID, "job-progress").get_attribute("value") == "100"
    assert browser.find_element(By.ID, "job-done").is_displayed()

    # Searchable at once, without a restart.
    titles = _search_titles(browser, server)
    assert titles and TITLE in titles[0], titles
    hit = browser.find_element(By.CSS_SELECTOR, ".hit")
    assert "marmoset ledger cooperative" in hit.text.lower()

    # Removing it through the confirmation page.
    browser.get(server + "/admin")
    row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "tbody tr") if TITLE in r.text)
    row.find_element(By.CSS_SELECTOR, "a.danger").click()
    element("button[name=confirm]")
    assert TITLE in browser.find_element(By.TAG_NAME, "h1").text
    browser.find_element(By.CSS_SELECTOR, "button[name=confirm]").click()
    assert f"Removed \u201c{TITLE}\u201d" in element(".notice").text
    assert browser.current_url == server + "/admin"

    assert not any(TITLE in title for title in _search_titles(browser, server))

    # The audit log tells who did what.
    browser.get(server + "/admin/audit")
    rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert ACCOUNT in rows[0] and "remove" in rows[0] and TITLE in rows[0]
    assert "add" in rows[1] and TITLE in rows[1]

    errors = severe_errors(browser)
    assert not errors, errors
