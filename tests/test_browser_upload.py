"""A researcher adds several files in a real browser, finds one by search, then removes it.

Starts `kb serve --production` (waitress, production cookie settings: Secure, which Chromium
accepts from http://127.0.0.1) over a data folder built with `kb --embedder hashing ingest`,
with an account made by `kb user add --password-stdin`. Drives headless Chromium: log in,
choose three files at once (a PDF made here with fpdf2 holding a phrase found nowhere else and
stating its title, author and date; a web page stating its own; a PNG named .pdf), see each
file's details prefilled from the file (static/upload.js, POST /admin/upload/details) and the
PNG refused on its own line, correct one value, add them, watch each file's own progress line
(polling /admin/jobs/<id>) reach the end without a reload, search the phrase and find the new
document, remove it through the confirmation page, and search again in vain.
"""

from __future__ import annotations

import subprocess
import time
from datetime import UTC
from datetime import datetime

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


PAGE_TITLE = "Joint payroll for two island councils"
PAGE = f"""<html><head><meta charset="utf-8"><title>{PAGE_TITLE} | Island Times</title>
<meta property="og:site_name" content="Island Times"><meta property="og:type" content="article">
<meta property="article:published_time" content="2022-03-04T09:00:00Z"></head>
<body><article><h1>{PAGE_TITLE}</h1><p>The two councils of the islands agreed to run one
payroll office between them from the spring, and its staff moved to a single building.</p>
</article></body></html>"""


def _make_pdf(path, pages: int = FILLER_PAGES) -> None:
    """The phrase on page 1, then enough pages that the progress line sees the job running;
    its document information states a title, an author and a date."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Marmoset ledger review (draft)")
    pdf.set_author("Browser Test Unit")
    pdf.set_creation_date(datetime(2025, 2, 3, tzinfo=UTC))
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

    # Choosing three files at once: each gets its own details, read from the file.
    page = tmp_path / "island payroll.html"
    page.write_text(PAGE, encoding="utf-8")
    png = tmp_path / "photo.pdf"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    browser.execute_script("window.notReloaded = true;")
    browser.find_element(By.ID, "file").send_keys("\n".join(str(p) for p in (pdf, page, png)))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".upload-item")) == 3)
    wait.until(lambda d: d.find_element(By.ID, "title-1").get_attribute("value"))
    wait.until(lambda d: d.find_element(By.ID, "title-2").get_attribute("value"))
    wait.until(lambda d: "is named .pdf" in d.find_element(By.ID, "item-3-status").text)

    def value(field_id: str) -> str:
        return browser.find_element(By.ID, field_id).get_attribute("value")

    assert [value(f"{name}-1") for name in ("title", "publisher", "year")] == [
        "Marmoset ledger review (draft)",
        "Browser Test Unit",
        "2025",
    ]
    assert [value(f"{name}-2") for name in ("title", "publisher", "year", "kind")] == [
        PAGE_TITLE,
        "Island Times",
        "2022",
        "article",  # the page's og:type
    ]
    assert value("kind-1") == "report"  # the PDF does not say: the form's default stays
    assert "Check them before adding" in browser.find_element(By.ID, "item-1-status").text
    assert not browser.find_element(By.ID, "title-3").is_enabled()  # refused: not sent

    # Correcting what the file got wrong, and giving what it did not say.
    title = browser.find_element(By.ID, "title-1")
    title.clear()
    title.send_keys(TITLE)
    Select(browser.find_element(By.ID, "kind-1")).select_by_value("briefing")
    browser.find_element(By.ID, "tags-1").send_keys("payroll, test")
    button = browser.find_element(By.CSS_SELECTOR, ".admin-form button[type=submit]")
    # The site scrolls smoothly, so Chromium's own scroll before a click can still be moving
    # when it clicks, far down this long form; the button is brought into view at once first.
    browser.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", button
    )
    button.click()

    # Each file's own progress line, kept up to date by the page (no reload), reaches the end.
    seen = []
    for _ in range(WAIT_SECONDS * 20):
        lines = [browser.find_element(By.ID, f"item-{n}-status").text for n in (1, 2)]
        seen.append(lines[0])
        if all("searchable now" in line for line in lines):
            break
        time.sleep(0.05)
    assert browser.execute_script("return window.notReloaded === true;")
    assert browser.current_url == server + "/admin/upload"
    assert any("embedded" in text or "Read" in text for text in seen[:-1]), seen
    assert lines[0].startswith(f"Added \u201c{TITLE}\u201d: "), lines
    assert lines[1].startswith(f"Added \u201c{PAGE_TITLE}\u201d: "), lines
    assert value("item-1-progress") == value("item-2-progress") == "100"
    read_it = browser.find_element(By.CSS_SELECTOR, "#item-1-status a")
    assert read_it.get_attribute("href").endswith("/documents/marmoset-ledger-cooperative-review")
    assert "is named .pdf" in browser.find_element(By.ID, "item-3-status").text

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
    assert any("add" in row and TITLE in row for row in rows[1:3]), rows
    assert any("add" in row and PAGE_TITLE in row for row in rows[1:3]), rows

    # The refused PNG's 415 is logged by Chromium as a failed load; it is the only error.
    errors = [e for e in severe_errors(browser) if "/admin/upload/details" not in e["message"]]
    assert not errors, errors
