""" "No close match" in a real browser: the search page and the widget say it plainly above the
nearest passages when nothing answers the question, and not when something does.

A real `kb serve --production` over the project corpus (the fake embedder, as in the other
browser tests: an off-topic question shares no words with the corpus, so its best cosine is far
below the cut-off). Skips only when Chromium or its driver is not installed.
"""

from __future__ import annotations

import pytest
from browser_support import build_data
from browser_support import running_server
from browser_support import severe_errors

pytestmark = [pytest.mark.browser, pytest.mark.server]

OFF_TOPIC = "recipe for chicken curry"
ON_TOPIC = "savings from back office sharing"
WAIT_SECONDS = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> str:
    data_dir = tmp_path_factory.mktemp("browser-match") / "data"
    build_data(data_dir)
    with running_server(data_dir) as base:
        yield base


def _top(driver, element) -> float:
    return driver.execute_script("return arguments[0].getBoundingClientRect().top", element)


def test_the_search_page_says_no_close_match_above_the_nearest_passages(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT_SECONDS)
    browser.get(server + "/")
    browser.find_element(By.ID, "q").send_keys(OFF_TOPIC, Keys.RETURN)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".hit article")))
    notice = browser.find_element(By.ID, "match-notice")
    assert notice.is_displayed()
    assert notice.text.startswith("No close match.")
    assert notice.get_attribute("role") == "status"
    heading = browser.find_element(By.ID, "results-heading")
    assert heading.text.startswith("The nearest")
    first_hit = browser.find_element(By.CSS_SELECTOR, ".hit")
    assert _top(browser, notice) < _top(browser, heading) < _top(browser, first_hit)

    box = browser.find_element(By.ID, "q")
    box.clear()
    box.send_keys(ON_TOPIC, Keys.RETURN)
    wait.until(ec.text_to_be_present_in_element((By.ID, "results-heading"), ON_TOPIC))
    notices = browser.find_elements(By.ID, "match-notice")
    assert not notices or not notices[0].text.startswith("No close match")
    assert not severe_errors(browser)


def test_the_widget_says_no_close_match_above_its_results(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT_SECONDS)
    browser.get(server + "/about")
    # The widget as a branch page embeds it (same origin here, so no CORS set-up is needed).
    browser.execute_script(
        "var host = document.createElement('div');"
        "host.setAttribute('data-evidence-search', '');"
        "host.setAttribute('data-base', arguments[0]);"
        "document.querySelector('main').prepend(host);"
        "var script = document.createElement('script');"
        "script.src = arguments[0] + '/widget.js';"
        "document.body.appendChild(script);",
        server,
    )
    host = browser.find_element(By.CSS_SELECTOR, "[data-evidence-search]")
    wait.until(lambda d: d.execute_script("return !!arguments[0].shadowRoot", host))
    root = host.shadow_root
    box = root.find_element(By.CSS_SELECTOR, "input")
    notice = root.find_element(By.CSS_SELECTOR, ".match")
    assert not notice.is_displayed()

    box.send_keys(OFF_TOPIC)
    wait.until(lambda d: root.find_elements(By.CSS_SELECTOR, "ol li"))
    wait.until(lambda d: notice.is_displayed())
    assert notice.text.startswith("No close match.")
    assert notice.find_element(By.CSS_SELECTOR, "strong").text == "No close match."
    first = root.find_element(By.CSS_SELECTOR, "ol li")
    assert _top(browser, notice) < _top(browser, first)

    box.clear()
    box.send_keys(ON_TOPIC)
    status = root.find_element(By.CSS_SELECTOR, ".status")
    wait.until(lambda d: ON_TOPIC in status.text)
    assert not notice.is_displayed() or not notice.text.startswith("No close match")
    assert not severe_errors(browser)
