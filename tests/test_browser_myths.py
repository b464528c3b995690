"""Myth buster in a real browser against a real server process.

A real `kb ingest` of the project corpus (hashing embedder) and `kb serve --production`, driven
through headless Chromium: /myths lists every myth with two cited quotes, one myth's page shows
its evidence, and its copy-citation button puts the citation on the clipboard. Skips only when
Chromium or its driver is not installed. The shared helpers are in browser_support.py.
"""

from __future__ import annotations

import pytest
from browser_support import build_data
from browser_support import running_server
from browser_support import severe_errors
from conftest import ROOT

from kb.myths import load_myths

pytestmark = [pytest.mark.browser, pytest.mark.server]

WAIT_SECONDS = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The base URL of a real `kb serve --production` over the ingested project corpus."""
    data_dir = tmp_path_factory.mktemp("browser-myths") / "data"
    build_data(data_dir)
    with running_server(data_dir) as base:
        yield base


@pytest.fixture
def browser(browser):
    """conftest's browser, with a bound on async scripts (the clipboard read)."""
    browser.set_script_timeout(10)
    return browser


def _read_clipboard(driver) -> str | None:
    """The clipboard's text via the async Clipboard API; None when the browser refuses."""
    result = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        navigator.clipboard.readText().then(
          (text) => done({text: text}), (error) => done({error: String(error)}));
        """
    )
    return result.get("text")


def test_rep_reads_a_myth_and_copies_a_citation(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    myths = load_myths(ROOT / "corpus" / "myths.toml")
    wait = WebDriverWait(browser, WAIT_SECONDS)
    browser.get(server + "/myths")
    nav = browser.find_element(By.CSS_SELECTOR, "nav a[aria-current='page']")
    assert nav.text == "Myths"
    items = browser.find_elements(By.CSS_SELECTOR, "li.myth")
    assert [item.get_attribute("id") for item in items] == [m.id for m in myths]
    for item in items:  # every pinned quote resolves after a real ingest: two quotes each
        assert len(item.find_elements(By.CSS_SELECTOR, ".myth-quote")) == 2
        assert all(c.text for c in item.find_elements(By.CSS_SELECTOR, ".cite-line"))
        for link in item.find_elements(By.CSS_SELECTOR, "a.context-link"):
            assert "/documents/" in link.get_attribute("href") and "#p" in link.get_attribute(
                "href"
            )

    first = myths[0]
    items[0].find_element(By.CSS_SELECTOR, "a.myth-link").click()
    wait.until(ec.url_to_be(f"{server}/myths/{first.id}"))
    assert browser.find_element(By.CSS_SELECTOR, "h1.myth-claim").text == first.claim
    search = browser.find_element(By.CSS_SELECTOR, "a.search-further")
    assert "/?q=" in search.get_attribute("href")
    evidence = browser.find_elements(By.CSS_SELECTOR, "li.evidence-item")
    pinned = browser.find_elements(By.CSS_SELECTOR, "li.evidence-item.pinned")
    assert pinned and len(evidence) > len(pinned)
    assert evidence[0].get_attribute("class").split() == ["evidence-item", "pinned"]
    assert pinned[0].find_elements(By.CSS_SELECTOR, "mark.hl-quote")

    # Let the page write to (and the test read) the clipboard without a prompt.
    browser.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": server, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    field = pinned[0].find_element(By.CSS_SELECTOR, ".citation-field")
    citation = field.get_attribute("value")
    assert citation.endswith(
        pinned[0].find_element(By.CSS_SELECTOR, "a.context-link").get_attribute("href")
    )
    button = pinned[0].find_element(By.CSS_SELECTOR, ".copy-button")
    assert button.is_displayed()  # app.js ran under the CSP and revealed it
    button.click()
    wait.until(lambda driver: button.text == "Copied")
    clipboard = _read_clipboard(browser)
    if clipboard is not None:
        assert clipboard == citation
    else:  # the browser would not let the test read it back: app.js's "Copied" state stands
        assert button.text == "Copied"

    errors = severe_errors(browser)
    assert not errors, errors
