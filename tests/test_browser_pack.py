"""An evidence pack made in a real browser against a real server, downloaded and shared.

A rep adds passages from a search, a myth page and a figure (once the corpus has its figure
book, corpus/figures.toml), reorders them, adds a heading and a note,
gives the pack a title, reloads (the pack is in localStorage), downloads the Word and Markdown
files, and the test reads the .docx with python-docx: the quotes are the stored passages, the
citations and the reference list are kb.citations' own, the headings and note are there. The
share link then opens the same pack in a fresh browser profile. Skips only when Chromium or its
driver is not installed. With KB_UPDATE_SCREENSHOTS=1 it also refreshes the pictures of the
pack page and of the Word file (through LibreOffice and pdftoppm, when installed).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.request
import warnings
from pathlib import Path

import docx
import pytest
from browser_support import build_data
from browser_support import make_driver
from browser_support import running_server
from browser_support import screenshot_path
from browser_support import severe_errors
from conftest import ROOT

from kb.citations import reference
from kb.citations import source_reference
from kb.models import Document
from kb.models import DocumentMeta
from kb.models import Source
from kb.myths import load_myths

pytestmark = [pytest.mark.browser, pytest.mark.server]

QUERY = "savings from back office sharing"
TITLE = "Briefing for the branch meeting"
HEADING = "What sharing really saves"
NOTE = "Use this first. =cmd|' /C calc'!A0 <script>x</script>"
WAIT_SECONDS = 20
PACK_SCREENSHOT = screenshot_path("evidence-pack.png")
WORD_SCREENSHOT = screenshot_path("evidence-pack-word.png")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("browser-pack") / "data"
    build_data(data_dir)
    with running_server(data_dir) as base:
        yield base


def _api(server: str, path: str) -> dict:
    with urllib.request.urlopen(server + path, timeout=10) as response:
        return json.load(response)


def _document(server: str, document_id: str) -> Document:
    meta = _api(server, f"/api/documents/{document_id}")["document"]
    fields = ("id", "title", "publisher", "year", "kind", "url")
    return Document(DocumentMeta(*(meta[f] for f in fields), tuple(meta["tags"])), "", "", "")


def _wait_for_file(folder: Path, suffix: str) -> Path:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(f"*{suffix}") if p.stat().st_size]
        if done and not list(folder.glob("*.crdownload")):
            return done[0]
        time.sleep(0.2)
    pytest.fail(f"no {suffix} file was downloaded into {folder}")


def _click(driver, element) -> None:
    # "instant": the site scrolls smoothly, and a click during the scroll would miss.
    script = "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})"
    driver.execute_script(script, element)
    element.click()


def _click_add(driver, article) -> int:
    from selenium.webdriver.common.by import By

    button = article.find_element(By.CSS_SELECTOR, "button.add-to-pack")
    assert button.is_displayed() and button.text == "Add to pack"
    _click(driver, button)
    assert button.get_attribute("data-in-pack") == "true"
    assert button.text == "Remove from pack"  # and a tick with "In your pack" (CSS)
    return int(button.get_attribute("data-pack-passage"))


def _pack_keys(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [
        li.get_attribute("data-pack-key")
        for li in driver.find_elements(By.CSS_SELECTOR, "#pack-items > li")
    ]


def _wait_for_pack(driver, count: int) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_SECONDS).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#pack-items .passage-text")) == count
    )


def _item(driver, key: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f"#pack-items > li[data-pack-key='{key}']")


def test_rep_builds_downloads_and_shares_a_pack(server, browser, chromium, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    wait = WebDriverWait(browser, WAIT_SECONDS)

    # 1. Two passages from a search, one quote from a myth page.
    browser.get(f"{server}/?q={QUERY.replace(' ', '+')}")
    hits = browser.find_elements(By.CSS_SELECTOR, ".hit article")
    first, second = _click_add(browser, hits[0]), _click_add(browser, hits[1])
    not_added = int(
        hits[2]
        .find_element(By.CSS_SELECTOR, "button.add-to-pack")
        .get_attribute("data-pack-passage")
    )
    counter = browser.find_element(By.CSS_SELECTOR, "[data-pack-count]")
    assert counter.text == "(2)"
    myth = load_myths(ROOT / "corpus" / "myths.toml")[0]
    browser.get(f"{server}/myths/{myth.id}")
    pinned = browser.find_element(By.CSS_SELECTOR, "li.evidence-item.pinned article")
    from_myth = _click_add(browser, pinned)
    assert from_myth not in (first, second)
    # A figure's source too, once the corpus has a figure book (corpus/figures.toml).
    from_figure = _add_a_figure(browser, server, {first, second, from_myth, not_added})
    figure_ids = [from_figure] if from_figure else []
    figure_keys = [f"p{pid}" for pid in figure_ids]
    count = 3 + len(figure_ids)

    # 2. On the pack page: the stored text of each, in the order added.
    browser.find_element(By.CSS_SELECTOR, "a.pack-link").click()
    wait.until(ec.url_to_be(f"{server}/pack"))
    _wait_for_pack(browser, count)
    assert _pack_keys(browser) == [f"p{first}", f"p{second}", f"p{from_myth}", *figure_keys]
    stored = _api(server, f"/api/passages/{from_myth}")
    myth_item = _item(browser, f"p{from_myth}")
    assert myth_item.find_element(By.CSS_SELECTOR, ".passage-text").text == stored["text"].strip()
    assert myth.claim in myth_item.find_element(By.CSS_SELECTOR, ".pack-myth").text

    # 3. Reorder (the myth's quote to the top), add a heading and move it first, a note, a title.
    for _ in range(2):
        _click(
            browser, _item(browser, f"p{from_myth}").find_element(By.CSS_SELECTOR, ".pack-move-up")
        )
    heading_box = browser.find_element(By.ID, "pack-new-heading")
    heading_box.send_keys(HEADING, Keys.RETURN)
    for index in range(count, 0, -1):
        _click(browser, _item(browser, f"h{index}").find_element(By.CSS_SELECTOR, ".pack-move-up"))
    _item(browser, f"p{first}").find_element(By.CSS_SELECTOR, "textarea.pack-note").send_keys(NOTE)
    browser.find_element(By.ID, "pack-title").send_keys(TITLE)
    order = ["h0", f"p{from_myth}", f"p{first}", f"p{second}", *figure_keys]
    assert _pack_keys(browser) == order

    # 4. Reload: the pack is kept in the browser.
    browser.refresh()
    _wait_for_pack(browser, count)
    assert _pack_keys(browser) == order
    assert browser.find_element(By.ID, "pack-title").get_attribute("value") == TITLE
    assert browser.find_element(By.CSS_SELECTOR, ".pack-heading-input").get_attribute("value") == (
        HEADING
    )
    note = _item(browser, f"p{first}").find_element(By.CSS_SELECTOR, "textarea.pack-note")
    assert note.get_attribute("value") == NOTE
    PACK_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.execute_script("window.scrollTo({top: 0, behavior: 'instant'})")
    browser.save_screenshot(str(PACK_SCREENSHOT))

    # 5. Download Word and Markdown.
    _click(browser, browser.find_element(By.CSS_SELECTOR, "[data-pack-format='docx']"))
    word = _wait_for_file(downloads, ".docx")
    _click(browser, browser.find_element(By.CSS_SELECTOR, "[data-pack-format='md']"))
    markdown = _wait_for_file(downloads, ".md").read_text()
    assert word.name == "briefing-for-the-branch-meeting.docx"

    passages = [
        _api(server, f"/api/passages/{pid}") for pid in (from_myth, first, second, *figure_ids)
    ]
    paragraphs = [(p.style.name, p.text) for p in docx.Document(str(word)).paragraphs]
    texts = [text for _style, text in paragraphs]
    assert paragraphs[0] == ("Title", TITLE)
    assert [t for s, t in paragraphs if s == "Heading 1"] == [HEADING, "References"]
    assert [t for s, t in paragraphs if s == "Quote"] == [
        line.strip() for p in passages for line in p["text"].splitlines() if line.strip()
    ]
    for passage in passages:
        citation = passage["citation"]["short"].replace("*", "")
        assert f"{citation}. Read in context" in texts
    assert f"Myth: “{myth.claim}”" in texts and f"The evidence says: {myth.answer}" in texts
    assert f"Note: {NOTE}" in texts
    documents = {p["document"]["id"] for p in passages}
    cited = {
        source_reference(Source(**source)) for passage in passages for source in passage["sources"]
    }
    expected = sorted(
        {reference(_document(server, d)).replace("*", "") for d in documents} | cited,
        key=str.casefold,
    )
    assert [t for s, t in paragraphs if s == "List Bullet"] == expected
    assert texts.index(HEADING) < texts.index(f"Myth: “{myth.claim}”") < texts.index("References")

    assert f"## {HEADING}" in markdown
    assert "Use this first. =cmd\\|' /C calc'\\!A0 \\<script\\>x\\</script\\>" in markdown
    assert passages[0]["text"].splitlines()[0].strip()[:40] in markdown

    # 6. The share link opens the same pack (not the note) in a fresh browser profile.
    link = browser.find_element(By.ID, "pack-share-link").get_attribute("value")
    assert link.startswith(f"{server}/pack#share=")
    errors = severe_errors(browser)
    assert not errors, errors
    binary, driver_path = chromium
    other = make_driver(binary, driver_path, tmp_path / "someone-else")
    try:
        other.get(link)
        _wait_for_pack(other, count)
        assert _pack_keys(other) == order
        assert other.find_element(By.ID, "pack-title").get_attribute("value") == TITLE
        heading = other.find_element(By.CSS_SELECTOR, ".pack-heading-input")
        assert heading.get_attribute("value") == HEADING
        shared_note = _item(other, f"p{first}").find_element(By.CSS_SELECTOR, "textarea")
        assert shared_note.get_attribute("value") == ""
        assert myth.claim in _item(other, f"p{from_myth}").text
        assert other.current_url == f"{server}/pack"  # the fragment is consumed

        # 7. A link from the search widget offers one passage; it is added only on a click.
        other.get(f"{server}/pack#add={not_added}")
        offer = WebDriverWait(other, WAIT_SECONDS).until(
            ec.visibility_of_element_located((By.ID, "pack-offer"))
        )
        offered = _api(server, f"/api/passages/{not_added}")["text"].strip()
        assert offer.find_element(By.CSS_SELECTOR, ".passage-text").text == offered
        assert _pack_keys(other) == order
        _click(other, other.find_element(By.ID, "pack-offer-add"))
        _wait_for_pack(other, count + 1)
        assert _pack_keys(other) == [*order, f"p{not_added}"]

        # 8. A crafted share link: its markup stays text, a damaged one changes nothing.
        other.execute_script("window.localStorage.clear()")
        hostile = "<img src=x onerror=\"document.title='pwned'\">"
        payload = {"v": 1, "t": hostile, "i": [{"h": hostile}, first, "x", [second, hostile]]}
        encoded = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
        other.get(f"{server}/pack#share={encoded}")
        _wait_for_pack(other, 2)
        assert _pack_keys(other) == ["h0", f"p{first}", f"p{second}"]
        assert other.find_element(By.ID, "pack-title").get_attribute("value") == hostile
        assert other.find_element(By.CSS_SELECTOR, ".pack-heading-input").get_attribute(
            "value"
        ) == (hostile)
        assert not other.find_elements(By.CSS_SELECTOR, "#pack-app img")
        assert other.title != "pwned"
        other.get(f"{server}/pack#share=not-base64!")
        WebDriverWait(other, WAIT_SECONDS).until(
            lambda d: "damaged" in d.find_element(By.ID, "live-status").get_attribute("textContent")
        )
        _wait_for_pack(other, 2)
        assert _pack_keys(other) == ["h0", f"p{first}", f"p{second}"]
        errors = severe_errors(other)
        assert not errors, errors
    finally:
        other.quit()
    if WORD_SCREENSHOT.parent.name == "screenshots":  # KB_UPDATE_SCREENSHOTS=1
        _picture_of_word_file(word, WORD_SCREENSHOT)


def _add_a_figure(driver, server: str, exclude: set[int]) -> int | None:
    """Add the first source of a figure on /figures not in `exclude`; None without a book."""
    from selenium.webdriver.common.by import By

    if not (ROOT / "corpus" / "figures.toml").exists():
        return None
    driver.get(f"{server}/figures")
    for row in driver.find_elements(By.CSS_SELECTOR, "tr.statement-pinned"):
        button = row.find_element(By.CSS_SELECTOR, "button.add-to-pack")
        if int(button.get_attribute("data-pack-passage")) not in exclude:
            return _click_add(driver, row)
    return None


def _picture_of_word_file(word: Path, picture: Path) -> None:
    """The Word file's first page as a PNG: LibreOffice (headless) to PDF, pdftoppm to PNG."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    pdftoppm = shutil.which("pdftoppm")
    if not soffice or not pdftoppm:
        missing = "No picture of the Word file: LibreOffice or pdftoppm is not installed."
        warnings.warn(missing, stacklevel=2)
        return
    out = word.parent
    command = [soffice, "--headless", "--convert-to", "pdf", "--outdir", str(out), str(word)]
    subprocess.run(command, check=True, capture_output=True, timeout=180)
    pdf = word.with_suffix(".pdf")
    stem = picture.with_suffix("")
    subprocess.run(
        [pdftoppm, "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(stem)],
        check=True,
        capture_output=True,
        timeout=60,
    )
