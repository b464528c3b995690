"""The figure book in a real browser against a real server process.

A real `kb ingest` of the project corpus (hashing embedder) and `kb serve --production`, driven
through headless Chromium: /figures shows every figure of corpus/figures.toml with its values
and sources side by side, the differing ones marked and explained; a figure's page has its
permalink, and a source's link opens the passage in the document reader. The shared helpers
are in browser_support.py.
"""

from __future__ import annotations

import pytest
from browser_support import build_data
from browser_support import running_server
from browser_support import screenshot_path
from browser_support import severe_errors
from conftest import ROOT

from kb.figures.book import load_figures

pytestmark = [pytest.mark.browser, pytest.mark.server]

CORPUS_BOOK = ROOT / "corpus" / "figures.toml"
if not CORPUS_BOOK.exists():
    pytest.skip("no figure book in the corpus yet", allow_module_level=True)

WAIT_SECONDS = 20
SCREENSHOT = screenshot_path("figure-page.png")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("browser-figures") / "data"
    build_data(data_dir)
    with running_server(data_dir) as base:
        yield base


def test_rep_compares_the_sources_of_a_figure(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    book = load_figures(CORPUS_BOOK)
    wait = WebDriverWait(browser, WAIT_SECONDS)
    browser.get(server + "/figures")
    assert browser.find_element(By.CSS_SELECTOR, "nav a[aria-current='page']").text == "Figures"
    items = browser.find_elements(By.CSS_SELECTOR, "li.figure")
    assert [item.get_attribute("id") for item in items] == [f.id for f in book]
    differing = browser.find_elements(By.CSS_SELECTOR, "li.figure.differs")
    assert len(differing) == sum(f.differs for f in book) >= 6
    for item, figure in zip(items, book, strict=True):
        rows = item.find_elements(By.CSS_SELECTOR, "tr.statement-pinned")
        assert len(rows) == len(figure.sources), figure.id  # every pinned quote resolved
        for row in rows:
            assert row.find_element(By.CSS_SELECTOR, ".cite-line").text
            link = row.find_element(By.CSS_SELECTOR, "a.context-link").get_attribute("href")
            assert "/documents/" in link and "#p" in link
    for item in differing:  # a disagreement is explained in words, not only marked
        assert item.find_element(By.CSS_SELECTOR, ".differs-mark").is_displayed()
        assert len(item.find_element(By.CSS_SELECTOR, ".figure-note").text) > 40

    first = next(f for f in book if f.differs)
    item = browser.find_element(By.ID, first.id)
    item.find_element(By.CSS_SELECTOR, "a.figure-link").click()
    wait.until(ec.url_to_be(f"{server}/figures/{first.id}"))
    assert browser.find_element(By.CSS_SELECTOR, "h1.figure-measures").text == first.measures
    permalink = browser.find_element(By.CSS_SELECTOR, ".permalink a")
    assert permalink.get_attribute("href") == f"{server}/figures/{first.id}"
    values = browser.find_elements(By.CSS_SELECTOR, "tr.statement-pinned td.figure-value")
    assert [v.text for v in values] == [s.value for s in first.sources]
    copy = browser.find_element(By.CSS_SELECTOR, "tr.statement-pinned .copy-button")
    assert copy.is_displayed()  # app.js ran under the CSP
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))

    row = browser.find_element(By.CSS_SELECTOR, "tr.statement-pinned")
    target = row.find_element(By.CSS_SELECTOR, "a.context-link").get_attribute("href")
    row.find_element(By.CSS_SELECTOR, "a.context-link").click()
    wait.until(ec.url_to_be(target))
    anchor = target.rsplit("#", 1)[1]
    passage = browser.find_element(By.ID, anchor)
    assert first.sources[0].quote.split()[2] in passage.text

    errors = severe_errors(browser)
    assert not errors, errors
