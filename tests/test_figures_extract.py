"""Reading figures out of text: normalised values, and odd numbers that are not figures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from kb.figures.extract import COUNT
from kb.figures.extract import MONEY
from kb.figures.extract import PERCENT
from kb.figures.extract import extract_figures
from kb.figures.extract import format_value
from kb.figures.extract import parse_value


def _found(text: str) -> list[tuple]:
    return [(f.kind, f.value, f.unit, f.qualifier) for f in extract_figures(text)]


@pytest.mark.parametrize(
    "text",
    ["£4.6m", "£4.6 million", "£4,600,000", "£4.6 m", "£4600000", "£4.6mn", "£4,600 thousand"],
)
def test_money_is_one_value_however_written(text):
    sentence = f"Duplicate payments of {text} were made."
    assert _found(sentence) == [(MONEY, 4_600_000, "GBP", "")]


@pytest.mark.parametrize(
    "text", ["1.8%", "1.8 per cent", "1.8 percent", "1.8 per-cent", "1.8per cent"]
)
def test_percentages_are_one_value_however_written(text):
    assert _found(f"Sharing would save {text} of spending.") == [(PERCENT, 1.8, "%", "")]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("savings of £1.34bn in total", [(MONEY, 1.34e9, "GBP", "")]),
        ("£1.34 billion", [(MONEY, 1.34e9, "GBP", "")]),
        ("a payment of £800k to First Group", [(MONEY, 800_000, "GBP", "")]),
        ("£517k by Taunton Deane", [(MONEY, 517_000, "GBP", "")]),
        ("US$2m and €3.5m", [(MONEY, 2e6, "USD", ""), (MONEY, 3.5e6, "EUR", "")]),
        ("a £5 return per £1 invested", [(MONEY, 5, "GBP", ""), (MONEY, 1, "GBP", "")]),
        ("on about 2,200 bills", [(COUNT, 2200, "bills", "")]),
        (
            "councils had 626 shared services arrangements.",
            [(COUNT, 626, "shared services arrangements", "")],
        ),
        ("About 180 seconded staff returned.", [(COUNT, 180, "seconded staff", "")]),
        ("100 staff returned to work", [(COUNT, 100, "staff", "")]),
        ("IBM held 75%, and", [(PERCENT, 75, "%", "")]),
        ("£16.2m of £190m", [(MONEY, 16.2e6, "GBP", ""), (MONEY, 190e6, "GBP", "")]),
        # a change is two figures, not a range
        ("fell from £535m to about £158m", [(MONEY, 535e6, "GBP", ""), (MONEY, 158e6, "GBP", "")]),
        ("£1.6bn over 2008/11", [(MONEY, 1.6e9, "GBP", "")]),
        ("only 2 of 26 planned customers", [(COUNT, 26, "planned customers", "")]),
    ],
)
def test_figures_in_sentences(text, expected):
    assert _found(text) == expected


@pytest.mark.parametrize(
    "text, qualifier",
    [
        ("Over 95% was recovered.", "more than"),
        ("a claim of more than £25m", "more than"),
        ("less than 1% of the cut", "less than"),
        ("up to 3,357 staff would move", "up to"),
        ("at least £2m", "at least"),
        ("under 2% of the total", "less than"),
    ],
)
def test_bounds_keep_their_qualifier_and_never_equal_the_plain_value(text, qualifier):
    (figure,) = extract_figures(text)
    assert figure.qualifier == qualifier
    plain = parse_value(figure.text)
    assert plain.qualifier == ""
    assert not figure.same_value(plain)


def test_about_is_an_approximation_of_the_same_value():
    (about,) = extract_figures("savings of about £190m")
    assert about.approximate and about.qualifier == ""
    assert about.same_value(parse_value("£190m"))


@pytest.mark.parametrize(
    "text",
    [
        "a range of £3–4m",
        "a range of £3-4m",
        "£250m–£750m a year",
        "£28–31m of investment",
        "a 10–15% real-terms fall",
        "between 2,000–3,400 staff",
        "between £3m and £4m",
        "between 10% and 15%",
        "one in five staff",
        "1 in 5 staff",
        "eight councils and seven boards",
        "in 2012 the council",
        "In December 2015 the cabinet",
        "over 2008/11 and in 2023-24",
        "in the 1990s",
        "on 20 March 2008",
        "on 9th December the",
        "by March 20 it",
        "on 20/03/2008",
        "call 0131 555 1234 or +44 (0)141 287 0000",
        "Tel: 01382 834000",
        "see p. 12 and pp. 4-5",
        "page 12 of the report",
        "as Article 12 of Directive 2014/24/EU says",
        "Art. 12 applies",
        "case C-574/12 was",
        "section 3 of the act",
        "UNISON Briefing 217 says",
        "savings.12 The next",
        "savings12 and more",
        "as noted [3] above",
        "as noted¹ above",
        "the 20th report",
        "a 5G network",
        "a 10-year contract",
        "at 10:30 or 9am",
        "https://example.org/2011/08/18/4million and www.x.org/12",
        "figure 2,200",
        "a total of 2,200.",
        "the first 2½ years",
        "version 4.6 was",
        "(2)",
        "2.",
    ],
)
def test_odd_numbers_are_not_figures(text):
    assert _found(text) == []


def test_offsets_point_at_the_words():
    text = "Payments of £4.6m on about 2,200 bills, 95% recovered."
    for figure in extract_figures(text):
        assert text[figure.start : figure.end] == figure.text
    assert [f.text for f in extract_figures(text)] == ["£4.6m", "2,200 bills", "95%"]


@pytest.mark.parametrize(
    "kind, value, unit, label",
    [
        (MONEY, 4.6e6, "GBP", "£4.6m"),
        (MONEY, 1.34e9, "GBP", "£1.34bn"),
        (MONEY, 800e3, "GBP", "£800k"),
        (MONEY, 650, "GBP", "£650"),
        (PERCENT, 1.8, "%", "1.8%"),
        (COUNT, 2200, "bills", "2,200 bills"),
    ],
)
def test_format_value(kind, value, unit, label):
    assert format_value(kind, value, unit) == label
    assert parse_value(label).same_value(parse_value(label))


@pytest.mark.parametrize("text", ["", "no figure here", "£4.6m and £2m"])
def test_parse_value_needs_exactly_one_figure(text):
    with pytest.raises(ValueError):
        parse_value(text)


# -- properties -------------------------------------------------------------------------------

_amounts = st.decimals(min_value="0.1", max_value="999.9", places=1, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(_amounts, st.sampled_from([("m", 1e6), (" million", 1e6), ("bn", 1e9), ("k", 1e3)]))
def test_written_forms_agree(amount, scale):
    suffix, factor = scale
    short = extract_figures(f"It cost £{amount}{suffix} in all.")
    full = extract_figures(f"It cost £{int(round(float(amount) * factor)):,} in all.")
    assert len(short) == len(full) == 1
    assert short[0].same_value(full[0])


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1800, max_value=2099), st.sampled_from(["In ", "by ", "(", "since "]))
def test_years_are_never_figures(year, before):
    assert extract_figures(f"{before}{year} the council agreed.") == []
    assert extract_figures(f"{before}{year}/{(year + 1) % 100:02d} the council agreed.") == []


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"0[1-9][0-9]{2,3} [0-9]{3} [0-9]{4}", fullmatch=True))
def test_phone_numbers_are_never_figures(phone):
    assert extract_figures(f"Call us on {phone} today.") == []


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=999), st.sampled_from(["p. ", "page ", "pp. ", "para "]))
def test_page_references_are_never_figures(number, word):
    assert extract_figures(f"as shown on {word}{number} of the report") == []


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=99), st.integers(min_value=1, max_value=99))
def test_ranges_are_never_figures(low, high):
    for text in (f"£{low}–{high}m", f"{low}-{high}%", f"£{low}m–£{high}m", f"{low}–{high} staff"):
        assert extract_figures(f"an estimate of {text} was made") == [], text


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=99))
def test_footnote_markers_are_never_figures(number):
    assert extract_figures(f"savings were made.{number} Next") == []
    assert extract_figures(f"savings were made{number} next") == []


@pytest.mark.parametrize(
    "text", ["The payments added up to £4.6m in all.", "well above the £534m target"]
)
def test_words_that_look_like_bounds_but_are_not(text):
    (figure,) = extract_figures(text)
    assert figure.qualifier == ""
