"""The search widget on a branch website, in a real browser, from another origin.

A "branch website" is served by a tiny http.server on its own localhost port, with aggressive
CSS of its own. It embeds the knowledge base's search (a real `kb serve --production` over the
project corpus, configured for that origin through KB_CORS_ORIGINS and
KB_EMBED_FRAME_ANCESTORS) in the two ways docs/widget.md offers: the two-line script snippet
and the iframe. Each searches, finds the cited 1.8% passage and follows its link to the reader;
a third test runs the widget on a page with a strict Content-Security-Policy of its own. Skips
only when Chromium or its driver is not installed.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from browser_support import TARGET_BACKGROUND
from browser_support import build_data
from browser_support import running_server
from browser_support import screenshot_path
from browser_support import severe_errors

pytestmark = [pytest.mark.browser, pytest.mark.server]

QUERY = "savings from back office sharing"
SCREENSHOT = screenshot_path("widget.png")
WAIT_SECONDS = 20

# The branch site's own styles: everything red, huge and a block, inputs hidden. None of it may
# reach the widget (Shadow DOM) or the iframe (another document).
BRANCH_CSS = """
* { color: red !important; font-size: 40px !important; display: block !important;
    font-family: "Comic Sans MS", cursive !important; }
input { display: none !important; }
mark, a, li, ol, blockquote, label, button, p {
    background: lime !important; margin: 30px !important; }
head, script, style, title { display: none !important; }
"""

PAGE = """<!doctype html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<title>Our branch</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="branch.css">
{head}
</head>
<body>
<h1>Our branch</h1>
<p>Find the evidence on shared services:</p>
{embed}
<p>Branch news follows the search.</p>
</body>
</html>
"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def branch_site(tmp_path_factory, chromium):
    """(origin, folder): a static site on its own port serving whatever the test writes.

    Asks for `chromium` first so that, without a browser, nothing is started before the skip.
    """
    folder = tmp_path_factory.mktemp("branch-site")
    (folder / "branch.css").write_text(BRANCH_CSS)
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def kb_server(tmp_path_factory, branch_site) -> str:
    """The knowledge base: a real `kb serve --production` letting the branch site in."""
    branch_origin, _ = branch_site
    data_dir = tmp_path_factory.mktemp("widget-kb") / "data"
    build_data(data_dir)
    env = {"KB_CORS_ORIGINS": branch_origin, "KB_EMBED_FRAME_ANCESTORS": branch_origin}
    with running_server(data_dir, env=env) as base:
        yield base


def _write_page(folder: Path, name: str, embed: str, head: str = "") -> None:
    (folder / name).write_text(PAGE.replace("{head}", head).replace("{embed}", embed))


def _style(driver, element, prop: str) -> str:
    return driver.execute_script(
        "return getComputedStyle(arguments[0]).getPropertyValue(arguments[1])", element, prop
    )


def _active_in(driver, host):
    """The focused element inside the widget's shadow root."""
    return driver.execute_script("return arguments[0].shadowRoot.activeElement", host)


