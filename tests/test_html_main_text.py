"""Web pages: the article's text and headings, not the page's furniture; the real encoding.

The page below is shaped like a local news article: a site menu and an account menu in plain
<div>s, a share bar, an ad-block notice with its own heading, the headline in the article's
<header>, and a footer of links.
"""

from ingest.loaders import load_bytes

ARTICLE = [
    "Councillors in the west of Scotland have voted to leave the shared support services "
    "project after a report warned that the savings had been overstated.",
    "The business case had promised savings of up to thirty million pounds a year, but the "
    "council's own finance officers said the figures depended on assumptions about staff "
    "reductions that had not been tested with the trade unions.",
    "A spokesperson for the union said members were relieved that the council would keep its "
    "payroll, revenues and benefits teams in house, and called for a full review of the costs.",
    "Opposition councillors said the decision left the remaining councils with a smaller and "
    "more expensive project, and asked for the costs already spent to be published.",
]

PAGE = f"""<!doctype html><html><head><meta charset="utf-8">
<title>Council quits shared services plan | The Local Paper</title></head><body>
<div class="site-menu"><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a>
<a href="/what">What's on</a> <a href="/jobs">Jobs</a> <a href="/motors">Motors</a></div>
<div class="account"><a href="/login">Sign in</a> <a href="/register">Register</a>
<a href="/subscribe">Subscribe for one pound a month</a></div>
<div class="adblock-notice"><h2>We've noticed you're adblocking.</h2>
<p>Our journalism relies on advertising. Please switch off your ad blocker or subscribe.</p></div>
<main><article>
<header><h1>Council quits shared services plan</h1>
<p class="byline">By a staff reporter</p></header>
<div class="share"><a href="#">Facebook</a> <a href="#">Twitter</a> <a href="#">Email</a></div>
<p>{ARTICLE[0]}</p>
<p>{ARTICLE[1]}</p>
<h2>Union response</h2>
<p>{ARTICLE[2]}</p>
<ul><li>Payroll stays with the council.</li><li>Revenues and benefits stay too.</li></ul>
<h2>What happens next</h2>
<p>{ARTICLE[3]}</p>
</article></main>
<div class="related"><h3>Most read</h3><a href="/a">Man bites dog</a> <a href="/b">Rain</a></div>
<div class="footer-links"><a href="/privacy">Privacy</a> <a href="/cookies">Cookies</a>
<a href="/contact">Contact us</a> <a href="/advertise">Advertise with us</a></div>
</body></html>"""


def test_a_news_page_keeps_only_the_article_text_and_headings():
    loaded = load_bytes(PAGE.encode("utf-8"), "article.html")
    text = "\n".join(b.text for b in loaded.blocks)
    for paragraph in ARTICLE:
        assert paragraph in text
    assert "Payroll stays with the council." in text  # the article's list is kept
    for furniture in (
        "Facebook",
        "Sign in",
        "Subscribe",
        "adblocking",
        "ad blocker",
        "Sport",
        "Privacy",
        "Most read",
        "Man bites dog",
    ):
        assert furniture not in text, furniture
    sections = {b.section for b in loaded.blocks}
    assert not any("adblocking" in s for s in sections), sections
    assert {"Union response", "What happens next"} <= sections
    assert "Council quits shared services plan" in loaded.title


def test_a_utf8_page_that_declares_another_charset_is_read_as_utf8():
    page = PAGE.replace('<meta charset="utf-8">', '<meta charset="gb2312">')
    page = page.replace("thirty million pounds", "£30m (about €35m) — “up to”")
    loaded = load_bytes(page.encode("utf-8"), "declared-wrong.html")
    assert "£30m (about €35m) — “up to”" in " ".join(b.text for b in loaded.blocks)


def test_a_page_in_its_declared_legacy_charset_is_read():
    page = PAGE.replace('<meta charset="utf-8">', '<meta charset="windows-1252">')
    page = page.replace("thirty million pounds", "£30m")
    loaded = load_bytes(page.encode("cp1252"), "legacy.html")
    assert "£30m" in " ".join(b.text for b in loaded.blocks)
