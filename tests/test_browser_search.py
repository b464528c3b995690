"""A rep's search in a real browser against a real server process.

Starts `kb serve --production` (waitress) on a free port over a data folder made for the test,
drives Debian's headless Chromium through selenium: search, read the cited result, follow it
to the reader and check the passage is highlighted there. Skips only when Chromium or its
driver is not installed.
"""

from __future__ import annotations

import pytest
from browser_support import TARGET_BACKGROUND
from browser_support import build_data
from browser_support import running_server
from browser_support import screenshot_path
from browser_support import severe_errors

pytestmark = [pytest.mark.browser, pytest.mark.server]

QUERY = "savings from back office sharing"
SCREENSHOT = screenshot_path("search-results.png")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> str:
    """The base URL of a real `kb serve --production` process."""
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    build_data(data_dir)
    with running_server(data_dir) as base:
        yield base


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

    errors = severe_errors(browser)
    assert not errors, errors