def _assert_reader_targets_the_passage(driver, kb_server: str, href: str) -> None:
    """The browser is on the reader at href, with the cited passage targeted and highlighted."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    path, anchor = href.removeprefix(kb_server).split("#", 1)
    assert path.startswith("/documents/") and anchor.startswith("p"), href
    wait = WebDriverWait(driver, WAIT_SECONDS)
    wait.until(ec.url_contains(f"#{anchor}"))
    wait.until(ec.presence_of_element_located((By.ID, anchor)))
    assert driver.current_url == href
    target = driver.execute_script("var t = document.querySelector(':target'); return t && t.id")
    assert target == anchor
    passage = driver.find_element(By.ID, anchor)
    assert "1.8%" in passage.text
    assert _style(driver, passage, "background-color") == TARGET_BACKGROUND
    wait.until(lambda d: d.execute_script("return document.activeElement.id") == anchor)


def test_widget_on_a_branch_site_finds_the_cited_passage(kb_server, branch_site, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    origin, folder = branch_site
    snippet = (
        f'<div data-evidence-search data-base="{kb_server}" data-k="8"\n'
        f'     data-placeholder="e.g. savings from sharing"></div>\n'
        f'<script src="{kb_server}/widget.js" async></script>'
    )
    _write_page(folder, "widget.html", snippet)
    wait = WebDriverWait(browser, WAIT_SECONDS)
    browser.get(origin + "/widget.html")

    host = browser.find_element(By.CSS_SELECTOR, "[data-evidence-search]")
    wait.until(lambda d: d.execute_script("return !!arguments[0].shadowRoot", host))
    root = host.shadow_root
    box = root.find_element(By.CSS_SELECTOR, "input")
    label = root.find_element(By.CSS_SELECTOR, "label")
    # The branch's CSS reaches neither in nor out.
    assert box.is_displayed() and label.is_displayed()
    assert label.text == "Search the evidence"
    assert box.get_attribute("placeholder") == "e.g. savings from sharing"
    assert browser.execute_script("return arguments[0].labels[0] === arguments[1]", box, label)
    assert _style(browser, label, "font-size") == "16px"
    assert _style(browser, label, "color") != "rgb(255, 0, 0)"
    heading = browser.find_element(By.TAG_NAME, "h1")
    assert _style(browser, heading, "color") == "rgb(255, 0, 0)"  # the page keeps its own look
    assert _style(browser, heading, "font-size") == "40px"

    # Search as you type (debounced), from another origin: CORS lets the widget read the API.
    box.send_keys(QUERY)
    wait.until(lambda d: root.find_elements(By.CSS_SELECTOR, "ol li"))
    status = root.find_element(By.CSS_SELECTOR, "[role='status']")
    assert status.get_attribute("aria-live") == "polite"
    wait.until(lambda d: "results for" in status.text)
    items = root.find_elements(By.CSS_SELECTOR, "ol li")
    assert status.text.startswith(f"{len(items)} result")
    cited = [li for li in items if "1.8%" in li.find_element(By.CSS_SELECTOR, "blockquote").text]
    assert cited, [li.text for li in items]
    item = cited[0]
    assert item.find_elements(By.CSS_SELECTOR, "blockquote mark")  # the matched words
    citation = item.find_element(By.CSS_SELECTOR, ".cite")
    assert citation.text and citation.find_element(By.CSS_SELECTOR, "cite").text
    assert _style(browser, citation, "color") != "rgb(255, 0, 0)"
    link = item.find_element(By.CSS_SELECTOR, "a.passage")
    href = link.get_attribute("href")
    assert href.startswith(kb_server + "/documents/") and "#p" in href
    more = root.find_element(By.CSS_SELECTOR, ".more a")
    assert more.get_attribute("href").startswith(kb_server + "/?q=savings%20from%20back")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    host.screenshot(str(SCREENSHOT))

    # Keyboard: arrows move between the result links and back to the box; Escape clears.
    links = root.find_elements(By.CSS_SELECTOR, "ol a")
    box.send_keys(Keys.ARROW_DOWN)
    assert _active_in(browser, host) == links[0]
    browser.switch_to.active_element.send_keys(Keys.ARROW_DOWN)
    assert _active_in(browser, host) == links[1]
    browser.switch_to.active_element.send_keys(Keys.ARROW_UP, Keys.ARROW_UP)
    assert _active_in(browser, host) == box
    box.send_keys(Keys.ARROW_DOWN)
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    assert _active_in(browser, host) == box
    assert box.get_attribute("value") == "" and not root.find_elements(By.CSS_SELECTOR, "ol li")
    assert status.text == "Search cleared."

    # Enter searches at once; then follow the cited link by keyboard.
    box.send_keys(QUERY, Keys.RETURN)
    wait.until(lambda d: root.find_elements(By.CSS_SELECTOR, f"a.passage[href='{href}']"))
    link = root.find_element(By.CSS_SELECTOR, f"a.passage[href='{href}']")
    browser.execute_script("arguments[0].focus()", link)
    browser.switch_to.active_element.send_keys(Keys.RETURN)
    _assert_reader_targets_the_passage(browser, kb_server, href)
    errors = severe_errors(browser)
    assert not errors, errors


def test_iframe_on_a_branch_site_finds_the_cited_passage(kb_server, branch_site, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    origin, folder = branch_site
    embed = (
        f'<iframe src="{kb_server}/embed?k=8&amp;placeholder=Type+a+question" '
        f'title="Search the evidence" width="900" height="1400"></iframe>'
    )
    _write_page(folder, "iframe.html", embed)
    wait = WebDriverWait(browser, WAIT_SECONDS)
    browser.get(origin + "/iframe.html")
    frame = browser.find_element(By.TAG_NAME, "iframe")
    browser.switch_to.frame(frame)  # frame-ancestors lets this origin frame /embed
    box = wait.until(lambda d: d.find_element(By.ID, "q"))
    assert box.is_displayed() and box.get_attribute("placeholder") == "Type a question"
    label = browser.find_element(By.CSS_SELECTOR, "label[for='q']")
    assert label.text == "Search the evidence"
    assert _style(browser, label, "color") != "rgb(255, 0, 0)"

    box.send_keys(QUERY, Keys.RETURN)  # a plain GET form: no JavaScript in the frame
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "li.result"))
    assert "results for" in browser.find_element(By.CSS_SELECTOR, "[role='status']").text
    items = browser.find_elements(By.CSS_SELECTOR, "li.result")
    cited = [li for li in items if "1.8%" in li.find_element(By.CSS_SELECTOR, "blockquote").text]
    assert cited, [li.text for li in items]
    assert cited[0].find_element(By.CSS_SELECTOR, ".cite em").text
    link = cited[0].find_element(By.CSS_SELECTOR, "a.passage-link")
    assert link.get_attribute("target") == "_blank" and link.get_attribute("rel") == "noopener"
    href = link.get_attribute("href")
    assert href.startswith(kb_server + "/documents/") and "#p" in href

    opened_from = browser.current_window_handle
    link.send_keys(Keys.RETURN)
    wait.until(lambda d: len(d.window_handles) == 2)
    browser.switch_to.window(next(h for h in browser.window_handles if h != opened_from))
    _assert_reader_targets_the_passage(browser, kb_server, href)
    errors = severe_errors(browser)
    assert not errors, errors
    browser.switch_to.window(opened_from)
    errors = severe_errors(browser)
    assert not errors, errors


def test_widget_works_on_a_page_with_a_strict_content_security_policy(
    kb_server, branch_site, browser
):
    """docs/widget.md: script-src and connect-src for the knowledge base are all it needs."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    origin, folder = branch_site
    policy = (
        f"default-src 'self'; script-src 'self' {kb_server}; connect-src 'self' {kb_server}; "
        "style-src 'self'; img-src 'self' data:"
    )
    snippet = (
        f'<div data-evidence-search data-base="{kb_server}" data-theme="dark"></div>\n'
        f'<script src="{kb_server}/widget.js" async></script>'
    )
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    _write_page(folder, "strict.html", snippet, head=meta)
    wait = WebDriverWait(browser, WAIT_SECONDS)
    browser.get(origin + "/strict.html")
    host = browser.find_element(By.CSS_SELECTOR, "[data-evidence-search]")
    wait.until(lambda d: d.execute_script("return !!arguments[0].shadowRoot", host))
    root = host.shadow_root
    label = root.find_element(By.CSS_SELECTOR, "label")
    assert _style(browser, label, "font-weight") == "700"  # the widget's styles applied
    box = root.find_element(By.CSS_SELECTOR, "input")
    assert _style(browser, box, "border-top-width") == "2px"
    assert _style(browser, box, "background-color") == "rgb(27, 29, 33)"  # dark theme
    box.send_keys(QUERY, Keys.RETURN)
    wait.until(lambda d: root.find_elements(By.CSS_SELECTOR, "ol li"))
    assert any("1.8%" in li.text for li in root.find_elements(By.CSS_SELECTOR, "ol li"))
    errors = severe_errors(browser)  # a refused style or fetch would be reported here
    assert not errors, errors
    # The policy is in force: an inline <style> of the page's own is refused.
    outline = browser.execute_script(
        "var s = document.createElement('style');"
        "s.textContent = 'h1 { outline: 7px solid blue !important }';"
        "document.head.appendChild(s);"
        "return getComputedStyle(document.querySelector('h1')).outlineWidth;"
    )
    assert outline != "7px"
